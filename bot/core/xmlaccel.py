"""Which expat reader parse_report uses: the optional C accelerator (_fastjunit) or pyexpat.

The choice is made once per process (`use`), never from the environment here: bot/__init__.py
reads CI_TRUTH_PURE_PYTHON, tests pass `native=` to parse_report to pick one explicitly.
"""

from __future__ import annotations

from types import ModuleType

NATIVE: ModuleType | None
try:
    from bot.core import _fastjunit as NATIVE
except ImportError:  # not built (no compiler or no expat.h): the pure-Python reader
    NATIVE = None
if NATIVE is not None and not hasattr(NATIVE.Parser, "CurrentByteIndex"):
    NATIVE = None  # built from an older _fastjunit.c: xmlstream's markup cap needs it

_state = {"native": NATIVE is not None}


def available() -> bool:
    """True when the C accelerator was built and imports."""
    return NATIVE is not None


def enabled() -> bool:
    """True when parse_report uses the C accelerator by default."""
    return _state["native"]


def use(native: bool) -> None:
    """Make the C accelerator (True, when available) or pyexpat (False) the default."""
    _state["native"] = native and NATIVE is not None
