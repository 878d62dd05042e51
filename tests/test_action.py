"""`ci-truth action` in a simulated Actions environment, on real reports.

Each test lays out a workspace, GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files and a real event
payload, runs the step (in-process, or as `python -m bot action` in a subprocess), and reads
back what the runner would: outputs, summary, annotations (with the runner's own command
parsing, stop-commands included) and the exit code.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import xml.parsers.expat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest

from bot.action import run_action
from bot.ghactions import OUTPUTS, SUMMARY_LIMIT
from tests.test_ghactions import parse_command, parse_output_file

ROOT = Path(__file__).resolve().parents[1]
PYTEST_XML = "junit/publish-unit-test-result-action/python/test/files/junit-xml"
HEALTHY = f"{PYTEST_XML}/pytest/junit.gloo.elastic.spark.torch.xml"      # 22 passed
SMALLER = f"{PYTEST_XML}/pytest/junit.gloo.elastic.xml"                  # 14 tests, 4 skipped
FAILING = f"{PYTEST_XML}/pytest/junit.fail.xml"                          # 1 failed, 1 skipped
ZERO = f"{PYTEST_XML}/no-cases.xml"                                      # 0 testcases
CORRUPT = f"{PYTEST_XML}/pytest/corrupt-xml.xml"                         # truncated XML


@dataclass
class Step:
    """What one run of the step left behind."""

    code: int
    log: str
    outputs: dict[str, str]
    summary: str

    @property
    def commands(self) -> list[tuple[str, dict[str, str], str]]:
        """Workflow commands the runner would act on (honouring ::stop-commands::)."""
        found = []
        stop: str | None = None
        for line in self.log.splitlines():
            if stop is not None:
                if line == f"::{stop}::":
                    stop = None
                continue
            if line.startswith("::stop-commands::"):
                stop = line.removeprefix("::stop-commands::")
                continue
            if line.startswith("::"):
                found.append(parse_command(line))
        assert stop is None, "stop-commands never resumed"
        return found

    def annotations(self, level: str) -> list[tuple[dict[str, str], str]]:
        return [(props, data) for name, props, data in self.commands if name == level]

    @property
    def state(self) -> dict[str, object]:
        doc = json.loads(Path(self.outputs["state"]).read_text(encoding="utf-8"))
        assert isinstance(doc, dict)
        return doc

    @property
    def rules(self) -> list[str]:
        return [r["rule"] for r in json.loads(self.outputs["reasons"])]


class Runner:
    """A workspace plus the runner's files; `run()` executes the step against them."""

    def __init__(self, tmp: Path, corpus: Path) -> None:
        self.corpus = corpus
        self.workspace = tmp / "workspace"
        self.workspace.mkdir()
        (tmp / "runner-temp").mkdir()
        self.summary = tmp / "step_summary.md"
        self.output = tmp / "output.txt"
        self.env: dict[str, str] = {
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(self.workspace),
            "RUNNER_TEMP": str(tmp / "runner-temp"),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_OUTPUT": str(self.output),
            "GITHUB_EVENT_NAME": "push",
            "GITHUB_EVENT_PATH": str(corpus / "webhooks" / "push.json"),
            "GITHUB_REPOSITORY": "Codertocat/Hello-World",
            "GITHUB_SHA": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_API_URL": "https://api.github.com",
            "GITHUB_RUN_ID": "1234",
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_WORKFLOW": "CI",
        }

    def add(self, corpus_path: str, as_name: str) -> Path:
        dest = self.workspace / as_name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.corpus / corpus_path, dest)
        return dest

    def inputs(self, **values: str) -> Runner:
        for name, value in values.items():
            self.env[f"INPUT_{name.upper()}"] = value
        return self

    def _result(self, code: int, log: str) -> Step:
        outputs = (parse_output_file(self.output.read_text(encoding="utf-8"))
                   if self.output.exists() else {})
        summary = self.summary.read_text(encoding="utf-8") if self.summary.exists() else ""
        return Step(code, log, outputs, summary)

    def run(self) -> Step:
        out = io.StringIO()
        code = run_action(self.env, out=out)
        return self._result(code, out.getvalue())

    def run_subprocess(self) -> Step:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("INPUT_", "GITHUB_", "RUNNER_"))}
        env.update(self.env, PYTHONPATH=str(ROOT))
        proc = subprocess.run([sys.executable, "-P", "-m", "bot", "action"], cwd=self.workspace,
                              env=env, capture_output=True, text=True, timeout=120, check=False)
        assert "Traceback" not in proc.stderr, proc.stderr
        return self._result(proc.returncode, proc.stdout)


@pytest.fixture
def runner(tmp_path: Path, corpus: Path) -> Runner:
    return Runner(tmp_path, corpus)


def check_json(path: Path) -> dict[str, object]:
    """`ci-truth check --format json` on the same report (the state output's twin)."""
    proc = subprocess.run([sys.executable, "-P", "-m", "bot", "check", str(path), "--format",
                           "json"], env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120, check=False, cwd=path.parent)
    doc = json.loads(proc.stdout)
    assert isinstance(doc, dict)
    return doc


# --- the four scenarios of the issue -----------------------------------------------------------

def test_healthy_run_succeeds_with_outputs_summary_and_no_errors(runner: Runner) -> None:
    runner.add(HEALTHY, "reports/pytest.xml")
    step = runner.inputs(reports="reports/*.xml").run()
    assert step.code == 0
    assert list(step.outputs) == list(OUTPUTS)
    assert (step.outputs["total"], step.outputs["passed"], step.outputs["failed"],
            step.outputs["errors"], step.outputs["skipped"]) == ("22", "22", "0", "0", "0")
    assert step.outputs["conclusion"] == "success"
    assert json.loads(step.outputs["reasons"]) == []
    assert Path(step.outputs["state"]).is_relative_to(runner.env["RUNNER_TEMP"])
    assert "success" in step.summary and "| All | 22 | 22 |" in step.summary
    assert step.annotations("error") == [] and step.annotations("warning") == []


def test_state_output_is_the_check_json_document(runner: Runner) -> None:
    report = runner.add(HEALTHY, "pytest.xml")
    step = runner.inputs(reports="pytest.xml").run()
    ours, theirs = step.state, check_json(report)
    for doc in (ours, theirs):
        doc.pop("generator")
    assert ours == theirs


def test_zero_tests_fail_the_step_with_an_error_annotation(runner: Runner) -> None:
    runner.add(ZERO, "junit.xml")
    step = runner.inputs(reports="junit.xml").run()
    assert step.code == 1
    assert step.outputs["conclusion"] == "failure" and step.outputs["total"] == "0"
    assert "zero-tests" in step.rules
    titles = [props.get("title") for props, _ in step.annotations("error")]
    assert "CI Truth: zero-tests" in titles
    assert "zero-tests" in step.summary


def test_fail_false_reports_the_failure_but_exits_zero(runner: Runner) -> None:
    runner.add(ZERO, "junit.xml")
    step = runner.inputs(reports="junit.xml", fail="false").run()
    assert step.code == 0 and step.outputs["conclusion"] == "failure"


def test_masked_failure_from_a_real_pytest_run(runner: Runner, tmp_path: Path) -> None:
    """`pytest ... || true`: the job is green, the report is not, and the step says so."""
    (runner.workspace / "test_masked.py").write_text(
        "def test_ok():\n    assert True\n\n\ndef test_broken():\n    assert 1 + 1 == 3\n",
        encoding="utf-8")
    masked = subprocess.run(
        f"{sys.executable} -m pytest -q -p no:cacheprovider -o junit_family=xunit1 "
        "--junitxml=out/junit.xml "
        "test_masked.py || true", shell=True, cwd=runner.workspace, capture_output=True,
        text=True, timeout=120, check=False)
    assert masked.returncode == 0                       # the masking worked: CI would be green
    step = runner.inputs(reports="out/junit.xml").run()
    assert step.code == 1
    assert (step.outputs["total"], step.outputs["failed"]) == ("2", "1")
    assert step.rules == ["failures"]
    errors = step.annotations("error")
    test_ann = [p for p, _ in errors if "test_broken" in p.get("title", "")]
    assert test_ann and test_ann[0]["file"] == "test_masked.py" and test_ann[0]["line"] == "5"
    assert step.annotations("error")[0][0]["title"] == "CI Truth: failures"   # reason first


def test_failing_test_annotation_carries_file_and_line(runner: Runner) -> None:
    runner.add(FAILING, "junit.xml")
    step = runner.inputs(reports="junit.xml").run()
    assert step.code == 1 and step.outputs["failed"] == "1" and step.outputs["skipped"] == "1"
    by_title = {p["title"]: (p, msg) for p, msg in step.annotations("error")}
    props, msg = by_title["failure: test.test_spark.SparkTests::test_rsh_events"]
    # pytest writes 0-based line numbers (819); annotations are 1-based.
    assert props["file"] == "test/test_spark.py" and props["line"] == "820"
    assert "AssertionError: 143 != 0" in msg


def test_file_uri_paths_of_dart_reports_are_annotated_on_the_file(runner: Runner) -> None:
    """Dart's junitreport writes file="file:///home/runner/work/<repo>/<repo>/test/...";
    the file was dropped from the annotation (a `file:` scheme is not a repository path)."""
    dart = runner.corpus / "junit/publish-unit-test-result-action/python/test/files/dart/json"
    text = (dart / "tests.junit-xml").read_text(encoding="utf-8")
    (runner.workspace / "dart.xml").write_text(text.replace(
        "/home/runner/work/dart-code-metrics/dart-code-metrics", runner.workspace.as_posix()),
        encoding="utf-8")
    step = runner.inputs(reports="dart.xml").run()
    assert step.code == 1 and step.outputs["failed"] == "1" and step.outputs["errors"] == "2"
    tests = [p for p, _ in step.annotations("error") if p["title"].startswith(("fail", "err"))]
    assert sorted((p.get("file"), p.get("line")) for p in tests) == [
        ("test/src/cli/cli_runner_test.dart", "21"),
        ("test/src/cli/utils/detect_sdk_path_test.dart", "16"),
        ("test/src/cli/utils/detect_sdk_path_test.dart", "46")]


def test_a_report_merged_with_junitparser_never_annotates_line_0(runner: Runner) -> None:
    """pytest (custom suite name) merged by `junitparser merge` keeps pytest's 0-based line="0"
    without the "pytest" suite name; GitHub's lines start at 1, so the line is left out."""
    junitparser = pytest.importorskip("junitparser")
    (runner.workspace / "test_first.py").write_text("def test_top(): assert 1 == 2\n",
                                                    encoding="utf-8")
    subprocess.run(f"{sys.executable} -m pytest -q -p no:cacheprovider -o junit_family=xunit1 "
                   "-o junit_suite_name=unit --junitxml=out/unit.xml test_first.py || true",
                   shell=True, cwd=runner.workspace, capture_output=True, text=True,
                   timeout=120, check=False)
    merged = junitparser.JUnitXml() + junitparser.JUnitXml.fromfile(
        str(runner.workspace / "out" / "unit.xml"))
    merged.write(str(runner.workspace / "out" / "merged.xml"))
    assert 'line="0"' in (runner.workspace / "out" / "merged.xml").read_text(encoding="utf-8")
    step = runner.inputs(reports="out/merged.xml").run()
    assert step.code == 1 and step.outputs["failed"] == "1"
    [props] = [p for p, _ in step.annotations("error") if p["title"].startswith("failure")]
    assert props["file"] == "test_first.py" and "line" not in props


def test_a_report_named_with_brackets_is_read_not_taken_as_a_glob(runner: Runner) -> None:
    """Matrix jobs name reports like `results[linux].xml`: that literal file is the evidence,
    not a glob for `resultsl.xml` that matches nothing while the other report passes."""
    (runner.workspace / "test_matrix.py").write_text(
        "def test_ok():\n    assert True\n\n\ndef test_linux_only():\n    assert 1 == 2\n",
        encoding="utf-8")
    subprocess.run(f"{sys.executable} -m pytest -q -p no:cacheprovider "
                   "'--junitxml=results[linux].xml' test_matrix.py || true", shell=True,
                   cwd=runner.workspace, capture_output=True, text=True, timeout=120,
                   check=False)
    assert (runner.workspace / "results[linux].xml").is_file()
    runner.add(HEALTHY, "results-windows.xml")
    step = runner.inputs(reports="results[linux].xml\nresults-windows.xml").run()
    assert step.annotations("warning") == []
    assert step.code == 1 and step.rules == ["failures"]
    assert (step.outputs["total"], step.outputs["failed"]) == ("24", "1")


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="names must be UTF-8 there")
def test_a_report_name_that_is_not_utf8_is_judged_not_a_crash(runner: Runner) -> None:
    """A report whose file name is not UTF-8 (an artifact unzipped with cp437 names): the
    directory walk hands over such a name, and outputs, summary and state must still be
    written (the name shown with \\x81), not an internal error."""
    (runner.workspace / "test_it.py").write_text("def test_no():\n    assert 1 == 2\n",
                                                 encoding="utf-8")
    name = os.fsdecode(b"reports/TEST-Pr\x81fung.xml")
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    f"--junitxml={name}", "test_it.py"], cwd=runner.workspace,
                   capture_output=True, text=True, timeout=120, check=False)
    assert os.listdir(runner.workspace / "reports") == [os.path.basename(name)]
    step = runner.inputs(reports="reports").run()
    assert step.code == 1 and step.rules == ["failures"] and step.outputs["failed"] == "1"
    assert any("reports/TEST-Pr\\x81fung.xml" in r["message"]
               for r in json.loads(step.outputs["reasons"]))
    assert "TEST-Pr\\x81fung.xml" in step.summary
    files = step.state["files"]
    assert isinstance(files, list) and files[0]["path"].endswith("reports/TEST-Pr\\x81fung.xml")


def test_unreadable_report_is_a_failure_never_a_pass(runner: Runner) -> None:
    runner.add(HEALTHY, "a/pytest.xml")
    runner.add(CORRUPT, "b/pytest.xml")
    step = runner.inputs(reports="a/*.xml, b/*.xml").run()
    assert step.code == 1
    assert "unreadable-report" in step.rules
    assert int(step.outputs["passed"]) >= 22
    assert "b/pytest.xml" in json.dumps(step.state["unreadable"])


def test_a_wide_glob_over_a_maven_build_skips_lint_and_coverage_xml_visibly(
        runner: Runner) -> None:
    # `reports: '**/*.xml'` over a real Maven project (tests/data/build-outputs): the POM,
    # JaCoCo, Checkstyle, FindBugs, PMD, CycloneDX, Failsafe summary and copied resources.
    shutil.copytree(ROOT / "tests/data/build-outputs", runner.workspace / "demo")
    step = runner.inputs(reports="**/*.xml").run()
    assert step.code == 0, step.log
    assert step.rules == ["not-a-report"] and step.outputs["passed"] == "2"
    [(_, notice)] = step.annotations("notice")
    assert "Skipped 12 XML files that are not test reports" in notice
    assert "demo/pom.xml (Maven POM)" in step.summary
    assert step.annotations("error") == []


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges there")
def test_a_symlink_loop_matched_by_the_glob_is_unreadable_not_an_internal_error(
        runner: Runner) -> None:
    """A committed `reports/x.xml -> x.xml` (a loop) made Path.resolve() raise: exit 3."""
    runner.add(HEALTHY, "reports/pytest.xml")
    (runner.workspace / "reports" / "loop.xml").symlink_to("loop.xml")
    step = runner.inputs(reports="reports/*.xml").run()
    assert step.code == 1 and step.rules == ["unreadable-report"]
    assert step.outputs["passed"] == "22"
    assert "reports/loop.xml" in json.dumps(step.state["unreadable"])


def test_a_glob_matching_nothing_is_no_evidence(runner: Runner) -> None:
    step = runner.inputs(reports="reports/**/*.xml").run()
    assert step.code == 1 and step.rules == ["no-evidence"]
    warnings = step.annotations("warning")
    assert any("reports/**/*.xml" in msg for _, msg in warnings)


def test_a_baseline_catches_vanished_tests(runner: Runner) -> None:
    runner.add(HEALTHY, "before.xml")
    first = runner.inputs(reports="before.xml").run()
    baseline = runner.workspace / "baseline.json"
    shutil.copyfile(first.outputs["state"], baseline)
    runner.output.unlink()
    runner.add(SMALLER, "after.xml")
    step = runner.inputs(reports="after.xml", baseline="baseline.json").run()
    assert "test-drop" in step.rules and step.code == 1


@pytest.mark.parametrize(("example", "reports", "code", "rule"), [
    ("healthy", "examples/healthy/*.xml", 0, None),
    ("zero-tests", "examples/zero-tests/*.xml", 1, "zero-tests"),
    ("masked-failures", "examples/masked-failures/*.xml", 1, "failures"),
    ("sharded", "examples/sharded/shard-1.xml\nexamples/sharded/shard-2.xml", 1, "empty-report"),
])
def test_bundled_examples(runner: Runner, example: str, reports: str, code: int,
                          rule: str | None) -> None:
    """The examples/ reports (written by real pytest runs) judged through the Action."""
    shutil.copytree(ROOT / "examples" / example, runner.workspace / "examples" / example)
    step = runner.inputs(reports=reports).run()
    assert step.code == code
    assert (rule in step.rules) if rule else step.rules == []
    assert step.outputs["conclusion"] == ("success" if code == 0 else "failure")
    if rule:
        assert f"CI Truth: {rule}" in [p.get("title") for p, _ in step.annotations("error")]


# --- usage and configuration errors: exit 2 with an error annotation ---------------------------

@pytest.mark.parametrize(("inputs", "needle"), [
    ({"reports": "x.xml", "fail": "maybe"}, "input 'fail'"),
    ({"reports": ""}, "input 'reports' is required"),
    ({"reports": "x.xml", "config": "nope.yml"}, "input 'config'"),
    ({"reports": "x.xml", "baseline": "missing.json"}, "input 'baseline'"),
])
def test_usage_errors_exit_2(runner: Runner, inputs: dict[str, str], needle: str) -> None:
    step = runner.inputs(**inputs).run()
    assert step.code == 2
    errors = step.annotations("error")
    assert len(errors) == 1 and needle in errors[0][1]
    assert step.outputs == {}


def test_config_error_names_file_and_line(runner: Runner) -> None:
    cfg = runner.workspace / ".github" / "ci-truth.yml"
    cfg.parent.mkdir()
    cfg.write_text("gate:\n  min_tests: 1\n  max_skipped_ratio: lots\n", encoding="utf-8")
    runner.add(HEALTHY, "junit.xml")
    step = runner.inputs(reports="junit.xml").run()
    assert step.code == 2
    [(props, msg)] = step.annotations("error")
    assert props["file"] == ".github/ci-truth.yml" and props["line"] == "3"
    assert "max_skipped_ratio" in msg


def test_a_backtracking_signature_cannot_hang_the_step_on_a_crafted_report(
        runner: Runner, tmp_path: Path) -> None:
    """A fork's test prints what makes `(\\w+\\s?)+$` backtrack ~2**64 steps in Python's re."""
    (tmp_path / "test_crafted.py").write_text(
        'import sys\n\ndef test_crafted():\n    print("x" * 64 + "!", file=sys.stderr)\n')
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    f"--junitxml={runner.workspace / 'junit.xml'}", "-o",
                    "junit_logging=system-err", str(tmp_path / "test_crafted.py")],
                   cwd=tmp_path, check=True, capture_output=True, timeout=120,
                   env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    cfg = runner.workspace / ".github" / "ci-truth.yml"
    cfg.parent.mkdir()
    cfg.write_text("signatures:\n  words: '(\\w+\\s?)+$'\n  crafted: 'x{64}!'\n"
                   "gate:\n  forbid: [words, crafted]\n", encoding="utf-8")
    step = runner.inputs(reports="junit.xml").run_subprocess()     # bounded by its timeout
    assert step.code == 1 and step.state["signatures"] == {"words": 0, "crafted": 1}
    assert step.rules == ["forbidden-signature"]


def test_a_signature_re2_cannot_run_is_a_config_error_on_its_line(runner: Runner) -> None:
    cfg = runner.workspace / ".github" / "ci-truth.yml"
    cfg.parent.mkdir()
    cfg.write_text("signatures:\n  oom: MemoryError\n  flaky: 'Error(?!: expected)'\n",
                   encoding="utf-8")
    runner.add(HEALTHY, "junit.xml")
    step = runner.inputs(reports="junit.xml").run()
    assert step.code == 2
    [(props, msg)] = step.annotations("error")
    assert props["file"] == ".github/ci-truth.yml" and props["line"] == "3"
    assert "signatures.flaky: unsupported regular expression: a negative lookahead" in msg


@pytest.mark.parametrize("kind", ["directory", "dangling symlink"])
def test_a_default_config_that_is_not_a_file_is_a_config_error(runner: Runner,
                                                                kind: str) -> None:
    """As the App refuses it: not the strict defaults in silence (a gate.min_tests lost)."""
    cfg = runner.workspace / ".github" / "ci-truth.yml"
    cfg.parent.mkdir()
    if kind == "directory":
        cfg.mkdir()
    else:
        cfg.symlink_to("ci-truth-moved.yml")
    runner.add(HEALTHY, "junit.xml")
    step = runner.inputs(reports="junit.xml").run()
    assert step.code == 2 and step.outputs == {}
    [(props, msg)] = step.annotations("error")
    assert props["file"] == ".github/ci-truth.yml" and props["title"] == "CI Truth: configuration"
    assert f"is a {kind}, not a file" in msg


def test_default_config_is_read_from_the_workspace(runner: Runner) -> None:
    cfg = runner.workspace / ".github" / "ci-truth.yml"
    cfg.parent.mkdir()
    cfg.write_text("gate:\n  min_tests: 100\n", encoding="utf-8")
    runner.add(HEALTHY, "junit.xml")
    step = runner.inputs(reports="junit.xml").run()
    assert step.code == 1 and "min-tests" in step.rules


# --- hostile report text cannot steer the runner -----------------------------------------------

HOSTILE = """<?xml version="1.0" encoding="utf-8"?>
<testsuite name="evil" tests="1" failures="1">
  <testcase classname="x&#10;::set-output name=conclusion::success" name="t,a:b%0A" time="1"
            file="src/a,b:c.py" line="3">
    <failure message="boom&#10;::add-mask::secret&#10;::stop-commands::x">
::error::forged
ghadelimiter_
conclusion=success
</failure>
  </testcase>
</testsuite>
"""


def test_hostile_names_cannot_forge_outputs_or_commands(runner: Runner) -> None:
    (runner.workspace / "evil.xml").write_text(HOSTILE, encoding="utf-8")
    step = runner.inputs(reports="evil.xml").run()
    assert step.code == 1
    assert list(step.outputs) == list(OUTPUTS) and step.outputs["conclusion"] == "failure"
    names = {name for name, _, _ in step.commands}
    assert names <= {"error", "warning", "notice"}
    forged = [data for _, _, data in step.commands if data == "forged"]
    assert forged == []
    test_ann = [(p, m) for p, m in step.annotations("error") if p["title"].startswith("failure")]
    [(props, msg)] = test_ann
    assert props["file"] == "src/a,b:c.py" and props["line"] == "3"
    assert "::add-mask::secret" in msg        # carried as data, escaped, not executed


# --- the 1 MiB summary cut and annotation caps on the numpy report, every test failing --------

def fail_every_testcase(src: Path, dest: Path) -> int:
    """Stream the gzipped numpy report into `dest` with each testcase's body a <failure>."""
    count = 0
    depth_in_case = 0
    with gzip.open(src, "rb") as fin, dest.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\n')

        def start(name: str, attrs: dict[str, str]) -> None:
            nonlocal count, depth_in_case
            if depth_in_case:
                depth_in_case += 1
                return
            attr = "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items())
            if name == "testcase":
                count += 1
                depth_in_case = 1
                # 3-byte characters: the summary limit is about UTF-8 bytes, not characters.
                message = f"forced failure {count}: 断言失败 " + "値" * 120
                out.write(f"<testcase{attr}><failure message={quoteattr(message)}>"
                          f"AssertionError in {count}</failure></testcase>\n")
            else:
                out.write(f"<{name}{attr}>")

        def end(name: str) -> None:
            nonlocal depth_in_case
            if depth_in_case:
                depth_in_case -= 1
                return
            out.write(f"</{name}>\n")

        parser = xml.parsers.expat.ParserCreate()
        parser.StartElementHandler = start
        parser.EndElementHandler = end
        while chunk := fin.read(1 << 20):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    return count


@pytest.fixture(scope="module")
def numpy_all_failing(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], Path]:
    from tests.conftest import CORPUS
    made: list[Path] = []

    def make() -> Path:
        if not made:
            dest = tmp_path_factory.mktemp("numpy") / "numpy-all-failing.xml"
            n = fail_every_testcase(CORPUS / "large" / "numpy-pytest.full.junit.xml.gz", dest)
            assert n == 48_021
            made.append(dest)
        return made[0]
    return make


def test_summary_is_cut_below_1_mib_with_a_note_never_dropped(
        runner: Runner, numpy_all_failing: Callable[[], Path]) -> None:
    report = numpy_all_failing()
    step = runner.inputs(reports=str(report)).run()
    assert step.code == 1
    assert step.outputs["total"] == "48021" and step.outputs["failed"] == "48021"
    data = runner.summary.read_bytes()
    assert 512 * 1024 < len(data) <= SUMMARY_LIMIT            # cut, not dropped
    text = data.decode("utf-8")
    assert text.startswith("## ❌ ci-truth: failure")
    assert "failures" in text and "| All | 48021 |" in text
    assert "Note:" in text.splitlines()[-1] or "Note:" in text[-600:]
    # Annotations: at most 10 errors, the reason first, then one notice counting the rest.
    errors = step.annotations("error")
    reasons = json.loads(step.outputs["reasons"])
    blocking = [r for r in reasons if r["conclusion"] == "failure"]
    assert len(errors) == 10
    assert [p["title"] for p, _ in errors[:len(blocking)]] == \
        [f"CI Truth: {r['rule']}" for r in blocking]
    [(_, notice)] = step.annotations("notice")
    shown_tests = 10 - len(blocking)
    assert f"{48_021 - shown_tests:,} more" in notice


# --- the real entry point in a subprocess ------------------------------------------------------

def test_subprocess_entry_point_with_a_pull_request_event(runner: Runner, corpus: Path) -> None:
    runner.add(FAILING, "reports/junit.xml")
    runner.env.update(GITHUB_EVENT_NAME="pull_request",
                      GITHUB_EVENT_PATH=str(corpus / "webhooks" / "pull_request.opened.json"))
    step = runner.inputs(reports="reports/junit.xml").run_subprocess()
    assert step.code == 1
    assert step.outputs["conclusion"] == "failure" and step.outputs["failed"] == "1"
    assert "| All | 5 |" in step.summary
    assert next(p["title"] for p, _ in step.annotations("error")) == "CI Truth: failures"


def test_subprocess_usage_error_exits_2(runner: Runner) -> None:
    step = runner.inputs(reports="x.xml", summary="yes please").run_subprocess()
    assert step.code == 2 and "input 'summary'" in step.annotations("error")[0][1]


def test_coverage_xml_beside_the_reports_is_coverage_not_an_unreadable_report(
        runner: Runner) -> None:
    """`reports: reports/` holding junit.xml and coverage.py's coverage.xml: the Action reads
    them as `ci-truth check` and the App do (coverage feeds coverage.line_rate)."""
    shutil.copytree(ROOT / "tests" / "data" / "plan" / "fixed", runner.workspace / "reports")
    (runner.workspace / "reports" / "state.json").unlink()
    step = runner.inputs(reports="reports").run()
    theirs = check_json(runner.workspace / "reports")
    assert theirs["verdict"]["conclusion"] == "success"           # type: ignore[index]
    assert step.rules == [] and step.code == 0
    assert step.outputs["conclusion"] == "success"
    assert step.state["coverage"] == theirs["coverage"] == {"line_rate": 0.9333}


def test_missing_pattern_warnings_count_against_the_warning_cap(runner: Runner) -> None:
    """GitHub keeps 10 warnings per step: the 'matched no file' warnings are among them, so
    with allowed failures (warnings) a failing test must not be dropped without being counted."""
    (runner.workspace / "test_many.py").write_text(
        "import pytest\n\n\n@pytest.mark.parametrize('n', range(12))\n"
        "def test_fails(n):\n    assert n < 0\n", encoding="utf-8")
    cfg = runner.workspace / ".github" / "ci-truth.yml"
    cfg.parent.mkdir()
    cfg.write_text("gate:\n  allow_failures: true\n", encoding="utf-8")
    subprocess.run(f"{sys.executable} -m pytest -q -p no:cacheprovider "
                   "--junitxml=reports/junit-1.xml test_many.py || true", shell=True,
                   cwd=runner.workspace, capture_output=True, text=True, timeout=120, check=False)
    step = runner.inputs(reports="reports/junit-1.xml\nreports/junit-2.xml").run()
    assert step.code == 0 and step.outputs["failed"] == "12"
    warnings = step.annotations("warning")
    assert any("reports/junit-2.xml" in msg for _, msg in warnings)
    assert len(warnings) <= 10                  # GitHub would silently drop the 11th
    shown_tests = sum(1 for p, _ in warnings if p.get("title", "").startswith("failure"))
    [(_, notice)] = step.annotations("notice")
    assert f"{12 - shown_tests:,} more" in notice


def test_many_patterns_matching_nothing_take_one_warning_and_name_them_all(
        runner: Runner) -> None:
    """One warning per empty pattern went past GitHub's 10 per step: the 11th and later
    were dropped unseen (and they used up the slots of the verdict's own warnings)."""
    runner.add(HEALTHY, "reports/junit.xml")
    shards = [f"reports/shard-{n}/*.xml" for n in range(1, 13)]
    step = runner.inputs(reports="\n".join(["reports/junit.xml", *shards])).run()
    assert step.code == 0 and step.outputs["passed"] == "22"
    [(props, msg)] = step.annotations("warning")
    assert props["title"] == "CI Truth: no report"
    assert msg.startswith("12 report patterns (") and all(repr(p) in msg for p in shards)
