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
                  evidence: Evidence | None = None) -> Evaluation:
    """Evaluate every criterion over `state` (a ci-truth/state@1 document) and plan the rest.

    A criterion is met only when its expression yields true on the evidence. `claimed` are
    plain facts a person ticked (criterion ids there are ignored: criteria need evidence).
    A waived criterion counts as holding for the phase status and the planner, and stays
    visible as waived. A phase is done when all its criteria hold, ready when every phase
    it needs is done, blocked otherwise.
    """
    names = {ref.split(".", 1)[1] for c in plan.criteria.values() for ref in c.refs
             if ref.startswith("signatures.")}
    act = expr.activation(state, signature_names=names, repo_files=repo_files)
    gap = expr.incomplete(state)
    by_criterion = {w.criterion: w for w in waivers if w.criterion in plan.criteria}
    results: dict[str, tuple[CriterionResult, ...]] = {}
    for phase in plan.phases:
        out = []
        for c in phase.criteria:
            met, value, reason = expr.evaluate(c.program, c.refs, act, gap=gap)
            out.append(CriterionResult(c.id, c.name, c.expr, met, value, reason,
                                       by_criterion.get(c.id)))
        results[phase.id] = tuple(out)
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
