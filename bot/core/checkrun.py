"""The "CI Truth" check run: payloads within GitHub's limits, the embedded state block, baseline."""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.core import markdown as md
from bot.core.annotate import annotation, annotation_key
from bot.core.model import STATE_SCHEMA, Conclusion, MeasuredState, Verdict
from bot.core.textfit import MAX_OUTPUT, fit, fit_chars, fit_markdown

NAME = "CI Truth"
MAX_TITLE = 255
BATCH = 50                     # annotations per request
MAX_ANNOTATIONS = 200          # per check run (4 requests); the rest are counted in the summary
STATE_BUDGET = 40_000          # characters of output.text kept for the state block
RECHECK = {"label": "Recheck", "description": "Read the evidence again and re-judge",
           "identifier": "recheck"}
_STATE_RE = re.compile(r"<!-- ci-truth:state v1 ([A-Za-z0-9+/=]{1,200000}) -->")
_MAX_STATE_JSON = 16 * 1024 * 1024

_LEADS = {
    "no-evidence": "No test evidence", "missing-evidence": "Missing test evidence",
    "zero-tests": "0 tests ran", "all-skipped": "All tests skipped",
    "masked-failure": "Failures masked as success", "unreadable-report": "Unreadable report",
    "empty-report": "Empty report", "min-tests": "Too few tests", "test-drop": "Tests vanished",
    "forbidden-signature": "Forbidden output", "totals-mismatch": "Report totals disagree",
    "untrusted-evidence": "Fork evidence not trusted",
}
_ICONS = {Conclusion.FAILURE: "❌", Conclusion.NEUTRAL: "⚠️", Conclusion.SUCCESS: "ℹ️"}


@dataclass(frozen=True)
class RunRef:
    """A workflow run that supplied evidence: id, attempt, workflow name, web URL."""

    id: int
    attempt: int
    name: str
    url: str = ""
    conclusion: str | None = None
    fork: bool = False


@dataclass
class CheckPayloads:
    """The completing PATCH/POST body and the annotation-only follow-ups (≤ 50 each)."""

    first: dict[str, Any]
    more: list[dict[str, Any]] = field(default_factory=list)


def external_id(run: RunRef) -> str:
    return f"{run.id}:{run.attempt}"


def in_progress_payload(head_sha: str, run: RunRef | None, *, title: str = "") -> dict[str, Any]:
    """Body for creating (or resetting) the check run while the evidence workflow runs."""
    body: dict[str, Any] = {"name": NAME, "head_sha": head_sha, "status": "in_progress",
                            "output": {"title": title or "Waiting for test evidence",
                                       "summary": "The evidence workflow is still running."}}
    if run is not None:
        body["external_id"] = external_id(run)
        body["output"]["summary"] = (f"Waiting for workflow {md.code(run.name, max_chars=200)} "
                                     f"(run {run.id}, attempt {run.attempt}) to finish.")
    return body


def title(state: MeasuredState, verdict: Verdict) -> str:
    """A short informative title, e.g. "0 tests ran — 1 report, 0 testcases"."""
    t = state.totals
    reports = len(state.files)
    counts = (f"{reports} report{'s' if reports != 1 else ''}, {t.tests:,} testcases"
              if t.tests == 0 else _counts_phrase(state))
    if verdict.conclusion is Conclusion.SUCCESS:
        return fit_chars(f"{_counts_phrase(state)} — {reports} report"
                          f"{'s' if reports != 1 else ''}", MAX_TITLE)
    first = next((r for r in verdict.reasons if r.conclusion is verdict.conclusion),
                 verdict.reasons[0] if verdict.reasons else None)
    rule = first.rule if first else ""
    lead = (f"{t.failed + t.errors:,} failed" if rule == "failures"
            else _LEADS.get(rule, rule or verdict.conclusion.value))
    return fit_chars(f"{lead} — {counts}", MAX_TITLE)


def summary(state: MeasuredState, verdict: Verdict, runs: Sequence[RunRef],
            *, omitted_annotations: int = 0, notes: Sequence[str] = ()) -> str:
    """Headline, counts table, every reason, the runs that gave evidence, notes (within limits)."""
    t = state.totals
    lines = [f"**{NAME}: {verdict.conclusion.value}**", "",
             "| tests | passed | failed | errors | skipped | flaky |",
             "|---:|---:|---:|---:|---:|---:|",
             f"| {t.tests:,} | {t.passed:,} | {t.failed:,} | {t.errors:,} | {t.skipped:,} "
             f"| {t.flaky:,} |", ""]
    if verdict.reasons:
        lines.append("### Why")
        lines += [f"- {_ICONS[r.conclusion]} {md.code(r.rule, max_chars=64)}: "
                  f"{md.text(r.message, max_chars=4000)}" for r in verdict.reasons]
        lines.append("")
    if runs:
        lines.append("Evidence from: " + "; ".join(
            f"workflow {md.code(r.name, max_chars=200)} run {r.id} attempt {r.attempt}"
            + (" (fork: attacker-controlled)" if r.fork else "") for r in runs))
    if any(r.fork for r in runs):
        lines += ["", "> ⚠️ This evidence was produced by a workflow the pull request's author "
                      "controls; its reports may be forged."]
    if omitted_annotations:
        lines += ["", f"{omitted_annotations:,} more failing test(s) are not annotated."]
    for note in notes:
        lines += ["", note]
    return fit("\n".join(lines))


def completed_payloads(state: MeasuredState, verdict: Verdict, runs: Sequence[RunRef], *,
                       details_md: str, head_sha: str, extra_state: Mapping[str, Any] | None = None,
                       workspace: str = "", repo: str = "", notes: Sequence[str] = ()
                       ) -> CheckPayloads:
    """Bodies that complete the check run: conclusion, output, recheck button, annotations.

    `workspace` (the checkout's absolute path, when known) and `repo` (the repository's
    name) turn absolute report paths into repository paths; see repo_path().
    """
    annotations = [annotation(f, workspace=workspace, repo=repo) for f in state.failures]
    total_failed = len(state.failures) + state.failures_omitted
    kept = annotations[:MAX_ANNOTATIONS]
    out_title = title(state, verdict)
    out_summary = summary(state, verdict, runs, omitted_annotations=total_failed - len(kept),
                          notes=notes)
    block = state_block(state, verdict, runs, head_sha=head_sha, extra=extra_state)
    text = fit_markdown(details_md, MAX_OUTPUT - len(block.encode()) - 2) + "\n\n" + block
    output = {"title": out_title, "summary": out_summary, "text": text}
    first: dict[str, Any] = {"name": NAME, "status": "completed",
                             "conclusion": verdict.conclusion.value,
                             "output": dict(output, annotations=kept[:BATCH]),
                             "actions": [dict(RECHECK)]}
    if runs:
        first["external_id"] = external_id(runs[0])
    more = [{"output": dict(output, annotations=kept[i:i + BATCH])}
            for i in range(BATCH, len(kept), BATCH)]
    return CheckPayloads(first, more)


def without_posted(payloads: CheckPayloads, posted: Collection[str]) -> CheckPayloads:
    """The same payloads minus annotations the check run already has, batched again.

    GitHub appends the annotations of every update to those the check run holds, so judging a
    commit again (a recheck, a second attempt, another producer's run) would repeat each one.
    """
    anns = [a for p in (payloads.first, *payloads.more)
            for a in p["output"].get("annotations", ())]
    fresh = [a for a in anns if annotation_key(a) not in posted]
    if len(fresh) == len(anns):
        return payloads
    output = {k: v for k, v in payloads.first["output"].items() if k != "annotations"}
    first = dict(payloads.first, output=dict(output, annotations=fresh[:BATCH]))
    more = [{"output": dict(output, annotations=fresh[i:i + BATCH])}
            for i in range(BATCH, len(fresh), BATCH)]
    return CheckPayloads(first, more)


def annotations_of(payloads: CheckPayloads) -> list[str]:
    """The keys of every annotation these payloads send."""
    return [annotation_key(a) for p in (payloads.first, *payloads.more)
            for a in p["output"].get("annotations", ())]


# --- the embedded measured state (baseline for test-drop, runs for recheck) -------------------

def state_block(state: MeasuredState, verdict: Verdict, runs: Sequence[RunRef], *,
                head_sha: str, extra: Mapping[str, Any] | None = None,
                budget: int = STATE_BUDGET) -> str:
    """`<!-- ci-truth:state v1 BASE64 -->`: base64(zlib(json)); ids, then extras, cut to fit."""
    doc: dict[str, Any] = {
        "v": 1, "sha": head_sha, "conclusion": verdict.conclusion.value,
        "tests": state.totals.to_json(), "files": len(state.files),
        "runs": [{"id": r.id, "attempt": r.attempt, "name": r.name} for r in runs],
        "test_ids": list(state.test_ids), "test_ids_complete": state.test_ids_complete,
        **(dict(extra) if extra else {}),
    }
    ids = doc["test_ids"]
    if len(ids) > 4000:        # estimate from a sample rather than compressing everything
        sample = _pack(dict(doc, test_ids=ids[:4000]))
        per_id = max(1.0, (len(sample) - len(_pack(dict(doc, test_ids=[])))) / 4000)
        keep = int((budget - len(sample) + 4000 * per_id) / per_id)
        if keep < len(ids):
            doc["test_ids"], doc["test_ids_complete"] = ids[:keep], False
    while True:
        block = _pack(doc)
        if len(block) <= budget:
            return block
        if doc["test_ids"]:
            doc["test_ids"] = doc["test_ids"][
                : int(len(doc["test_ids"]) * budget / len(block) * 0.95)]
            doc["test_ids_complete"] = False
        elif _has_texts(doc.get("verdict")):    # keep the rules (the plan reads them)
            doc["verdict"] = _rules_only(doc["verdict"])
        elif left := [k for k in extra or {} if k in doc and k != "verdict"]:
            del doc[max(left, key=lambda k: len(json.dumps(doc[k], ensure_ascii=False)))]
        else:
            return block


def _has_texts(verdict: Any) -> bool:
    return isinstance(verdict, Mapping) and any(
        set(r) - {"rule", "conclusion"} for r in verdict.get("reasons") or []
        if isinstance(r, Mapping))


def _rules_only(verdict: Mapping[str, Any]) -> dict[str, Any]:
    """A verdict without its reasons' messages and details: conclusion and rule ids."""
    return {"conclusion": verdict.get("conclusion"),
            "reasons": [{"rule": r.get("rule"), "conclusion": r.get("conclusion")}
                        for r in verdict.get("reasons") or [] if isinstance(r, Mapping)]}


def _pack(doc: Mapping[str, Any]) -> str:
    raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    return f"<!-- ci-truth:state v1 {base64.b64encode(zlib.compress(raw, 9)).decode('ascii')} -->"


def parse_state_block(text: str | None) -> dict[str, Any] | None:
    """The embedded state of an output.text, or None if absent, damaged or implausible."""
    if not text:
        return None
    m = _STATE_RE.search(text)
    if not m:
        return None
    try:
        packed = base64.b64decode(m.group(1), validate=True)
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, _MAX_STATE_JSON)
        if inflater.unconsumed_tail:
            return None
        doc = json.loads(raw)
    except (binascii.Error, zlib.error, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("v") != 1 or not isinstance(doc.get("tests"), dict):
        return None
    return doc


def is_ours(check_run: Mapping[str, Any], app_id: int) -> bool:
    """Named CI Truth and authored by our App (never trust a name or a marker alone)."""
    app = check_run.get("app") or {}
    return check_run.get("name") == NAME and isinstance(app, Mapping) and app.get("id") == app_id


# Rules that leave a result's test count the suite's size (failing tests still count, a drop
# on the default branch is its new size); any other failing or neutral reason (missing,
# unreadable, untrusted or no evidence, a broken config) makes the count no baseline.
COUNT_RULES = frozenset({"failures", "test-drop", "forbidden-signature", "not-a-report"})


def usable_state(check_run: Mapping[str, Any], app_id: int) -> dict[str, Any] | None:
    """The state of one of our completed CI Truth check runs whose count can be a baseline."""
    conclusion = check_run.get("conclusion")
    if (not is_ours(check_run, app_id) or check_run.get("status") != "completed"
            or conclusion not in ("success", "failure", "neutral")):
        return None
    doc = parse_state_block((check_run.get("output") or {}).get("text"))
    if doc is None or conclusion == "success":
        return doc
    verdict = doc.get("verdict")
    reasons = verdict.get("reasons") if isinstance(verdict, Mapping) else None
    if not isinstance(reasons, list) or not all(
            isinstance(r, Mapping) and (r.get("conclusion") == "success"
                                        or r.get("rule") in COUNT_RULES) for r in reasons):
        return None
    return doc


def baseline_from_check_runs(check_runs: Iterable[Mapping[str, Any]], app_id: int
                             ) -> dict[str, Any] | None:
    """The newest usable CI Truth state of a commit's check runs, as a `ci-truth/state@1` mapping.

    Usable: ours, completed, with a state block, and a success or a verdict failing only on
    COUNT_RULES (a main whose tests fail still counts its whole suite).
    """
    done = [c for c in check_runs if is_ours(c, app_id) and c.get("status") == "completed"]
    done.sort(key=lambda c: (str(c.get("completed_at") or ""), int(c.get("id") or 0)),
              reverse=True)
    for c in done:
        doc = usable_state(c, app_id)
        if doc is None:
            continue
        ids = doc.get("test_ids")
        return {"schema": STATE_SCHEMA, "tests": doc["tests"],
                "test_ids": [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else [],
                "test_ids_complete": bool(doc.get("test_ids_complete")) and isinstance(ids, list),
                "source": {"check_run_id": c.get("id"), "head_sha": c.get("head_sha")}}
    return None


def _counts_phrase(state: MeasuredState) -> str:
    t = state.totals
    parts = [f"{t.passed:,} passed"]
    if t.failed or t.errors:
        parts.insert(0, f"{t.failed + t.errors:,} failed")
    if t.skipped:
        parts.append(f"{t.skipped:,} skipped")
    if t.flaky:
        parts.append(f"{t.flaky:,} flaky")
    return ", ".join(parts)
