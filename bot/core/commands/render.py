"""Reply text for comment commands: help, refusals, status and explain, size-capped.

Everything echoed from a comment, a report or a workflow goes through ``text.code`` or
``text.block``; links are built only from numeric ids and the repository's own name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from bot.core.commands.grammar import MAX_COMMANDS, USAGE
from bot.core.commands.records import AcceptedDrop
from bot.core.commands.text import block, code, plain
from bot.core.model import Rule

REPLY_MARK = "ci-truth:reply"
_RULE_ID = re.compile(r"^[a-z][a-z-]{0,39}$")
MAX_REPLY = 60_000

RULE_HELP: Mapping[str, str] = {
    Rule.NO_EVIDENCE.value: "no test report was found at all",
    Rule.UNREADABLE_REPORT.value: "a report could not be read (truncated, not XML, unsafe)",
    Rule.EMPTY_REPORT.value: "a report holds no testcase",
    Rule.ZERO_TESTS.value: "reports were found but 0 tests ran",
    Rule.ALL_SKIPPED.value: "every test was skipped",
    Rule.MIN_TESTS.value: "fewer tests than `gate.min_tests`",
    Rule.FAILURES.value: "tests failed or errored",
    Rule.TEST_DROP.value: "the test count fell against the default branch",
    Rule.FORBIDDEN_SIGNATURE.value: "a forbidden failure signature appeared in the output",
    Rule.TOTALS_MISMATCH.value: "a report's declared totals disagree with its testcases",
    Rule.MASKED_FAILURE.value: "a step failed but the run still reported success",
    Rule.MISSING_EVIDENCE.value: "a declared producer or shard uploaded no report",
    Rule.UNTRUSTED_EVIDENCE.value: "the evidence came from a fork-controlled workflow",
}

HELP_LINES = {
    "help": "these commands",
    "status": "measured state and verdict for the PR head (in a phase issue: the phase)",
    "recheck": "re-read the evidence for the head commit and update the check (write access)",
    "explain": "why the check failed, with values and run links",
    "accept-drop": "accept a test-count drop for this head commit (write access)",
    "waive": "in a phase issue, accept a criterion without evidence (write access)",
    "plan": "the critical path and what is ready now",
}


def help_text(slug: str) -> str:
    """The command list, briefly."""
    rows = "\n".join(f"- `{USAGE[n]}`: {HELP_LINES[n]}" for n in USAGE)
    return (f"{rows}\n\nCommands start a line (outside quotes and code); "
            f"`@{slug} <command>` works too. At most {MAX_COMMANDS} per comment.")


def unknown_text(word: str, slug: str) -> str:
    return f"Unknown command {code(word, limit=64)}. The commands are:\n\n{help_text(slug)}"


def invalid_text(command: str, problem: str) -> str:
    return f"`{USAGE[command]}`: {problem}."


def denied_text(command: str, need: str) -> str:
    return (f"`/truth {command}` needs {need} access to this repository; "
            "your permission does not include it.")


RATE_LIMITED = ("Too many commands in a short time here; I will answer again in a few "
                "minutes. (Further commands until then get no answer.)")


def _tests(state: Mapping[str, Any]) -> Mapping[str, Any]:
    t = state.get("tests")
    return t if isinstance(t, Mapping) else {}


def _reasons(state: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    v = state.get("verdict")
    rs = v.get("reasons") if isinstance(v, Mapping) else None
    return [r for r in rs if isinstance(r, Mapping)] if isinstance(rs, list) else []


def _conclusion(state: Mapping[str, Any]) -> str:
    v = state.get("verdict")
    c = v.get("conclusion") if isinstance(v, Mapping) else None
    return c if c in ("success", "failure", "neutral") else "unknown"


def _rule(value: Any) -> str:
    """A rule id as a plain code span when it looks like one, else escaped."""
    text = str(value)
    return f"`{text}`" if _RULE_ID.match(text) else code(text, limit=40)


def _num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "?"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _runs(state: Mapping[str, Any], repo: str) -> list[str]:
    wf = state.get("workflows")
    out = []
    for name, run in (wf.items() if isinstance(wf, Mapping) else []):
        if not isinstance(run, Mapping):
            continue
        rid = run.get("run_id")
        link = (f"[run {rid}](https://github.com/{repo}/actions/runs/{rid})"
                if isinstance(rid, int) and not isinstance(rid, bool) else "run unknown")
        concl = run.get("conclusion")
        shown = f"{code(concl, limit=30)}, " if isinstance(concl, str) else ""
        out.append(f"- {code(str(name), limit=100)}: {shown}{link}")
    return out[:20]


def status_text(state: Mapping[str, Any] | None, *, head_sha: str, repo: str,
                check_id: int | None, accepted: AcceptedDrop | None = None) -> str:
    """The measured state and verdict of the head commit, or why there is none yet."""
    short = head_sha[:12]
    if state is None:
        return (f"No CI Truth result for the head commit `{short}` yet: no evidence workflow "
                "has completed for it (or its check run holds no readable state).")
    t = _tests(state)
    counts = ", ".join(f"{k} {_num(t.get(k))}" for k in
                       ("total", "passed", "failed", "errors", "skipped"))
    lines = [f"**CI Truth for `{short}`: {_conclusion(state)}**", "", f"Tests: {counts}."]
    if isinstance(t.get("pass_rate"), int | float):
        ratio = t.get("skipped_ratio")
        skipped = f"{ratio:.1%}" if isinstance(ratio, int | float) else "?"
        lines.append(f"Pass rate {t['pass_rate']:.1%}, skipped {skipped}.")
    reasons = _reasons(state)
    if reasons:
        lines += ["", "Reasons:"]
        lines += [f"- {_rule(r.get('rule'))} ({_rule(r.get('conclusion'))}): "
                  f"{plain(str(r.get('message')), limit=300)}" for r in reasons[:20]]
    if accepted is not None:
        lines += ["", f"Test-count drop accepted by {code(accepted.user)}: "
                      f"{code(accepted.reason)}."]
    runs = _runs(state, repo)
    if runs:
        lines += ["", "Evidence runs:", *runs]
    if check_id is not None:
        lines += ["", f"[Check run](https://github.com/{repo}/runs/{check_id})"]
    return "\n".join(lines)


def explain_text(state: Mapping[str, Any] | None, target: str | None, *, head_sha: str,
                 repo: str) -> str:
    """Why the check concluded as it did: all reasons, one rule, or one failed test."""
    if state is None:
        return status_text(None, head_sha=head_sha, repo=repo, check_id=None)
    reasons = _reasons(state)
    runs = _runs(state, repo)
    tail = ["", "Evidence runs:", *runs] if runs else []
    if target is None:
        if not reasons:
            return f"The check for `{head_sha[:12]}` is {_conclusion(state)}: no rule fired."
        body = [f"The check for `{head_sha[:12]}` is {_conclusion(state)} because:"]
        for r in reasons[:20]:
            body.append(_reason_line(r))
        return "\n".join(body + tail)
    matching = [r for r in reasons if r.get("rule") == target]
    if target in RULE_HELP:
        if not matching:
            return f"Rule `{target}` ({RULE_HELP[target]}) did not fire for `{head_sha[:12]}`."
        return "\n".join([f"Rule `{target}`: {RULE_HELP[target]}.",
                          *(_reason_line(r) for r in matching), *tail])
    return _explain_test(state, target, head_sha) + ("\n" + "\n".join(tail) if tail else "")


def _reason_line(r: Mapping[str, Any]) -> str:
    details = r.get("details")
    values = ""
    if isinstance(details, Mapping) and details:
        pairs = [f"{k}={v}" for k, v in list(details.items())[:8]]
        values = f" Values: {code(', '.join(pairs), limit=300)}."
    return (f"- {_rule(r.get('rule'))}: {plain(str(r.get('message')), limit=400)}"
            f"{values}")


def _explain_test(state: Mapping[str, Any], target: str, head_sha: str) -> str:
    failures = state.get("failures")
    for f in failures if isinstance(failures, list) else []:
        if isinstance(f, Mapping) and f.get("id") == target:
            where = ""
            if isinstance(f.get("file"), str):
                line = f.get("line")
                where = f" at {code(f['file'] + (f':{line}' if isinstance(line, int) else ''))}"
            kind = "errored" if f.get("kind") == "error" else "failed"
            report = (f" (report {code(f['report'], limit=200)})"
                      if isinstance(f.get("report"), str) else "")
            out = [f"Test {code(target, limit=512)} {kind}{where}{report}:",
                   plain(str(f.get("message", "")), limit=500)]
            if isinstance(f.get("details"), str) and f["details"]:
                out += ["", block(f["details"], limit=3000)]
            return "\n".join(out)
    omitted = state.get("failures_omitted")
    extra = (f" ({_num(omitted)} further failures were not kept)"
             if isinstance(omitted, int) and omitted else "")
    ids = state.get("test_ids")
    if isinstance(ids, list) and target in ids:
        if extra:      # it may be one of the failures that were not kept
            return (f"Test {code(target, limit=512)} ran on `{head_sha[:12]}` and is not among "
                    f"the failures recorded{extra}.")
        return f"Test {code(target, limit=512)} ran on `{head_sha[:12]}` and did not fail."
    return (f"{code(target, limit=512)} is neither a rule id nor a failed test recorded for "
            f"`{head_sha[:12]}`{extra}. Rule ids: "
            + ", ".join(f"`{r}`" for r in RULE_HELP) + ".")


def reply_body(comment_id: int, sections: Sequence[str], *, cut: int = 0) -> str:
    """One reply for one command comment: a marker naming the comment, then each answer."""
    parts = [f"<!-- {REPLY_MARK} comment={comment_id} -->", *sections]
    if cut:
        parts.append(f"Only the first {MAX_COMMANDS} commands were run; {cut} more ignored.")
    text = "\n\n---\n\n".join(parts[1:])
    text = parts[0] + "\n" + text
    if len(text) > MAX_REPLY:
        text = text[: MAX_REPLY - 40] + "\n\n…(truncated)"
    return text
