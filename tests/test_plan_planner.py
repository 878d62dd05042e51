"""The A* planner: optimal against brute force, deterministic, honest about what it cannot do."""

from __future__ import annotations

import itertools
import random

from bot.core.plan import Action, Criterion, Phase, Plan, Status, Waiver, evaluate_plan
from bot.core.plan.expr import compile_expr
from bot.core.plan.planner import plan_path


def crit(cid: str, expr: str = "tests.total >= 1") -> Criterion:
    c = compile_expr(expr)
    return Criterion(cid, cid, expr, c.program, c.refs)


def make(actions: list[Action], goal: tuple[str, ...]) -> Plan:
    return Plan("g", (Phase("p", "p", criteria=(crit("c0"),)),), tuple(actions), goal)


def brute_force(plan: Plan, facts: frozenset[str]) -> int | None:
    best = None
    for n in range(len(plan.actions) + 1):
        for seq in itertools.permutations(plan.actions, n):
            state, cost, ok = set(facts), 0, True
            for a in seq:
                if not state.issuperset(a.requires):
                    ok = False
                    break
                state.update(a.effects)
                cost += a.cost
            if ok and state.issuperset(plan.goal_set) and (best is None or cost < best):
                best = cost
    return best


def test_astar_is_optimal_on_random_small_plans() -> None:
    rng = random.Random(7)
    facts = [f"f{i}" for i in range(6)]
    checked = 0
    for _ in range(300):
        actions = []
        for i in range(rng.randint(2, 5)):
            req = tuple(rng.sample(facts, rng.choice((0, 0, 1, 2))))
            eff = tuple(f for f in rng.sample(facts, rng.randint(1, 2)) if f not in req) or ("f5",)
            actions.append(Action(f"a{i}", rng.randint(1, 60), req, eff))
        plan = make(actions, tuple(rng.sample(facts, 2)))
        expected = brute_force(plan, frozenset())
        got = plan_path(plan, frozenset())
        if expected is None:
            assert got.waiting_on
            continue
        checked += 1
        assert got.remaining_cost == expected, (actions, plan.goal_set)
        # the path really reaches the goal
        state: set[str] = set()
        for aid in got.critical_path:
            a = next(x for x in actions if x.id == aid)
            assert state.issuperset(a.requires)
            state.update(a.effects)
        assert state.issuperset(plan.goal_set)
    assert checked > 50


def test_cheaper_alternative_wins_and_ties_break_by_declaration_order() -> None:
    plan = make([Action("slow", 90, (), ("x",)), Action("a", 30, (), ("x",)),
                 Action("b", 30, (), ("x",)), Action("use", 5, ("x",), ("done",))], ("done",))
    assert plan_path(plan, frozenset()).critical_path == ("a", "use")
    assert plan_path(plan, frozenset()).remaining_cost == 35


def test_goal_facts_nothing_can_produce_are_waiting() -> None:
    plan = make([Action("a", 10, ("claimed_by_person",), ("x",))], ("x", "y_measured"))
    got = plan_path(plan, frozenset())
    assert got.waiting_on == ("x", "y_measured") and got.critical_path == ()
    got = plan_path(plan, frozenset({"claimed_by_person"}))
    assert got.critical_path == ("a",) and got.waiting_on == ("y_measured",)


def test_waiver_makes_a_phase_done_and_stays_visible() -> None:
    plan = Plan("g", (Phase("p", "P", criteria=(crit("many", "tests.total >= 100"),)),
                      Phase("q", "Q", needs=("p",), criteria=(crit("ten", "tests.total >= 10"),)),
                      Phase("r", "R", needs=("p",), criteria=(crit("one"),))))
    state = {"tests": {"total": 5}}
    ev = evaluate_plan(plan, state)
    # r's criteria hold on evidence: done even though p is not (status follows evidence).
    assert [p.status for p in ev.phases] == [Status.READY, Status.BLOCKED, Status.DONE]
    ev = evaluate_plan(plan, state, waivers=[Waiver("many", "alice", "legacy suite")])
    assert [p.status for p in ev.phases] == [Status.DONE, Status.READY, Status.DONE]
    c = ev.phases[0].criteria[0]
    assert not c.met and c.waived is not None and c.waived.by == "alice"


def test_search_bound_falls_back_to_a_valid_path(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import bot.core.plan.planner as planner
    monkeypatch.setattr(planner, "MAX_GENERATED", 1)
    # one connected group (all share "x") with an alternative for every goal fact
    actions = [Action(f"a{i}", 10 + i, (), (f"g{i}", "x")) for i in range(6)]
    actions += [Action(f"c{i}", 12, (), (f"g{i}",)) for i in range(6)]
    got = planner.plan_path(make(actions, tuple(f"g{i}" for i in range(6))), frozenset())
    assert not got.optimal and len(got.critical_path) == 6
    assert got.remaining_cost == 10 + 11 + 12 * 4          # cheapest-first happens to be optimal


def test_landmarks_and_independent_groups_need_no_search(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import bot.core.plan.planner as planner
    # 40 independent two-step chains, each with an alternative first step: 40 small searches
    actions = [Action(f"a{i}", 10 + i % 7, (), (f"g{i}",)) for i in range(40)]
    actions += [Action(f"c{i}", 12, (), (f"g{i}",)) for i in range(40)]
    actions += [Action(f"b{i}", 5, (f"g{i}",), (f"h{i}",)) for i in range(40)]
    monkeypatch.setattr(planner, "MAX_GENERATED", 10)
    got = planner.plan_path(make(actions, tuple(f"h{i}" for i in range(40))), frozenset())
    assert got.optimal and len(got.critical_path) == 80
    assert got.remaining_cost == sum(min(10 + i % 7, 12) + 5 for i in range(40))
    assert len(got.branches) == 40
