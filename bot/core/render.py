"""Text and Markdown renderings of a Result; Markdown is escaped and size-capped."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bot.core import markdown as md
from bot.core.model import (
    Conclusion,
    Counts,
    FailedTest,
    FileReport,
    MeasuredState,
    Reason,
    Verdict,
)

if TYPE_CHECKING:
    from bot.core.engine import Result

ICON = {Conclusion.FAILURE: "❌", Conclusion.NEUTRAL: "⚠️", Conclusion.SUCCESS: "✅"}
TEXT_MARK = {Conclusion.FAILURE: "x", Conclusion.NEUTRAL: "!", Conclusion.SUCCESS: "ok"}
MAX_REASON = 2000          # characters of one reason message in Markdown
MAX_MESSAGE = 300          # characters of one failure message
MAX_DETAILS = 3000         # characters of one failure's details block
MAX_DETAIL_BLOCKS = 50     # failures that get a details block
MAX_FILE_ROWS = 200
MAX_TEXT_FAILURES = 10


def _summary_line(t: Counts, files: int) -> str:
    return (f"{t.tests} tests: {t.passed} passed, {t.failed} failed, {t.errors} errors, "
            f"{t.skipped} skipped, {t.flaky} flaky, {t.duration:.1f}s; "
            f"{files} report{'s' if files != 1 else ''}")


def render_text(result: Result) -> str:
    """A short terminal rendering (control characters stripped from untrusted text)."""
    state, verdict = result.state, result.verdict
    lines = [f"ci-truth: {verdict.conclusion.value.upper()}",
             _summary_line(state.totals, len(state.files))]
    for reason in verdict.reasons:
        message = " ".join(md.strip_unsafe(reason.message).split())
        lines.append(f"  [{TEXT_MARK[reason.conclusion]}] {reason.rule}: {message}")
    failures = state.failures[:MAX_TEXT_FAILURES]
    if failures:
        total = state.totals.failed + state.totals.errors
        lines.append(f"failing tests ({len(failures)} of {total} shown):")
        for f in failures:
            msg = md.truncate(_one_line(f.message), 160, note="…")
            where = f" ({_one_line(f.file)}:{f.line})" if f.file and f.line else ""
            lines.append(f"  - {_one_line(f.id)}{where}"
                         + (f": {msg}" if msg else ""))
    return "\n".join(lines) + "\n"


def _one_line(value: str) -> str:
    """Untrusted text on one terminal line: a test id may hold newlines (`&#10;`)."""
    return " ".join(md.strip_unsafe(value).split())


def _reason_line(reason: Reason) -> str:
    return (f"- {ICON[reason.conclusion]} {md.code(reason.rule, max_chars=64)}: "
            f"{md.text(reason.message, max_chars=MAX_REASON)}")


def _counts_row(label: str, c: Counts) -> str:
    return (f"| {label} | {c.tests} | {c.passed} | {c.failed} | {c.errors} | {c.skipped} "
            f"| {c.flaky} | {c.duration:.1f}s |")


def _file_row(f: FileReport) -> str:
    c = f.counts
    problem = f.error or "; ".join(f.mismatches)
    problem_cell = md.text(problem, max_chars=200) if problem else ""
    return (f"| {md.code(f.path, max_chars=200, table=True)} | {md.text(f.format)} | {c.tests} "
            f"| {c.passed} | {c.failed} | {c.errors} | {c.skipped} | {problem_cell} |")


def _failure(f: FailedTest, with_details: bool) -> str:
    where = f.file + (f":{f.line}" if f.line else "") if f.file else f.report
    out = (f"- {md.code(f.id, max_chars=300)} ({f.kind}, {md.code(where, max_chars=200)})")
    if f.message.strip():
        out += f": {md.text(f.message, max_chars=MAX_MESSAGE)}"
    if with_details and f.details.strip():
        out += ("\n  <details><summary>details</summary>\n\n"
                + _indent(md.code_block(f.details, max_chars=MAX_DETAILS)) + "\n\n  </details>")
    return out


def _indent(block: str) -> str:
    return "\n".join("  " + line if line else line for line in block.split("\n"))


def _head(result: Result) -> list[str]:
    state, verdict = result.state, result.verdict
    blocks = [f"## {ICON[verdict.conclusion]} ci-truth: {verdict.conclusion.value}\n\n"
              + _summary_line(state.totals, len(state.files))]
    if verdict.reasons:
        blocks.append("### Reasons\n\n" + "\n".join(_reason_line(r) for r in verdict.reasons))
    blocks.append("### Tests\n\n| | Total | Passed | Failed | Errors | Skipped | Flaky | "
                  "Duration |\n|---|---:|---:|---:|---:|---:|---:|---:|\n"
                  + _counts_row("All", state.totals)
                  + f"\n\nPass rate {state.pass_rate * 100:.1f}%, "
                  f"skipped {state.skipped_ratio * 100:.1f}%.")
    return blocks


_HEADING = re.compile(r"^## (?:❌|⚠️|✅) ci-truth: [a-z]+$", re.M)
_REASONS = re.compile(r"\n\n### Reasons\n\n- [^\n]*(?:\n- [^\n]*)*")


def rehead_markdown(rendered: str, verdict: Verdict) -> str:
    """`render_markdown`'s output with its heading and reasons re-rendered for `verdict`
    (the same evidence judged again, e.g. without an accepted `test-drop`)."""
    heading = f"## {ICON[verdict.conclusion]} ci-truth: {verdict.conclusion.value}"
    out = _HEADING.sub(heading, rendered, count=1)
    reasons = ("\n\n### Reasons\n\n" + "\n".join(_reason_line(r) for r in verdict.reasons)
               if verdict.reasons else "")
    return _REASONS.sub(lambda _: reasons, out, count=1)


def _optional(state: MeasuredState) -> list[tuple[str, str]]:
    """(kind, block) in display order; a kind heading is emitted before its first row."""
    out: list[tuple[str, str]] = []
    if state.signatures:
        rows = "\n".join(f"| {md.code(name, table=True)} | {n} |"
                         for name, n in sorted(state.signatures.items()))
        out.append(("signature", "### Signatures\n\n| Signature | Testcases |\n|---|---:|\n"
                    + rows))
    if state.files:
        out.append(("file-head", "### Reports\n\n| Report | Format | Tests | Passed | Failed "
                    "| Errors | Skipped | Problem |\n|---|---|---:|---:|---:|---:|---:|---|"))
        out.extend(("file", _file_row(f)) for f in state.files[:MAX_FILE_ROWS])
    if state.failures:
        total = state.totals.failed + state.totals.errors
        out.append(("failure-head", f"### Failing tests ({total})"))
        out.extend(("failure", _failure(f, i < MAX_DETAIL_BLOCKS))
                   for i, f in enumerate(state.failures))
    return out


def render_markdown(result: Result, *, limit: int = 65535, byte_limit: int | None = None
                    ) -> str:
    """The check-run summary: reasons first, counts, reports, failing tests.

    Never longer than `limit` characters (and `byte_limit` UTF-8 bytes when given); when
    something is left out a visible note says what and how to see everything.
    """
    byte_limit = byte_limit if byte_limit is not None else limit * 4
    state = result.state
    note_room = 400
    body = "\n\n".join(_head(result))
    if not md.size_ok(body, limit - note_room, byte_limit - note_room):
        return md.truncate(body, limit, byte_limit, note="\n\n" + _note(True, 0, 0))
    shown = {"file": 0, "failure": 0}
    cut = False
    chars, nbytes = limit - note_room, byte_limit - note_room
    parts = [body]
    used_chars, used_bytes = len(body), len(body.encode("utf-8"))   # running sizes: linear

    def fits(piece: str, max_chars: int, max_bytes: int) -> bool:
        return (used_chars + len(piece) <= max_chars
                and used_bytes + len(piece.encode("utf-8")) <= max_bytes)

    failures = iter(state.failures)
    for kind, block in _optional(state):
        tight = kind == "file" or (kind == "failure" and shown["failure"] > 0)
        piece = ("\n" if tight else "\n\n") + block
        if kind == "failure":
            # details blocks only while they leave a quarter of the room for the list
            failure = next(failures)
            if not fits(piece, chars * 3 // 4, nbytes * 3 // 4):
                piece = ("\n" if tight else "\n\n") + _failure(failure, False)
        if not fits(piece, chars, nbytes):
            cut = True
            break
        parts.append(piece)
        used_chars += len(piece)
        used_bytes += len(piece.encode("utf-8"))
        if kind in shown:
            shown[kind] += 1
    body = "".join(parts)
    hidden_files = len(state.files) - shown["file"]
    hidden_failures = state.totals.failed + state.totals.errors - shown["failure"]
    if cut or hidden_files > 0 or hidden_failures > 0:
        body += "\n\n" + _note(cut, hidden_files, hidden_failures)
    return body


def _note(cut: bool, files: int, failures: int) -> str:
    parts = [p for p in (f"{files} report rows" if files else "",
                         f"{failures} failing tests" if failures else "") if p]
    hidden = f"{' and '.join(parts)} not shown" if parts else "some content not shown"
    why = "this summary was cut to fit the size limit" if cut else "lists are capped"
    return (f"> **Note:** truncated ({why}; {hidden}). Run `ci-truth check --format json` "
            "on the reports for the complete list.")
