"""Verdict rules on measured states: each rule id, its conclusion and its message."""

from __future__ import annotations

import pytest

from bot.core.config import DEFAULT_CONFIG, parse_config
from bot.core.engine import Source, evaluate
from bot.core.model import (
    Conclusion,
    Counts,
    FailedTest,
    FileReport,
    MeasuredState,
    Reason,
    Rule,
)
from bot.core.state import Baseline, baseline_from_json
from bot.core.verdict import conclude, judge


def counts(passed: int = 0, failed: int = 0, errors: int = 0, skipped: int = 0) -> Counts:
    return Counts(tests=passed + failed + errors + skipped, passed=passed, failed=failed,
                  errors=errors, skipped=skipped)


def state(*files: FileReport, failures: list[FailedTest] | None = None,
          ids: list[str] | None = None, signatures: dict[str, int] | None = None
          ) -> MeasuredState:
    s = MeasuredState(files=list(files), failures=failures or [],
                      test_ids=sorted(ids or []), signatures=signatures or {})
    for f in files:
        s.totals.add(f.counts)
    return s


def rules(verdict: object) -> list[str]:
    return [r.rule for r in verdict.reasons]  # type: ignore[attr-defined]


def test_healthy_run_is_success_with_no_reasons() -> None:
    v = judge(state(FileReport("a.xml", "junit", counts(passed=10, skipped=2))),
              DEFAULT_CONFIG)
    assert v.conclusion is Conclusion.SUCCESS and v.reasons == []


def test_no_evidence() -> None:
    v = judge(state(), DEFAULT_CONFIG)
    assert v.conclusion is Conclusion.FAILURE
    assert rules(v) == ["no-evidence"]
    assert "No test report was found" in v.reasons[0].message


def test_unreadable_report_names_file_and_reason_and_never_passes() -> None:
    good = FileReport("ok.xml", "junit", counts(passed=5))
    bad = FileReport("shard-2.xml", counts=counts(passed=3), error="truncated XML at line 9")
    v = judge(state(good, bad), DEFAULT_CONFIG)
    assert v.conclusion is Conclusion.FAILURE
    assert rules(v) == ["unreadable-report"]
    msg = v.reasons[0].message
    assert "1 of 2 reports" in msg and "shard-2.xml (truncated XML at line 9)" in msg
    assert v.reasons[0].details["files"] == [{"path": "shard-2.xml",
                                              "reason": "truncated XML at line 9"}]


def test_only_unreadable_reports_fail_without_zero_tests_noise() -> None:
    v = judge(state(FileReport("x.xml", error="not XML")), DEFAULT_CONFIG)
    assert rules(v) == ["unreadable-report"]


def test_unreadable_listing_is_capped() -> None:
    bad = [FileReport(f"r{i}.xml", error="not XML") for i in range(80)]
    v = judge(state(*bad), DEFAULT_CONFIG)
    reason = v.reasons[0]
    assert "and 75 more" in reason.message
    assert len(reason.details["files"]) == 50 and reason.details["count"] == 80


def test_zero_tests() -> None:
    v = judge(state(FileReport("empty.xml", "junit", counts())), DEFAULT_CONFIG)
    assert rules(v) == ["zero-tests"] and v.conclusion is Conclusion.FAILURE
    assert "contained no testcase" in v.reasons[0].message


def test_zero_tests_cannot_be_disabled_with_min_tests_0() -> None:
    cfg = parse_config("gate: {min_tests: 0}")
    assert rules(judge(state(FileReport("e.xml", "junit", counts())), cfg)) == ["zero-tests"]


def test_all_skipped_default_and_threshold() -> None:
    all_skipped = state(FileReport("s.xml", "junit", counts(skipped=12)))
    v = judge(all_skipped, DEFAULT_CONFIG)
    assert rules(v) == ["all-skipped"] and v.conclusion is Conclusion.FAILURE
    assert v.reasons[0].message.startswith("All 12 tests were skipped")
    mostly = state(FileReport("s.xml", "junit", counts(passed=1, skipped=3)))
    assert rules(judge(mostly, DEFAULT_CONFIG)) == []
    cfg = parse_config("gate: {max_skipped_ratio: 0.75}")
    v = judge(mostly, cfg)
    assert rules(v) == ["all-skipped"]
    assert "3 of 4 tests were skipped (75%)" in v.reasons[0].message
    # 0.0 means: any skipped test fails
    assert rules(judge(mostly, parse_config("gate: {max_skipped_ratio: 0}"))) == \
        ["all-skipped"]
    assert rules(judge(state(FileReport("p.xml", "junit", counts(passed=3))),
                       parse_config("gate: {max_skipped_ratio: 0}"))) == []


def test_min_tests_counts_executed_tests() -> None:
    cfg = parse_config("gate: {min_tests: 10}")
    v = judge(state(FileReport("a.xml", "junit", counts(passed=8, skipped=5))), cfg)
    assert rules(v) == ["min-tests"]
    assert "Only 8 tests executed; gate.min_tests requires at least 10" in v.reasons[0].message
    assert rules(judge(state(FileReport("a.xml", "junit", counts(passed=10))), cfg)) == []


def test_empty_report_when_one_shard_ran_nothing() -> None:
    v = judge(state(FileReport("shard-1.xml", "junit", counts(passed=40)),
                    FileReport("shard-2.xml", "junit", counts()),
                    FileReport("shard-3.xml", "junit", counts(skipped=4))), DEFAULT_CONFIG)
    assert rules(v) == ["empty-report"] and v.conclusion is Conclusion.FAILURE
    msg = v.reasons[0].message
    assert "2 of 3 readable reports executed no test" in msg
    assert "shard-2.xml (0 tests)" in msg and "shard-3.xml (4 tests, all skipped)" in msg


def failure(i: int, kind: str = "failure") -> FailedTest:
    return FailedTest(id=f"tests/test_m.py::test_{i}", kind=kind,
                      message=f"AssertionError: {i} != 0\nmore", report="r.xml")


def test_failures_fail_and_name_the_first() -> None:
    s = state(FileReport("r.xml", "junit", counts(passed=5, failed=2, errors=1)),
              failures=[failure(1), failure(2), failure(3, "error")])
    v = judge(s, DEFAULT_CONFIG)
    assert rules(v) == ["failures"] and v.conclusion is Conclusion.FAILURE
    msg = v.reasons[0].message
    assert msg.startswith("3 tests did not pass (2 failed and 1 errored).")
    assert "tests/test_m.py::test_1 (AssertionError: 1 != 0) in r.xml" in msg
    assert v.reasons[0].details["tests"][2] == "tests/test_m.py::test_3"


def test_allow_failures_makes_failures_neutral_not_hidden() -> None:
    s = state(FileReport("r.xml", "junit", counts(passed=5, failed=1)), failures=[failure(1)])
    v = judge(s, parse_config("gate: {allow_failures: true}"))
    assert v.conclusion is Conclusion.NEUTRAL and rules(v) == ["failures"]
    assert "allow_failures is true" in v.reasons[0].message


def test_test_drop_names_vanished_tests() -> None:
    ids = [f"t::{i}" for i in range(10)]
    base = Baseline(total=12, test_ids=frozenset([*ids, "t::gone_a", "t::gone_b"]),
                    complete=True)
    s = state(FileReport("r.xml", "junit", counts(passed=10)), ids=ids)
    v = judge(s, DEFAULT_CONFIG, baseline=base)
    assert rules(v) == ["test-drop"]
    msg = v.reasons[0].message
    assert "2 of the baseline's 12 tests are gone (now 10, a 16.7% drop" in msg
    assert "Vanished: t::gone_a; t::gone_b." in msg
    assert v.reasons[0].details["vanished"] == ["t::gone_a", "t::gone_b"]
    # within the allowed drop
    assert rules(judge(s, parse_config("gate: {max_test_drop: 0.2}"), baseline=base)) == []
    # growth or equality never fires
    assert rules(judge(s, DEFAULT_CONFIG, baseline=Baseline(total=10))) == []


def test_test_drop_names_the_commit_the_baseline_came_from() -> None:
    base = baseline_from_json({"tests": {"total": 12}, "source": {
        "check_run_id": 1, "head_sha": "3484a3fb816e0859fd6e1cea078d76385ff50625", "ref": "main"}})
    s = state(FileReport("r.xml", "junit", counts(passed=10)))
    [r] = judge(s, DEFAULT_CONFIG, baseline=base).reasons
    assert "2 of the baseline's 12 tests (commit 3484a3fb816e on main) are gone" in r.message
    assert r.details["baseline_origin"] == "commit 3484a3fb816e on main"


def test_test_drop_without_ids_says_names_unknown_and_caps_lists() -> None:
    s = state(FileReport("r.xml", "junit", counts(passed=1)), ids=["a"])
    v = judge(s, DEFAULT_CONFIG, baseline=Baseline(total=5))
    assert "cannot be named" in v.reasons[0].message
    many = frozenset(f"gone::{i:03}" for i in range(200)) | {"a"}
    v = judge(s, DEFAULT_CONFIG, baseline=Baseline(total=201, test_ids=many, complete=True))
    assert len(v.reasons[0].details["vanished"]) == 50
    assert v.reasons[0].details["vanished_count"] == 200
    assert "and 195 more" in v.reasons[0].message


def test_forbidden_signature() -> None:
    cfg = parse_config("signatures:\n  event_loop: 'event loop is already running'\n"
                       "  slow: 'slow'\ngate:\n  forbid: [event_loop]\n")
    s = state(FileReport("r.xml", "junit", counts(passed=3)),
              signatures={"event_loop": 2, "slow": 5})
    v = judge(s, cfg)
    assert rules(v) == ["forbidden-signature"] and v.conclusion is Conclusion.FAILURE
    assert "Forbidden signature event_loop" in v.reasons[0].message
    assert "matched 2 testcases" in v.reasons[0].message
    assert v.reasons[0].details == {"signature": "event_loop", "count": 2}
    assert rules(judge(state(FileReport("r.xml", "junit", counts(passed=3)),
                             signatures={"event_loop": 0}), cfg)) == []


def test_totals_mismatch() -> None:
    f = FileReport("r.xml", "junit", counts(passed=8),
                   mismatches=["declares tests=10 but 8 testcases are present"])
    v = judge(state(f), DEFAULT_CONFIG)
    assert rules(v) == ["totals-mismatch"] and v.conclusion is Conclusion.FAILURE
    assert "r.xml: declares tests=10 but 8 testcases are present" in v.reasons[0].message


def test_extra_reasons_join_and_failures_sort_first() -> None:
    extra = [Reason(rule=Rule.UNTRUSTED_EVIDENCE.value, message="fork",
                    conclusion=Conclusion.NEUTRAL),
             Reason(rule=Rule.MASKED_FAILURE.value, message="masked")]
    s = state(FileReport("r.xml", "junit", counts(passed=3)))
    v = judge(s, DEFAULT_CONFIG, extra_reasons=extra)
    assert rules(v) == ["masked-failure", "untrusted-evidence"]
    assert v.conclusion is Conclusion.FAILURE
    assert judge(s, DEFAULT_CONFIG, extra_reasons=extra[:1]).conclusion is Conclusion.NEUTRAL


def test_several_rules_fire_together() -> None:
    s = state(FileReport("a.xml", "junit", counts(passed=3, failed=1)),
              FileReport("b.xml", "junit", counts()),
              FileReport("c.xml", error="unclosed element"), failures=[failure(1)])
    assert rules(judge(s, DEFAULT_CONFIG)) == ["unreadable-report", "empty-report",
                                               "failures"]


@pytest.mark.parametrize("conclusions, expected", [
    ([], Conclusion.SUCCESS),
    ([Conclusion.SUCCESS], Conclusion.SUCCESS),
    ([Conclusion.NEUTRAL, Conclusion.SUCCESS], Conclusion.NEUTRAL),
    ([Conclusion.NEUTRAL, Conclusion.FAILURE], Conclusion.FAILURE),
])
def test_conclude(conclusions: list[Conclusion], expected: Conclusion) -> None:
    assert conclude(Reason("r", "m", c) for c in conclusions) is expected


def test_every_engine_rule_id_is_reachable() -> None:
    engine_rules = {r.value for r in Rule} - {"masked-failure", "missing-evidence",
                                              "untrusted-evidence"}
    cfg = parse_config("signatures: {x: x}\ngate: {forbid: [x], min_tests: 5}\n")
    fired: set[str] = set()
    fired |= set(rules(judge(state(), cfg)))
    fired |= set(rules(judge(state(FileReport("e", error="bad"),
                                   FileReport("z", "junit", counts())), cfg)))
    fired |= set(rules(judge(state(FileReport("s", "junit", counts(skipped=2))), cfg)))
    fired |= set(rules(judge(state(FileReport("a", "junit", counts(passed=2, failed=1),
                                              mismatches=["m"]),
                                   FileReport("b", "junit", counts()),
                                   signatures={"x": 1}), cfg,
                             baseline=Baseline(total=100))))
    # not-a-report: added by the engine, which sets such XML aside before judging
    fired |= set(rules(evaluate([Source("pmd.xml", [b"<pmd/>"])]).verdict))
    assert fired == engine_rules
