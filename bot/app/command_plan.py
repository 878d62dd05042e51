"""Plan commands: `/truth plan`, `/truth waive`, and `/truth status` in phase/dashboard issues."""

from __future__ import annotations

from bot.app import command_actions as actions
from bot.app import plansource
from bot.core.commands import Plan as PlanCmd
from bot.core.commands import Status, Waive, is_ours
from bot.core.commands.text import code
from bot.core.plan import Evaluation
from bot.core.plan import Status as PhaseStatus
from bot.core.plan.issuebody import marker_of
from bot.core.plan.render import DASHBOARD_MARKER, duration

NOT_HERE = ("`/truth {name}` works in ci-truth's phase issues (and `status` also in its "
            "dashboard issue and on pull requests).")


def phase_of(job: actions.Job) -> str | None:
    """The phase id of the issue the command was written in, if ci-truth wrote that issue."""
    issue = job.issue
    if job.is_pr or not is_ours(issue, app_id=job.ctx.app_id, slug=job.ctx.app_slug):
        return None
    body = issue.get("body")
    return marker_of(body if isinstance(body, str) else None)


def is_dashboard(job: actions.Job) -> bool:
    body = job.issue.get("body")
    return (not job.is_pr and is_ours(job.issue, app_id=job.ctx.app_id, slug=job.ctx.app_slug)
            and isinstance(body, str) and DASHBOARD_MARKER in body)


def plan_text(ev: Evaluation) -> str:
    """The critical path with its remaining estimate, and what is ready now."""
    ready = [r for r in ev.phases if r.status is PhaseStatus.READY]
    done = sum(1 for r in ev.phases if r.status is PhaseStatus.DONE)
    lines = [f"**Plan**: {code(ev.plan.goal, limit=200)} ({done}/{len(ev.phases)} phases done)",
             ""]
    if ready:
        lines.append("Ready now:")
        lines += [f"- {code(r.phase.title, limit=120)} ({r.progress[0]}/{r.progress[1]} "
                  "criteria hold)" for r in ready]
    else:
        lines.append("No phase is ready now." if done < len(ev.phases) else "Every phase is done.")
    path = ev.path
    if path.critical_path:
        steps = " → ".join(code(a, limit=64) for a in path.critical_path)
        lines += ["", f"Critical path ({duration(path.remaining_cost)} remaining): {steps}"]
    if path.waiting_on:
        lines.append("Waiting on: " + ", ".join(code(f, limit=64) for f in path.waiting_on))
    return "\n".join(lines)


def phase_text(ev: Evaluation, phase_id: str) -> str:
    """One phase's status: each criterion with its measured value, waived ones marked."""
    for r in ev.phases:
        if r.phase.id != phase_id:
            continue
        lines = [f"**{code(r.phase.title, limit=120)}: {r.status.value}** "
                 f"({r.progress[0]}/{r.progress[1]} criteria hold)", ""]
        for c in r.criteria:
            mark = "met" if c.met else ("waived" if c.waived else "not met")
            lines.append(f"- {code(c.id, limit=64)} {mark}: {code(c.value or c.reason or '-')}")
        return "\n".join(lines)
    return f"Phase {code(phase_id, limit=64)} is no longer in the plan."


async def run(cmd: PlanCmd | Waive | Status, job: actions.Job) -> str:
    """Run plan, waive, or status in an issue."""
    phase = phase_of(job)
    if isinstance(cmd, Waive) and phase is None:
        return NOT_HERE.format(name="waive")
    if isinstance(cmd, Status) and phase is None and not is_dashboard(job):
        return NOT_HERE.format(name="status")
    ws = await plansource.read_waivers(job.gh, job.ctx, job.repository)
    ev = await plansource.evaluation(job.gh, job.ctx, job.repository, waivers=ws)
    if isinstance(ev, str):
        return ev                                   # why the plan cannot be evaluated
    if isinstance(cmd, PlanCmd):
        return plan_text(ev)
    if isinstance(cmd, Status):
        return phase_text(ev, phase) if phase else plan_text(ev)
    assert isinstance(cmd, Waive) and phase is not None
    ids = {c.id for r in ev.phases if r.phase.id == phase for c in r.criteria}
    if cmd.criterion not in ids:
        return (f"Phase {code(phase, limit=64)} has no criterion {code(cmd.criterion)}. "
                "Its criteria: " + ", ".join(code(i, limit=64) for i in sorted(ids)) + ".")
    record = actions.waiver_record(job, phase, cmd)
    job.after.append(lambda: plansource.sync(job.gh, job.ctx, job.repository))
    return record
