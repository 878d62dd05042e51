"""JUnit-family parsing on real reports: outcomes, reruns, ids, text, times, integrity."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.reportbase import parse_time
from bot.core.testcase import Outcome, TestCase
from tests.core.readers import EXAMPLES, GENERATED, by_id, read, read_bytes

AJR = "junit/action-junit-report/test_results"
PUTRA = "junit/publish-unit-test-result-action/python/test/files"


def test_pytest_failures_errors_skips_and_xfail(corpus: Path) -> None:
    report, cases = read(GENERATED / "pytest-failures.xml")
    c = report.counts
    assert report.error is None and report.format == "junit"
    # 7 tests: 1 pass, 2 failures + strict XPASS failure, 1 setup error, skip + xfail skipped.
    assert (c.tests, c.passed, c.failed, c.errors, c.skipped) == (7, 1, 3, 1, 2)
    tests = by_id(cases)
    discount = tests["test_orders::test_discount"]
    assert discount.outcome is Outcome.FAILED
    assert discount.message.startswith("AssertionError: discount is wrong")
    assert "test_orders.py:8: AssertionError" in discount.details
    assert tests["test_orders::test_uses_broken_fixture"].outcome is Outcome.ERROR
    assert tests["test_orders::test_known_bug"].outcome is Outcome.SKIPPED
    assert tests["test_orders::test_strict_xpass"].outcome is Outcome.FAILED
    assert report.mismatches == []
    assert report.declared is not None and report.declared.tests == 7


def test_pytest_file_line_are_one_based_and_system_err_is_kept() -> None:
    _, cases = read(GENERATED / "pytest-xunit1-file-line.xml")
    sqrt = by_id(cases)["test_math::test_sqrt"]
    assert (sqrt.file, sqrt.line) == ("test_math.py", 4)  # pytest writes 0-based 3
    stderr = by_id(cases)["test_text::test_prints_to_stderr"].system_err
    assert "This event loop is already running" in stderr


@pytest.mark.parametrize("name, expected", [
    ("pytest-pattern-mismatch.xml", (0, 0, 0, 0)),
    ("pytest-import-error.xml", (1, 0, 1, 0)),
    ("pytest-importorskip-all.xml", (2, 0, 0, 2)),
])
def test_broken_discovery_reports(name: str, expected: tuple[int, int, int, int]) -> None:
    report, cases = read(GENERATED / name)
    c = report.counts
    assert report.error is None
    assert (c.tests, c.passed, c.errors, c.skipped) == expected
    if c.errors:
        assert cases[0].message == "collection failure"
        assert "No module named 'app_that_does_not_exist'" in cases[0].details


def test_truncated_real_report_is_an_error_naming_the_line() -> None:
    report, _ = read(GENERATED / "pytest-truncated.xml")
    assert report.error is not None
    assert report.error.startswith("truncated or malformed XML at line ")
    assert report.counts.tests == 3  # what was read before the cut; never trusted


def test_node_test_runner_junit() -> None:
    report, cases = read(GENERATED / "node-test-junit.xml")
    c = report.counts
    assert (c.tests, c.passed, c.failed, c.skipped) == (5, 2, 1, 2)
    failing = [t for t in cases if t.outcome is Outcome.FAILED]
    assert failing[0].name == "multiplies"
    assert "6 !== 7" in failing[0].message


def test_ctest_junit_disabled_and_skip_return_code_are_skipped() -> None:
    report, cases = read(GENERATED / "ctest-junit.xml")
    c = report.counts
    assert (c.tests, c.passed, c.failed, c.skipped) == (5, 2, 1, 2)
    assert by_id(cases)["disabled_one::disabled_one"].outcome is Outcome.SKIPPED
    assert report.mismatches == []  # ctest declares skipped=1 disabled=1


def test_examples_are_what_their_folders_say() -> None:
    healthy, _ = read(EXAMPLES / "healthy" / "pytest-report.xml")
    zero, _ = read(EXAMPLES / "zero-tests" / "pytest-report.xml")
    masked, _ = read(EXAMPLES / "masked-failures" / "pytest-report.xml")
    empty_shard, _ = read(EXAMPLES / "sharded" / "shard-2.xml")
    assert healthy.counts.tests == healthy.counts.passed == 7
    assert zero.error is None and zero.counts.tests == 0
    assert masked.counts.failed + masked.counts.errors == 4
    assert empty_shard.error is None and empty_shard.counts.tests == 0


def test_surefire_flaky_failure_is_a_flaky_pass(corpus: Path) -> None:
    report, cases = read(corpus / AJR / "maven_surefire_flaky/surefire-report.xml")
    assert (report.counts.tests, report.counts.passed, report.counts.flaky) == (1, 1, 1)
    assert cases[0].flaky and cases[0].outcome is Outcome.PASSED


def test_nextest_flaky_and_rerun_semantics(corpus: Path) -> None:
    path = corpus / "junit/quick-junit/crates/quick-junit-tests/tests/fixtures/basic_report.xml"
    report, cases = read(path)
    t = {c.name: c for c in cases}
    assert t["testcase4"].outcome is Outcome.PASSED and t["testcase4"].flaky
    assert t["testcase5"].outcome is Outcome.FAILED  # every rerun failed too
    assert not t["testcase5"].flaky
    assert t["testcase7"].outcome is Outcome.FAILED  # flaky but configured to fail
    assert t["testcase1"].system_err == "some sort of failure output"
    assert "flaky system error" not in t["testcase4"].system_err  # nested in flakyError
    assert report.counts.flaky == 1
    assert report.mismatches == []


def test_consecutive_reruns_are_one_test(corpus: Path) -> None:
    report, cases = read(corpus / AJR / "flaky_retries/flaky_with_classname_file.xml")
    t = by_id(cases)
    assert t["test_foo.TestFoo::test_foo"].flaky
    assert t["test_bar.TestBar::test_foo"].outcome is Outcome.PASSED
    assert (report.counts.tests, report.counts.passed, report.counts.flaky) == (3, 3, 1)
    report, _ = read(corpus / AJR / "flaky_retries/flaky_all_failures.xml")
    assert (report.counts.tests, report.counts.errors) == (1, 1)


def test_pytest_rerunfailures_attempts_are_one_test() -> None:
    # pytest-rerunfailures writes every attempt as its own testcase, the earlier ones
    # without their failure; pytest declares the unique count.
    report, cases = read(GENERATED / "pytest-rerunfailures.xml")
    c = report.counts
    assert (c.tests, c.passed, c.failed, c.flaky) == (3, 2, 1, 1)
    assert [(t.name, t.outcome.value, t.flaky) for t in cases] == [
        ("test_flaky", "passed", True), ("test_always_fails", "failed", False),
        ("test_ok", "passed", False)]
    assert "broken for good" in cases[1].message
    assert report.mismatches == []


@pytest.mark.parametrize("native", [False, True])
def test_pytest_rerun_after_a_teardown_failure_is_no_totals_mismatch(native: bool) -> None:
    # The first attempt passes its call and fails its teardown, the rerun passes: pytest
    # declares both attempts (tests="3" for two tests), since it counts every passed call.
    # A green run judged "totals disagree, the report was edited" is a false red.
    from bot.core.junit import parse_report

    cases: list[TestCase] = []
    report = parse_report([(GENERATED / "pytest-rerun-teardown.xml").read_bytes()],
                          path="r.xml", sink=cases.append, passed=lambda _id, _err: None,
                          native=native)
    c = report.counts
    assert (c.tests, c.passed, c.flaky) == (2, 2, 1)
    assert report.declared is not None and report.declared.tests == 3
    assert report.mismatches == []
    assert [(t.name, t.flaky) for t in cases] == [("test_with_flaky_cleanup", True)]


def test_pytest_failure_then_teardown_error_stays_two_testcases() -> None:
    # pytest writes a test that fails and then errors in its fixture's teardown as two
    # testcases with the same id (the failure, then the teardown error) and declares both:
    # not a rerun. Merging them hid the real failure and raised a false totals-mismatch.
    report, cases = read(GENERATED / "pytest-teardown-errors.xml")
    c = report.counts
    assert (c.tests, c.passed, c.failed, c.errors, c.flaky) == (4, 1, 1, 2, 0)
    assert report.mismatches == []
    fails = [t for t in cases if t.name == "test_fails_then_teardown_errors"]
    assert [t.outcome.value for t in fails] == ["failed", "error"]
    assert "the real failure" in fails[0].message


@pytest.mark.parametrize("native", [False, True])
def test_pytest_skip_then_teardown_error_is_one_error_declared_as_both(native: bool) -> None:
    # pytest writes a test that skips and then errors in a fixture's teardown as ONE testcase
    # holding <skipped> and <error>, and declares it both skipped and errored (skipped=2,
    # errors=1 for 3 tests). It is an error; the integrity check must count it as pytest does.
    from bot.core.junit import parse_report

    cases: list = []
    passes: list[str] = []
    report = parse_report([(GENERATED / "pytest-skip-then-teardown-error.xml").read_bytes()],
                          path="r.xml", sink=cases.append,
                          passed=lambda tid, _err: passes.append(tid), native=native)
    c = report.counts
    assert report.error is None
    assert (c.tests, c.passed, c.failed, c.errors, c.skipped) == (3, 1, 0, 1, 1)
    assert report.mismatches == []
    skipped_then_error = by_id(cases)["test_skip_teardown::test_skips_then_teardown_errors"]
    assert skipped_then_error.outcome is Outcome.ERROR
    assert "teardown boom" in skipped_then_error.message
    # Only pytest double-counts: elsewhere such a testcase is not a skip in the totals.
    other = (b'<testsuite name="other" tests="1" errors="1" skipped="1"><testcase name="t">'
             b'<skipped/><error message="boom"/></testcase></testsuite>')
    report = parse_report([other], path="o.xml", sink=cases.append,
                          passed=lambda tid, _err: None, native=native)
    assert report.mismatches == ["suite 'other' declares 1 skipped tests but contains 0"]


def test_same_name_passing_tests_are_not_merged(corpus: Path) -> None:
    report, _ = read(corpus / PUTRA / "junit-xml/mocha/latex-utensils.xml")
    assert report.counts.tests == 109  # mocha repeats titles; only a failure is rerun


def test_multiple_results_in_one_testcase_take_the_worst(corpus: Path) -> None:
    report, _ = read(corpus / PUTRA / "junit-xml/junit.multiresult.xml")
    c = report.counts
    assert (c.tests, c.passed, c.skipped, c.failed, c.errors) == (4, 1, 1, 1, 1)


def test_nested_suites_and_suite_ids(corpus: Path) -> None:
    report, cases = read(corpus / PUTRA / "junit-xml/testsuite-in-testsuite.xml")
    assert report.counts.tests == 5 and report.error is None
    report, cases = read(corpus / PUTRA / "junit-xml/no-attributes.xml")
    assert [c.id for c in cases] == ["", "", "", ""]
    assert report.counts.tests == 4  # nameless tests are never merged as reruns


def test_declared_totals_mismatch_is_reported(corpus: Path) -> None:
    report, _ = read(corpus / PUTRA / "junit-xml/no-cases-but-tests.xml")
    assert report.counts.tests == 0
    assert "suite 'pytest' declares 6 tests but contains 0" in report.mismatches
    report, _ = read(corpus / "junit/junit2html/tests/junit-testrun.xml")  # Eclipse <testrun>
    assert any("declares 769 tests but contains 7" in m for m in report.mismatches)


def test_no_testcase_is_not_an_error(corpus: Path) -> None:
    report, _ = read(corpus / PUTRA / "junit-xml/no-cases.xml")
    assert report.error is None and report.counts.tests == 0


def test_bom_and_declared_encodings_give_the_same_tests(corpus: Path) -> None:
    path = corpus / PUTRA / "junit-xml/pytest/junit.fail.xml"
    plain, plain_cases = read(path)
    text = path.read_bytes().decode("utf-8")
    body = text.split("?>", 1)[1]
    variants = {
        "bom": b"\xef\xbb\xbf" + path.read_bytes(),
        "utf-16": ('<?xml version="1.0" encoding="UTF-16"?>' + body).encode("utf-16"),
        "latin-1": ('<?xml version="1.0" encoding="ISO-8859-1"?>' + body).encode("latin-1"),
    }
    for name, data in variants.items():
        report, cases = read_bytes(data, path=name)
        assert report.error is None, name
        assert report.counts == plain.counts, name
        assert [c.id for c in cases] == [c.id for c in plain_cases], name


def test_unknown_declared_encoding_is_a_readable_reason() -> None:
    data = (EXAMPLES / "healthy" / "pytest-report.xml").read_bytes()
    data = data.replace(b'encoding="utf-8"', b'encoding="x-klingon"')
    report, _ = read_bytes(data)
    assert report.error is not None and report.error.startswith("unsupported encoding")


@pytest.mark.parametrize("native", [False, True])
def test_utf8_report_declaring_utf16_is_not_called_an_unknown_encoding(native: bool) -> None:
    # .NET's XmlWriter over a StringWriter declares encoding="utf-16" and the file is then
    # saved as UTF-8: the reason said the encoding was unknown while listing UTF-16 as readable.
    from bot.core.junit import parse_report

    data = (EXAMPLES / "healthy" / "pytest-report.xml").read_bytes()
    data = data.replace(b'encoding="utf-8"', b'encoding="utf-16"')
    report = parse_report([data], path="r.xml", sink=lambda _: None, native=native)
    assert report.error is not None and report.error.startswith("wrong encoding")
    assert "not know" not in report.error


def test_chunk_boundaries_do_not_matter(corpus: Path) -> None:
    path = corpus / "junit/quick-junit/crates/quick-junit-tests/tests/fixtures/basic_report.xml"
    whole, whole_cases = read(path)
    tiny, tiny_cases = read(path, size=7)
    assert tiny.counts == whole.counts
    assert [(c.id, c.message, c.details, c.system_err) for c in tiny_cases] == \
           [(c.id, c.message, c.details, c.system_err) for c in whole_cases]


def test_two_documents_in_one_file_is_an_error() -> None:
    data = (EXAMPLES / "healthy" / "pytest-report.xml").read_bytes()
    report, _ = read_bytes(data + b"\n" + data)
    assert report.error is not None and "junk after document element" in report.error
    report, _ = read_bytes(data + b"\n<testsuites/>")
    assert report.error is not None and "second XML document" in report.error


@pytest.mark.parametrize("data, start", [
    (b"", "empty file"),
    (b"   \n", "empty file"),
    (b"PASS all tests ok\n", "not XML"),
    (b"{\"tests\": 3}", "not XML"),
    (b"<html><body>502 Bad Gateway</body></html>", "not a test report"),
])
def test_not_a_report(data: bytes, start: str) -> None:
    report, _ = read_bytes(data)
    assert report.error is not None and report.error.startswith(start)
    assert report.counts.tests == 0


def test_long_text_is_truncated_while_read() -> None:
    body = "x" * 100_000
    data = (f'<testsuite><testcase name="t"><failure message="{"m" * 5000}">{body}</failure>'
            f"<system-err>{body}</system-err></testcase></testsuite>").encode()
    _, cases = read_bytes(data, size=1000)
    assert len(cases[0].message) == 2048 and cases[0].message.endswith("…")
    assert len(cases[0].details) == 8192 and len(cases[0].system_err) == 8192


@pytest.mark.parametrize("text, seconds", [
    ("1.5", 1.5), ("2,503.1", 2503.1), ("0,010", 0.01), ("0:00:00.031", 0.031),
    ("00:01:02.5", 62.5), ("-3.2", 0.0), ("nan", 0.0), ("inf", 0.0), ("", 0.0),
    ("999638317", 0.999638317), ("15ms", 0.015), ("05/05/11 15:09:44", 0.0), ("abc", 0.0),
])
def test_odd_times(text: str, seconds: float) -> None:
    assert parse_time(text) == pytest.approx(seconds)


def test_nanosecond_times_in_a_real_report(corpus: Path) -> None:
    report, cases = read(corpus / AJR / "container-structure/test.xml")
    assert cases[0].time == pytest.approx(0.999638317)
    assert report.counts.duration < 2


@pytest.mark.parametrize("native", [False, True])
def test_a_status_skip_does_not_inherit_the_previous_failure_message(native: bool) -> None:
    """`msg` was set only by a failure/error/skipped child and never reset per testcase, so a
    <testcase status="skipped"/> after a failing one carried that failure's message."""
    from bot.core.junit import parse_report

    xml = (b"<testsuite><testcase classname='c' name='a'><failure message='boom'/></testcase>"
           b"<testcase classname='c' name='b' status='skipped'/></testsuite>")
    cases: list = []
    parse_report([xml], path="r.xml", sink=cases.append, native=native)
    assert [(c.id, c.outcome, c.message) for c in cases] == [
        ("c::a", Outcome.FAILED, "boom"), ("c::b", Outcome.SKIPPED, "")]
