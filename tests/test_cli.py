"""`ci-truth check` end to end: real reports in, exit codes and JSON fields out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import CORPUS, ROOT
from tests.test_ghactions import runner_commands

PUTRA = CORPUS / "junit/publish-unit-test-result-action/python/test/files/junit-xml"
HEALTHY = PUTRA / "pytest/junit.gloo.elastic.spark.torch.xml"        # 22 passed
HEALTHY_2 = PUTRA / "pytest/junit.gloo.elastic.spark.tf.xml"          # 20 passed, 2 skipped
CORRUPT = PUTRA / "pytest/corrupt-xml.xml"                            # truncated document
NO_CASES = PUTRA / "no-cases.xml"                                     # a suite, no testcase
NO_CASES_BUT_TESTS = PUTRA / "no-cases-but-tests.xml"                 # declares 6, holds 0
FAILING = CORPUS / "junit/junitparser/tests/data/pytest_error.xml"   # 1 failure
ALL_SKIPPED = CORPUS / "junit/go-junit-report/testdata/107-report.xml"
NUMPY = CORPUS / "large/numpy-pytest.full.junit.xml.gz"


ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def check(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "check", *map(str, args)], cwd=cwd,
                          env=ENV, capture_output=True, text=True, timeout=120, check=False)


def check_json(*args: str | Path) -> tuple[int, dict]:
    proc = check(*args, "--format", "json")
    assert proc.stderr == "" or proc.returncode == 2, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def rules(doc: dict) -> list[str]:
    return [r["rule"] for r in doc["verdict"]["reasons"]]


def test_healthy_report_succeeds() -> None:
    code, doc = check_json(HEALTHY)
    assert code == 0
    assert doc["schema"] == "ci-truth/state@1"
    assert doc["tests"]["total"] == 22 and doc["tests"]["passed"] == 22
    assert doc["verdict"] == {"conclusion": "success", "reasons": []}
    assert len(doc["test_ids"]) == 22 and doc["test_ids_complete"] is True


def test_json_carries_the_contract_fields() -> None:
    code, doc = check_json(FAILING)
    assert code == 1
    for key in ("total", "passed", "failed", "errors", "skipped"):
        assert isinstance(doc["tests"][key], int)
    assert doc["tests"]["failed"] == 1
    reason = doc["verdict"]["reasons"][0]
    assert reason["rule"] == "failures" and "tests.test_cli::test_merge" in reason["message"]
    assert doc["failures"][0]["message"] == "NameError: name 'file' is not defined"


def test_no_evidence_from_an_empty_directory(tmp_path: Path) -> None:
    code, doc = check_json(tmp_path)
    assert code == 1 and rules(doc) == ["no-evidence"]


def test_no_paths_is_no_evidence() -> None:
    code, doc = check_json()
    assert code == 1 and rules(doc) == ["no-evidence"]


def test_unreadable_report_fails_with_its_reason() -> None:
    code, doc = check_json(CORRUPT, HEALTHY)
    assert code == 1 and "unreadable-report" in rules(doc)
    assert doc["unreadable"][0]["path"].endswith("corrupt-xml.xml")
    assert doc["unreadable"][0]["reason"]


def test_missing_path_is_unreadable_evidence_not_a_crash(tmp_path: Path) -> None:
    code, doc = check_json(tmp_path / "never-written.xml")
    assert code == 1 and rules(doc) == ["unreadable-report"]
    assert "never-written.xml" in doc["verdict"]["reasons"][0]["message"]


# Reports written by real tools here (tests/data/generate.py) and the bundled examples.
GENERATED = ROOT / "tests/data/generated"
EXAMPLES = ROOT / "examples"


@pytest.mark.parametrize(("paths", "expected", "code"), [
    (["examples/healthy"], [], 0),
    (["tests/data/generated/pytest-xunit1-file-line.xml"], [], 0),
    (["examples/zero-tests"], ["zero-tests"], 1),
    (["tests/data/generated/pytest-pattern-mismatch.xml"], ["zero-tests"], 1),
    (["tests/data/generated/pytest-importorskip-all.xml"], ["all-skipped"], 1),
    (["tests/data/generated/pytest-import-error.xml"], ["failures"], 1),
    (["examples/masked-failures"], ["failures"], 1),
    (["tests/data/generated/node-test-junit.xml"], ["failures"], 1),
    (["tests/data/generated/ctest-junit.xml"], ["failures"], 1),
    (["examples/sharded"], ["empty-report"], 1),
    (["tests/data/generated/pytest-truncated.xml"], ["unreadable-report", "failures"], 1),
])
def test_rules_fired_by_real_tool_reports(paths: list[str], expected: list[str],
                                          code: int) -> None:
    got, doc = check_json(*paths)
    assert (got, rules(doc)) == (code, expected)
    assert doc["verdict"]["conclusion"] == ("success" if code == 0 else "failure")


def test_collection_error_counts_as_error() -> None:
    _, doc = check_json(GENERATED / "pytest-import-error.xml")
    assert doc["tests"]["errors"] == 1 and doc["tests"]["total"] == 1
    assert "errored" in doc["verdict"]["reasons"][0]["message"]


def test_totals_mismatch_from_a_real_report() -> None:
    nested = CORPUS / "junit/action-junit-report/test_results/nested/junit.xml"
    code, doc = check_json(nested)
    assert code == 1 and "totals-mismatch" in rules(doc)
    assert "declares 4 tests but contains 5" in " ".join(
        r["message"] for r in doc["verdict"]["reasons"])


def test_zero_tests() -> None:
    code, doc = check_json(NO_CASES)
    assert code == 1 and rules(doc) == ["zero-tests"]


def test_zero_tests_with_declared_totals_is_also_a_mismatch() -> None:
    code, doc = check_json(NO_CASES_BUT_TESTS)
    assert code == 1 and set(rules(doc)) >= {"zero-tests", "totals-mismatch"}


def test_all_skipped() -> None:
    code, doc = check_json(ALL_SKIPPED)
    assert code == 1 and rules(doc) == ["all-skipped"]
    assert doc["tests"]["skipped"] == doc["tests"]["total"] == 2


def test_empty_report_among_healthy_shards() -> None:
    code, doc = check_json(HEALTHY, NO_CASES)
    assert code == 1 and rules(doc) == ["empty-report"]
    assert "no-cases.xml" in doc["verdict"]["reasons"][0]["message"]


def test_min_tests_from_config(tmp_path: Path) -> None:
    cfg = tmp_path / "ci-truth.yml"
    cfg.write_text("gate:\n  min_tests: 100\n")
    code, doc = check_json(HEALTHY, "--config", cfg)
    assert code == 1 and rules(doc) == ["min-tests"]


def test_allow_failures_is_neutral_and_exits_0(tmp_path: Path) -> None:
    cfg = tmp_path / "ci-truth.yml"
    cfg.write_text("gate: {allow_failures: true}\n")
    code, doc = check_json(FAILING, HEALTHY, "--config", cfg)
    assert code == 0 and doc["verdict"]["conclusion"] == "neutral"


def test_test_drop_against_an_earlier_json_output(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    proc = check(HEALTHY, HEALTHY_2, "--format", "json", "--output", baseline)
    assert proc.returncode == 0 and proc.stdout == ""
    before = json.loads(baseline.read_text())
    code, doc = check_json(HEALTHY, "--baseline", baseline)
    assert code == 1 and rules(doc) == ["test-drop"]
    details = doc["verdict"]["reasons"][0]["details"]
    assert details["baseline"] == before["tests"]["total"] == 44
    assert details["vanished_count"] == 22
    _, only_tf = check_json(HEALTHY_2)
    assert set(details["vanished"]) == set(only_tf["test_ids"])
    code, _ = check_json(HEALTHY, HEALTHY_2, "--baseline", baseline)
    assert code == 0


def test_forbidden_signature_from_a_real_pytest_run(tmp_path: Path) -> None:
    (tmp_path / "test_loop.py").write_text(textwrap.dedent("""\
        import sys

        def test_ok():
            print("RuntimeError: This event loop is already running", file=sys.stderr)

        def test_other():
            assert True
        """))
    report = tmp_path / "report.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    f"--junitxml={report}", "-o", "junit_logging=system-err",
                    str(tmp_path / "test_loop.py")], cwd=tmp_path, check=True,
                   capture_output=True, timeout=120,
                   env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    cfg = tmp_path / "ci-truth.yml"
    cfg.write_text("signatures:\n  event_loop: 'This event loop is already running'\n"
                   "gate:\n  forbid: [event_loop]\n")
    code, doc = check_json(report, "--config", cfg)
    assert doc["tests"]["passed"] == 2
    assert doc["signatures"] == {"event_loop": 1}
    assert code == 1 and rules(doc) == ["forbidden-signature"]


def crafted_pytest_report(tmp_path: Path) -> Path:
    """A real pytest report whose failure message is built to make `(\\w+\\s?)+$` backtrack."""
    (tmp_path / "test_crafted.py").write_text(textwrap.dedent("""\
        def test_crafted():
            raise AssertionError("x" * 64 + "!")
        """))
    report = tmp_path / "report.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    f"--junitxml={report}", str(tmp_path / "test_crafted.py")], cwd=tmp_path,
                   capture_output=True, timeout=120,
                   env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert 'message="AssertionError: ' + "x" * 64 + '!"' in report.read_text()
    return report


def test_a_backtracking_signature_cannot_hang_on_a_crafted_report(tmp_path: Path) -> None:
    # Python's re takes ~2**64 steps for this pattern on that message; the timeout only
    # bounds the run (it finishes in about a second).
    report = crafted_pytest_report(tmp_path)
    cfg = tmp_path / "ci-truth.yml"
    cfg.write_text("signatures:\n  words: '(\\w+\\s?)+$'\n  pairs: '(x|xx)+y'\n"
                   "  crafted: 'x{64}!$'\n")
    proc = subprocess.run([sys.executable, "-m", "bot", "check", str(report), "--config",
                           str(cfg), "--format", "json"], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=60, check=False)
    doc = json.loads(proc.stdout)
    # words: the details (traceback) end in a word, "...: AssertionError"
    assert doc["signatures"] == {"words": 1, "pairs": 0, "crafted": 1}
    assert proc.returncode == 1 and rules(doc) == ["failures"]


def test_numpy_suite_counts_and_failures() -> None:
    code, doc = check_json(NUMPY)
    assert code == 1
    assert doc["tests"]["total"] == 48021
    assert doc["tests"]["failed"] == 2 and doc["tests"]["errors"] == 39
    assert doc["tests"]["skipped"] == 426
    assert rules(doc) == ["failures"]
    assert len(doc["failures"]) == 41


def test_text_and_markdown_formats() -> None:
    proc = check(FAILING)
    assert proc.returncode == 1 and proc.stdout.startswith("ci-truth: FAILURE\n")
    assert "[x] failures:" in proc.stdout
    proc = check(FAILING, "--format", "markdown")
    assert proc.returncode == 1 and proc.stdout.startswith("## ❌ ci-truth: failure")
    assert "`tests.test_cli::test_merge`" in proc.stdout


@pytest.mark.parametrize(("config", "fragment"), [
    ("gate:\n  min_test: 3\n", "ci-truth.yml:2: gate.min_test: unknown key"),
    ("signatures:\n  x: '('\n", "signatures.x: invalid regular expression"),
    ("gate: [\n", "invalid YAML"),
])
def test_config_errors_exit_2_with_message(tmp_path: Path, config: str, fragment: str) -> None:
    cfg = tmp_path / "ci-truth.yml"
    cfg.write_text(config)
    proc = check(HEALTHY, "--config", cfg)
    assert proc.returncode == 2 and proc.stdout == ""
    assert fragment in proc.stderr and "Traceback" not in proc.stderr


def test_a_hostile_config_key_cannot_forge_a_workflow_command_on_stderr(tmp_path: Path) -> None:
    """On a runner stderr is read for commands: a key holding a newline and `::error::`
    (or a mid-line `##[add-mask]`) is echoed in the error, never acted on."""
    cfg = tmp_path / "ci-truth.yml"
    cfg.write_text('"x\\n::error::forged": 1\ngate:\n  "##[add-mask]y": 2\n')
    proc = check(HEALTHY, "--config", cfg)
    assert proc.returncode == 2 and "unknown key" in proc.stderr
    assert runner_commands(proc.stderr) == []


def test_an_internal_error_cannot_forge_a_workflow_command(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Exit 3 echoes the exception, whose text may carry report content: one inert line."""
    from bot import cli

    def boom(*_args: object, **_kwargs: object) -> None:
        raise ValueError("test 'a'\n::add-mask::x\n::error file=a.py::forged ##[stop-commands]t")
    monkeypatch.setattr("bot.core.engine.evaluate", boom)
    assert cli.main(["check", str(HEALTHY)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("ci-truth: internal error (ValueError: test 'a'")
    assert err.count("\n") == 1 and runner_commands(err) == []


def test_default_config_is_read_from_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github/ci-truth.yml").write_text("gate: {min_tests: 23}\n")
    proc = check(HEALTHY, "--format", "json", cwd=tmp_path)
    assert proc.returncode == 1
    assert [r["rule"] for r in json.loads(proc.stdout)["verdict"]["reasons"]] == ["min-tests"]


@pytest.mark.parametrize("kind", ["directory", "dangling symlink"])
def test_a_default_config_that_is_not_a_file_exits_2(tmp_path: Path, kind: str) -> None:
    """As the App and the Action refuse it: not the defaults in silence."""
    cfg = tmp_path / ".github/ci-truth.yml"
    cfg.parent.mkdir()
    if kind == "directory":
        cfg.mkdir()
    else:
        cfg.symlink_to("ci-truth-moved.yml")
    proc = check(HEALTHY, cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert f".github/ci-truth.yml: is a {kind}, not a file" in proc.stderr


@pytest.mark.parametrize("content", ["not json", "[]", '{"tests": {"total": "x"}}',
                                     '{"schema": "other", "tests": {"total": 1}}'])
def test_garbage_baseline_exits_2(tmp_path: Path, content: str) -> None:
    baseline = tmp_path / "b.json"
    baseline.write_text(content)
    proc = check(HEALTHY, "--baseline", baseline)
    assert proc.returncode == 2 and "b.json" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args", [["--format", "yaml"], ["--bogus"],
                                  ["--config", "/nonexistent/ci-truth.yml"],
                                  ["--baseline", "/nonexistent/b.json"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    proc = check(HEALTHY, *args)
    assert proc.returncode == 2 and proc.stderr and "Traceback" not in proc.stderr


def test_unwritable_output_exits_2(tmp_path: Path) -> None:
    proc = check(HEALTHY, "--output", tmp_path / "missing-dir" / "out.json")
    assert proc.returncode == 2 and "cannot write" in proc.stderr


@pytest.mark.parametrize(("report", "code"), [(HEALTHY, 0), (FAILING, 1)])
def test_a_closed_pipe_keeps_the_verdict_s_exit_status(report: Path, code: int) -> None:
    # `ci-truth check ... | head` under `set -o pipefail` (GitHub's `shell: bash`): the
    # status is still the verdict's, never a failure for a success or the reverse.
    read_end, write_end = os.pipe()
    os.close(read_end)                       # the reader has gone before anything is written
    try:
        proc = subprocess.run([sys.executable, "-m", "bot", "check", str(report), "--format",
                               "json"], cwd=ROOT, env=ENV, stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (code, "")


def test_no_command_exits_2_and_version_works() -> None:
    proc = subprocess.run([sys.executable, "-m", "bot"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "choose a command" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "bot", "--version"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("ci-truth ")


def test_garbage_input_never_tracebacks(tmp_path: Path) -> None:
    files = {"bin.xml": bytes(range(256)) * 4, "empty.xml": b"",
             "bomb.xml": b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
                         b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><testsuite>&b;'
                         b"</testsuite>",
             "fake.zip": b"PK\x03\x04garbage", "fake.gz": b"\x1f\x8bgarbage",
             "html.xml": b"<html><body>503</body></html>"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    code, doc = check_json(*[tmp_path / n for n in files])
    assert code == 1
    assert doc["verdict"]["conclusion"] == "failure"
    assert len(doc["unreadable"]) >= 5


def test_github_artifact_zip_is_read(tmp_path: Path) -> None:
    import zipfile
    artifact = tmp_path / "test-results.zip"
    with zipfile.ZipFile(artifact, "w", zipfile.ZIP_DEFLATED) as zf:
        for shard in sorted((EXAMPLES / "sharded").iterdir()):
            zf.write(shard, f"reports/{shard.name}")
    code, doc = check_json(artifact)
    assert code == 1 and rules(doc) == ["empty-report"]
    assert [f["path"] for f in doc["files"]] == [f"{artifact}!reports/shard-1.xml",
                                                 f"{artifact}!reports/shard-2.xml"]


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="names must be UTF-8 there")
def test_a_report_name_that_is_not_utf8_renders_in_every_format(tmp_path: Path) -> None:
    """A directory walk hands over a non-UTF-8 file name: shown with \\x81, never exit 3."""
    (tmp_path / "test_it.py").write_text("def test_no():\n    assert 1 == 2\n", encoding="utf-8")
    name = os.fsdecode(b"reports/TEST-Pr\x81fung.xml")
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    f"--junitxml={name}", "test_it.py"], cwd=tmp_path, capture_output=True,
                   text=True, timeout=120, check=False)
    for fmt in ("text", "json", "markdown"):
        proc = check("reports", "--format", fmt, "--output", f"out.{fmt}", cwd=tmp_path)
        assert (proc.returncode, proc.stderr) == (1, ""), fmt
        out = (tmp_path / f"out.{fmt}").read_text("utf-8")
        if fmt == "json":
            assert [f["path"] for f in json.loads(out)["files"]] == ["reports/TEST-Pr\\x81fung.xml"]
        else:
            assert "TEST-Pr\\x81fung.xml" in out.replace("\\\\", "\\"), fmt


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="names must be UTF-8 there")
def test_two_report_names_differing_in_a_non_utf8_byte_are_two_reports(tmp_path: Path) -> None:
    """Shown names must stay distinct: the engine reads each path once, so two names shown
    alike (U+FFFD for both bytes) would drop the second report and its failure."""
    (tmp_path / "test_ok.py").write_text("def test_yes():\n    assert True\n", encoding="utf-8")
    (tmp_path / "test_no.py").write_text("def test_no():\n    assert 1 == 2\n", encoding="utf-8")
    for byte, test in ((b"\x81", "test_ok.py"), (b"\x82", "test_no.py")):
        name = os.fsdecode(b"reports/TEST-Pr" + byte + b"fung.xml")
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        f"--junitxml={name}", test], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120, check=False)
    proc = check("reports", "--format", "json", cwd=tmp_path)
    doc = json.loads(proc.stdout)
    assert proc.returncode == 1 and (doc["tests"]["total"], doc["tests"]["failed"]) == (2, 1)
    assert sorted(f["path"] for f in doc["files"]) == ["reports/TEST-Pr\\x81fung.xml",
                                                       "reports/TEST-Pr\\x82fung.xml"]


def test_a_report_on_standard_input_is_read_whole() -> None:
    """`cat r.xml | ci-truth check /dev/stdin`: the bytes sniffed are not lost to the parse."""
    proc = subprocess.run([sys.executable, "-m", "bot", "check", "/dev/stdin", "--format",
                           "json"], cwd=ROOT, env=ENV, input=HEALTHY.read_bytes(),
                          capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout
    assert json.loads(proc.stdout)["tests"]["passed"] == 22


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_hostile_test_names_cannot_forge_workflow_commands(tmp_path: Path, fmt: str) -> None:
    """A fork's report judged in a privileged job: `##[cmd]` in a pytest id or message and
    `::cmd::` lines in a failure's details are shown, never acted on, in every format."""
    report = GENERATED / "pytest-hostile-names.xml"
    proc = check(report, "--format", fmt)
    assert proc.returncode == 1 and runner_commands(proc.stdout) == []
    assert "forged by the id" in proc.stdout and "forged mid-line" in proc.stdout
    out = tmp_path / f"out.{fmt}"
    assert check(report, "--format", fmt, "--output", out).returncode == 1
    assert out.read_text(encoding="utf-8") == proc.stdout
    if fmt == "json":   # the same data, only spelled differently
        doc = json.loads(proc.stdout)
        assert doc["test_ids"][1] == "test_hostile::test_named[x ##[error]forged by the id]"
        assert doc["failures"][1]["details"].split("\n")[1] == \
            "::error file=a.py,line=1::forged by the details"
