"""Renderings of a plan evaluation: text (CLI), JSON (CLI contract), Markdown dashboard."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.core.plan.escape import code, link, md, mermaid
from bot.core.plan.model import CriterionResult, Evaluation, PhaseResult, Status

SCHEMA = "ci-truth/plan@1"
DASHBOARD_MARKER = "<!-- ci-truth:dashboard -->"


def own_line(pattern: str) -> re.Pattern[str]:
    """A marker ``pattern`` alone on its line (blanks around it), anywhere in a body: ours
    start with it, a person with write access may write above it, and escaped plan text can
    never contain it."""
    return re.compile(r"^[ \t]*" + pattern + r"[ \t\r]*$", re.MULTILINE)


_DASHBOARD_LINE = own_line(re.escape(DASHBOARD_MARKER))
_EVIDENCE_LINE = own_line(r"<!-- ci-truth:evidence commit=([0-9a-f]{40}) "
                          r"time=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) -->")
MAX_BODY = 60_000
ICON = {Status.DONE: "✅", Status.READY: "🟡", Status.BLOCKED: "⛔"}


def size(lines: Sequence[str]) -> int:
    """Characters of `lines` joined by newlines, one newline each counted."""
    return sum(len(x) + 1 for x in lines)


def fit_lines(lines: Sequence[str], room: int, note: Callable[[int], str]) -> list[str]:
    """The leading whole `lines` within `room` characters, then ``note(n)`` for the n cut.

    Whole lines only (each a list item, table row or marker line), so a cut never stops
    inside a marker, an HTML comment or an escape; [] when not even the note fits.
    """
    if size(lines) <= room:
        return list(lines)
    room -= len(note(len(lines))) + 1
    out: list[str] = []
    for line in lines:
        if room - len(line) - 1 < 0:
            break
        room -= len(line) + 1
        out.append(line)
    return [*out, note(len(lines) - len(out))] if room >= 0 else []


def duration(minutes: int) -> str:
    """390 → "6 h 30 min"; whole working days from two on → "18 d" (1 d = 8 h, as in costs)."""
    if minutes >= 960 and minutes % 480 == 0:
        return f"{minutes // 480} d"
    h, m = divmod(minutes, 60)
    return " ".join(p for p in (f"{h} h" if h else "", f"{m} min" if m or not h else "") if p)


def criterion_json(c: CriterionResult) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "expr": c.expr, "met": c.met, "value": c.value,
            "reason": c.reason,
            "waived": {"by": c.waived.by, "reason": c.waived.reason} if c.waived else None}


def to_json(ev: Evaluation) -> dict[str, Any]:
    """The `ci-truth plan --format json` document."""
    p = ev.path
    return {
        "schema": SCHEMA,
        "goal": ev.plan.goal,
        "phases": [{
            "id": r.phase.id, "title": r.phase.title, "priority": r.phase.priority,
            "needs": list(r.phase.needs), "status": r.status.value,
            "progress": {"holding": r.progress[0], "total": r.progress[1]},
            "criteria": [criterion_json(c) for c in r.criteria],
        } for r in ev.phases],
        "claimed": sorted(ev.claimed),
        "critical_path": list(p.critical_path),
        "remaining_cost": p.remaining_cost,
        "remaining_duration": p.remaining_duration,
        "parallel": [list(layer) for layer in p.parallel],
        "branches": [list(b) for b in p.branches],
        "waiting_on": list(p.waiting_on),
        "optimal": p.optimal,
        "evidence": {"run_url": ev.evidence.run_url, "sha": ev.evidence.sha,
                     "time": ev.evidence.time},
    }


def to_text(ev: Evaluation) -> str:
    """Plain text for terminals."""
    lines = [f"Plan: {ev.plan.goal}", f"Evidence: {ev.evidence.describe()}", ""]
    for r in ev.phases:
        held, total = r.progress
        lines.append(f"[{r.status.value:7}] {r.phase.id}: {r.phase.title} ({held}/{total})")
        for c in r.criteria:
            mark = "x" if c.met else ("w" if c.waived else " ")
            extra = f" — waived by {c.waived.by}: {c.waived.reason}" if c.waived else ""
            why = f" ({c.reason})" if c.reason else ""
            lines.append(f"    [{mark}] {c.id}: {c.name} — {c.value or 'no value'}{why}{extra}")
    lines.append("")
    lines.extend(_path_lines(ev, markdown=False))
    return "\n".join(lines) + "\n"


def _path_lines(ev: Evaluation, *, markdown: bool) -> list[str]:
    p, by_id = ev.path, {a.id: a for a in ev.plan.actions}
    if not ev.plan.actions:
        return ["No actions declared: phases move on evidence only."]
    out = []
    if p.critical_path:
        head = (f"Critical path: {len(p.critical_path)} actions, {duration(p.remaining_cost)} "
                f"of work, {duration(p.remaining_duration)} with parallel branches")
        out.append(("### " if markdown else "") + head + ("" if p.optimal else
                   " (search bound reached: a valid path, maybe not the cheapest)"))
        if markdown:
            out.append("")
        for i, aid in enumerate(p.critical_path, 1):
            a = by_id[aid]
            label = f"{code(aid)} {md(a.name)}" if markdown else f"{aid} {a.name}".rstrip()
            out.append(f"{i}. {label} ({duration(a.cost)})")
        if len(p.branches) > 1:
            out.append("")
            out.append("Parallel branches:" if not markdown else "**Parallel branches:**")
            for b in p.branches:
                ids = " → ".join(code(x) if markdown else x for x in b)
                out.append(f"- {ids} ({duration(sum(by_id[x].cost for x in b))})")
    elif not p.waiting_on:
        out.append("Goal reached on evidence: no action left.")
    if p.waiting_on:
        ids = ", ".join(code(x) if markdown else x for x in p.waiting_on)
        out.append("")
        out.append(f"Waiting on evidence or a person's claim (no action produces them from "
                   f"here): {ids}")
    return out


def _mermaid(ev: Evaluation) -> list[str]:
    pid = {r.phase.id: f"p{i}" for i, r in enumerate(ev.phases)}
    aid = {a.id: f"a{i}" for i, a in enumerate(ev.plan.actions)}
    owner = {c.id: r.phase.id for r in ev.phases for c in r.criteria}
    on_path = set(ev.path.critical_path)
    lines = ["```mermaid", "flowchart TD",
             "  classDef done fill:#1a7f37,color:#fff,stroke:#1a7f37",
             "  classDef ready fill:#9a6700,color:#fff,stroke:#9a6700",
             "  classDef blocked fill:#cf222e,color:#fff,stroke:#cf222e",
             "  classDef path fill:#0969da,color:#fff,stroke:#0969da",
             "  classDef idle fill:#f6f8fa,color:#57606a,stroke:#d0d7de"]
    for r in ev.phases:
        held, total = r.progress
        label = mermaid(f"{r.phase.title} ({held}/{total})")
        lines.append(f'  {pid[r.phase.id]}["{label}"]:::{r.status.value}')
    for r in ev.phases:
        lines.extend(f"  {pid[n]} --> {pid[r.phase.id]}" for n in r.phase.needs)
    for a in ev.plan.actions:
        done = all(f in ev.facts for f in a.effects)
        cls = "done" if done else "path" if a.id in on_path else "idle"
        lines.append(f'  {aid[a.id]}(["{mermaid(a.name or a.id)} · {duration(a.cost)}"]):::{cls}')
        targets = sorted({owner[f] for f in a.effects if f in owner}, key=list(pid).index)
        lines.extend(f"  {aid[a.id]} -.-> {pid[t]}" for t in targets)
    producers: dict[str, list[str]] = {}
    for a in ev.plan.actions:
        for f in a.effects:
            producers.setdefault(f, []).append(a.id)
    edges = {(p, a.id) for a in ev.plan.actions for f in a.requires
             for p in producers.get(f, ()) if p != a.id}
    lines.extend(f"  {aid[p]} --> {aid[q]}" for p, q in sorted(
        edges, key=lambda e: (list(aid).index(e[0]), list(aid).index(e[1]))))
    lines.append("```")
    return lines


def _evidence_line(ev: Evaluation) -> str:
    e = ev.evidence
    parts = []
    if e.run_url:
        parts.append(link("workflow run", e.run_url))
    if e.sha:
        parts.append(f"commit {code(e.sha[:12])}")
    if e.time:
        parts.append(md(e.time))
    return "Computed from " + (", ".join(parts) if parts else "a local evaluation") + "."


def evidence_marker(commit: str, time: str) -> str:
    """The hidden line recording the commit whose evidence the plan reflects (its time is
    for people: staleness is decided by ancestry, see ``reconcile.to_compare``)."""
    return f"<!-- ci-truth:evidence commit={commit} time={time} -->"


def recorded_evidence(body: str | None) -> tuple[str, str] | None:
    """(commit, commit time) from a dashboard's evidence marker, if any."""
    m = _EVIDENCE_LINE.search(body[: MAX_BODY * 2]) if body else None
    return (m.group(1), m.group(2)) if m else None


def dashboard(ev: Evaluation, *, issues: Mapping[str, int] | None = None,
              recorded: tuple[str, str] | None = None) -> str:
    """The dashboard issue body: goal, phases, critical path, Mermaid flowchart, evidence.

    `recorded` is the (commit, time) the marker keeps, as ``reconcile`` decides it.
    """
    issues = issues or {}
    mark = [evidence_marker(*recorded)] if recorded else []
    head = [DASHBOARD_MARKER, *mark, f"## Plan: {md(ev.plan.goal)}", "", _evidence_line(ev),
            ""]
    claims = _claims(ev, MAX_BODY - size(head) - 1000)     # read back: cut last
    room = MAX_BODY - size(head) - size(claims) - 200
    rows = fit_lines([_phase_row(r, issues.get(r.phase.id)) for r in ev.phases],
                     room - 100, lambda n: f"\n_… {n} more phases not shown (body size limit)._")
    table = ["| Phase | Priority | Status | Progress |", "| --- | --- | --- | --- |", *rows]
    room -= size(table)
    path = fit_lines([*_path_lines(ev, markdown=True), ""], room,
                     lambda n: f"\n_… {n} lines of the critical path not shown (body size "
                               "limit): see `ci-truth plan`._\n")
    body = "\n".join([*head, *table, "", *path, *claims])
    flow = _mermaid(ev)
    if len(body) + size(flow) + 50 < MAX_BODY:
        body += "\n### Flowchart\n\n" + "\n".join(flow) + "\n"
    else:
        body += "\n_Flowchart omitted: the plan is too large for one issue body._\n"
    return body


def is_dashboard(body: str | None) -> bool:
    """Our dashboard marker on a line of its own (see ``own_line``)."""
    if not body:
        return False
    return _DASHBOARD_LINE.search(body[: MAX_BODY * 2]) is not None


def _phase_row(r: PhaseResult, number: int | None) -> str:
    held, total = r.progress
    title = md(r.phase.title, limit=200)
    link = f"#{number} {title}" if number else title
    return (f"| {link} | {md(r.phase.priority) or '—'} | {ICON[r.status]} {r.status.value} | "
            f"{held}/{total} |")


def _claims(ev: Evaluation, room: int) -> list[str]:
    """Claim checkboxes: all of them; past `room` characters every ticked one and the
    unticked ones that fit (a ticked box left out would be read back as unclaimed)."""
    facts = ev.plan.claimable
    if not facts or not ev.plan.actions:
        return []
    out = ["### Claimed facts", "",
           "Ticked by a person with write access; shown as claimed, never as verified.", ""]
    boxes = {f: f"- [{'x' if f in ev.claimed else ' '}] {code(f)} (claimed){fact_marker(f)}"
             for f in facts}
    room -= size(out) + 100
    if size(list(boxes.values())) > room:
        keep: set[str] = set()
        for f in sorted(facts, key=lambda f: f not in ev.claimed):    # ticked ones first
            room -= len(boxes[f]) + 1
            if room >= 0:
                keep.add(f)
        shown = [b for f, b in boxes.items() if f in keep]
        return [*out, *shown, f"- … {len(facts) - len(shown)} more claimable facts not shown "
                "(body size limit)", ""]
    return [*out, *boxes.values(), ""]


def fact_marker(fact: str) -> str:
    return f" <!-- ci-truth:fact id={fact} -->"
