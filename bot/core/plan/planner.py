"""GOAP planning: A* over fact sets from the current state to the goal, plus parallel layers."""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from bot.core.plan.model import Action, PathResult, Plan

MAX_GENERATED = 50_000      # successor states per search; past it, a greedy path


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

    Heuristic h(s) = max(h_max, h_lm). h_max = max over unmet goal facts g of the cheapest
    action producing g. Admissible: every plan from s must run, for each unmet g, some action
    producing g, so its cost is at least that action's cost, hence at least the max.
    Consistent: an action a either produces the fact attaining the max (then cost(a) >=
    h_max(s)) or leaves it unmet (then h_max(s') >= h_max(s)). h_lm = summed cost of the
    landmark actions (sole producers of needed facts) whose fact does not hold yet: each must
    still run, and they are distinct actions; running a lowers h_lm by at most cost(a). The
    max of consistent heuristics is consistent, so no state is reopened. When the landmarks
    alone reach the goal (no alternatives anywhere: the seeds' case) they are the answer
    without search: every plan contains them and they suffice.
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
    path: list[str] = []
    optimal = True
    for comp_acts, comp_goal in _components(acts, goal):
        seq, exact = _search(comp_acts, facts, comp_goal)
        path.extend(seq)
        optimal = optimal and exact
    return _result(plan, tuple(path), facts, waiting, optimal=optimal)


def _components(acts: list[Action], goal: frozenset[str],
                ) -> list[tuple[list[Action], frozenset[str]]]:
    """Split into groups sharing no fact. Delete-free actions of disjoint groups never
    interact, so the cheapest plan is the union of each group's cheapest plan."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a in acts:
        names = [*a.requires, *a.effects]
        for other in names[1:]:
            parent[find(other)] = find(names[0])
    groups: dict[str, tuple[list[Action], set[str]]] = {}
    for a in acts:
        groups.setdefault(find(a.effects[0]), ([], set()))[0].append(a)
    for f in goal:
        groups.setdefault(find(f), ([], set()))[1].add(f)
    return [(g_acts, frozenset(g_goal)) for g_acts, g_goal in groups.values() if g_goal]


def _search(acts: list[Action], facts: frozenset[str],
            goal: frozenset[str]) -> tuple[tuple[str, ...], bool]:
    """A* for one group: (action ids, whether the answer is proven cheapest)."""
    order = {a.id: i for i, a in enumerate(acts)}
    cheapest: dict[str, int] = {}
    for a in acts:
        for f in a.effects:
            cheapest[f] = min(cheapest.get(f, a.cost), a.cost)
    marks = landmarks(acts, facts, goal)
    only = _ordered(acts, facts, goal, marks)
    if only is not None:                  # the landmarks alone reach the goal: optimal
        return only, True

    def h(state: frozenset[str]) -> int:
        h_max = max((cheapest[f] for f in goal if f not in state), default=0)
        h_lm = sum(a.cost for f, a in marks.items() if f not in state)
        return max(h_max, h_lm)

    start = facts
    heap: list[tuple[int, int, tuple[int, ...], frozenset[str]]] = [(h(start), 0, (), start)]
    best: dict[frozenset[str], int] = {start: 0}
    generated = 0
    while heap:
        _f, g_cost, seq, state = heapq.heappop(heap)
        if goal <= state:
            return tuple(acts[i].id for i in seq), True
        if best.get(state, g_cost) < g_cost:
            continue
        for a in acts:
            if not state.issuperset(a.requires) or state.issuperset(a.effects):
                continue
            generated += 1
            nxt = state | frozenset(a.effects)
            ng = g_cost + a.cost
            if ng < best.get(nxt, ng + 1):
                best[nxt] = ng
                heapq.heappush(heap, (ng + h(nxt), ng, (*seq, order[a.id]), nxt))
        if generated > MAX_GENERATED:
            break
    return _greedy(acts, facts, goal), False


def landmarks(acts: list[Action], facts: frozenset[str],
              goal: frozenset[str]) -> dict[str, Action]:
    """Facts with exactly one producer that every plan needs → that producer (a landmark).

    Every plan from `facts` must run the landmark, so the sum of the landmarks' costs for
    facts not yet holding is an admissible (and consistent) heuristic too.
    """
    producers: dict[str, list[Action]] = {}
    for a in acts:
        for f in a.effects:
            producers.setdefault(f, []).append(a)
    marks: dict[str, Action] = {}
    todo = sorted(goal - facts)
    seen = set(todo)
    while todo:
        f = todo.pop()
        options = producers.get(f, [])
        if len(options) != 1:
            continue
        a = options[0]
        if a in marks.values():
            continue
        marks[f] = a
        for r in a.requires:
            if r not in facts and r not in seen:
                seen.add(r)
                todo.append(r)
    return marks


def _ordered(acts: list[Action], facts: frozenset[str], goal: frozenset[str],
             marks: dict[str, Action]) -> tuple[str, ...] | None:
    """The landmark actions in a runnable order when they alone reach the goal, else None."""
    pending = [a for a in acts if a in marks.values()]
    state, path = set(facts), []
    while pending:
        ready = next((a for a in pending if state.issuperset(a.requires)), None)
        if ready is None:
            return None
        pending.remove(ready)
        state.update(ready.effects)
        path.append(ready.id)
    return tuple(path) if goal <= state else None


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
