"""The .NET dialects on real reports: xUnit.net XML, NUnit 2/3 XML, MSTest/VSTest TRX."""

from __future__ import annotations

import re
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


def test_trx_of_a_crashed_test_host_is_not_green(corpus: Path) -> None:
    # What VSTest's TrxLogger writes when the test host dies after the tests so far passed: an
    # Error-level run message turns <ResultSummary outcome> to "Failed" and becomes a RunInfo,
    # while every UnitTestResult written says Passed (microsoft/vstest TrxLogger.cs,
    # TestMessageHandler). Made from a real all-passed TRX of the corpus.
    path = corpus / FILES / "trx/nunit/FluentValidation.Tests.trx"
    data = path.read_bytes()
    crash = (b'<RunInfo computerName="DORNY-PC" outcome="Error" timestamp="2021-01-28T21:34:15">'
             b"<Text>The active test run was aborted. Reason: Test host process crashed : "
             b"Stack overflow.</Text></RunInfo></RunInfos>")
    assert data.count(b'<ResultSummary outcome="Completed">') == 1
    assert data.count(b"</RunInfos>") == 1
    data = data.replace(b'<ResultSummary outcome="Completed">',
                        b'<ResultSummary outcome="Failed">').replace(b"</RunInfos>", crash)
    report, cases = read_bytes(data, path=str(path))
    c = report.counts
    assert (c.passed, c.skipped, c.errors) == (803, 1, 1)
    run = [t for t in cases if t.outcome is Outcome.ERROR]
    assert run[0].id == "test run"
    assert run[0].message.startswith("The active test run was aborted. Reason: Test host")
    assert report.mismatches == []  # the run's error is not one of the Counters


def test_trx_failed_run_without_a_reason_is_an_error(corpus: Path) -> None:
    path = corpus / FILES / "trx/nunit/FluentValidation.Tests.trx"
    data = path.read_bytes().replace(b'<ResultSummary outcome="Completed">',
                                     b'<ResultSummary outcome="Aborted">')
    report, cases = read_bytes(data, path=str(path))
    assert report.counts.errors == 1
    assert [t.message for t in cases if t.outcome is Outcome.ERROR] == [
        "the TRX run outcome is Aborted but no test result failed"]


def test_completed_trx_runs_add_no_error(corpus: Path) -> None:
    for name in ("trx/nunit/FluentValidation.Tests.trx", "trx/nunit/SilentNotes.trx",
                 "trx/xunit/dotnet-trx.trx", "trx/yami_YAMILEX_2015-10-24_04_18_59.trx"):
        _report, cases = read(corpus / FILES / name)
        assert all(t.id != "test run" for t in cases), name


def test_nunit3_one_time_teardown_failure_is_not_green(corpus: Path) -> None:
    # NUnit 3 records an exception in OneTimeTearDown on the fixture only (result="Failed"
    # label="Error" site="TearDown", message "TearDown : ..."); its tests stay Passed and the
    # run's failed="0" (nunit TestResult.RecordTearDownException: "it may show a teardown
    # error even though all contained tests passed"). Made from a real all-passed NUnit 3 file.
    path = corpus / FILES / "nunit/nunit3/jenkins/NUnit-issue48478.xml"
    text = path.read_text(encoding="utf-8-sig")
    fixture = re.search(r'<test-suite type="TestFixture" id="1003"[^>]*>', text)
    assert fixture is not None
    failed = fixture.group(0).replace('result="Passed"',
                                      'result="Failed" label="Error" site="TearDown"')
    failure = ("<failure><message><![CDATA[TearDown : System.InvalidOperationException : "
               "connection already closed]]></message><stack-trace><![CDATA[--TearDown\n"
               "   at NS.APP.Wombat.TestIntegration.TestGetCurveInfo.Close()]]></stack-trace>"
               "</failure>")
    text = text.replace(fixture.group(0), failed + failure)
    report, cases = read_bytes(text.encode(), path=str(path))
    c = report.counts
    assert (c.passed, c.errors) == (3, 1)
    error = by_id(cases)["NS.APP.Wombat.TestIntegration.TestGetCurveInfo::OneTimeTearDown"]
    assert error.outcome is Outcome.ERROR
    assert error.message == ("TearDown : System.InvalidOperationException : connection "
                             "already closed")
    assert report.mismatches == []  # test-run's failed="0" counts test cases only


def test_nunit3_setup_failure_already_failing_its_tests_is_not_repeated(corpus: Path) -> None:
    # OneTimeSetUp failures (site="SetUp") fail every test of the fixture (site="Parent").
    report, _cases = read(corpus / FILES / "nunit/nunit3/jenkins/NUnit-issue44527.xml")
    assert (report.counts.tests, report.counts.errors) == (150, 143)
