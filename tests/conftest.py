"""Shared test fixtures: where the real-input corpus lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CI_TRUTH_SHARED", ROOT.parent / "shared")).resolve()
CORPUS = SHARED / "corpus"


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The real-input corpus (../shared/corpus); tests fail loudly if it is missing."""
    assert CORPUS.is_dir(), f"corpus not found at {CORPUS}: put shared/ beside the checkout"
    return CORPUS

pytest_plugins = ["tests.fakegithub.plugin"]  # the fake_github fixture (tests/fakegithub/README.md)
