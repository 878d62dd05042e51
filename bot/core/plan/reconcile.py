"""Sans-I/O reconciler: a plan evaluation + our existing issues → the GitHub writes to make."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.core.plan.escape import code
from bot.core.plan.issuebody import (
    criterion_lines,
    evidence_text,
    marker_of,
    phase_body,
    phase_title,
)
from bot.core.plan.model import Evaluation, Evidence, PhaseResult, Status
from bot.core.plan.render import MAX_BODY, dashboard, is_dashboard, recorded_evidence, size

LABEL_PLAN = "ci-truth plan"
STATUS_PREFIX = "status: "
PRIORITY_PREFIX = "priority: "
DASHBOARD = "dashboard"


@dataclass(frozen=True)
class IssueSnapshot:
    """What we know of one existing issue (from a list or get call)."""

    number: int
    title: str
    body: str
    state: str                        # "open" | "closed"
    labels: tuple[str, ...] = ()
    author: str = ""
    state_reason: str | None = None   # "completed" | "not_planned" | "reopened" | None
    closed_by: str | None = None      # login, when known


@dataclass(frozen=True)
class Operation:
    """One write. kind: create | edit | comment. `target` is a phase id or "dashboard"."""

    kind: str
    target: str
    number: int | None = None
    title: str | None = None
    body: str | None = None
    labels: tuple[str, ...] | None = None
    state: str | None = None
    state_reason: str | None = None
    comment: str | None = None
    fields: tuple[str, ...] = field(default=())   # for edits: which fields changed


def _key(issue: IssueSnapshot) -> str | None:
    if is_dashboard(issue.body):
        return DASHBOARD
    return marker_of(issue.body)


_STATUS_LABELS = frozenset(STATUS_PREFIX + s.value for s in Status)


def _fold(labels: Sequence[str]) -> frozenset[str]:
    """Label names as GitHub compares them: ignoring case (it attaches an existing label
    spelled differently and reports that spelling)."""
    return frozenset(x.casefold() for x in labels)


def _labels(existing: Sequence[str], ours: Sequence[str], *,
            priority: bool = True) -> tuple[str, ...]:
    """People's labels kept; ours (plan, status: ready|blocked|done, and on phase issues
    priority, whose value comes from the plan) replaced. "status: in review" is not ours."""
    mine = _fold((LABEL_PLAN, *_STATUS_LABELS, *ours))
    kept = [x for x in existing if x.casefold() not in mine
            and not (priority and x.casefold().startswith(PRIORITY_PREFIX))]
    return tuple(sorted(set(kept) | set(ours)))


def _phase_labels(r: PhaseResult) -> tuple[str, ...]:
    out = [LABEL_PLAN, STATUS_PREFIX + r.status.value]
    if r.phase.priority:
        out.append(PRIORITY_PREFIX + r.phase.priority[:40])
    return tuple(out)


def _dated(e: Evidence) -> tuple[str, str] | None:
    """(commit, commit time) a run's evidence records on the dashboard; None for evidence
    without a commit time (a command's sync), which keeps the recorded marker."""
    return (e.sha, e.commit_time) if e.sha and e.commit_time else None


def dashboard_of(existing: Sequence[IssueSnapshot], bot_login: str) -> IssueSnapshot | None:
    """Our dashboard issue (the oldest, when a lost race made two)."""
    return next((i for i in sorted(existing, key=lambda i: i.number)
                 if i.author == bot_login and is_dashboard(i.body)), None)


def to_compare(e: Evidence, existing: Sequence[IssueSnapshot], bot_login: str) -> str | None:
    """The recorded commit whose ancestry decides whether `e` is stale (docs/plan.md): None
    when nothing is recorded, for the recorded commit itself, and for undated evidence.

    The adapter asks GitHub whether `e`'s commit is a strict ancestor of it and passes the
    answer to ``reconcile(stale=...)``; commit times order nothing (clocks lie, and "Rebase
    and merge" keeps old dates).
    """
    dash = dashboard_of(existing, bot_login)
    recorded = recorded_evidence(dash.body) if dash else None
    new = _dated(e)
    return recorded[0] if recorded and new and new[0] != recorded[0] else None


def reconcile(ev: Evaluation, existing: Sequence[IssueSnapshot], *, bot_login: str,
              now: datetime, stale: bool = False) -> list[Operation]:
    """The operations that bring our issues in line with `ev` (none when already in line).

    Only issues authored by `bot_login` and carrying our marker are considered. Numbers of
    issues created here are unknown until applied: apply, re-list, reconcile again (the
    second pass fills the links); a third pass yields nothing. `stale` evidence (its commit
    a strict ancestor of the one the dashboard records, see ``to_compare``) yields nothing.
    """
    ours: dict[str, list[IssueSnapshot]] = {}
    for issue in sorted(existing, key=lambda i: i.number):
        key = _key(issue) if issue.author == bot_login else None
        if key is not None:
            ours.setdefault(key, []).append(issue)
    ops: list[Operation] = []
    for key, dupes in ours.items():         # a lost race: keep the oldest, close the rest
        for extra in dupes[1:]:
            if extra.state == "open":
                ops += [Operation("comment", key, extra.number,
                                  comment=f"Duplicate of #{dupes[0].number}; closing."),
                        Operation("edit", key, extra.number, state="closed",
                                  state_reason="not_planned", fields=("state",))]
    first = {k: v[0] for k, v in ours.items()}
    numbers = {k: i.number for k, i in first.items() if k != DASHBOARD}
    dash = first.get(DASHBOARD)
    if stale:
        return []
    recorded = recorded_evidence(dash.body) if dash else None
    stamp = now.strftime("%Y-%m-%d %H:%M UTC")
    for r in ev.phases:
        ops += _phase_ops(r, ev, first.get(r.phase.id), numbers, dash, stamp, bot_login)
    plan_ids = {r.phase.id for r in ev.phases}
    for key, issue in first.items():
        if key not in plan_ids and key != DASHBOARD and issue.state == "open":
            ops += [Operation("comment", key, issue.number, comment=(
                        f"Phase {code(key)} is no longer in the plan "
                        f"(`.github/ci-truth.yml`, {stamp}); closing as not planned.")),
                    Operation("edit", key, issue.number, state="closed",
                              state_reason="not_planned", fields=("state",))]
    title = f"Plan: {' '.join(ev.plan.goal.split())[:180]}"
    body = dashboard(ev, issues=numbers, recorded=_dated(ev.evidence) or recorded)
    if dash is None:
        ops.append(Operation("create", DASHBOARD, title=title, body=body,
                             labels=(LABEL_PLAN,)))
    else:
        ops += _edit(DASHBOARD, dash, title, body,
                     _labels(dash.labels, (LABEL_PLAN,), priority=False))
        if dash.state != "open":
            ops.append(Operation("edit", DASHBOARD, dash.number, state="open",
                                 fields=("state",)))
    return ops


def _edit(target: str, issue: IssueSnapshot, title: str, body: str,
          labels: tuple[str, ...]) -> list[Operation]:
    changed = tuple(n for n, same in (("title", issue.title == title),
                                      ("body", issue.body == body),
                                      ("labels", _fold(issue.labels) == _fold(labels)))
                    if not same)
    if not changed:
        return []
    return [Operation("edit", target, issue.number, title=title if "title" in changed else None,
                      body=body if "body" in changed else None,
                      labels=labels if "labels" in changed else None, fields=changed)]


def _phase_ops(r: PhaseResult, ev: Evaluation, issue: IssueSnapshot | None,
               numbers: Mapping[str, int], dash: IssueSnapshot | None,
               stamp: str, bot_login: str) -> list[Operation]:
    pid = r.phase.id
    title = phase_title(r)
    body = phase_body(r, ev, issues=numbers, dashboard=dash.number if dash else None)
    if issue is None:
        # Created open even when done: the next pass closes it with its evidence comment.
        return [Operation("create", pid, title=title, body=body, labels=_phase_labels(r))]
    ops = _edit(pid, issue, title, body, _labels(issue.labels, _phase_labels(r)))
    done = r.status is Status.DONE
    if done and issue.state == "open":
        ops += [Operation("comment", pid, issue.number, comment=_done_comment(r, ev, stamp)),
                Operation("edit", pid, issue.number, state="closed", state_reason="completed",
                          fields=("state",))]
    elif not done and issue.state == "closed":
        ops += [Operation("comment", pid, issue.number,
                          comment=_reopen_comment(r, ev, issue, stamp, bot_login)),
                Operation("edit", pid, issue.number, state="open", fields=("state",))]
    return ops


def _done_comment(r: PhaseResult, ev: Evaluation, stamp: str) -> str:
    lines = [f"All criteria of this phase hold on evidence ({stamp}); closing as completed.", ""]
    lines += criterion_lines(r, ev, MAX_BODY - size(lines), "comment size limit")
    return "\n".join(lines)


def _reopen_comment(r: PhaseResult, ev: Evaluation, issue: IssueSnapshot, stamp: str,
                    bot_login: str) -> str:
    failing = [c for c in r.criteria if not c.holds]
    # GitHub's issue lists carry no closer: we close only done phases, in the same pass that
    # labels them done, so a closed issue still labelled done was closed by us.
    by_bot = issue.closed_by == bot_login or (
        issue.closed_by is None and STATUS_PREFIX + Status.DONE.value in _fold(issue.labels))
    if by_bot:
        head = "Reopened: a later default-branch run broke this phase's criteria."
    else:
        who = f" by {code(issue.closed_by, limit=60)}" if issue.closed_by else ""
        head = (f"Reopened: this issue was closed{who} but the evidence does not support it. "
                "A maintainer can waive a criterion instead.")
    lines = [head, "", f"Evidence: {evidence_text(ev)} ({stamp}).", ""]
    lines += criterion_lines(r, ev, MAX_BODY - size(lines), "comment size limit", only=failing)
    return "\n".join(lines)
