"""Phase issue bodies (checkbox per criterion, ticked only on evidence) and reading ticks back."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from bot.core.plan.escape import code, link, md, md_block
from bot.core.plan.model import CriterionResult, Evaluation, PhaseResult
from bot.core.plan.render import ICON, MAX_BODY, duration, fit_lines, own_line, size

PHASE_MARKER = re.compile(r"<!-- ci-truth:phase id=([A-Za-z][A-Za-z0-9_.-]{0,63}) -->")
_PHASE_LINE = own_line(PHASE_MARKER.pattern)
_NOTE = 150                 # a section's header and its "… not shown" note
_FACT_LINE = re.compile(
    r"^\s*[-*] \[([ xX])\] .*<!-- ci-truth:fact id=([A-Za-z][A-Za-z0-9_.-]{0,63}) -->\s*$",
    re.MULTILINE)


def phase_marker(phase_id: str) -> str:
    return f"<!-- ci-truth:phase id={phase_id} -->"


def marker_of(body: str | None) -> str | None:
    """The phase id in an issue body's marker, if any: a line of its own (ours starts with
    it; a person may write above it, and escaped plan text can never contain it)."""
    if not body:
        return None
    m = _PHASE_LINE.search(body[: MAX_BODY * 2])
    return m.group(1) if m else None


def phase_title(r: PhaseResult) -> str:
    """Issue titles are plain text on GitHub: only trimmed and length-capped."""
    return " ".join(r.phase.title.split())[:200]


def criterion_line(c: CriterionResult, ev: Evaluation) -> str:
    label = f"**{md(c.name, limit=200)}** {code(c.expr, limit=200)}"
    if c.met:
        return f"- [x] {label}: {code(c.value or 'true')} · evidence: {evidence_text(ev)}"
    if c.waived:
        why = f": {md(c.waived.reason, limit=300)}" if c.waived.reason else ""
        return (f"- [ ] {label}: {code(c.value or 'no value')} · **waived** by "
                f"{code(c.waived.by, limit=60)}{why}")
    reason = f" ({md(c.reason, limit=300)})" if c.reason else ""
    return f"- [ ] {label}: measured {code(c.value or 'no value')}{reason}"


def evidence_text(ev: Evaluation) -> str:
    """The evidence as Markdown: the run as a link, the commit as code, the time."""
    e = ev.evidence
    parts = [link("run", e.run_url) if e.run_url else "", code(e.sha[:12]) if e.sha else "",
             md(e.time) if e.time else ""]
    return ", ".join(p for p in parts if p) or "local evaluation"


def phase_body(r: PhaseResult, ev: Evaluation, *, issues: Mapping[str, int] | None = None,
               dashboard: int | None = None) -> str:
    """The body of one phase issue; under 60,000 characters whatever the plan holds."""
    issues = issues or {}
    status = {p.phase.id: p.status for p in ev.phases}
    held, total = r.progress
    head = [phase_marker(r.phase.id),
            f"**Status:** {ICON[r.status]} {r.status.value} · **Priority:** "
            f"{md(r.phase.priority) or '—'} · **Progress:** {held}/{total} criteria",
            "",
            f"Part of the plan **{md(ev.plan.goal, limit=300)}**"
            + (f" (dashboard #{dashboard})." if dashboard else "."), ""]
    criteria = ["### Success criteria", "",
                "Ticked only on evidence from the default branch; ticking by hand changes "
                "nothing.", ""]
    foot = ["", f"_Evidence: {evidence_text(ev)}._", ""]
    parts = [head, criteria, foot]

    def room(later: int) -> int:
        """What is left once `later` sections (their header and "not shown" note) are kept."""
        return MAX_BODY - 200 - sum(size(p) for p in parts) - later * _NOTE

    # criteria first, then dependencies, actions, description: nothing cut without a note
    criteria += criterion_lines(r, ev, room(3), "body size limit")
    needs = []
    for n in r.phase.needs:
        title = md(next(p.phase.title for p in ev.phases if p.phase.id == n), limit=200)
        ref = f"#{issues[n]} {title}" if n in issues else title
        needs.append(f"- {ref} ({status[n].value})")
    depends = ["### Depends on", "", *fit_lines(
        needs, room(2) - 50, lambda k: f"- … {k} more phases not shown (body size limit)"),
        ""] if needs else []
    parts.append(depends)
    ids = {c.id for c in r.criteria}
    actions = [f"- {code(a.id)} {md(a.name)} ({duration(a.cost)})"
               + (" · on the critical path" if a.id in ev.path.critical_path else "")
               for a in ev.plan.actions if ids.intersection(a.effects)]
    planned = ["", "### Planned actions", "", *fit_lines(
        actions, room(1) - 50,
        lambda k: f"- … {k} more planned actions not shown (body size limit)")] if actions else []
    parts.append(planned)
    description = (_description(r.phase.description, room(0) - 50)
                   if r.phase.description else [])
    return "\n".join(head + description + depends + criteria + planned + foot)


def criterion_lines(r: PhaseResult, ev: Evaluation, room: int, limit: str,
                    only: Sequence[CriterionResult] | None = None) -> list[str]:
    """One line per criterion (all, or `only`) within `room` characters, the rest counted."""
    return fit_lines([criterion_line(c, ev) for c in (r.criteria if only is None else only)],
                     room, lambda n: f"- … {n} more criteria not shown ({limit})")


def _description(text: str, room: int) -> list[str]:
    """The escaped description within `room` characters, cut before escaping (an escape is
    never split) with a visible note; [] when not even a note fits."""
    full = md_block(text, limit=10_000)
    if len(full) + 1 <= room:
        return [full, ""]
    low, high = 0, min(len(text), 10_000)
    while low < high:                           # the longest cut whose escaping fits
        mid = (low + high + 1) // 2
        if len(md_block(text, limit=mid)) + 1 <= room:
            low = mid
        else:
            high = mid - 1
    return [md_block(text, limit=low), ""] if low > len("… (truncated)") else []


def read_ticks(body: str | None) -> dict[str, bool]:
    """Claimed-fact checkboxes in an issue body we rendered: fact id → ticked."""
    if not body:
        return {}
    return {m.group(2): m.group(1) in "xX" for m in _FACT_LINE.finditer(body[:MAX_BODY * 2])}
