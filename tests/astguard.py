"""``ast.parse`` with garbage collection held off, on the CPython releases whose AST constructor
shares its recursion-depth counter across the interpreter (3.11.0-3.11.7, 3.12.0).

Those releases (CPython gh-106905, fixed by gh-113035 in 3.11.8; 3.12.1 here does not
reproduce it, tests/test_astguard.py) set one
interpreter-wide counter when ``ast.parse`` starts turning the parsed tree into Python objects,
and check it at the end. The conversion runs no Python code of its own, but an allocation in it
can start a garbage collection, and a collection runs Python code: finalizers (an asyncio task's
"Task exception was never retrieved", reported through ``logging``; a ``__del__`` that raises,
reported through pytest's unraisable hook), weakref callbacks and gc callbacks. When that code
calls ``ast.parse`` too (on 3.11 formatting any traceback does, for its ``^^^`` lines), or hands
the GIL to a thread that does, the counter is reset under the outer call, and the outer call
raises ``SystemError: AST constructor recursion depth mismatch`` for a tree it built correctly.
In a test session the outer call is pytest formatting a failure, so the session ends in an
INTERNALERROR and the real failure is never shown.

With collection held off until the parse returns, nothing runs inside the conversion; what would
have been collected is collected at the first allocation after it. Nothing is caught or retried:
every error, syntax errors included, is raised as the interpreter raises it.
``tests/conftest.py`` installs this on the releases that have the bug.
"""

from __future__ import annotations

import ast
import functools
import gc
import sys
import threading
from collections.abc import Callable
from typing import Any

#: The running interpreter's AST constructor has the shared counter.
AFFECTED = sys.implementation.name == "cpython" and (
    (3, 11) <= sys.version_info[:3] < (3, 11, 8) or sys.version_info[:3] == (3, 12, 0))

#: The message of the bug. A ``SystemError`` saying anything else is not it.
MISMATCH = "AST constructor recursion depth mismatch"

ORIGINAL: Callable[..., ast.AST] = ast.parse  # the interpreter's own, whatever is installed

_lock = threading.RLock()  # reentrant: a collection (and the parse it runs) may start inside
_holders = 0  # calls in progress, over all threads
_reenable = False  # collection was enabled when the first of them started


def _hold() -> None:
    global _holders, _reenable
    with _lock:
        if _holders == 0:
            _reenable = gc.isenabled()
            gc.disable()
        _holders += 1


def _release() -> None:
    global _holders
    with _lock:
        _holders -= 1
        if _holders == 0 and _reenable:
            gc.enable()


def guarded(parse: Callable[..., ast.AST]) -> Callable[..., ast.AST]:
    """``parse`` run with garbage collection held off (and left as it was afterwards)."""
    @functools.wraps(parse)
    def parse_held(*args: Any, **kwargs: Any) -> ast.AST:
        _hold()
        try:
            return parse(*args, **kwargs)
        finally:
            _release()
    parse_held.__astguard__ = True  # type: ignore[attr-defined]
    return parse_held


def install() -> bool:
    """Replace ``ast.parse`` by its guarded form where the bug exists; True if it was."""
    if not AFFECTED or getattr(ast.parse, "__astguard__", False):
        return False
    ast.parse = guarded(ast.parse)  # type: ignore[assignment]  # callers look it up there
    return True
