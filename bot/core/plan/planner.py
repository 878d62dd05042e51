"""GOAP planning: A* over fact sets from the current state to the goal, plus parallel layers."""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from bot.core.plan.model import Action, PathResult, Plan

MAX_EXPANSIONS = 20_000


def relevant_actions(plan: Plan, goal: Iterable[str]) -> list[Action]:
    """Actions that produce a goal fact or a fact a relevant action requires (backward closure)."""
    wanted = set(goal)
    keep: dict[str, Action] = {}
    changed = True
    while changed:
        changed = False
        for a in plan.actions:
            if a.id not in keep and wanted.intersection(a.effects):
                keep[a.id] = a
                wanted.update(a.requires)
                changed = True
    return [a for a in plan.actions if a.id in keep]     # declaration order: deterministic


def reachable_facts(actions: Iterable[Action], start: frozenset[str]) -> set[str]:
    """Every fact some action sequence can add to `start` (relaxed forward chaining)."""
    acts = list(actions)
    facts = set(start)
    changed = True
    while changed:
        changed = False
        for a in acts:
            if facts.issuperset(a.requires) and not facts.issuperset(a.effects):
                facts.update(a.effects)
                changed = True
    return facts


def plan_path(plan: Plan, facts: frozenset[str]) -> PathResult:
    """The cheapest action sequence from `facts` to the plan's goal (A*, deterministic).

    Heuristic h(s) = max over unmet goal facts g of the cheapest action producing g.
    Admissible: every plan from s must run, for each unmet g, some action producing g, so
    its cost is at least that action's cost, hence at least the max. Consistent too: an
    action a either produces the fact attaining the max (then cost(a) >= h(s)) or leaves it
    unmet (then h(s') >= h(s)); so h(s) <= cost(a) + h(s') and no state is reopened.
    Ties break on the sequence of action ids (declaration order), so answers are stable.
    Goal facts no action can produce from here are reported in `waiting_on` (they need
    evidence or a person's claim) and the search plans for the rest.
    """
    goal_all = [f for f in plan.goal_set if f not in facts]
    if not goal_all:
        return PathResult()
    acts = relevant_actions(plan, goal_all)
    reach = reachable_facts(acts, facts)
    waiting = tuple(f for f in goal_all if f not in reach)
    goal = frozenset(f for f in goal_all if f in reach)
    if not goal:
        return PathResult(waiting_on=waiting)
    acts = relevant_actions(plan, goal)
    order = {a.id: i for i, a in enumerate(plan.actions)}
    cheapest: dict[str, int] = {}
    for a in acts:
        for f in a.effects:
            cheapest[f] = min(cheapest.get(f, a.cost), a.cost)

    def h(state: frozenset[str]) -> int:
        return max((cheapest[f] for f in goal if f not in state), default=0)

    start = facts
    heap: list[tuple[int, int, tuple[int, ...], frozenset[str]]] = [(h(start), 0, (), start)]
    best: dict[frozenset[str], int] = {start: 0}
    expansions = 0
    while heap:
        _f, g_cost, seq, state = heapq.heappop(heap)
        if goal <= state:
            path = tuple(plan.actions[i].id for i in seq)
            return _result(plan, path, facts, waiting, optimal=True)
        if best.get(state, g_cost) < g_cost:
            continue
        expansions += 1
        if expansions > MAX_EXPANSIONS:
            break
        for a in acts:
            if not state.issuperset(a.requires) or state.issuperset(a.effects):
                continue
            nxt = state | frozenset(a.effects)
            ng = g_cost + a.cost
            if ng < best.get(nxt, ng + 1):
                best[nxt] = ng
                heapq.heappush(heap, (ng + h(nxt), ng, (*seq, order[a.id]), nxt))
    return _result(plan, _greedy(acts, facts, goal), facts, waiting, optimal=False)


def _greedy(acts: list[Action], facts: frozenset[str], goal: frozenset[str]) -> tuple[str, ...]:
    """Fallback when the search bound is hit: cheapest applicable useful action first."""
    state, path = set(facts), []
    while not goal <= state:
        options = [a for a in acts if state.issuperset(a.requires)
                   and not state.issuperset(a.effects)]
        if not options:
            break
        a = min(options, key=lambda x: (x.cost, acts.index(x)))
        state.update(a.effects)
        path.append(a.id)
    return tuple(path)


def _result(plan: Plan, path: tuple[str, ...], facts: frozenset[str],
            waiting: tuple[str, ...], *, optimal: bool) -> PathResult:
    """Cost, parallel layers and duration of a path: an action waits for the path actions
    producing the facts it requires; actions of one layer are independent of each other."""
    by_id = {a.id: a for a in plan.actions}
    preds: dict[str, list[str]] = {}
    producer: dict[str, str] = {}
    finish: dict[str, int] = {}
    layer: dict[str, int] = {}
    for aid in path:
        a = by_id[aid]
        preds[aid] = sorted({producer[f] for f in a.requires if f not in facts and f in producer})
        layer[aid] = 1 + max((layer[p] for p in preds[aid]), default=-1)
        finish[aid] = a.cost + max((finish[p] for p in preds[aid]), default=0)
        for f in a.effects:
            producer.setdefault(f, aid)
    layers: dict[int, list[str]] = {}
    for aid in path:
        layers.setdefault(layer[aid], []).append(aid)
    return PathResult(
        critical_path=path,
        remaining_cost=sum(by_id[a].cost for a in path),
        parallel=tuple(tuple(layers[k]) for k in sorted(layers)),
        remaining_duration=max(finish.values(), default=0),
        branches=_chains(path, preds),
        waiting_on=waiting,
        optimal=optimal,
    )


def _chains(path: tuple[str, ...], preds: dict[str, list[str]]) -> tuple[tuple[str, ...], ...]:
    """Split the path into chains: a chain continues while an action has exactly one
    successor and that successor has exactly one predecessor; forks and joins start chains."""
    ancestors: dict[str, set[str]] = {}
    for aid in path:                    # path order is topological
        ancestors[aid] = set(preds[aid]).union(*(ancestors[p] for p in preds[aid]))
    direct = {aid: [p for p in preds[aid]
                    if not any(p in ancestors[q] for q in preds[aid] if q != p)]
              for aid in path}          # transitive reduction: drop implied edges
    preds = direct
    succs: dict[str, list[str]] = {aid: [] for aid in path}
    for aid in path:
        for p in preds[aid]:
            succs[p].append(aid)
    out: list[tuple[str, ...]] = []
    for aid in path:
        ps = preds[aid]
        if len(ps) == 1 and len(succs[ps[0]]) == 1:
            continue                        # continues its predecessor's chain
        chain = [aid]
        while len(succs[chain[-1]]) == 1 and len(preds[succs[chain[-1]][0]]) == 1:
            chain.append(succs[chain[-1]][0])
        out.append(tuple(chain))
    return tuple(out)
