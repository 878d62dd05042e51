"""action.yml, docs/action.md and the entry point agree on inputs and outputs; pins are SHAs."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.ghactions import INPUTS, OUTPUTS, ActionEnv, input_key

ROOT = Path(__file__).resolve().parents[1]
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


@pytest.fixture(scope="module")
def action() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def doc_table(section: str) -> dict[str, list[str]]:
    """Rows of the first table under `## <section>` in docs/action.md, keyed by `name`."""
    text = (ROOT / "docs" / "action.md").read_text(encoding="utf-8")
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in body.splitlines():
        m = re.match(r"^\| `([a-z_-]+)` \|(.*)\|$", line)
        if m:
            rows[m.group(1)] = [c.strip() for c in m.group(2).split("|")]
    return rows


class Recording(Mapping[str, str]):
    """An environment that records which variables the entry point asks for."""

    def __init__(self, data: dict[str, str]) -> None:
        self.data = data
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return self.data.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def test_inputs_and_outputs_are_the_contract(action: dict[str, Any]) -> None:
    assert list(action["inputs"]) == list(INPUTS)
    assert list(action["outputs"]) == list(OUTPUTS)
    for name, spec in {**action["inputs"], **action["outputs"]}.items():
        assert len(str(spec.get("description", "")).strip()) > 10, f"{name}: no description"
    assert action["inputs"]["reports"]["required"] is True
    for flag in ("summary", "annotations", "fail"):
        assert action["inputs"][flag]["default"] == "true"


def test_the_entry_point_reads_exactly_the_declared_inputs() -> None:
    env = Recording({})
    ActionEnv.from_env(env)
    asked = {k for k in env.asked if k.startswith("INPUT_")}
    assert asked == {input_key(n) for n in INPUTS}


def test_docs_table_the_same_inputs_outputs_and_defaults(action: dict[str, Any]) -> None:
    inputs, outputs = doc_table("Inputs"), doc_table("Outputs")
    assert list(inputs) == list(INPUTS)
    assert list(outputs) == list(OUTPUTS)
    for name, spec in action["inputs"].items():
        default = spec.get("default", "")
        if default:
            assert inputs[name][0] == f"`{default}`", name


def test_composite_step_passes_every_input_through_env(action: dict[str, Any]) -> None:
    assert action["runs"]["using"] == "composite"
    steps = {s.get("id"): s for s in action["runs"]["steps"]}
    truth = steps["truth"]
    assert truth["env"] == {**{input_key(n): f"${{{{ inputs.{n} }}}}" for n in INPUTS},
                            "CI_TRUTH_PY": "${{ steps.install.outputs.python }}"}
    assert "-m bot action" in truth["run"]
    for name, spec in action["outputs"].items():
        assert spec["value"] == f"${{{{ steps.truth.outputs.{name} }}}}"


def test_no_expression_is_interpolated_into_a_script(action: dict[str, Any]) -> None:
    for step in action["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step.get("id")


def test_the_action_keeps_the_jobs_python_untouched(action: dict[str, Any]) -> None:
    setup = next(s for s in action["runs"]["steps"] if "setup-python" in s.get("uses", ""))
    assert str(setup["with"]["update-environment"]).lower() == "false"
    install = next(s for s in action["runs"]["steps"] if s.get("id") == "install")
    assert install["env"]["CI_TRUTH_SOURCE"] == "${{ github.action_path }}"


def uses_of(path: Path) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "uses" and isinstance(value, str):
                    found.append(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load(path.read_text(encoding="utf-8")))
    return found


@pytest.mark.parametrize("path", ["action.yml", ".github/workflows/ci.yml"])
def test_third_party_actions_are_pinned_by_commit(path: str) -> None:
    uses = uses_of(ROOT / path)
    assert uses
    for ref in uses:
        assert ref.startswith("./") or PINNED.match(ref), f"{path}: {ref} is not pinned"


def test_ci_runs_tests_lint_types_and_dogfoods_the_action() -> None:
    ci = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text(encoding="utf-8"))
    runs = [s.get("run", "") for job in ci["jobs"].values() for s in job["steps"]]
    assert any(r.startswith("python -m pytest") and "--junitxml=reports/pytest.xml" in r
               for r in runs)
    assert "ruff check ." in runs and "mypy" in runs
    own = [s for job in ci["jobs"].values() for s in job["steps"] if s.get("uses") == "./"]
    assert len(own) == 1 and own[0]["with"]["reports"] == "reports/pytest.xml"
    assert own[0]["if"] == "${{ !cancelled() }}"
    readme_cmd = (ROOT / ".ci" / "run").read_text()
    assert "python -m pytest" in readme_cmd


def test_action_is_a_registered_cli_command() -> None:
    import argparse

    from bot.cli import build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert "action" in sub.choices
    assert "INPUT_REPORTS" in (sub.choices["action"].description or "")


def test_the_composite_step_runs_as_written(action: dict[str, Any], tmp_path: Path,
                                            corpus: Path) -> None:
    """Run the `truth` step's script with bash, its env rendered as the runner would."""
    import os
    import shutil
    import subprocess
    import sys

    from tests.test_ghactions import parse_output_file
    shutil.copyfile(corpus / "junit/publish-unit-test-result-action/python/test/files/"
                    "junit-xml/no-cases.xml", tmp_path / "junit.xml")
    (tmp_path / "bot").mkdir()           # a user's own `bot` package must not shadow ours
    (tmp_path / "bot" / "__main__.py").write_text("raise SystemExit(99)\n")
    values = {"inputs.reports": "junit.xml", "inputs.config": "", "inputs.baseline": "",
              "inputs.token": "", "inputs.key": "", "inputs.summary": "true",
              "inputs.annotations": "true", "inputs.fail": "true",
              "steps.install.outputs.python": sys.executable}
    step = next(s for s in action["runs"]["steps"] if s.get("id") == "truth")
    env = {k: re.sub(r"\$\{\{\s*([\w.-]+)\s*\}\}", lambda m: values[m.group(1)], v)
           for k, v in step["env"].items()}
    out = tmp_path / "output"
    proc = subprocess.run(
        [step["shell"], "-c", step["run"]], cwd=tmp_path, capture_output=True, text=True,
        timeout=120, check=False,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT), "GITHUB_OUTPUT": str(out),
             "GITHUB_WORKSPACE": str(tmp_path), "RUNNER_TEMP": str(tmp_path)})
    assert proc.returncode == 1, proc.stderr
    outputs = parse_output_file(out.read_text())
    assert outputs["conclusion"] == "failure" and outputs["total"] == "0"
    assert "::error title=CI Truth%3A zero-tests::" in proc.stdout
