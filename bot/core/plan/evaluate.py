"""Evaluate a plan against a measured state: criteria on evidence, phase statuses, the path."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.core.plan import expr
from bot.core.plan.model import (
    CriterionResult,
    Evaluation,
    Evidence,
    PhaseResult,
    Plan,
    Status,
    Waiver,
)
from bot.core.plan.planner import plan_path


def evaluate_plan(plan: Plan, state: Mapping[str, Any], *, claimed: Iterable[str] = (),
                  waivers: Iterable[Waiver] = (), repo_files: Sequence[str] | None = None,
                  evidence: Evidence | None = None, steps: int = expr.MAX_STEPS) -> Evaluation:
    """Evaluate every criterion over `state` (a ci-truth/state@1 document) and plan the rest.

    A criterion is met only when its expression yields true on the evidence. `claimed` are
    plain facts a person ticked (criterion ids there are ignored: criteria need evidence).
    A waived criterion counts as holding for the phase status and the planner, and stays
    visible as waived. A phase is done when all its criteria hold, ready when every phase
    it needs is done, blocked otherwise. The criteria share `steps` (expr.Meter), in plan
    order, those with a comprehension last: once spent, the rest are unmet saying so.
    """
    names = {ref.split(".", 1)[1] for c in plan.criteria.values() for ref in c.refs
             if ref.startswith("signatures.")}
    act = expr.activation(state, signature_names=names, repo_files=repo_files)
    gap = expr.incomplete(state)
    cel, meter = expr.to_cel(act), expr.Meter(steps)
    by_criterion = {w.criterion: w for w in waivers if w.criterion in plan.criteria}
    measured: dict[str, tuple[bool, str, str]] = {}
    # comprehensions last: one walking a big `files` tree never starves `tests.failed == 0`
    for c in sorted(plan.criteria.values(), key=lambda c: c.loops):
        measured[c.id] = expr.evaluate(c.program, c.refs, act, gap=gap, cel=cel, meter=meter)
        if meter.out and not meter.spent_by:
            meter.spent_by = c.id
    results = {phase.id: tuple(CriterionResult(c.id, c.name, c.expr, *measured[c.id],
                                               by_criterion.get(c.id)) for c in phase.criteria)
               for phase in plan.phases}
    done = {pid for pid, cs in results.items() if all(c.holds for c in cs)}
    phases = []
    for phase in plan.phases:
        if phase.id in done:
            status = Status.DONE
        elif all(n in done for n in phase.needs):
            status = Status.READY
        else:
            status = Status.BLOCKED
        phases.append(PhaseResult(phase, status, results[phase.id]))
    claims = frozenset(f for f in claimed if f in set(plan.claimable))
    holding = frozenset(c.id for cs in results.values() for c in cs if c.holds)
    facts = holding | claims
    return Evaluation(plan, tuple(phases), plan_path(plan, facts), facts, claims,
                      evidence or Evidence())
