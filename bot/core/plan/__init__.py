"""Master plans as evidence-gated phases: schema, CEL criteria, GOAP planner, renderings."""

from bot.core.plan.evaluate import evaluate_plan
from bot.core.plan.model import (
    Action,
    Criterion,
    CriterionResult,
    Evaluation,
    Evidence,
    PathResult,
    Phase,
    PhaseResult,
    Plan,
    Status,
    Waiver,
)
from bot.core.plan.schema import parse_cost, parse_plan

__all__ = [
    "Action", "Criterion", "CriterionResult", "Evaluation", "Evidence", "PathResult", "Phase",
    "PhaseResult", "Plan", "Status", "Waiver", "evaluate_plan", "parse_cost", "parse_plan",
]
