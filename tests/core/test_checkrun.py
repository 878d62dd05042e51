"""checkrun.py: titles, GitHub limits, annotation batches, the embedded state and the baseline.

Every payload is validated against the request-body schema of GitHub's OpenAPI description
(../shared/corpus/github-api/ops.json), so a field GitHub would reject fails here.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options
from openapi_schema_validator import OAS30Validator

from bot.core.annotate import annotation
from bot.core.archive import iter_zip
from bot.core.checkrun import (
    BATCH,
    MAX_ANNOTATIONS,
    NAME,
    RECHECK,
    RunRef,
    baseline_from_check_runs,
    completed_payloads,
    in_progress_payload,
    parse_state_block,
    state_block,
    title,
    usable_state,
)
from bot.core.engine import evaluate
from bot.core.model import (
    Conclusion,
    Counts,
    FailedTest,
    FileReport,
    MeasuredState,
    Reason,
    Source,
    Verdict,
)
from bot.core.render import render_markdown
from bot.core.textfit import fit

RUN = RunRef(id=289782451, attempt=2, name="CI", url="https://github.com/o/r/actions/runs/1")


@pytest.fixture(scope="module")
def schemas(corpus: Path) -> dict[str, OAS30Validator]:
    ops = json.loads((corpus / "github-api/ops.json").read_text())["operations"]
    return {o["operationId"]: OAS30Validator(o["requestBody"]["schema"]) for o in ops
            if o["operationId"] in ("checks/create", "checks/update")}


def zero_tests() -> tuple[MeasuredState, Verdict]:
    state = MeasuredState(files=[FileReport(path="junit/report.xml", format="junit")])
    verdict = Verdict(Conclusion.FAILURE, [Reason("zero-tests", "The reports hold 0 testcases.")])
    return state, verdict


def failing(n: int, *, message: str = "assert 1 == 2") -> tuple[MeasuredState, Verdict]:
    failures = [FailedTest(id=f"tests/test_x.py::test_{i}", kind="failure", message=message,
                           report="junit.xml", file="tests/test_x.py" if i % 2 else None,
                           line=i + 1 if i % 2 else None, details="Traceback ...")
                for i in range(n)]
    state = MeasuredState(totals=Counts(tests=n + 5, passed=5, failed=n), failures=failures,
                          files=[FileReport(path="junit.xml")])
    return state, Verdict(Conclusion.FAILURE, [Reason("failures", f"{n} tests failed.")])


def test_titles_are_short_and_informative() -> None:
    assert title(*zero_tests()) == "0 tests ran — 1 report, 0 testcases"
    assert title(*failing(3)) == "3 failed — 3 failed, 5 passed"
    ok = MeasuredState(totals=Counts(tests=1300, passed=1234, skipped=66),
                       files=[FileReport(path="a"), FileReport(path="b")])
    assert title(ok, Verdict(Conclusion.SUCCESS)) == "1,234 passed, 66 skipped — 2 reports"
    missing = Verdict(Conclusion.FAILURE, [Reason("missing-evidence", "x")])
    assert title(MeasuredState(), missing).startswith("Missing test evidence")


def test_completed_payload_is_valid_and_carries_the_button(schemas: Any) -> None:
    state, verdict = zero_tests()
    p = completed_payloads(state, verdict, [RUN], details_md="## details", head_sha="a" * 40)
    schemas["checks/update"].validate(p.first)
    assert p.first["conclusion"] == "failure" and p.first["status"] == "completed"
    assert p.first["external_id"] == "289782451:2" and p.more == []
    assert p.first["actions"] == [RECHECK]
    assert len(RECHECK["label"]) <= 20 and len(RECHECK["description"]) <= 40
    assert len(RECHECK["identifier"]) <= 20
    assert "`zero-tests`" in p.first["output"]["summary"]
    create = in_progress_payload("a" * 40, RUN)
    schemas["checks/create"].validate(create)
    assert create["status"] == "in_progress" and create["name"] == NAME


def test_annotations_in_batches_of_50_capped(schemas: Any) -> None:
    state, verdict = failing(MAX_ANNOTATIONS + 30)
    p = completed_payloads(state, verdict, [RUN], details_md="", head_sha="b" * 40)
    batches = [p.first, *p.more]
    sizes = [len(b["output"]["annotations"]) for b in batches]
    assert sizes == [BATCH] * (MAX_ANNOTATIONS // BATCH)
    for b in batches:
        schemas["checks/update"].validate(b)
    first = p.first["output"]["annotations"][1]
    assert first["path"] == "tests/test_x.py" and first["start_line"] == 2
    assert p.first["output"]["annotations"][0]["path"] == "junit.xml"   # no file → the report
    assert first["raw_details"] == "Report: junit.xml"                 # the report, either way
    assert "30 more failing test(s) are not annotated" in p.first["output"]["summary"]


MOCHA = "junit/publish-unit-test-result-action/python/test/files/mocha/tests.junit-xml"
DART = "junit/publish-unit-test-result-action/python/test/files/dart/json/tests.junit-xml"


@pytest.mark.parametrize(("report", "repo", "paths"), [
    # mocha-junit-reporter on a GitHub runner: file="/home/runner/work/mocha/mocha/test/..."
    (MOCHA, "mochajs/mocha", ["test/unit/runner.spec.js", "test/unit/test.spec.js"]),
    # Dart's junitreport: file="file:///home/runner/work/dart-code-metrics/dart-code-metrics/..."
    (DART, "dart-code-metrics", ["test/src/cli/cli_runner_test.dart",
                                 "test/src/cli/utils/detect_sdk_path_test.dart",
                                 "test/src/cli/utils/detect_sdk_path_test.dart"]),
])
def test_absolute_runner_paths_become_repository_paths(corpus: Path, schemas: Any, report: str,
                                                       repo: str, paths: list[str]) -> None:
    """GitHub places an annotation on a file only for a path relative to the repository."""
    result = evaluate([Source("junit.xml", chunks=[(corpus / report).read_bytes()])])
    p = completed_payloads(result.state, result.verdict, [RUN], details_md="",
                           head_sha="a" * 40, repo=repo)
    schemas["checks/update"].validate(p.first)
    anns = p.first["output"]["annotations"]
    assert sorted(a["path"] for a in anns) == paths
    # without the repository's name the failure is still annotated, under its own path
    unknown = completed_payloads(result.state, result.verdict, [RUN], details_md="",
                                 head_sha="a" * 40).first["output"]["annotations"]
    assert [a["message"] for a in unknown] == [a["message"] for a in anns]
    assert all("/work/" in a["path"] for a in unknown)


@pytest.mark.parametrize(("file", "workspace", "repo", "path"), [
    ("D:\\a\\app\\app\\src\\App.Tests\\UnitTest1.cs", "", "o/app", "src/App.Tests/UnitTest1.cs"),
    ("d:\\a\\app\\app\\src\\X.cs", "D:\\a\\app\\app", "", "src/X.cs"),
    ("/__w/app/app/pkg/x_test.go", "", "app", "pkg/x_test.go"),
    ("/home/runner/_work/app/app/src/a b.ts", "", "app", "src/a b.ts"),
    ("file:///home/runner/work/app/app/src/a%20b.dart", "", "app", "src/a b.dart"),
    ("file:///D:/a/app/app/src/x.dart", "", "app", "src/x.dart"),
    ("file:///home/runner/work/app/app/src/%C3%A9t%C3%A9.dart", "", "app", "src/été.dart"),
    ("/home/runner/work/app/app/src/x.js", "/home/runner/work/app/app", "", "src/x.js"),
    ("src/../lib/x.py", "", "", "lib/x.py"),
    # not knowable: kept as written, so the failure is still annotated (not placed)
    ("/home/runner/work/other/other/x.js", "", "app", "home/runner/work/other/other/x.js"),
    ("../usr/lib/python3/x.py", "", "app", "../usr/lib/python3/x.py"),
    ("file://server/share/app/app/x.js", "", "app", "file://server/share/app/app/x.js"),
])
def test_annotation_paths(file: str, workspace: str, repo: str, path: str) -> None:
    f = FailedTest(id="t", kind="failure", message="boom", report="r.xml", file=file, line=3)
    ann = annotation(f, workspace=workspace, repo=repo)
    assert (ann["path"], ann["start_line"], ann["message"]) == (path, 3, "boom")


def test_an_absurd_line_is_line_1_not_a_refused_batch(schemas: Any) -> None:
    """start_line is a (32-bit) integer; a report's line="99999999999" is no source line."""
    result = evaluate([Source("junit.xml", chunks=[
        b'<testsuite tests="2"><testcase name="a" file="t.py" line="99999999999">'
        b'<failure message="boom"/></testcase><testcase name="b" file="t.py" line="7">'
        b'<failure message="bang"/></testcase></testsuite>'])])
    p = completed_payloads(result.state, result.verdict, [RUN], details_md="", head_sha="a" * 40)
    schemas["checks/update"].validate(p.first)
    lines = [(a["message"], a["start_line"], a["end_line"]) for a in
             p.first["output"]["annotations"]]
    assert sorted(lines) == [("bang", 7, 7), ("boom", 1, 1)]


def test_limits_hold_for_huge_multibyte_text() -> None:
    state, verdict = failing(2, message="💥é" * 40_000)
    big = "ü" * 70_000 + "🙂" * 10_000
    verdict.reasons.append(Reason("failures", "x" * 80_000))
    p = completed_payloads(state, verdict, [RUN], details_md=big, head_sha="c" * 40)
    out = p.first["output"]
    for key in ("summary", "text"):
        assert len(out[key]) <= 65_535 and len(out[key].encode()) <= 65_535
    assert len(out["title"]) <= 255
    for a in out["annotations"]:
        assert len(a["message"].encode()) <= 64_000 and len(a["title"]) <= 255
        assert all(ord(c) <= 0xFFFF for c in a["message"])
    # The state block survives truncation of the details.
    assert parse_state_block(out["text"])["sha"] == "c" * 40


def test_state_block_round_trip_and_trimming() -> None:
    ids = [f"pkg.module_{i}::test_case_with_a_long_name_{i}" for i in range(200_000)]
    state = MeasuredState(totals=Counts(tests=200_000, passed=200_000), test_ids=ids)
    block = state_block(state, Verdict(Conclusion.SUCCESS), [RUN], head_sha="d" * 40)
    assert len(block) <= 40_000
    doc = parse_state_block("text before\n" + block)
    assert doc is not None and doc["tests"]["total"] == 200_000
    assert doc["test_ids_complete"] is False and 0 < len(doc["test_ids"]) < len(ids)
    assert doc["test_ids"] == ids[: len(doc["test_ids"])]
    assert doc["runs"] == [{"id": RUN.id, "attempt": 2, "name": "CI"}]
    small = state_block(MeasuredState(test_ids=["a::b"]), Verdict(Conclusion.SUCCESS), [],
                        head_sha="e" * 40)
    assert parse_state_block(small)["test_ids_complete"] is True


def test_damaged_or_hostile_blocks_are_ignored() -> None:
    assert parse_state_block(None) is None
    assert parse_state_block("no block here") is None
    assert parse_state_block("<!-- ci-truth:state v1 !!notbase64 -->") is None
    junk = base64.b64encode(b"not zlib").decode()
    assert parse_state_block(f"<!-- ci-truth:state v1 {junk} -->") is None
    bomb = base64.b64encode(zlib.compress(b"[" * (20 * 1024 * 1024), 9)).decode()
    assert parse_state_block(f"<!-- ci-truth:state v1 {bomb} -->") is None
    wrong = base64.b64encode(zlib.compress(b'{"v": 2, "tests": {}}')).decode()
    assert parse_state_block(f"<!-- ci-truth:state v1 {wrong} -->") is None


def check_run(app_id: int, *, conclusion: str = "success", when: str, tests: int,
              name: str = NAME) -> dict[str, Any]:
    state = MeasuredState(totals=Counts(tests=tests, passed=tests), test_ids=[f"t{tests}"])
    text = "details\n" + state_block(state, Verdict(Conclusion.SUCCESS), [RUN], head_sha="f" * 40)
    return {"id": tests, "name": name, "head_sha": "f" * 40, "status": "completed",
            "conclusion": conclusion, "completed_at": when, "app": {"id": app_id},
            "output": {"title": "t", "summary": "s", "text": text}}


def test_baseline_only_from_our_app_latest_success() -> None:
    runs = [check_run(99, when="2026-11-22T05:00:00Z", tests=9999),          # another app
            check_run(7, when="2026-11-22T04:00:00Z", tests=100),
            check_run(7, when="2026-11-22T04:30:00Z", tests=120),
            check_run(7, when="2026-11-22T04:50:00Z", tests=1, conclusion="failure"),
            check_run(7, when="2026-11-22T04:55:00Z", tests=5, name="CI Truth (copy)")]
    base = baseline_from_check_runs(runs, app_id=7)
    assert base is not None and base["tests"]["total"] == 120 and base["test_ids"] == ["t120"]
    assert base["schema"] == "ci-truth/state@1"
    assert baseline_from_check_runs(runs[:1], app_id=7) is None


def judged_check_run(corpus: Path, report: str, extra_reasons: list[Reason] | None = None,
                     ) -> dict[str, Any]:
    """Our completed check run for a real corpus report judged by the engine (verdict kept)."""
    data = (corpus / report).read_bytes()
    result = evaluate([Source(path="r.xml", chunks=[data])], extra_reasons=extra_reasons or [])
    payloads = completed_payloads(result.state, result.verdict, [RUN], details_md="d",
                                  head_sha="a" * 40,
                                  extra_state={"verdict": result.verdict.to_json()})
    return {"id": 5, "name": NAME, "head_sha": "a" * 40, "status": "completed",
            "conclusion": result.verdict.conclusion.value, "app": {"id": 7},
            "completed_at": "2026-11-22T05:00:00Z", "output": payloads.first["output"]}


FAILING_REPORT = "junit/action-junit-report/test_results/xunit/report.xml"   # 4 tests, 1 fails


def test_a_result_failing_only_on_failed_tests_is_a_count_baseline(corpus: Path) -> None:
    cr = judged_check_run(corpus, FAILING_REPORT)
    assert cr["conclusion"] == "failure"
    base = baseline_from_check_runs([cr], app_id=7)
    assert base is not None and base["tests"]["total"] == 4


def test_a_result_failing_for_its_evidence_is_no_baseline(corpus: Path) -> None:
    missing = Reason("missing-evidence", "shard 3 uploaded nothing")
    cr = judged_check_run(corpus, FAILING_REPORT, [missing])
    assert usable_state(cr, 7) is None and baseline_from_check_runs([cr], app_id=7) is None
    ok = judged_check_run(corpus, FAILING_REPORT)
    assert usable_state(dict(ok, conclusion="cancelled"), 7) is None
    assert usable_state(dict(ok, status="in_progress"), 7) is None
    assert usable_state(ok, 8) is None                               # another app's


def test_fit_cuts_on_character_boundaries() -> None:
    cut = fit("é" * 100, 51, note="…")
    assert cut.endswith("…") and len(cut.encode()) <= 51 and "\ufffd" not in cut
    assert fit("short", 100) == "short"


def test_cut_details_leave_no_details_block_open(corpus: Path) -> None:
    """A cut inside a failure's <details> hid the truncation note inside that collapsed block."""
    junit = corpus / "junit"
    reports = [junit / "publish-unit-test-result-action/python/test/files/nunit/nunit3/jenkins"
                       "/NUnit-issue44527.junit-xml",       # 144 failures with stack traces
               junit / "test-reporter/__tests__/fixtures/external/jest/jest-test-results.xml"]
    result = evaluate([Source(p.name, chunks=[p.read_bytes()]) for p in reports])
    p = completed_payloads(result.state, result.verdict, [RUN],
                           details_md=render_markdown(result), head_sha="a" * 40)
    text = p.first["output"]["text"]
    assert len(text.encode()) <= 65_535 and "… (truncated)" in text
    html = cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)
    assert html.count("<details>") == html.count("</details>") > 0
    assert "(truncated)" in html[html.rindex("</details>"):]
    doc = parse_state_block(text)
    assert doc is not None and doc["tests"]["total"] == result.state.totals.tests


def test_state_block_fits_when_reasons_are_huge(schemas: Any) -> None:
    """Long member names in unreadable reports made output.text exceed 65,535 characters."""
    art = io.BytesIO()
    with zipfile.ZipFile(art, "w") as zf:
        for i in range(50):
            long = "".join(hashlib.sha256(f"{i}:{j}".encode()).hexdigest() for j in range(50))
            zf.writestr(f"reports/{long}.xml", b'<testsuite tests="1"><testcase name="cut')
        zf.writestr("reports/ok.xml", b'<testsuite tests="1"><testcase name="ok"/></testsuite>')
    art.seek(0)
    result = evaluate([Source(m.name, m.chunks, m.error) for m in iter_zip(art, name="junit")])
    assert [r.rule for r in result.verdict.reasons] == ["unreadable-report"]
    p = completed_payloads(result.state, result.verdict, [RUN],
                           details_md=render_markdown(result), head_sha="b" * 40,
                           extra_state={"verdict": result.verdict.to_json(), "signatures": {}})
    assert len(p.first["output"]["text"].encode()) <= 65_535
    schemas["checks/update"].validate(p.first)
    doc = parse_state_block(p.first["output"]["text"])
    assert doc is not None and doc["tests"]["total"] == 1 and doc["files"] == 51
    assert doc["signatures"] == {}
    # the verdict keeps its rules (the plan reads them to refuse incomplete evidence)
    assert doc["verdict"] == {"conclusion": "failure", "reasons": [
        {"rule": "unreadable-report", "conclusion": "failure"}]}
