"""Phase issue bodies (checkbox per criterion, ticked only on evidence) and reading ticks back."""

from __future__ import annotations

import re
from collections.abc import Mapping

from bot.core.plan.escape import code, link, md, md_block
from bot.core.plan.model import CriterionResult, Evaluation, PhaseResult
from bot.core.plan.render import ICON, MAX_BODY, duration, own_line

PHASE_MARKER = re.compile(r"<!-- ci-truth:phase id=([A-Za-z][A-Za-z0-9_.-]{0,63}) -->")
_PHASE_LINE = own_line(PHASE_MARKER.pattern)
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
    if r.phase.description:
        head += [md_block(r.phase.description, limit=10_000), ""]
    if r.phase.needs:
        head += ["### Depends on", ""]
        for n in r.phase.needs:
            title = md(next(p.phase.title for p in ev.phases if p.phase.id == n), limit=200)
            ref = f"#{issues[n]} {title}" if n in issues else title
            head.append(f"- {ref} ({status[n].value})")
        head.append("")
    head += ["### Success criteria", "",
             "Ticked only on evidence from the default branch; ticking by hand changes "
             "nothing.", ""]
    producers = [a for a in ev.plan.actions
                 if {c.id for c in r.criteria}.intersection(a.effects)]
    tail = []
    if producers:
        tail += ["", "### Planned actions", ""]
        tail += [f"- {code(a.id)} {md(a.name)} ({duration(a.cost)})"
                 + (" · on the critical path" if a.id in ev.path.critical_path else "")
                 for a in producers]
    tail += ["", f"_Evidence: {evidence_text(ev)}._", ""]
    budget = MAX_BODY - sum(len(x) + 1 for x in head + tail) - 200
    lines = []
    for i, c in enumerate(r.criteria):
        line = criterion_line(c, ev)
        if budget - len(line) - 1 < 0:
            lines.append(f"- … {len(r.criteria) - i} more criteria not shown (body size limit)")
            break
        budget -= len(line) + 1
        lines.append(line)
    return "\n".join(head + lines + tail)


def read_ticks(body: str | None) -> dict[str, bool]:
    """Claimed-fact checkboxes in an issue body we rendered: fact id → ticked."""
    if not body:
        return {}
    return {m.group(2): m.group(1) in "xX" for m in _FACT_LINE.finditer(body[:MAX_BODY * 2])}
