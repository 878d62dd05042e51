"""The pipeline on real corpus reports and on garbage: never success without evidence."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.config import parse_config
from bot.core.engine import Source, evaluate
from bot.core.limits import Limits
from bot.core.model import Conclusion
from bot.core.render import render_markdown
from bot.core.state import Baseline, to_json

PUTRA = "junit/publish-unit-test-result-action/python/test/files/junit-xml"


def chunks(data: bytes, size: int = 4096) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


def source(path: Path, name: str = "") -> Source:
    return Source(name or path.name, chunks(path.read_bytes()))


def test_real_report_with_failures(corpus: Path) -> None:
    r = evaluate([source(corpus / f"{PUTRA}/pytest/junit.fail.xml")],
                 parse_config("signatures: {assertion: 'AssertionError|assert '}"))
    assert r.state.totals.failed >= 1
    assert r.verdict.conclusion is Conclusion.FAILURE
    assert r.verdict.reasons[0].rule == "failures"
    assert r.state.signatures["assertion"] >= 1
    assert all(f.report == "junit.fail.xml" for f in r.state.failures)


def test_numpy_suite_streams_and_caps_failures(corpus: Path) -> None:
    raw = gzip.decompress((corpus / "large/numpy-pytest.full.junit.xml.gz").read_bytes())
    r = evaluate([Source("numpy.xml", chunks(raw, 1 << 16))],
                 limits=Limits(max_failures_kept=10, max_test_ids=1000))
    t = r.state.totals
    assert (t.tests, t.failed, t.errors, t.skipped) == (48021, 2, 39, 426)
    assert len(r.state.failures) == 10 and r.state.failures_omitted == 31
    assert len(r.state.test_ids) == 1000 and not r.state.test_ids_complete
    doc = to_json(r)
    assert doc["tests"]["total"] == 48021 and doc["failures_omitted"] == 31
    summary = render_markdown(r)
    assert len(summary) <= 65535 and "31 failing tests not shown" in summary


def test_source_errors_become_unreadable_reports() -> None:
    r = evaluate([Source("art.zip/evil.xml", error="zip member over the size cap")])
    assert r.state.unreadable[0].error == "zip member over the size cap"
    assert [x.rule for x in r.verdict.reasons] == ["unreadable-report"]


def test_testcase_cap_per_evaluation(corpus: Path) -> None:
    path = corpus / f"{PUTRA}/pytest/junit.gloo.elastic.spark.torch.xml"
    r = evaluate([source(path, "shard-1.xml"), source(path, "shard-2.xml")],
                 limits=Limits(max_testcases=10))
    assert r.state.files[1].error is not None and "cap" in r.state.files[1].error
    assert r.verdict.conclusion is Conclusion.FAILURE


def test_mapping_baseline_is_accepted(corpus: Path) -> None:
    path = corpus / f"{PUTRA}/pytest/junit.gloo.elastic.spark.torch.xml"
    r = evaluate([source(path)], baseline={"tests": {"total": 30}})
    assert [x.rule for x in r.verdict.reasons] == ["test-drop"]
    r = evaluate([source(path)], baseline=Baseline(total=22))
    assert r.verdict.conclusion is Conclusion.SUCCESS


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=4))
def test_garbage_is_never_success(blobs: list[bytes]) -> None:
    r = evaluate([Source(f"g{i}.xml", iter([b])) for i, b in enumerate(blobs)])
    assert r.verdict.conclusion is Conclusion.FAILURE


TEMPLATE = (b'<testsuite tests="2"><testcase classname="a" name="b"/>'
            b'<testcase classname="a" name="c"><skipped/></testcase></testsuite>')


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len(TEMPLATE) - 1), st.binary(max_size=8))
def test_mangled_xml_is_never_silently_success(pos: int, junk: bytes) -> None:
    data = TEMPLATE[:pos] + junk + TEMPLATE[pos + 1:]
    r = evaluate([Source("m.xml", iter([data]))])
    if r.verdict.conclusion is Conclusion.SUCCESS:
        # only when the mangled report still holds a real, executed, passing test
        assert r.state.totals.passed >= 1 and not r.state.unreadable


def test_same_report_named_twice_is_counted_once(corpus: Path) -> None:
    path = corpus / f"{PUTRA}/pytest/junit.gloo.elastic.spark.torch.xml"
    r = evaluate([source(path), source(path)])
    assert r.state.totals.tests == 22 and len(r.state.files) == 1


def test_pytest_teardown_error_after_failure_is_no_false_red() -> None:
    # allow_failures: the failing test is a neutral note; the report is intact (pytest's own
    # declared totals count the teardown error as its own testcase), so no failing reason.
    from tests.core.readers import GENERATED
    r = evaluate([source(GENERATED / "pytest-teardown-errors.xml")],
                 parse_config("gate: {allow_failures: true}"))
    assert [x.rule for x in r.verdict.reasons] == ["failures"]
    assert r.verdict.conclusion is Conclusion.NEUTRAL
    assert "the real failure" in r.verdict.reasons[0].message
