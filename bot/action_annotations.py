"""Workflow-command annotations for the Action: the most important first, within GitHub's caps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.core import annotate
from bot.core.model import Conclusion, FailedTest, MeasuredState, Reason, Rule, Verdict
from bot.ghactions import ANNOTATIONS_PER_LEVEL, command

MAX_MESSAGE = 4000        # characters of one annotation's message (details are cut first)
MAX_TITLE = 255


@dataclass(frozen=True)
class Annotation:
    """One annotation as the runner will show it."""

    level: str                 # error | warning | notice
    message: str
    title: str = ""
    file: str | None = None
    line: int | None = None

    def render(self) -> str:
        """The `::level file=..,line=..,title=..::message` line (GitHub's lines start at 1)."""
        line = self.line if self.file and self.line is not None and \
            1 <= self.line <= annotate.MAX_LINE else None
        return command(self.level, self.message, file=self.file, line=line,
                       title=self.title or None)


def _level(conclusion: Conclusion) -> str:
    if conclusion is Conclusion.FAILURE:
        return "error"
    return "warning" if conclusion is Conclusion.NEUTRAL else "notice"


def _reason_annotation(reason: Reason) -> Annotation:
    return Annotation(_level(reason.conclusion), reason.message[:MAX_MESSAGE],
                      title=f"CI Truth: {reason.rule}"[:MAX_TITLE])


def _test_annotation(test: FailedTest, level: str, workspace: str) -> Annotation:
    message = test.message or test.kind
    if test.details and len(message) < MAX_MESSAGE - 2:
        message = f"{message}\n\n{test.details}"
    return Annotation(level, message[:MAX_MESSAGE],
                      title=f"{test.kind}: {test.id}"[:MAX_TITLE],
                      file=annotate.repo_path(test.file, workspace=workspace), line=test.line)


def plan_annotations(verdict: Verdict, state: MeasuredState, *, workspace: str = "",
                     per_level: int = ANNOTATIONS_PER_LEVEL,
                     emitted: Mapping[str, int] | None = None) -> list[Annotation]:
    """Annotations to emit: verdict reasons, then failing tests, then one notice for the rest.

    GitHub shows at most `per_level` errors and warnings per step and silently drops the rest,
    so anything beyond that is counted in a final notice instead of being lost unseen.
    `emitted`: annotations per level the step already printed (they use up the same caps).
    """
    failures_block = any(r.rule == Rule.FAILURES.value and r.conclusion is Conclusion.FAILURE
                         for r in verdict.reasons)
    test_level = "error" if failures_block else "warning"
    wanted = [_reason_annotation(r) for r in verdict.reasons]
    wanted += [_test_annotation(t, test_level, workspace) for t in state.failures]
    shown: list[Annotation] = []
    used = {"error": 0, "warning": 0, "notice": 0}
    for level, count in (emitted or {}).items():
        used[level] = used.get(level, 0) + count
    rest = state.failures_omitted
    for ann in wanted:
        cap = per_level - 1 if ann.level == "notice" else per_level   # keep a notice slot
        if used[ann.level] < cap:
            used[ann.level] += 1
            shown.append(ann)
        else:
            rest += 1
    if rest:
        shown.append(Annotation(
            "notice",
            f"{rest:,} more annotation(s) not shown: GitHub shows {per_level} errors and "
            f"{per_level} warnings per step. Every failing test is listed in the job summary "
            f"and the `state` output file.",
            title="CI Truth: more findings"))
    return shown
