"""Plan data model: phases, criteria, actions, waivers, and the results of evaluating them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

MAX_EXPR = 1000          # characters of one criterion expression
MAX_ID = 64              # characters of a phase, criterion, action or fact id


class Status(StrEnum):
    """Phase status: done on evidence (or waiver), ready to work on, or blocked by its needs."""

    DONE = "done"
    READY = "ready"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class Criterion:
    """A measured success criterion: a CEL expression over the measured state."""

    id: str
    name: str
    expr: str
    program: Any = field(default=None, compare=False, repr=False)   # compiled celpy Runner
    refs: tuple[str, ...] = ()          # variable paths the expression reads ("tests.total")
    loops: bool = False                 # has a comprehension: evaluated after the others


@dataclass(frozen=True)
class Phase:
    """One phase of the plan: a title, its dependencies and its criteria."""

    id: str
    title: str
    priority: str = ""
    needs: tuple[str, ...] = ()
    description: str = ""
    criteria: tuple[Criterion, ...] = ()


@dataclass(frozen=True)
class Action:
    """A GOAP action: runs once its `requires` facts hold and adds its `effects`."""

    id: str
    cost: int                            # minutes
    requires: tuple[str, ...] = ()
    effects: tuple[str, ...] = ()
    name: str = ""


@dataclass(frozen=True)
class Plan:
    """A parsed, validated plan (the `plan:` section of .github/ci-truth.yml)."""

    goal: str
    phases: tuple[Phase, ...]
    actions: tuple[Action, ...] = ()
    goal_facts: tuple[str, ...] = ()     # explicit goal, else every criterion id
    source: str = ".github/ci-truth.yml"

    @property
    def criteria(self) -> dict[str, Criterion]:
        return {c.id: c for p in self.phases for c in p.criteria}

    @property
    def goal_set(self) -> tuple[str, ...]:
        return self.goal_facts or tuple(c.id for p in self.phases for c in p.criteria)

    @property
    def claimable(self) -> tuple[str, ...]:
        """Plain facts (not criteria) named by actions or goal_facts: claimed by a person."""
        crit = self.criteria
        seen: dict[str, None] = {}
        for a in self.actions:
            for f in (*a.requires, *a.effects):
                if f not in crit:
                    seen.setdefault(f)
        for f in self.goal_facts:
            if f not in crit:
                seen.setdefault(f)
        return tuple(seen)


@dataclass(frozen=True)
class Waiver:
    """A maintainer's waiver of one criterion (from the commands feature)."""

    criterion: str
    by: str
    reason: str = ""


@dataclass(frozen=True)
class Evidence:
    """Where the measured state came from (shown next to every ticked criterion)."""

    run_url: str = ""
    sha: str = ""
    time: str = ""                       # ISO 8601, UTC
    commit_time: str = ""                # a run's head commit time (UTC, ...Z), never an order

    def describe(self) -> str:
        parts = [p for p in (self.run_url, self.sha[:12], self.time) if p]
        return ", ".join(parts) if parts else "local evaluation"


@dataclass(frozen=True)
class CriterionResult:
    """A criterion evaluated: met only on evidence; `value` shows what was measured."""

    id: str
    name: str
    expr: str
    met: bool
    value: str = ""                      # e.g. "tests.total = 0"
    reason: str = ""                     # why unmet when evaluation could not decide
    waived: Waiver | None = None

    @property
    def holds(self) -> bool:
        return self.met or self.waived is not None


@dataclass(frozen=True)
class PhaseResult:
    """A phase evaluated: status, criteria results and progress."""

    phase: Phase
    status: Status
    criteria: tuple[CriterionResult, ...]

    @property
    def progress(self) -> tuple[int, int]:
        return sum(1 for c in self.criteria if c.holds), len(self.criteria)


@dataclass(frozen=True)
class PathResult:
    """The planner's answer: the cheapest action sequence to the goal from the current state."""

    critical_path: tuple[str, ...] = ()
    remaining_cost: int = 0              # minutes, sum of the path's action costs
    parallel: tuple[tuple[str, ...], ...] = ()   # layers of path actions that can run together
    remaining_duration: int = 0          # minutes if each layer's independent chains run at once
    branches: tuple[tuple[str, ...], ...] = ()   # independent chains of path actions
    waiting_on: tuple[str, ...] = ()     # goal facts no action can produce from here
    optimal: bool = True                 # False when the search bound was hit (greedy fallback)


@dataclass(frozen=True)
class Evaluation:
    """Everything renderers and the reconciler need about one plan evaluation."""

    plan: Plan
    phases: tuple[PhaseResult, ...]
    path: PathResult
    facts: frozenset[str]                # facts holding now (criteria on evidence + claims)
    claimed: frozenset[str]              # plain facts a person ticked
    evidence: Evidence = Evidence()
