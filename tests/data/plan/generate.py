"""Regenerate the plan scenarios with real pytest and coverage.py (run from the repo root).

    /work/venv/bin/python tests/data/plan/generate.py

Writes, for a small throwaway suite built in a temp dir:
  broken/junit.xml   the suite with a session-wide event loop re-entered from a coroutine:
                     asyncio raises "RuntimeError: This event loop is already running"
  fixed/junit.xml    the same suite after the fix (one fresh loop per test, no re-entry)
  fixed/coverage.xml coverage.py's Cobertura XML for the fixed run
  */state.json       the ci-truth/state@1 document for each run. Built here with the standard
                     library from the JUnit XML this script just produced (trusted, local), until
                     the engine's `check --format json` is on main; tests/test_plan_engine.py
                     cross-checks it against the engine when that is importable.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIGNATURES = {"event_loop": re.compile("This event loop is already running")}

APP = '''
import asyncio


async def fetch(n):
    await asyncio.sleep(0)
    return n * 2


def fetch_sync(loop, n):
    """Sync helper that drives the loop itself: the bug when called from a coroutine."""
    return loop.run_until_complete(fetch(n))


def total(values):
    return sum(values)
'''

CONFTEST_BROKEN = '''
import asyncio
import pytest


@pytest.fixture(scope="session")
def event_loop():
    """Session-scoped loop (the seed's conflicting fixture)."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()
'''

CONFTEST_FIXED = '''
import asyncio
import pytest


@pytest.fixture
def event_loop():
    """Function-scoped loop; coroutines await instead of re-entering the loop."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()
'''

TESTS_SYNC = '''
import pytest
from app import total


@pytest.mark.parametrize("n", range(12))
def test_total(n):
    assert total(range(n)) == n * (n - 1) // 2


@pytest.mark.skip(reason="needs a GPU")
def test_render_gpu():
    pass
'''

TESTS_ASYNC_BROKEN = '''
import pytest
from app import fetch_sync


@pytest.mark.parametrize("n", range(8))
def test_async_fetch(event_loop, n):
    async def scenario():
        return fetch_sync(event_loop, n)      # re-enters the running loop
    assert event_loop.run_until_complete(scenario()) == n * 2
'''

TESTS_ASYNC_FIXED = '''
import pytest
from app import fetch


@pytest.mark.parametrize("n", range(8))
def test_async_fetch(event_loop, n):
    async def scenario():
        return await fetch(n)
    assert event_loop.run_until_complete(scenario()) == n * 2
'''


def run_suite(name: str, conftest: str, async_tests: str, *, coverage: bool) -> None:
    out = HERE / name
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "suite"
        d.mkdir()
        (d / "app.py").write_text(APP)
        (d / "conftest.py").write_text(conftest)
        (d / "test_sync.py").write_text(TESTS_SYNC)
        (d / "test_async.py").write_text(async_tests)
        (d / "pytest.ini").write_text("[pytest]\njunit_family = xunit1\n")
        plugins = ["-p", "no:cacheprovider", "-p", "no:asyncio", "-p", "no:aiohttp"]
        args = ["-m", "pytest", "-q", *plugins, "--junitxml", str(out / "junit.xml")]
        if coverage:
            cmd = [sys.executable, "-m", "coverage", "run", "--source=.", *args]
        else:
            cmd = [sys.executable, *args]
        subprocess.run(cmd, cwd=d, check=False)
        if coverage:
            subprocess.run([sys.executable, "-m", "coverage", "xml", "-o",
                            str(out / "coverage.xml")], cwd=d, check=True)
            text = (out / "coverage.xml").read_text().replace(str(d), "/src")
            (out / "coverage.xml").write_text(text)
        text = (out / "junit.xml").read_text()
        (out / "junit.xml").write_text(text.replace(str(d), "/src"))
    (out / "state.json").write_text(json.dumps(state_of(out), indent=2, sort_keys=True) + "\n")


def state_of(out: Path) -> dict[str, object]:
    root = ET.parse(out / "junit.xml").getroot()
    counts = {"total": 0, "passed": 0, "failed": 0, "errors": 0, "skipped": 0, "flaky": 0}
    sigs = dict.fromkeys(SIGNATURES, 0)
    ids = []
    for case in root.iter("testcase"):
        counts["total"] += 1
        ids.append(f"{case.get('classname')}::{case.get('name')}")
        kinds = {child.tag for child in case}
        text = " ".join((c.get("message") or "") + (c.text or "") for c in case)
        for sig, rx in SIGNATURES.items():
            sigs[sig] += 1 if rx.search(text) else 0
        if "failure" in kinds:
            counts["failed"] += 1
        elif "error" in kinds:
            counts["errors"] += 1
        elif "skipped" in kinds:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    executed = counts["total"] - counts["skipped"]
    tests: dict[str, object] = dict(counts)
    tests["pass_rate"] = counts["passed"] / executed if executed else 0.0
    tests["skipped_ratio"] = counts["skipped"] / counts["total"] if counts["total"] else 0.0
    state: dict[str, object] = {"schema": "ci-truth/state@1", "generator": "generate.py",
                                "tests": tests, "signatures": sigs, "test_ids": sorted(ids)}
    if (out / "coverage.xml").exists():
        sys.path.insert(0, str(HERE.parents[2]))
        from bot.core.coverage import parse_coverage
        cov = parse_coverage([(out / "coverage.xml").read_bytes()], path="coverage.xml")
        state["coverage"] = {"line_rate": cov.line_rate}
    return state


if __name__ == "__main__":
    for stale in ("broken", "fixed"):
        shutil.rmtree(HERE / stale, ignore_errors=True)
    run_suite("broken", CONFTEST_BROKEN, TESTS_ASYNC_BROKEN, coverage=False)
    run_suite("fixed", CONFTEST_FIXED, TESTS_ASYNC_FIXED, coverage=True)
