"""parse_report's `passed` fast path reports exactly what the TestCase sink would have."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from bot.core.junit import parse_report
from bot.core.measure import Measurer
from bot.core.testcase import Outcome, TestCase
from tests.core.readers import GENERATED, chunked

FILES = [
    GENERATED / "pytest-rerunfailures.xml",
    GENERATED / "pytest-failures.xml",
    GENERATED / "pytest-xunit1-file-line.xml",
    GENERATED / "ctest-junit.xml",
    GENERATED / "pytest-truncated.xml",
]
QUICK = "junit/quick-junit/crates/quick-junit-tests/tests/fixtures/basic_report.xml"


def _both(data: bytes) -> None:
    full: list[TestCase] = []
    slow = parse_report(chunked(data, 4096), path="r.xml", sink=full.append)
    cases: list[TestCase] = []
    passes: list[tuple[str, str]] = []
    fast = parse_report(chunked(data, 4096), path="r.xml", sink=cases.append,
                        passed=lambda i, e: passes.append((i, e)))
    assert (fast.counts, fast.error, fast.mismatches, fast.declared) == \
        (slow.counts, slow.error, slow.mismatches, slow.declared)
    plain = [c.outcome is Outcome.PASSED and not c.flaky for c in full]
    assert passes == [(c.id, c.system_err) for c, p in zip(full, plain, strict=True) if p]
    assert cases == [c for c, p in zip(full, plain, strict=True) if not p]
    assert len(passes) == fast.counts.passed - fast.counts.flaky


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fast_path_matches_the_full_sink(path: Path) -> None:
    _both(path.read_bytes())


def test_fast_path_on_flaky_reruns_and_numpy(corpus: Path) -> None:
    _both((corpus / QUICK).read_bytes())
    _both(gzip.decompress((corpus / "large/numpy-pytest.full.junit.xml.gz").read_bytes()))


def test_measurer_passed_counts_signatures_and_ids() -> None:
    m = Measurer({"loop": re.compile("event loop is already running")}, max_test_ids=2)
    m.passed("a::x", "RuntimeError: This event loop is already running")
    m.passed("a::x", "")
    m.passed("a::y")
    m.passed("a::z")
    state = m.state()
    assert state.signatures == {"loop": 1}
    assert state.test_ids == ["a::x", "a::y"] and not state.test_ids_complete


def test_system_err_can_be_left_out_and_the_engine_keeps_it_for_signatures(
        corpus: Path) -> None:
    from bot.core.config import parse_config
    from bot.core.engine import evaluate
    from bot.core.model import Source

    data = (corpus / QUICK).read_bytes()
    full: list[TestCase] = []
    kept = parse_report([data], path="r.xml", sink=full.append)
    bare: list[TestCase] = []
    left = parse_report([data], path="r.xml", sink=bare.append, system_err=False)
    assert (left.counts, left.mismatches) == (kept.counts, kept.mismatches)
    assert any(c.system_err for c in full) and not any(c.system_err for c in bare)
    assert [c.id for c in bare] == [c.id for c in full]
    config = parse_config('signatures:\n  out: "some sort of failure output"\n')
    result = evaluate([Source("r.xml", [data])], config)
    assert result.state.signatures == {"out": 1}
