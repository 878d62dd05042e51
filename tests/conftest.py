"""Shared test fixtures: where the real-input corpus lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import astguard

# On CPython 3.11.0-3.11.7 (and 3.12.0) an ast.parse can fail with "AST constructor
# recursion depth mismatch" when a garbage collection inside it runs a finalizer that parses too,
# e.g. an asyncio task's "exception was never retrieved" report while pytest formats a failure:
# an INTERNALERROR then hides the failure. Installed at import, before any test module is
# collected or run; see tests/astguard.py.
astguard.install()

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CI_TRUTH_SHARED", ROOT.parent / "shared")).resolve()
CORPUS = SHARED / "corpus"


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The real-input corpus (../shared/corpus); tests fail loudly if it is missing."""
    assert CORPUS.is_dir(), f"corpus not found at {CORPUS}: put shared/ beside the checkout"
    return CORPUS

pytest_plugins = ["tests.fakegithub.plugin"]  # the fake_github fixture (tests/fakegithub/README.md)
