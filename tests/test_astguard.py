"""tests/astguard.py: a collection inside ast.parse cannot break it (CPython gh-106905)."""

from __future__ import annotations

import ast
import gc
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import astguard

SOURCE = Path(ast.__file__).read_text(encoding="utf-8")  # big: building its tree collects


def _parse_while_a_finalizer_parses(parse: Callable[..., ast.AST]) -> tuple[ast.AST, list[str]]:
    """``parse(SOURCE)`` while cyclic garbage whose ``__del__`` parses waits for the collector.

    As when pytest formats a failure while an asyncio task whose exception was never retrieved
    waits in a reference cycle: its finalizer logs the exception, and formatting the traceback
    parses each line for its carets.
    """
    parsed: list[str] = []

    class ParsesWhenFreed:
        def __init__(self) -> None:
            self.cycle = self  # only the collector frees it

        def __del__(self) -> None:
            parsed.append(ast.dump(parse("a + b[1]")))

    threshold = gc.get_threshold()[0]
    if not gc.isenabled() or threshold == 0:
        pytest.skip("needs automatic garbage collection")
    gc.collect()  # the next collection starts inside the parse, once it has allocated enough
    for _ in range(max(1, threshold // 10)):
        ParsesWhenFreed()
    tree = parse(SOURCE)
    gc.collect()  # whatever the parse held off
    return tree, parsed


@pytest.mark.skipif(not astguard.AFFECTED, reason="this interpreter's AST constructor is fixed")
def test_the_interpreter_has_the_bug_the_guard_is_for() -> None:
    with pytest.raises(SystemError, match=astguard.MISMATCH):
        _parse_while_a_finalizer_parses(astguard.ORIGINAL)


def test_a_finalizer_that_parses_cannot_break_a_guarded_parse() -> None:
    tree, parsed = _parse_while_a_finalizer_parses(astguard.guarded(astguard.ORIGINAL))
    assert isinstance(tree, ast.Module) and ast.dump(tree) == ast.dump(ast.parse(SOURCE))
    assert parsed, "the finalizers ran (after the parse)"


def test_the_guard_is_installed_where_the_bug_exists() -> None:
    assert getattr(ast.parse, "__astguard__", False) is astguard.AFFECTED


def test_garbage_collection_is_left_as_it_was() -> None:
    parse = astguard.guarded(astguard.ORIGINAL)
    assert gc.isenabled()
    parse("x = 1")
    assert gc.isenabled()
    gc.disable()
    try:
        parse("x = 1")
        assert not gc.isenabled()  # a test that turned collection off keeps it off
    finally:
        gc.enable()


def test_errors_are_raised_unchanged() -> None:
    with pytest.raises(SyntaxError):
        astguard.guarded(astguard.ORIGINAL)("x = (")
    assert gc.isenabled()
