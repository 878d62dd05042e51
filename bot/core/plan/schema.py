"""The `plan:` section of .github/ci-truth.yml → a validated Plan (or ConfigError: key, line)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from bot.core.errors import ConfigError
from bot.core.plan.expr import ExprError, compile_expr
from bot.core.plan.model import MAX_ID, Action, Criterion, Phase, Plan

Where = Callable[[tuple[str | int, ...]], int | None]
Path = tuple[str | int, ...]
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_COST = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|w)?\s*$")
_UNIT = {"m": 1, "min": 1, "h": 60, "d": 8 * 60, "w": 5 * 8 * 60, None: 1}   # d = working day
MAX_COST = 10_000 * 60
MAX_PHASES, MAX_ACTIONS, MAX_CRITERIA = 100, 200, 500


def key_of(path: Path) -> str:
    """("plan", "phases", 2, "expr") → "plan.phases[2].expr"."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


class _Ctx:
    def __init__(self, where: Where, source: str) -> None:
        self.where, self.source = where, source

    def fail(self, path: Path, message: str) -> ConfigError:
        line = None
        for n in range(len(path), 0, -1):          # nearest ancestor with a known line
            line = self.where(path[:n])
            if line is not None:
                break
        return ConfigError(message, key=key_of(path), line=line, source=self.source)

    def mapping(self, value: Any, path: Path) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(path, f"expected a mapping, got {type(value).__name__}")
        return value

    def seq(self, value: Any, path: Path) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(path, f"expected a list, got {type(value).__name__}")
        return value

    def text(self, value: Any, path: Path, *, required: bool = True, limit: int = 2000) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str | int | float) or isinstance(value, bool) or \
                (required and not str(value).strip()):
            raise self.fail(path, "expected a non-empty text")
        if len(str(value)) > limit:
            raise self.fail(path, f"longer than {limit} characters")
        return str(value)

    def ident(self, value: Any, path: Path) -> str:
        if not isinstance(value, str) or not _ID.match(value) or len(value) > MAX_ID:
            raise self.fail(path, f"expected an id (letters, digits, _ . -; at most {MAX_ID} "
                                  f"characters, starting with a letter), got {value!r}")
        return value

    def keys(self, value: Mapping[str, Any], path: Path, allowed: Collection[str]) -> None:
        for k in value:
            if k not in allowed:
                raise self.fail((*path, str(k)), f"unknown key; expected one of "
                                                 f"{', '.join(sorted(allowed))}")


def parse_cost(value: Any) -> int:
    """"15m", "2h", "1d" (8 h working day), "1w" (5 days) or a number of minutes → minutes."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 15m, 2h, 1d or minutes")
    if isinstance(value, int | float):
        minutes = float(value)
    else:
        m = _COST.match(str(value)) if isinstance(value, str) else None
        if not m:
            raise ValueError(f"expected a duration like 15m, 2h, 1d or minutes, got {value!r}")
        minutes = float(m.group(1)) * _UNIT[m.group(2)]
    if minutes < 0 or minutes > MAX_COST or minutes != minutes:
        raise ValueError(f"cost out of range (0 to {MAX_COST // 60} hours)")
    return round(minutes)


def parse_plan(data: Any, where: Where, source: str = ".github/ci-truth.yml", *,
               signatures: Collection[str] | None = None) -> Plan:
    """Parse and validate the `plan:` section; `where` maps key paths (from the root) to lines.

    With `signatures` (the config's signature names) an unknown `signatures.X` is an error;
    without it, an unmeasured signature reads as 0.
    """
    ctx = _Ctx(where, source)
    root: Path = ("plan",)
    plan = ctx.mapping(data, root)
    ctx.keys(plan, root, ("goal", "phases", "actions", "goal_facts"))
    goal = ctx.text(plan.get("goal"), (*root, "goal"), limit=300)
    raw_phases = ctx.seq(plan.get("phases"), (*root, "phases"))
    if not raw_phases:
        raise ctx.fail((*root, "phases"), "a plan needs at least one phase")
    if len(raw_phases) > MAX_PHASES:
        raise ctx.fail((*root, "phases"), f"more than {MAX_PHASES} phases")
    phases: list[Phase] = []
    seen: dict[str, Path] = {}
    for i, raw in enumerate(raw_phases):
        phases.append(_phase(ctx, raw, (*root, "phases", i), seen, signatures))
    if sum(len(p.criteria) for p in phases) > MAX_CRITERIA:
        raise ctx.fail((*root, "phases"), f"more than {MAX_CRITERIA} criteria")
    phase_ids = {p.id for p in phases}
    for i, p in enumerate(phases):
        for j, need in enumerate(p.needs):
            if need not in phase_ids:
                raise ctx.fail((*root, "phases", i, "needs", j), f"unknown phase id {need!r}")
    _check_cycles(ctx, phases)
    actions = _actions(ctx, plan.get("actions"), (*root, "actions"), seen)
    crit_ids = {c.id for p in phases for c in p.criteria}
    goal_facts = tuple(ctx.ident(f, (*root, "goal_facts", i))
                       for i, f in enumerate(ctx.seq(plan.get("goal_facts"),
                                                     (*root, "goal_facts"))))
    produced = {f for a in actions for f in a.effects}
    for i, f in enumerate(goal_facts):
        if f not in crit_ids and f not in produced and f not in {r for a in actions
                                                                 for r in a.requires}:
            raise ctx.fail((*root, "goal_facts", i), f"unknown fact id {f!r}: not a criterion "
                                                     "and not named by any action")
    result = Plan(goal=goal, phases=tuple(phases), actions=actions, goal_facts=goal_facts,
                  source=source)
    _check_reachable(ctx, result)
    return result


def _phase(ctx: _Ctx, raw: Any, path: Path, seen: dict[str, Path],
           signatures: Collection[str] | None) -> Phase:
    m = ctx.mapping(raw, path)
    ctx.keys(m, path, ("id", "title", "priority", "needs", "description", "criteria"))
    pid = ctx.ident(m.get("id"), (*path, "id"))
    _unique(ctx, pid, (*path, "id"), seen)
    title = ctx.text(m.get("title", pid), (*path, "title"), limit=200)
    priority = ctx.text(m.get("priority"), (*path, "priority"), required=False, limit=20)
    needs = tuple(ctx.ident(n, (*path, "needs", j))
                  for j, n in enumerate(ctx.seq(m.get("needs"), (*path, "needs"))))
    description = ctx.text(m.get("description"), (*path, "description"), required=False,
                           limit=20_000)
    raw_criteria = ctx.seq(m.get("criteria"), (*path, "criteria"))
    if not raw_criteria:
        raise ctx.fail((*path, "criteria"), "a phase needs at least one criterion "
                                            "(it can only move on evidence)")
    criteria = []
    for j, rc in enumerate(raw_criteria):
        cpath = (*path, "criteria", j)
        c = ctx.mapping(rc, cpath)
        ctx.keys(c, cpath, ("id", "name", "expr"))
        cid = ctx.ident(c.get("id"), (*cpath, "id"))
        _unique(ctx, cid, (*cpath, "id"), seen)
        name = ctx.text(c.get("name", cid), (*cpath, "name"), limit=200)
        expr = ctx.text(c.get("expr"), (*cpath, "expr"), limit=10_000)
        try:
            compiled = compile_expr(expr, signatures=signatures)
        except ExprError as err:
            raise ctx.fail((*cpath, "expr"), str(err)) from None
        criteria.append(Criterion(cid, name, expr, compiled.program, compiled.refs,
                                  compiled.loops))
    return Phase(pid, title, priority, needs, description, tuple(criteria))


def _unique(ctx: _Ctx, ident: str, path: Path, seen: dict[str, Path]) -> None:
    if ident in seen:
        raise ctx.fail(path, f"duplicate id {ident!r} (already used at {key_of(seen[ident])})")
    seen[ident] = path


def _actions(ctx: _Ctx, raw: Any, path: Path, seen: dict[str, Path]) -> tuple[Action, ...]:
    items = ctx.seq(raw, path)
    if len(items) > MAX_ACTIONS:
        raise ctx.fail(path, f"more than {MAX_ACTIONS} actions")
    out = []
    for i, ra in enumerate(items):
        apath = (*path, i)
        a = ctx.mapping(ra, apath)
        ctx.keys(a, apath, ("id", "name", "cost", "requires", "effects"))
        aid = ctx.ident(a.get("id"), (*apath, "id"))
        _unique(ctx, aid, (*apath, "id"), seen)
        try:
            cost = parse_cost(a.get("cost"))
        except ValueError as err:
            raise ctx.fail((*apath, "cost"), str(err)) from None
        requires = tuple(ctx.ident(f, (*apath, "requires", j))
                         for j, f in enumerate(ctx.seq(a.get("requires"), (*apath, "requires"))))
        effects = tuple(ctx.ident(f, (*apath, "effects", j))
                        for j, f in enumerate(ctx.seq(a.get("effects"), (*apath, "effects"))))
        if not effects:
            raise ctx.fail((*apath, "effects"), "an action needs at least one effect")
        name = ctx.text(a.get("name"), (*apath, "name"), required=False, limit=200)
        out.append(Action(aid, cost, requires, effects, name))
    phase_like = {k for k, p in seen.items() if len(p) == 4 and p[-1] == "id"
                  and p[1] == "phases"}
    for i, act in enumerate(out):
        for field_name in ("requires", "effects"):
            for j, fact in enumerate(getattr(act, field_name)):
                if fact in phase_like or fact in {x.id for x in out}:
                    raise ctx.fail((*path, i, field_name, j),
                                   f"{fact!r} is a phase or action id, not a fact; name a "
                                   "criterion id or a plain fact")
    _check_typos(ctx, out, path, known_ids=set(seen))
    return tuple(out)


def _check_typos(ctx: _Ctx, actions: list[Action], path: Path, known_ids: set[str]) -> None:
    """A required fact nothing produces is claimed by a person; near-misses are typos."""
    produced = {f for a in actions for f in a.effects}
    for i, act in enumerate(actions):
        for j, fact in enumerate(act.requires):
            if fact in produced or fact in known_ids:
                continue
            close = difflib.get_close_matches(fact, sorted(known_ids | produced), n=1,
                                              cutoff=0.85)
            if close:
                raise ctx.fail((*path, i, "requires", j),
                               f"unknown fact id {fact!r}; did you mean {close[0]!r}?")


def _check_cycles(ctx: _Ctx, phases: list[Phase]) -> None:
    needs = {p.id: p.needs for p in phases}
    index = {p.id: i for i, p in enumerate(phases)}
    state: dict[str, int] = {}          # 1 visiting, 2 done
    stack: list[str] = []

    def visit(pid: str) -> None:
        state[pid] = 1
        stack.append(pid)
        for n in needs[pid]:
            if state.get(n) == 1:
                cycle = [*stack[stack.index(n):], n]
                raise ctx.fail(("plan", "phases", index[pid], "needs"),
                               "cycle in needs: " + " → ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[pid] = 2

    for p in phases:
        if p.id not in state:
            visit(p.id)


def _check_reachable(ctx: _Ctx, plan: Plan) -> None:
    """Forward-chain from the external facts (no action produces them: measured or claimed)."""
    if not plan.actions:
        return
    produced = {f for a in plan.actions for f in a.effects}
    known = set(plan.criteria) | {f for a in plan.actions for f in (*a.requires, *a.effects)}
    facts = {f for f in known if f not in produced}
    changed = True
    while changed:
        changed = False
        for a in plan.actions:
            if set(a.requires) <= facts and not set(a.effects) <= facts:
                facts |= set(a.effects)
                changed = True
    missing = [f for f in plan.goal_set if f not in facts]
    if missing:
        path: Path = ("plan", "goal_facts") if plan.goal_facts else ("plan", "actions")
        raise ctx.fail(path, "the goal cannot be reached by any sequence of actions: "
                             + ", ".join(missing) + " (their producing actions need facts "
                             "that nothing produces first)")
