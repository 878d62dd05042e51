"""The CI Truth check run as commands see it: its embedded state, reasons and failures.

The check run (written only by this App) carries the compact state block of
``bot.core.checkrun``; reasons come from the block's ``verdict`` when present, otherwise
from the summary's "Why" list; failed tests from the check run's annotations.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.app.judging import Repo
from bot.app.plansync import commit_time
from bot.app.ports import AppContext, GitHub
from bot.core import annotate, checkrun, render, textfit
from bot.core.commands.accept import has_drop, without_drop
from bot.core.commands.records import AcceptedDrop, drop_block, find_accepted_drop
from bot.core.model import Conclusion, Counts, FileReport, MeasuredState, Reason, Verdict

_WHY = re.compile(r"^- \S+ `([a-z-]{1,40})`: (.*)$")
_STATE = re.compile(r"<!-- ci-truth:state v1 [A-Za-z0-9+/=]* -->")
_OLD_DROP = re.compile(r"<!-- ci-truth:accepted-drop v1 [A-Za-z0-9_=-]* -->\n[^\n]*\n*")
_ICON = {"❌": Conclusion.FAILURE, "⚠️": Conclusion.NEUTRAL}


def text_of(run: Mapping[str, Any]) -> str:
    """The check run's output.text ('' when absent)."""
    out = run.get("output")
    text = out.get("text") if isinstance(out, Mapping) else None
    return text if isinstance(text, str) else ""


def verdict_of(run: Mapping[str, Any], doc: Mapping[str, Any]) -> Verdict:
    """The check run's verdict: from the state block if it has one, else from the summary."""
    v = doc.get("verdict")
    if isinstance(v, Mapping) and isinstance(v.get("reasons"), list):
        reasons = [Reason(str(r.get("rule")), str(r.get("message", "")),
                          _conclusion(r.get("conclusion")),
                          dict(r["details"]) if isinstance(r.get("details"), Mapping) else {})
                   for r in v["reasons"] if isinstance(r, Mapping)]
    else:
        out = run.get("output")
        summary = out.get("summary") if isinstance(out, Mapping) else None
        reasons = []
        for line in (summary if isinstance(summary, str) else "").split("\n"):
            m = _WHY.match(line)
            if m:
                icon = line[2:].split(" ", 1)[0]
                reasons.append(Reason(m.group(1), m.group(2),
                                      _ICON.get(icon, Conclusion.SUCCESS)))
    return Verdict(_conclusion(doc.get("conclusion")), reasons)


def _conclusion(value: Any) -> Conclusion:
    try:
        return Conclusion(value)
    except ValueError:
        return Conclusion.FAILURE


async def failures(gh: GitHub, repo: Repo, run: Mapping[str, Any], target: str | None = None
                   ) -> list[dict[str, Any]]:
    """Failed tests as annotated on the check run (at most 200 are annotated).

    A title is shortened to 255 characters (astral characters escaped): the one annotation
    whose title is what `target`'s would be gets `target` as its id.
    """
    out: list[dict[str, Any]] = []
    titles: list[str] = []
    async for a in gh.getiter("/repos/{owner}/{repo}/check-runs/{check_run_id}/annotations",
                              dict(repo.vars, check_run_id=int(run["id"]))):
        if not isinstance(a, Mapping) or not isinstance(a.get("title"), str):
            continue
        kind, _, tid = a["title"].partition(": ")
        message, _, details = str(a.get("message") or "").partition("\n\n")
        report = _report_of(a)
        placed = report is None or a.get("path") != annotate.annotation_path(report)
        out.append({"id": tid, "kind": kind, "message": message, "details": details,
                    "report": report, "file": a.get("path") if placed else None,
                    "line": a.get("start_line") if placed else None})
        titles.append(a["title"])
        if len(out) >= 200:
            break
    if target is not None and all(f["id"] != target for f in out):
        shown = [i for i, (f, t) in enumerate(zip(out, titles, strict=True))
                 if t == annotate.annotation_title(f["kind"], target)]
        if len(shown) == 1:
            out[shown[0]]["id"] = target
    return out


def _report_of(annotation: Mapping[str, Any]) -> str | None:
    """The report an annotation names in its raw details (None on older check runs)."""
    raw = annotation.get("raw_details")
    if not isinstance(raw, str) or not raw.startswith(annotate.REPORT_PREFIX):
        return None
    return raw[len(annotate.REPORT_PREFIX):].split("\n", 1)[0] or None


def view(run: Mapping[str, Any] | None, fails: list[dict[str, Any]] | None = None
         ) -> dict[str, Any] | None:
    """A ``ci-truth/state@1``-shaped view of the check run for the reply renderers."""
    if run is None:
        return None
    doc = checkrun.parse_state_block(text_of(run))
    if doc is None:
        return None
    verdict = verdict_of(run, doc)
    tests = dict(doc["tests"])
    executed = int(tests.get("total", 0)) - int(tests.get("skipped", 0))
    tests["pass_rate"] = tests.get("passed", 0) / executed if executed > 0 else 0.0
    total = int(tests.get("total", 0))
    tests["skipped_ratio"] = int(tests.get("skipped", 0)) / total if total > 0 else 0.0
    runs = [r for r in doc.get("runs") or [] if isinstance(r, Mapping)]
    failed = int(tests.get("failed", 0)) + int(tests.get("errors", 0))
    omitted = max(0, failed - len(fails)) if fails is not None else 0   # beyond 200 annotations
    return {"tests": tests, "verdict": verdict.to_json(), "failures": fails or [],
            "failures_omitted": omitted, "test_ids": doc.get("test_ids") or [],
            "workflows": {str(r.get("name") or r.get("id")): {"run_id": r.get("id")}
                          for r in runs}}


@dataclass(frozen=True)
class Rejudged:
    """A drop acceptance applied: the check run's PATCH body and what the PR comment shows."""

    patch: dict[str, Any]
    state: MeasuredState
    verdict: Verdict


def rejudge_without_drop(run: Mapping[str, Any], rec: AcceptedDrop) -> Rejudged | None:
    """`rec` recorded and the run re-judged without test-drop; None if it has no drop."""
    text = text_of(run)
    doc = checkrun.parse_state_block(text)
    if doc is None:
        return None
    verdict = verdict_of(run, doc)
    if not has_drop(verdict) and find_accepted_drop(text, rec.head_sha) is None:
        return None
    verdict = without_drop(verdict)
    t = doc["tests"]
    state = MeasuredState(
        totals=Counts(tests=int(t.get("total", 0)), passed=int(t.get("passed", 0)),
                      failed=int(t.get("failed", 0)), errors=int(t.get("errors", 0)),
                      skipped=int(t.get("skipped", 0)), flaky=int(t.get("flaky", 0))),
        files=[FileReport(path=f"report {i}") for i in range(int(doc.get("files") or 0))],
        test_ids=[i for i in doc.get("test_ids") or [] if isinstance(i, str)],
        test_ids_complete=bool(doc.get("test_ids_complete")))
    refs = [checkrun.RunRef(id=int(r["id"]), attempt=int(r.get("attempt") or 1),
                            name=str(r.get("name") or ""))
            for r in doc.get("runs") or [] if isinstance(r, Mapping) and "id" in r]
    known = {"v", "sha", "conclusion", "tests", "files", "runs", "test_ids",
             "test_ids_complete", "verdict"}
    extra = {k: v for k, v in doc.items() if k not in known}
    extra["verdict"] = verdict.to_json()
    block = checkrun.state_block(state, verdict, refs, head_sha=rec.head_sha, extra=extra)
    details = render.rehead_markdown(_STATE.sub("", _OLD_DROP.sub("", text)), verdict)
    body = textfit.fit_markdown(drop_block(rec) + "\n\n" + details.strip(),
                        textfit.MAX_OUTPUT - len(block.encode()) - 2) + "\n\n" + block
    return Rejudged({"conclusion": verdict.conclusion.value,
                     "output": {"title": checkrun.title(state, verdict),
                                "summary": checkrun.summary(state, verdict, refs),
                                "text": body}}, state, verdict)


async def accepted_drop(gh: GitHub, repo: Repo, sha: str, ctx: AppContext
                        ) -> AcceptedDrop | None:
    """The drop acceptance recorded on our check run for exactly this SHA, if any."""
    from bot.app import publish
    found = await publish.find_check(gh, repo, sha, ctx)
    return find_accepted_drop(text_of(found), sha) if found else None


async def honour_accepted_drop(gh: GitHub, repo: Repo, sha: str, ctx: AppContext,
                               verdict: Verdict) -> tuple[Verdict, str]:
    """For the App's re-judging: keep a drop acceptance recorded for this very SHA.

    Returns the verdict (without `test-drop` when accepted) and the acceptance's record for
    the details ('' when none). Costs a request only when the verdict holds a `test-drop`.
    """
    if not has_drop(verdict):
        return verdict, ""
    rec = await accepted_drop(gh, repo, sha, ctx)
    if rec is None:
        return verdict, ""
    return without_drop(verdict), drop_block(rec) + "\n\n"


def extra_state(state: MeasuredState, verdict: Verdict,
                run: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What commands and plan commands read beyond the counts: reasons, signatures, coverage,
    and the judged run's link and time, which the plan shows as its evidence (so a sync from
    this check run renders the same issue bodies as the sync right after the run, and records
    the same commit on the dashboard)."""
    extra: dict[str, Any] = {"verdict": verdict.to_json(), "signatures": dict(state.signatures),
                             "coverage": dict(state.coverage), "workflows": dict(state.workflows)}
    if run is not None:
        url = str(run.get("html_url") or "")
        extra["evidence"] = {
            "url": url if url.startswith("https://github.com/") else "",
            "time": str(run.get("updated_at") or run.get("run_started_at") or ""),
            "commit_time": commit_time(run)}
    return extra
