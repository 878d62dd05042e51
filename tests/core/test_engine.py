"""The pipeline on real corpus reports and on garbage: never success without evidence."""

from __future__ import annotations

import gzip
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
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


# --- build directories: XML that is not a test report ------------------------------------------

BUILD = Path(__file__).resolve().parents[1] / "data" / "build-outputs"
TARGET = BUILD / "target"
SUREFIRE = TARGET / "surefire-reports" / "TEST-demo.CalcTest.xml"
TRUNCATED = Path(__file__).resolve().parents[1] / "data" / "generated" / "pytest-truncated.xml"
# The shape of TestNG's own testng-results.xml (its root and first elements, as TestNG writes)
TESTNG = (b'<?xml version="1.0" encoding="UTF-8"?>\n<testng-results ignored="0" total="2" '
          b'passed="1" failed="1" skipped="0">\n  <suite name="Suite"><test name="Test">'
          b'<class name="com.example.LoginTest"><test-method status="FAIL" name="testTimeout"/>'
          b'</class></test></suite>\n</testng-results>\n')


def _walk(*paths: Path) -> list[Source]:
    from bot.intake import iter_sources
    return list(iter_sources([str(p) for p in paths]))


def test_a_maven_target_directory_is_judged_on_its_junit_xml_alone() -> None:
    # Real `mvn package` output plus JaCoCo, Checkstyle, FindBugs, PMD, CycloneDX and Failsafe
    # files (tests/data/build-outputs/README.md): 2 healthy tests, 10 files that are no report.
    r = evaluate(_walk(TARGET))
    assert r.verdict.conclusion is Conclusion.SUCCESS, r.verdict.reasons
    assert [f.path for f in r.state.files] == [str(SUREFIRE)]
    assert r.state.totals.tests == r.state.totals.passed == 2
    [notice] = r.verdict.reasons
    assert notice.rule == "not-a-report" and notice.conclusion is Conclusion.SUCCESS
    what = {Path(f["path"]).relative_to(TARGET).as_posix(): f["what"]
            for f in notice.details["files"]}
    assert what == {
        "bom.xml": "CycloneDX SBOM",
        "checkstyle-checker.xml": "Checkstyle configuration",
        "checkstyle-result.xml": "Checkstyle-format lint results",
        "classes/META-INF/persistence.xml": "JPA persistence.xml",
        "classes/logback.xml": "configuration file (logback, MyBatis, Hadoop)",
        "failsafe-reports/failsafe-summary.xml":
            "Maven Failsafe summary (its tests are in the TEST-*.xml beside it)",
        "pmd.xml": "PMD results",
        "site/jacoco/jacoco.xml": "JaCoCo coverage report",
        "spotbugsXml.xml": "SpotBugs/FindBugs results",
        "test-classes/log4j2-test.xml": "Log4j 2 configuration",
    }
    assert notice.details["count"] == 10 and "Skipped 10 XML files" in notice.message


def test_skipped_non_reports_never_hide_a_truncated_or_unread_test_report() -> None:
    walked = _walk(TARGET, BUILD / "android", BUILD / "pom.xml")
    r = evaluate([*walked, source(TRUNCATED, "TEST-truncated.xml"),
                  Source("testng-results.xml", [TESTNG])])
    assert r.verdict.conclusion is Conclusion.FAILURE
    assert {f.path for f in r.state.unreadable} == {"TEST-truncated.xml", "testng-results.xml"}
    bad = {f.path: f.error or "" for f in r.state.unreadable}
    assert bad["TEST-truncated.xml"].startswith("truncated or malformed XML")
    assert "TestNG's own results format" in bad["testng-results.xml"]
    assert "surefire-reports/TEST-*.xml" in bad["testng-results.xml"]
    assert [x.rule for x in r.verdict.reasons][:1] == ["unreadable-report"]
    notice = next(x for x in r.verdict.reasons if x.rule == "not-a-report")
    assert notice.details["count"] == 12   # + Android lint, Maven POM


def test_a_build_directory_without_test_reports_is_no_evidence() -> None:
    r = evaluate([s for s in _walk(TARGET) if "surefire-reports" not in s.path])
    assert r.verdict.conclusion is Conclusion.FAILURE and r.state.files == []
    assert [x.rule for x in r.verdict.reasons] == ["no-evidence", "not-a-report"]


@pytest.mark.parametrize("head", [
    b'<?xml version="1.0"?><report name="x"><testsuite/></report>',       # no JaCoCo DOCTYPE
    b'<project name="build" default="test"><target name="test"/></project>',  # Ant, not a POM
    b'<bom><testsuite name="s" tests="1"/></bom>',                          # no CycloneDX ns
    b'<suite name="x"><test name="t"/></suite>',                           # no TestNG DTD
    b'<issues><issue/></issues>',                                           # not by lint
    b'<e:events xmlns:e="https://schemas.opentest4j.org/reporting/events/0.1.0"/>',
])
def test_a_root_known_only_by_name_elsewhere_is_still_unreadable(head: bytes) -> None:
    r = evaluate([source(SUREFIRE), Source("odd.xml", [head])])
    assert r.verdict.conclusion is Conclusion.FAILURE
    assert [f.path for f in r.state.unreadable] == ["odd.xml"]
    assert "not-a-report" not in [x.rule for x in r.verdict.reasons]
    assert "is wider than the reports" in r.verdict.reasons[0].message


@pytest.mark.parametrize("head", [b"<!---->" * 26, b"<?pi?>" * 26 + b"x", b" " * (1 << 20)],
                         ids=["comments", "processing-instructions", "whitespace"])
def test_a_prolog_without_a_root_is_unreadable_at_once_in_bounded_memory(head: bytes) -> None:
    # the head sniffing regexes backtracked exponentially (26 comments: seconds, 40: days)
    # and held ~120 bytes of backtracking state per byte of a blank head
    tracemalloc.start()
    start = time.perf_counter()
    try:
        r = evaluate([source(SUREFIRE), Source("odd.xml", [head])])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 1.0
    assert peak < 16 << 20
    assert r.verdict.conclusion is Conclusion.FAILURE
    assert [f.path for f in r.state.unreadable] == ["odd.xml"]


def test_a_non_report_is_known_from_its_head_read_in_tiny_chunks_and_never_read_further(
        ) -> None:
    data = (TARGET / "site" / "jacoco" / "jacoco.xml").read_bytes()
    head_end = data.index(b"<report") + data[data.index(b"<report"):].index(b">") + 1

    def stream() -> Iterator[bytes]:
        yield from (data[i:i + 1] for i in range(head_end))
        raise AssertionError("read past the root's start tag")

    r = evaluate([source(SUREFIRE), Source("jacoco.xml", stream())])
    assert r.verdict.conclusion is Conclusion.SUCCESS
    assert r.verdict.reasons[0].details["files"] == [
        {"path": "jacoco.xml", "what": "JaCoCo coverage report"}]
