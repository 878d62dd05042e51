"""`ci-truth plan` end to end in a subprocess-free way: run(args) on real files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.plan_cli import main

ROOT = Path(__file__).resolve().parents[1]
GOAP = str(ROOT / "examples/plans/portfolio-goap.yml")
BROKEN = str(ROOT / "tests/data/plan/broken/state.json")
FIXED = ROOT / "tests/data/plan/fixed"


def test_json_contract_on_the_broken_suite(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--config", GOAP, "--state", BROKEN, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    phase = doc["phases"][0]
    assert phase["id"] == "test_infrastructure" and phase["status"] == "ready"
    crit = {c["id"]: c for c in phase["criteria"]}
    assert crit["no_event_loop_errors"]["met"] is False
    assert crit["no_event_loop_errors"]["name"].startswith("Zero")
    assert crit["coverage_maintained"]["reason"] == "no coverage report"
    assert len(doc["critical_path"]) == 9 and doc["remaining_cost"] == 520


def test_coverage_and_repo_files_feed_the_criteria(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    state = json.loads((FIXED / "state.json").read_text())
    state.pop("coverage")
    (tmp_path / "state.json").write_text(json.dumps(state))
    repo = tmp_path / "repo"
    (repo / "docs/planning").mkdir(parents=True)
    (repo / "docs/planning/GOAP_PORTFOLIO_READINESS_COMPLETION.md").write_text("done\n")
    shutil.copy(FIXED / "coverage.xml", tmp_path / "coverage.xml")
    args = ["plan", "--config", GOAP, "--state", str(tmp_path / "state.json"), "--format",
            "json", "--coverage", str(tmp_path / "coverage.xml"), "--repo", str(repo),
            "--claim", "solution_selected", "--waive", "tests_discovered=alice:small suite"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    crit = {c["id"]: c for p in doc["phases"] for c in p["criteria"]}
    assert crit["coverage_maintained"]["met"] is True
    assert crit["documentation_complete"]["met"] is True
    assert crit["tests_discovered"]["waived"] == {"by": "alice", "reason": "small suite"}
    assert doc["phases"][0]["status"] == "done"
    assert doc["claimed"] == ["solution_selected"]


def test_coverage_option_never_overstates_report_coverage(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # several coverage reports: the lowest rate (docs/plan.md), --coverage included
    (tmp_path / "low.xml").write_text('<?xml version="1.0" ?>\n<coverage line-rate="0.5"/>\n')
    (tmp_path / "high.xml").write_text('<?xml version="1.0" ?>\n<coverage line-rate="0.95"/>\n')
    args = ["plan", "--config", GOAP, str(FIXED / "junit.xml"), str(tmp_path / "low.xml"),
            "--coverage", str(tmp_path / "high.xml"), "--format", "json"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    crit = {c["id"]: c for p in doc["phases"] for c in p["criteria"]}
    assert crit["coverage_maintained"]["met"] is False
    assert crit["coverage_maintained"]["value"] == "coverage.line_rate = 0.5"


def test_text_and_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--config", GOAP, "--state", BROKEN]) == 0
    out = capsys.readouterr().out
    assert "[ready  ] test_infrastructure" in out and "signatures.event_loop = 8" in out
    assert main(["plan", "--config", GOAP, "--state", BROKEN, "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("<!-- ci-truth:dashboard -->") and "```mermaid" in out


def test_validate_and_config_errors_exit_2(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--config", GOAP, "--validate"]) == 0
    assert "plan OK: 4 phases, 7 criteria, 9 actions" in capsys.readouterr().out
    bad = tmp_path / "ci-truth.yml"
    bad.write_text(Path(GOAP).read_text().replace("tests.pass_rate >= 0.95",
                                                   "tests.pass_rate >="))
    assert main(["plan", "--config", str(bad), "--validate"]) == 2
    err = capsys.readouterr().err
    assert "ci-truth.yml:28: plan.phases[0].criteria[2].expr: does not compile" in err


@pytest.mark.parametrize("content", ["not json", '{"schema": "other"}'])
def test_bad_state_exits_2(tmp_path: Path, content: str,
                           capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "s.json"
    f.write_text(content)
    assert main(["plan", "--config", GOAP, "--state", str(f)]) == 2
    assert "ci-truth plan:" in capsys.readouterr().err


def test_missing_inputs_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--config", GOAP]) == 2
    assert main(["plan", "--config", "/nonexistent.yml", "--validate"]) == 2
    assert "cannot read config" in capsys.readouterr().err


def test_report_paths_go_through_the_engine(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main as cli_main

    broken_dir = str(ROOT / "tests/data/plan/broken")
    assert cli_main(["plan", "--config", GOAP, broken_dir, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    crit = {c["id"]: c for c in doc["phases"][0]["criteria"]}
    assert crit["no_event_loop_errors"]["value"] == "signatures.event_loop = 8"
    assert crit["pass_rate_95"]["value"] == "tests.pass_rate = 0.6"
    assert doc["remaining_cost"] == 520
    # the fixed run: coverage.xml beside junit.xml is found and read
    assert cli_main(["plan", "--config", GOAP, str(FIXED), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    crit = {c["id"]: c for c in doc["phases"][0]["criteria"]}
    assert crit["coverage_maintained"]["met"] is True
    assert crit["no_event_loop_errors"]["met"] is True
    assert doc["remaining_cost"] == 280


def test_a_truncated_shard_ticks_no_criterion_on_the_shards_that_were_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # shard 1 is the fixed suite; shard 2, the broken one, was killed while writing its report
    # (its event-loop failures are in the part that never reached the disk)
    shutil.copy(FIXED / "junit.xml", tmp_path / "shard-1.xml")
    broken = (ROOT / "tests/data/plan/broken/junit.xml").read_bytes()
    (tmp_path / "shard-2.xml").write_bytes(broken[:1500])
    assert main(["plan", "--config", GOAP, str(tmp_path), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    crit = {c["id"]: c for c in doc["phases"][0]["criteria"]}
    for cid in ("no_event_loop_errors", "pass_rate_95", "tests_discovered"):
        assert crit[cid]["met"] is False, cid
        assert "unreadable-report" in crit[cid]["reason"]
    assert doc["phases"][0]["status"] != "done"


def test_reports_and_state_together_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--config", GOAP, str(FIXED), "--state", BROKEN]) == 2
    assert "not both" in capsys.readouterr().err


def test_check_reads_coverage_beside_the_reports(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main as cli_main

    # before: coverage.xml counted as an unreadable test report and failed the check
    assert cli_main(["check", str(FIXED), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["unreadable"] == [] and doc["coverage"] == {"line_rate": 0.9333}
    assert doc["tests"]["total"] == 21


def test_missing_coverage_file_is_a_usage_error(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    # a typo in --coverage must not read as an "empty file" and exit 0
    args = ["plan", "--config", GOAP, str(FIXED / "junit.xml"),
            "--coverage", str(tmp_path / "nope.xml")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "cannot read coverage" in err and "empty file" not in err


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_a_closed_pipe_still_exits_0(fmt: str) -> None:
    """`ci-truth plan ... | head` under `set -o pipefail`: exit 0 after an evaluation
    (docs/plan.md), as `check` keeps its verdict's status, and no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)                       # the reader has gone before anything is written
    try:
        proc = subprocess.run([sys.executable, "-m", "bot", "plan", "--config", GOAP,
                               "--state", BROKEN, "--format", fmt], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (0, "")
