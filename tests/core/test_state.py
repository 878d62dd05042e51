"""The state@1 JSON document and the tolerant baseline reader."""

from __future__ import annotations

import json

import pytest

from bot.core.config import DEFAULT_CONFIG
from bot.core.model import Counts, Declared, FailedTest, FileReport, MeasuredState
from bot.core.state import GENERATOR, Baseline, BaselineError, baseline_from_json, document
from bot.core.verdict import judge


def sample() -> MeasuredState:
    s = MeasuredState(
        files=[FileReport("a.xml", "junit", Counts(tests=4, passed=2, failed=1, skipped=1,
                                                   flaky=1, duration=1.23456),
                          declared=Declared(tests=5), mismatches=["declares 5, has 4"]),
               FileReport("b.xml", error="not XML")],
        failures=[FailedTest("m::t", "failure", "boom", "a.xml", "m.py", 3, "trace")],
        failures_omitted=2, signatures={"oom": 1}, test_ids=["m::t", "m::u"],
        test_ids_complete=True)
    for f in s.files:
        s.totals.add(f.counts)
    return s


def test_document_has_every_schema_field() -> None:
    s = sample()
    doc = document(s, judge(s, DEFAULT_CONFIG))
    assert list(doc) == ["schema", "generator", "tests", "files", "unreadable", "failures",
                         "failures_omitted", "signatures", "test_ids", "test_ids_complete",
                         "workflows", "coverage", "verdict"]
    assert doc["schema"] == "ci-truth/state@1" and doc["generator"] == GENERATOR
    assert doc["tests"] == {"total": 4, "passed": 2, "failed": 1, "errors": 0, "skipped": 1,
                            "flaky": 1, "duration": 1.235, "pass_rate": 0.666667,
                            "skipped_ratio": 0.25}
    assert doc["files"][0]["declared"] == {"tests": 5, "failures": None, "errors": None,
                                           "skipped": None}
    assert doc["files"][0]["mismatches"] == ["declares 5, has 4"]
    assert doc["unreadable"] == [{"path": "b.xml", "reason": "not XML"}]
    assert doc["failures"][0] == {"id": "m::t", "kind": "failure", "message": "boom",
                                  "report": "a.xml", "file": "m.py", "line": 3,
                                  "details": "trace"}
    assert doc["verdict"]["conclusion"] == "failure"
    assert {r["rule"] for r in doc["verdict"]["reasons"]} == {
        "unreadable-report", "failures", "totals-mismatch"}
    json.dumps(doc)  # serialisable as is


def test_empty_state_rates_are_zero() -> None:
    doc = document(MeasuredState(), judge(MeasuredState(), DEFAULT_CONFIG))
    assert doc["tests"]["pass_rate"] == 0.0 and doc["tests"]["skipped_ratio"] == 0.0
    assert doc["verdict"]["reasons"][0]["rule"] == "no-evidence"


def test_baseline_round_trip() -> None:
    s = sample()
    doc = json.loads(json.dumps(document(s, judge(s, DEFAULT_CONFIG))))
    assert baseline_from_json(doc) == Baseline(total=4, test_ids=frozenset({"m::t", "m::u"}),
                                               complete=True)


def test_baseline_is_tolerant() -> None:
    assert baseline_from_json({"tests": {"total": 7}}) == Baseline(total=7)
    b = baseline_from_json({"schema": "ci-truth/state@1", "tests": {"total": 2},
                            "test_ids": ["a"], "test_ids_complete": False, "extra": 1})
    assert b == Baseline(total=2, test_ids=frozenset({"a"}), complete=False)


@pytest.mark.parametrize(("doc", "key", "fragment"), [
    ([], "", "expected a JSON object"),
    ("text", "", "expected a JSON object"),
    ({}, "tests", "not a `ci-truth check --format json` output"),
    ({"tests": {"total": "12"}}, "tests.total", "whole number"),
    ({"tests": {"total": True}}, "tests.total", "whole number"),
    ({"tests": {"total": -1}}, "tests.total", "whole number"),
    ({"schema": "other@2", "tests": {"total": 1}}, "schema", "ci-truth/state@1"),
    ({"tests": {"total": 1}, "test_ids": "a"}, "test_ids", "list of test id strings"),
    ({"tests": {"total": 1}, "test_ids": [1]}, "test_ids", "list of test id strings"),
])
def test_garbage_baselines_are_usage_errors(doc: object, key: str, fragment: str) -> None:
    with pytest.raises(BaselineError) as info:
        baseline_from_json(doc, source="old.json")
    assert info.value.key == key and fragment in str(info.value)
    assert str(info.value).startswith("old.json: ")
