"""The .NET dialects on real reports: xUnit.net XML, NUnit 2/3 XML, MSTest/VSTest TRX."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.core.dotnet import split_full_name
from bot.core.limits import Limits
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


def test_trx_held_results_are_capped(corpus: Path) -> None:
    # TRX results wait for <TestDefinitions>: what they hold is capped, and past the cap the
    # report is refused (unreadable, never a pass) instead of growing with the file.
    path = corpus / FILES / "trx/nunit/FluentValidation.Tests.trx"
    report, _cases = read(path, limits=Limits(max_trx_held_bytes=64 * 1024))
    assert report.error == ("refused: the TRX holds more than 64 KiB of test results before "
                            "its test definitions (limits.max_trx_held_bytes: about 409 tests "
                            "with short names)")
    report, cases = read(path)
    assert report.error is None and report.counts.tests == 804 and len(cases) == 804


# A data-driven MSTest method as VSTest's TrxLogger writes it (microsoft/vstest
# TrxLogger/ObjectModel/TestResultAggregation.cs: the parent UnitTestResult saves its rows under
# <InnerResults>; UnitTestResult.cs: resultType, parentExecutionId): one parent, two rows.
DATA_DRIVEN = """<?xml version="1.0" encoding="utf-8"?>
<TestRun id="5f0f3c1e-0d5b-4a51-9e1a-3c2f6f7c9b10" name="r"
  xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010"><Results>
<UnitTestResult executionId="a1f3c0de-0000-4000-8000-000000000001"
  testId="0b9e7a8c-1111-4111-8111-111111111111" testName="Add" computerName="ci"
  duration="00:00:00.0200000" testType="13cdc9d9-ddb5-4fa4-a97d-d965ccfc6d4b"
  outcome="{parent}" testListId="8c84fa94-04c1-424b-9868-57a2d4851a1d"
  resultType="DataDrivenTest"><InnerResults>
<UnitTestResult executionId="a1f3c0de-0000-4000-8000-000000000002"
  parentExecutionId="a1f3c0de-0000-4000-8000-000000000001"
  testId="0b9e7a8c-1111-4111-8111-111111111111" testName="Add (1,1,2)" computerName="ci"
  duration="00:00:00.0100000" testType="13cdc9d9-ddb5-4fa4-a97d-d965ccfc6d4b"
  outcome="Passed" testListId="8c84fa94-04c1-424b-9868-57a2d4851a1d"
  dataRowInfo="1" resultType="DataDrivenDataRow" />
<UnitTestResult executionId="a1f3c0de-0000-4000-8000-000000000003"
  parentExecutionId="a1f3c0de-0000-4000-8000-000000000001"
  testId="0b9e7a8c-1111-4111-8111-111111111111" testName="Add (2,2,5)" computerName="ci"
  duration="00:00:00.0100000" testType="13cdc9d9-ddb5-4fa4-a97d-d965ccfc6d4b"
  outcome="{row}" testListId="8c84fa94-04c1-424b-9868-57a2d4851a1d"
  dataRowInfo="2" resultType="DataDrivenDataRow"><Output><ErrorInfo><Message>Assert.AreEqual
  failed. Expected:&lt;5&gt;. Actual:&lt;4&gt;.</Message><StackTrace>at Ns.MathTests.Add(Int32 a)
  </StackTrace></ErrorInfo></Output></UnitTestResult>
</InnerResults></UnitTestResult></Results><TestDefinitions>
<UnitTest name="Add" storage="/src/tests.dll" id="0b9e7a8c-1111-4111-8111-111111111111">
<Execution id="a1f3c0de-0000-4000-8000-000000000001" /><TestMethod codeBase="/src/tests.dll"
  adapterTypeName="executor://mstestadapter/v2" className="Ns.MathTests" name="Add" />
</UnitTest></TestDefinitions><ResultSummary outcome="{parent}"><Counters total="{total}"
  executed="{total}" passed="{passed}" failed="{failed}" error="0" timeout="0" aborted="0"
  inconclusive="0" passedButRunAborted="0" notRunnable="0" notExecuted="0" disconnected="0"
  warning="0" completed="0" inProgress="0" pending="0" /></ResultSummary></TestRun>"""


@pytest.mark.parametrize("total, passed, failed", [
    (3, 1, 2),  # VSTest 17.12: the parent counted with its rows
    (2, 1, 1),  # VSTest 18.9: only the rows
])
def test_trx_data_driven_rows_are_the_tests(total: int, passed: int, failed: int) -> None:
    data = DATA_DRIVEN.format(parent="Failed", row="Failed", total=total, passed=passed,
                              failed=failed).encode()
    report, cases = read_bytes(data, path="r.trx")
    assert report.mismatches == []
    assert (report.counts.tests, report.counts.passed, report.counts.failed) == (2, 1, 1)
    failing = by_id(cases)["Ns.MathTests::Add (2,2,5)"]
    assert failing.outcome is Outcome.FAILED and failing.message.startswith("Assert.AreEqual")
    assert "Ns.MathTests::Add (1,1,2)" in by_id(cases)


def test_trx_all_rows_passed_counts_two_passes() -> None:
    data = DATA_DRIVEN.format(parent="Passed", row="Passed", total=3, passed=3,
                              failed=0).encode()
    report, _cases = read_bytes(data, path="r.trx")
    assert report.mismatches == [] and (report.counts.tests, report.counts.passed) == (2, 2)
