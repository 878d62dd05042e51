"""CEL criteria: compile once, list what they read, evaluate over the measured state safely."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError, Evaluator

from bot.core.plan.model import MAX_EXPR

ROOTS = ("tests", "signatures", "workflows", "coverage", "files")
TEST_FIELDS = ("total", "passed", "failed", "errors", "skipped", "flaky",
               "pass_rate", "skipped_ratio", "duration")
FUNCTIONS = {"size", "int", "uint", "double", "string", "bool", "has"}
METHODS = {"contains", "startsWith", "endsWith", "size"}
MACROS = {"all", "exists", "exists_one", "map", "filter"}   # bounded: finite lists only
FORBIDDEN_FUNCTIONS = {"matches"}       # user regexes are not bounded in time
# Failing verdict reasons meaning the counts miss reports (docs/verdict-rules.md): what was
# read proves nothing about what was not, so `tests.failed == 0` must not pass on it.
INCOMPLETE_RULES = frozenset({"no-evidence", "missing-evidence", "unreadable-report",
                              "empty-report", "totals-mismatch", "test-drop",
                              "untrusted-evidence"})
_ENV = celpy.Environment()
# cel-python takes ~5 µs a node: `files.exists(f, f.endsWith(".md"))` evaluates 23 nodes a path,
# >10 s on a 100,000-path tree. One plan evaluation takes at most this many steps (docs/plan.md).
MAX_STEPS = 1_000_000
PATHS_PER_STEP = 10     # reading `files` (`in`, `==`, `+`, string()) walks it at C speed


class ExprError(ValueError):
    """An expression that does not compile or reads something that does not exist."""


class OverBudget(BaseException):
    """The evaluation's steps are spent (not an Exception: celpy turns those into values)."""


class Meter:
    """Steps one plan evaluation may still take: a node of an expression evaluated is one
    (a comprehension's body counts once per element), reading `files` one per PATHS_PER_STEP
    paths. Spent in order; past it criteria are unmet."""

    def __init__(self, steps: int = MAX_STEPS) -> None:
        self.budget = self.left = steps
        self.out = False
        self.spent_by = ""                 # the criterion that ran out, once one did

    def spend(self, steps: int) -> None:
        self.left -= steps
        if self.left < 0:
            self.left, self.out = 0, True
            raise OverBudget


class _Metered(Evaluator):
    """celpy's evaluator, charging its expression's nodes each time it runs (a comprehension's
    body: once per element) and every read of `files`."""

    def __init__(self, ast: Any, activation: Any, meter: Meter) -> None:
        super().__init__(ast, activation)
        self.meter, self.nodes = meter, sum(1 for _ in ast.iter_subtrees())

    def sub_evaluator(self, ast: Any) -> _Metered:    # a comprehension's body
        return _Metered(ast, self.activation, self.meter)

    def evaluate(self, context: Any = None) -> Any:
        self.meter.spend(self.nodes)
        return super().evaluate(context)

    def ident_value(self, name: str, root_scope: bool = False) -> Any:
        value = super().ident_value(name, root_scope)
        if name == "files" and isinstance(value, list):
            self.meter.spend(-(-len(value) // PATHS_PER_STEP))
        return value


@dataclass(frozen=True)
class Compiled:
    """A compiled expression and the variable paths it reads (for display and checks)."""

    program: Any
    refs: tuple[str, ...]
    loops: bool = False                 # has a comprehension (all, exists, ...)


def _short(err: BaseException) -> str:
    text = str(err.args[0]) if err.args else str(err)
    return text.strip().splitlines()[0][:300] if text.strip() else type(err).__name__


def compile_expr(text: str, *, signatures: Collection[str] | None = None) -> Compiled:
    """Compile a criterion expression; raise ExprError with CEL's message when it is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ExprError("expected a CEL expression, e.g. tests.total >= 1")
    if len(text) > MAX_EXPR:
        raise ExprError(f"expression longer than {MAX_EXPR} characters")
    try:
        ast = _ENV.compile(text)
    except CELParseError as err:
        raise ExprError("does not compile: " + " ".join(str(err).split())) from None
    refs: dict[str, None] = {}
    bound = set()
    loops = False
    for node in ast.iter_subtrees():
        if node.data in ("dot_ident", "dot_ident_arg"):
            # `.tests.failed` reads `tests` too, but would slip past every check below
            raise ExprError(f"a leading dot (.{node.children[0]}) is not supported; "
                            f"write {node.children[0]} without it")
        if node.data in ("ident_arg", "member_dot_arg"):
            names = [str(c) for c in node.children if not hasattr(c, "data")]
            bad = FORBIDDEN_FUNCTIONS.intersection(names)
            if bad:
                raise ExprError(f"{sorted(bad)[0]}() is not allowed: regular expressions "
                                "have no time bound")
            allowed = FUNCTIONS if node.data == "ident_arg" else METHODS | MACROS
            for name in names:
                if name not in allowed:
                    raise ExprError(f"unknown function {name}(); use one of "
                                    + ", ".join(sorted(allowed)))
            if node.data == "member_dot_arg" and names and names[0] in MACROS:
                loops = True
                nested = [n for n in node.iter_subtrees() if n is not node
                         and n.data == "member_dot_arg"
                         and any(str(c) in MACROS for c in n.children if not hasattr(c, "data"))]
                if nested:
                    raise ExprError("nested comprehensions are not allowed (their cost "
                                    "multiplies with the list sizes)")
                args = [c for c in node.children if getattr(c, "data", "") == "exprlist"]
                if _reads_files(node.children[0]) and args and \
                        any(_reads_files(body) for body in args[0].children[1:]):
                    raise ExprError("a comprehension over files cannot read files again "
                                    "(its cost multiplies with the list size)")
                var = _ident_of_expr(args[0].children[0]) if args and args[0].children else None
                if var:
                    bound.add(var)
    for node in ast.iter_subtrees():
        if node.data == "ident":
            name = str(node.children[0])
            if name not in ROOTS and name not in bound:
                raise ExprError(f"unknown variable {name!r}; use one of {', '.join(ROOTS)}")
        root = attr = None
        if node.data == "member_dot":
            root, attr = _ident_of(node.children[0]), str(node.children[1])
        elif node.data == "member_index" and _ident_of(node.children[0]) in (
                "tests", "signatures", "coverage"):
            # tests["failed"] reads the same evidence as tests.failed: same checks, same refs
            root, attr = _ident_of(node.children[0]), _literal_of(node.children[1])
            if attr is None:
                raise ExprError(f"{root}[...] needs a literal key, e.g. {root}[\"name\"]")
        if root is not None and attr is not None:
            if root == "tests" and attr not in TEST_FIELDS:
                raise ExprError(f"unknown field tests.{attr}; use one of "
                                + ", ".join(TEST_FIELDS))
            if root == "signatures" and signatures is not None and attr not in signatures:
                known = ", ".join(sorted(signatures)) or "none configured"
                raise ExprError(f"unknown signature {attr!r} (signatures: {known})")
            if root == "coverage" and attr != "line_rate":
                raise ExprError(f"unknown field coverage.{attr}; use coverage.line_rate")
            if root in ("tests", "signatures", "coverage"):
                refs.setdefault(f"{root}.{attr}")
        if node.data == "member_index" and _ident_of(node.children[0]) == "workflows":
            key = _literal_of(node.children[1])
            if key is not None:
                refs.setdefault(f'workflows["{key}"]')
    for node in ast.iter_subtrees():
        if node.data == "ident" and str(node.children[0]) == "files":
            refs.setdefault("files")
        if node.data == "ident" and str(node.children[0]) in ("tests", "signatures") \
                and not any(r.startswith(("tests.", "signatures.")) for r in refs):
            refs.setdefault("tests.total")     # e.g. size(tests): still needs test evidence
    program = _ENV.program(ast)
    problem = _type_problem(program, tuple(refs))
    if problem:
        raise ExprError(problem)
    return Compiled(program, tuple(refs), loops)


_OPS = {"relation_eq": "==", "relation_ne": "!=", "relation_lt": "<", "relation_le": "<=",
        "relation_gt": ">", "relation_ge": ">=", "relation_in": "in", "addition_add": "+",
        "addition_sub": "-", "multiplication_mul": "*", "multiplication_div": "/",
        "multiplication_mod": "%"}


def _type_problem(program: Any, refs: tuple[str, ...]) -> str:
    """What fails on any evidence: a type mismatch (`tests.pass_rate == 1`), a result that is
    not true/false, nesting too deep to evaluate. Found on a sample of the variables' types."""
    sample = activation({"tests": dict.fromkeys(TEST_FIELDS, 1), "coverage": {"line_rate": 1},
                         "workflows": {r[len('workflows["'):-2]: {"conclusion": "success"}
                                       for r in refs if r.startswith("workflows[")}},
                        signature_names=[r.split(".", 1)[1] for r in refs
                                         if r.startswith("signatures.")], repo_files=["x"])
    try:
        result = program.evaluate(json_to_cel(sample))
    except RecursionError:
        return "nested too deeply to evaluate"
    except Exception as err:   # only type errors are decided here
        result = err
    if isinstance(result, CELEvalError):
        text = _error_text(result)
        return text if text.startswith("type error") else ""
    if isinstance(result, BaseException | celtypes.BoolType):
        return ""
    return f"the expression gives {_type_name(type(result).__name__)}, not true/false"


def _type_name(name: str) -> str:
    return {"NoneType": "null"}.get(name, name.removesuffix("Type").lower())


def _error_text(err: BaseException) -> str:
    """An evaluation error for people: type mismatches named as such (CEL has no implicit
    conversion: a double compares with 1.0, not 1)."""
    text = _short(err)
    if "CELEvalError" in text:           # an earlier error passed along, not a type
        return "evaluation error: " + text
    m = re.match(r"found no matching overload for Token\('RULE', '(\w+)'\) applied to "
                 r"'\((.*)\)'", text)
    if m:
        types = [_type_name(t) for t in re.findall(r"<class '(?:[\w.]*\.)?(\w+)'>", m.group(2))]
        op = _OPS.get(m.group(1), m.group(1))
        if len(types) == 2:
            return (f"type error: {types[0]} {op} {types[1]} is not defined in CEL, which "
                    "never converts (compare a double with 1.0, not 1; or use double(), int())")
    if "no such overload" in text or "no matching overload" in text:
        return "type error: " + text
    return "evaluation error: " + text


def _reads_files(node: Any) -> bool:
    """Whether a subtree reads the `files` list (the one list as long as a repository)."""
    return any(n.data == "ident" and str(n.children[0]) == "files" for n in node.iter_subtrees())


def _ident_of(node: Any) -> str | None:
    """The identifier a `member` subtree is, when it is a bare identifier."""
    while hasattr(node, "data") and node.data in ("member", "primary") and len(node.children) == 1:
        node = node.children[0]
    if hasattr(node, "data") and node.data == "ident":
        return str(node.children[0])
    return None


def _ident_of_expr(node: Any) -> str | None:
    """The identifier an `expr` subtree is, when it is a bare identifier (macro variables)."""
    while hasattr(node, "data") and node.data != "ident" and len(node.children) == 1:
        node = node.children[0]
    if hasattr(node, "data") and node.data == "ident":
        return str(node.children[0])
    return None


def _literal_of(node: Any) -> str | None:
    while hasattr(node, "data") and node.data != "literal" and len(node.children) == 1:
        node = node.children[0]
    if hasattr(node, "data") and node.data == "literal":
        text = str(node.children[0])
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
            return text[1:-1]
    return None


def activation(state: Mapping[str, Any], *, signature_names: Collection[str] = (),
               repo_files: Sequence[str] | None = None) -> dict[str, Any]:
    """The CEL variables for a ``ci-truth/state@1`` document (see docs/plan.md)."""
    tests_in = state.get("tests") if isinstance(state.get("tests"), Mapping) else {}
    assert isinstance(tests_in, Mapping)
    tests: dict[str, int | float] = {}
    for k in TEST_FIELDS:
        v = tests_in.get(k, 0)
        ok = isinstance(v, int | float) and not isinstance(v, bool) and v == v and v >= 0
        tests[k] = (float(v) if k in ("pass_rate", "skipped_ratio", "duration") else int(v)) \
            if ok else 0
    sigs_in = state.get("signatures") if isinstance(state.get("signatures"), Mapping) else {}
    assert isinstance(sigs_in, Mapping)
    sigs = {name: 0 for name in signature_names}
    sigs.update({str(k): v for k, v in sigs_in.items()
                 if isinstance(v, int) and not isinstance(v, bool) and v >= 0})
    wf_in = state.get("workflows") if isinstance(state.get("workflows"), Mapping) else {}
    assert isinstance(wf_in, Mapping)
    workflows = {str(k): {"conclusion": str(v.get("conclusion") or "")}
                 for k, v in wf_in.items() if isinstance(v, Mapping)}
    out: dict[str, Any] = {"tests": tests, "signatures": sigs, "workflows": workflows}
    cov = state.get("coverage")
    if isinstance(cov, Mapping) and isinstance(cov.get("line_rate"), int | float):
        out["coverage"] = {"line_rate": float(cov["line_rate"])}
    if repo_files is not None:
        out["files"] = list(repo_files)
    return out


def incomplete(state: Mapping[str, Any]) -> str:
    """Why the state's counts are incomplete (failing verdict reasons), or ""."""
    verdict = state.get("verdict")
    reasons = verdict.get("reasons") if isinstance(verdict, Mapping) else None
    rules = sorted({str(r.get("rule")) for r in reasons if isinstance(r, Mapping)
                    and r.get("conclusion") == "failure" and r.get("rule") in INCOMPLETE_RULES}
                   ) if isinstance(reasons, list) else []
    return ("incomplete test evidence: the verdict failed with " + ", ".join(rules)
            if rules else "")


def to_cel(act: Mapping[str, Any]) -> Any:
    """The activation as CEL values: once per plan evaluation (~1 µs a path of `files`)."""
    return json_to_cel(dict(act))


def evaluate(program: Any, refs: Sequence[str], act: Mapping[str, Any], *,
             gap: str = "", cel: Any = None, meter: Meter | None = None
             ) -> tuple[bool, str, str]:
    """(met, measured value text, reason). Never raises; errors and non-booleans are unmet.

    `gap` (see ``incomplete``): counts and signatures do not decide a criterion. `cel`:
    ``to_cel(act)``. `meter`: the plan evaluation's budget (a fresh MAX_STEPS without it);
    a criterion it runs out on is unmet, never met.
    """
    value = describe(refs, act)
    reads_tests = any(r.startswith(("tests.", "signatures.")) for r in refs)
    if reads_tests and not act["tests"]["total"]:
        return False, value, "no test evidence: the reports hold 0 tests"
    if reads_tests and gap:
        return False, value, gap
    meter = meter or Meter()
    try:
        result = _Metered(program.ast, program.new_activation(), meter).evaluate(
            to_cel(act) if cel is None else cel)
    except OverBudget:
        return False, value, (
            f"not evaluated: criterion {meter.spent_by!r} used up" if meter.spent_by else
            "evaluation stopped: over") + (
            f" the {meter.budget:,} steps one plan evaluation may take (a comprehension "
            "costs its body's size per element; docs/plan.md)")
    except Exception as err:    # a criterion must never crash the evaluation
        result = err if isinstance(err, CELEvalError) else CELEvalError(
            f"{type(err).__name__}: {_short(err)}")
    if isinstance(result, CELEvalError):
        return False, value, _missing(refs, act) or _error_text(result)
    if not isinstance(result, celtypes.BoolType):
        return False, value, f"expression gave {type(result).__name__}, not true/false"
    return bool(result), value, ""


def _missing(refs: Sequence[str], act: Mapping[str, Any]) -> str:
    """Why an expression could not be evaluated, when it read evidence that is absent."""
    if "coverage.line_rate" in refs and "coverage" not in act:
        return "no coverage report"
    if "files" in refs and "files" not in act:
        return "the default branch's file list is not available"
    for ref in refs:
        if ref.startswith("workflows["):
            name = ref[len('workflows["'):-2]
            if name not in act["workflows"]:
                return f"no run of workflow {name!r} in the evidence"
    return ""


def describe(refs: Sequence[str], act: Mapping[str, Any]) -> str:
    """Text of the measured values an expression reads, e.g. ``tests.total = 0``."""
    parts = []
    for ref in refs:
        if ref == "files":
            files = act.get("files")
            parts.append("files: not available" if files is None else f"files: {len(files)} paths")
        elif ref.startswith("workflows["):
            name = ref[len('workflows["'):-2]
            wf = act["workflows"].get(name)
            parts.append(f"{ref}.conclusion = " + (repr(wf["conclusion"]) if wf else "no run"))
        else:
            root, attr = ref.split(".", 1)
            container = act.get(root)
            if container is None:
                parts.append(f"{ref} = not measured")
            else:
                v = container.get(attr, 0)
                parts.append(f"{ref} = {round(v, 4) if isinstance(v, float) else v}")
    return ", ".join(parts)
