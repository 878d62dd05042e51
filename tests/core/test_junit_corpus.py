"""Every report-like file of the real corpus is read or refused with a clear reason; golden counts.

Golden values: publish-unit-test-result-action ships `<name>.results.json` beside each input,
with per-element counts (`runs*`) and per-unique-test counts (`tests*`). Our counts must equal
the per-element ones, or the per-test ones for the files in PER_TEST, or the file must be
listed in GOLDEN_DIFFERENCES with the counts we give instead and why (the same list is in
docs/parsing.md, "Differences from the golden counts").
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.core.model import FileReport
from tests.conftest import CORPUS
from tests.core.readers import read

JUNIT = CORPUS / "junit"
PUTRA = "publish-unit-test-result-action/python/test/files/"
REPORT_LIKE = re.compile(r"\.(xml|trx|junit-xml|golden)$")

# Files that must be refused, and the start of the reason. Anything else must read cleanly.
REFUSED = {
    "action-junit-report/test_results/junit-web-test/expected.xml": "truncated or malformed XML",
    "action-junit-report/test_results/junit-web-test/expectedRetries.xml":
        "truncated or malformed XML",
    "action-junit-report/test_results/corrupt-junit/e2e-tests/corrupt/target/sf-reports/"
    "TEST-test.CorruptTest.xml": "truncated or malformed XML at line 18: unclosed CDATA",
    PUTRA + "xml/empty.xml": "empty file",
    PUTRA + "xml/non-xml.xml": "not XML",
    PUTRA + "nunit/nunit3/jenkins/NUnit-issue17521.xml": "truncated or malformed XML at line 33",
    PUTRA + "nunit/nunit3/jenkins/NUnit-issue47367.xml": "truncated or malformed XML at line 5",
    PUTRA + "nunit/nunit3/jenkins/NUnit-sec1752-file.xml": "refused: the report contains a DOC",
    PUTRA + "nunit/nunit3/jenkins/NUnit-sec1752-https.xml": "refused: the report contains a DOC",
    PUTRA + "junit-xml/non-junit.xml": "not a test report: the root element is <suites>",
    PUTRA + "junit-xml/non-junit.junit-xml": "not a test report: the root element is <suites>",
    PUTRA + "junit-xml/pytest/corrupt-xml.xml": "truncated or malformed XML at line 11",
}

# file → ((tests, skipped, failed, errors) we report, why we differ from the golden values)
GOLDEN_DIFFERENCES: dict[str, tuple[tuple[int, int, int, int], str]] = {
    "junit-xml/no-cases-but-tests.xml": (
        (0, 0, 0, 0), "we count testcases present, never declared totals; a mismatch is reported"),
    "junit-xml/no-cases-but-tests.junit-xml": (
        (0, 0, 0, 0), "we count testcases present, never declared totals; a mismatch is reported"),
    "nunit/mstest/clicketyclackety.xml": (
        (23, 0, 1, 9), "NUnit 3 result=Failed label=Error is an error, as NUnit itself says"),
    "nunit/mstest/timewarpinc.xml": (
        (1, 0, 0, 1), "NUnit 3 result=Failed label=Error is an error, as NUnit itself says"),
    "nunit/nunit3/jenkins/NUnit-issue44527.xml": (
        (150, 0, 1, 143), "NUnit 3 result=Failed label=Error is an error, as NUnit itself says"),
    "nunit/nunit3/jenkins/NUnit-correct.xml": (
        (28, 5, 1, 4), "NUnit 2 NotRunnable (an invalid test that never ran) is an error, "
                       "not a skip"),
    "nunit/nunit3/jenkins/NUnit-multinamespace.xml": (
        (4, 0, 1, 0), "NUnit 2 success=\"Turue\" (not \"True\") is not a pass"),
    "nunit/nunit3/jenkins/NUnit-sec1752-file.xml": (
        (0, 0, 0, 0), "a DOCTYPE (here an XXE attempt) is refused outright"),
    "nunit/nunit3/jenkins/NUnit-sec1752-https.xml": (
        (0, 0, 0, 0), "a DOCTYPE (here an XXE attempt) is refused outright"),
    "trx/yami_YAMILEX_2015-10-24_04_18_59.trx": (
        (25, 19, 2, 2), "TRX Aborted and NotRunnable are errors, not skips"),
}


# Files whose counts equal the golden per-unique-test counts (`tests*`) instead of the
# per-element ones (`runs*`), and why.
PER_TEST = {
    "junit-xml/junit.multiresult.xml": "several result elements in one testcase: worst wins",
    "junit-xml/junit.multiresult.junit-xml": "several result elements in one testcase: worst wins",
    "junit-xml/tst/disabled.xml": "status=\"disabled\" is skipped",
    "junit-xml/tst/disabled.junit-xml": "status=\"disabled\" is skipped",
    "nunit/nunit3/jenkins/NUnit-issue33493.xml": "NUnit Inconclusive is skipped",
    "nunit/nunit3/jenkins/NUnit-issue33493.junit-xml": "NUnit Inconclusive is skipped",
    "xunit/mstest/jenkinsci/testcase2.xml": "golden runs come from declared totals",
    "xunit/mstest/jenkinsci/testcase2.junit-xml": "golden runs come from declared totals",
}


def _report_files() -> list[str]:
    return sorted(str(p.relative_to(JUNIT)) for p in JUNIT.rglob("*")
                  if p.is_file() and REPORT_LIKE.search(p.name))


def _check_consistent(report: FileReport) -> None:
    c = report.counts
    assert c.tests == c.passed + c.failed + c.errors + c.skipped
    assert 0 <= c.flaky <= c.passed
    assert c.duration >= 0


@pytest.mark.parametrize("rel", _report_files())
def test_every_corpus_report_is_read_or_refused(rel: str) -> None:
    report, cases = read(JUNIT / rel)
    _check_consistent(report)
    assert len(cases) == report.counts.tests
    if rel in REFUSED:
        assert report.error is not None and report.error.startswith(REFUSED[rel]), report.error
    else:
        assert report.error is None, report.error
        assert report.format in {"junit", "xunit2", "nunit2", "nunit3", "trx"}
        for case in cases:
            assert case.outcome.value in {"passed", "failed", "error", "skipped"}
            assert len(case.message) <= 2048 and len(case.details) <= 8192


def test_corpus_is_large_enough_to_mean_something() -> None:
    assert len(_report_files()) > 280


def _golden_inputs() -> list[tuple[str, str]]:
    pairs = []
    for results in sorted((JUNIT / PUTRA).rglob("*.results.json")):
        stem = str(results)[: -len(".results.json")]
        for ext in (".xml", ".trx", ".junit-xml"):
            if Path(stem + ext).exists():
                pairs.append((str(results.relative_to(JUNIT / PUTRA)),
                              str(Path(stem + ext).relative_to(JUNIT / PUTRA))))
    return pairs


@pytest.mark.parametrize("results, rel", _golden_inputs())
def test_golden_counts(results: str, rel: str) -> None:
    stats = json.loads((JUNIT / PUTRA / results).read_text(encoding="utf-8"))["stats"]
    report, _ = read(JUNIT / PUTRA / rel)
    c = report.counts
    ours = (c.tests, c.skipped, c.failed, c.errors)
    runs = (stats["runs"], stats["runs_skip"], stats["runs_fail"], stats["runs_error"])
    tests = (stats["tests"], stats["tests_skip"], stats["tests_fail"], stats["tests_error"])
    if rel in GOLDEN_DIFFERENCES:
        expected, why = GOLDEN_DIFFERENCES[rel]
        assert ours == expected, why
        assert ours not in (runs, tests), f"{rel} now matches the golden counts: drop it"
    elif rel in PER_TEST:
        assert ours == tests and ours != runs, PER_TEST[rel]
    else:
        assert ours == runs
    if stats["errors"]:
        assert report.error is not None


def test_golden_inputs_found() -> None:
    assert len(_golden_inputs()) > 120
    assert all(rel in {r for _, r in _golden_inputs()} for rel in GOLDEN_DIFFERENCES)


def test_golden_exceptions_are_refused_too() -> None:
    exceptions = sorted((JUNIT / PUTRA).rglob("*.exception"))
    checked = 0
    for exc in exceptions:
        stem = str(exc)[: -len(".exception")]
        path = Path(stem + ".xml")  # the input; .junit-xml is the action's own conversion
        if path.exists():
            report, _ = read(path)
            assert report.error is not None, path
            checked += 1
    assert checked >= 5
