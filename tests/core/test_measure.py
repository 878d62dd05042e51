"""Measurer: failures, signatures and test ids from testcases, with caps and exact counts."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.measure import Measurer
from bot.core.model import Counts, FileReport
from bot.core.testcase import Outcome, TestCase


def case(name: str, outcome: Outcome, message: str = "", details: str = "",
         system_err: str = "", classname: str = "pkg.mod") -> TestCase:
    return TestCase(id=f"{classname}::{name}", name=name, classname=classname,
                    outcome=outcome, time=0.1, message=message, details=details,
                    system_err=system_err, file="pkg/mod.py", line=7)


def test_failures_are_kept_with_kind_and_report() -> None:
    m = Measurer()
    sink = m.sink_for("reports/a.xml")
    sink(case("ok", Outcome.PASSED))
    sink(case("bad", Outcome.FAILED, "assert 1 == 2", "Traceback..."))
    sink(case("broken", Outcome.ERROR, "ImportError: no module x"))
    sink(case("skip", Outcome.SKIPPED, "no gpu"))
    failures = m.state().failures
    assert [(f.id, f.kind, f.report) for f in failures] == [
        ("pkg.mod::bad", "failure", "reports/a.xml"),
        ("pkg.mod::broken", "error", "reports/a.xml")]
    assert failures[0].message == "assert 1 == 2" and failures[0].details == "Traceback..."
    assert (failures[0].file, failures[0].line) == ("pkg/mod.py", 7)


def test_failures_are_capped_but_counted_exactly() -> None:
    m = Measurer(max_failures=3)
    sink = m.sink_for("r.xml")
    for i in range(10):
        sink(case(f"t{i}", Outcome.FAILED, "x"))
    state = m.state()
    assert len(state.failures) == 3 and state.failures_omitted == 7


def test_signatures_count_matching_testcases() -> None:
    m = Measurer({"loop": re.compile("event loop is already running"),
                  "oom": re.compile("(?i)out of memory")})
    sink = m.sink_for("r.xml")
    # a failure matches through message, details or system-err; counted once per testcase
    sink(case("a", Outcome.FAILED, "RuntimeError: This event loop is already running",
              "event loop is already running", "event loop is already running"))
    sink(case("b", Outcome.ERROR, details="... Out Of Memory ..."))
    # a passing test matches only through system-err
    sink(case("c", Outcome.PASSED, system_err="warning: event loop is already running"))
    sink(case("d", Outcome.PASSED, message="event loop is already running"))
    sink(case("e", Outcome.SKIPPED, message="out of memory", system_err=""))
    assert m.state().signatures == {"loop": 2, "oom": 1}


def test_configured_signatures_start_at_zero() -> None:
    assert Measurer({"x": re.compile("x")}).state().signatures == {"x": 0}


def test_test_ids_are_distinct_sorted_and_capped() -> None:
    m = Measurer(max_test_ids=3)
    sink = m.sink_for("r.xml")
    for name in ["c", "a", "a", "b"]:
        sink(case(name, Outcome.PASSED))
    state = m.state()
    assert state.test_ids == ["pkg.mod::a", "pkg.mod::b", "pkg.mod::c"]
    assert state.test_ids_complete
    sink(case("d", Outcome.PASSED))
    state = m.state()
    assert not state.test_ids_complete and len(state.test_ids) == 3


@settings(max_examples=300, deadline=None)
@given(cap=st.integers(min_value=1, max_value=40),
       names=st.lists(st.sampled_from([f"t{i}" for i in range(60)]), max_size=300))
def test_test_ids_match_a_plain_set_model(cap: int, names: list[str]) -> None:
    """The list-and-merge id store agrees with a set: first `cap` distinct ids, exactly."""
    m = Measurer(max_test_ids=cap)
    seen: set[str] = set()
    complete = True
    for name in names:
        m.passed(f"pkg.mod::{name}")
        test_id = f"pkg.mod::{name}"
        if complete and test_id not in seen:
            if len(seen) < cap:
                seen.add(test_id)
            else:
                complete = False
    state = m.state()
    assert state.test_ids == sorted(seen)
    assert state.test_ids_complete is complete


@settings(max_examples=300, deadline=None)
@given(cap=st.integers(min_value=1, max_value=40),
       batches=st.lists(st.lists(st.sampled_from([f"t{i}" for i in range(60)]), max_size=30),
                        max_size=20))
def test_batches_of_passed_ids_keep_what_one_by_one_keeps(cap: int,
                                                          batches: list[list[str]]) -> None:
    """passed_many (the C accelerator's batches) = passed for each id, in the same order."""
    one, many = Measurer(max_test_ids=cap), Measurer(max_test_ids=cap)
    for batch in batches:
        for name in batch:
            one.passed(name)
        many.passed_many(batch)
    assert many.state() == one.state()


def test_many_repeats_of_a_full_id_store_stay_complete() -> None:
    m = Measurer(max_test_ids=1000)
    for _ in range(50):
        for i in range(1000):
            m.passed(f"pkg.mod::t{i:04}")
    state = m.state()
    assert state.test_ids_complete and len(state.test_ids) == 1000
    m.passed("pkg.mod::new")
    assert not m.state().test_ids_complete


def test_totals_are_the_sum_of_file_counts() -> None:
    m = Measurer()
    m.add_file(FileReport("a.xml", "junit", Counts(tests=3, passed=2, skipped=1)))
    m.add_file(FileReport("b.xml", "junit", Counts(tests=2, passed=1, failed=1, flaky=1,
                                                   duration=1.5)))
    m.unreadable("c.zip", "zip member over the size cap")
    state = m.state()
    assert (state.totals.tests, state.totals.passed, state.totals.failed,
            state.totals.skipped, state.totals.flaky) == (5, 3, 1, 1, 1)
    assert [f.path for f in state.unreadable] == ["c.zip"]
    assert state.unreadable[0].error == "zip member over the size cap"


def test_only_the_first_failures_keep_their_details() -> None:
    m = Measurer(max_failures=3, max_details=1)
    sink = m.sink_for("r.xml")
    for name in ("a", "b", "c", "d"):
        sink(case(name, Outcome.FAILED, message=f"boom {name}", details=f"trace {name}"))
    state = m.state()
    assert [(f.id, f.message, f.details) for f in state.failures] == [
        ("pkg.mod::a", "boom a", "trace a"), ("pkg.mod::b", "boom b", ""),
        ("pkg.mod::c", "boom c", "")]
    assert state.failures_omitted == 1
