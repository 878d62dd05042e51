"""The .NET dialects on real reports: xUnit.net XML, NUnit 2/3 XML, MSTest/VSTest TRX."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.dotnet import split_full_name
from bot.core.testcase import Outcome
from tests.core.readers import by_id, read, read_bytes

FILES = "junit/publish-unit-test-result-action/python/test/files"


def test_trx_takes_class_names_from_the_definitions_after_the_results(corpus: Path) -> None:
    report, cases = read(corpus / FILES / "trx/xunit/dotnet-trx.trx")
    assert report.format == "trx" and report.mismatches == []
    tests = by_id(cases)
    failing = tests["DotnetTests.XUnitTests.CalculatorTests::Failing_Test"]
    assert failing.outcome is Outcome.FAILED
    assert failing.message.startswith("Assert.Equal() Failure")
    assert "CalculatorTests.cs:line" in failing.details
    assert tests["DotnetTests.XUnitTests.CalculatorTests::Skipped_Test"].outcome is \
        Outcome.SKIPPED
    assert tests["DotnetTests.XUnitTests.CalculatorTests::Timeout_Test"].time == \
        pytest.approx(0.1084258)  # "00:00:00.1084258"


def test_trx_outcomes_beyond_pass_fail(corpus: Path) -> None:
    report, _cases = read(corpus / FILES / "trx/yami_YAMILEX_2015-10-24_04_18_59.trx")
    c = report.counts
    assert (c.tests, c.passed, c.failed, c.errors, c.skipped) == (25, 2, 2, 2, 19)
    assert report.mismatches == []  # Counters: aborted and notRunnable counted as errors


def test_empty_trx_reads_as_zero_tests(corpus: Path) -> None:
    report, _ = read(corpus / "junit/test-reporter/__tests__/fixtures/empty/dotnet-trx.trx")
    assert report.error is None and report.counts.tests == 0


def test_nunit3_labels_and_fixture_ids(corpus: Path) -> None:
    report, cases = read(corpus / FILES / "nunit/nunit3/jenkins/NUnit-issue44527.xml")
    assert report.format == "nunit3"
    c = report.counts
    assert (c.tests, c.failed, c.errors) == (150, 1, 143)
    assert report.mismatches == []  # NUnit 3's failed="144" includes the errors
    assert all("::" in t.id for t in cases)


def test_nunit2_not_run_invalid_and_ignored(corpus: Path) -> None:
    report, cases = read(corpus / FILES / "nunit/nunit3/jenkins/NUnit-correct.xml")
    assert report.format == "nunit2" and report.mismatches == []
    tests = by_id(cases)
    not_runnable = tests["NUnit.Tests.Assemblies.MockTestFixture::NotRunnableTest"]
    assert not_runnable.outcome is Outcome.ERROR
    assert not_runnable.message == "No arguments were provided"
    ignored = tests["NUnit.Tests.Assemblies.MockTestFixture::MockTest4"]
    assert ignored.outcome is Outcome.SKIPPED
    assert ignored.message == "ignoring this test method for now"


def test_old_nunit2_without_result_attribute(corpus: Path) -> None:
    _report, cases = read(corpus / FILES / "nunit/nunit3/jenkins/NUnit-issue6353.xml")
    assert [(t.name, t.outcome.value) for t in cases] == [
        ("SuccessfulTest", "passed"), ("IgnoredTest", "skipped"), ("FailedTest", "failed")]


def test_xunit2_results_and_skip_reason(corpus: Path) -> None:
    report, cases = read(corpus / FILES / "xunit/mstest/fixie.xml")
    assert report.format == "xunit2" and report.mismatches == []
    skip = by_id(cases)["[testClass]::Skip"]
    assert skip.outcome is Outcome.SKIPPED and skip.message == "⚠ Skipped with attribute."


def test_xunit1_assembly_root(corpus: Path) -> None:
    report, _ = read(corpus / FILES / "xunit/mstest/pickles.xml")
    c = report.counts
    assert report.format == "xunit2" and (c.tests, c.passed, c.failed) == (4, 3, 1)


def test_xunit2_assembly_errors_are_errors() -> None:
    # Written after xunit.net's v2 XML schema (<errors><error>): no .NET runtime here to run
    # a failing class fixture for real.
    data = b"""<assemblies><assembly name="A.dll" total="1" passed="1" failed="0" skipped="0"
      errors="1"><errors><error type="test-class-cleanup" name="Ns.Fixture"><failure
      exception-type="System.Exception"><message>cleanup blew up</message><stack-trace>at X
      </stack-trace></failure></error></errors><collection><test name="Ns.T.A" type="Ns.T"
      method="A" result="Pass" time="0.1"/></collection></assembly></assemblies>"""
    report, cases = read_bytes(data)
    assert (report.counts.passed, report.counts.errors) == (1, 1)
    assert cases[0].message == "cleanup blew up" and cases[0].outcome is Outcome.ERROR
    assert report.mismatches == []


@pytest.mark.parametrize("full, expected", [
    ("Ns.Class.Method", ("Ns.Class", "Method")),
    ("Ns.Class.Method(1.5, \"a.b\")", ("Ns.Class", "Method(1.5, \"a.b\")")),
    ("Method", ("", "Method")),
])
def test_split_full_name(full: str, expected: tuple[str, str]) -> None:
    assert split_full_name(full) == expected


def test_nunit3_failure_message_is_not_repeated_from_the_assertions(corpus: Path) -> None:
    # NUnit 3 writes the failure's <message>/<stack-trace> and again each failed assertion's
    # under <assertions>: the message is the <failure>'s, once.
    _report, cases = read(corpus / FILES / "nunit/mstest/clicketyclackety.xml")
    failing = by_id(cases)["MyProject.Tests.Real.FlagTests::LoadDrawingsEventFlagTests"]
    assert failing.outcome is Outcome.FAILED
    assert failing.message == "Expected: 3\n  But was:  0"
    assert failing.details == "at MyProject.Tests.Real.FlagTests.LoadDrawingsEventFlagTests()"
