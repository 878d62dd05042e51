"""Contracts: the core stays pure, and the docs state what the code does."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import re
from pathlib import Path

import pytest

from bot import cli
from bot.app import settings as app_settings
from bot.check import add_parser as add_check_parser
from bot.core.checkrun import COUNT_RULES
from bot.core.config import Evidence, Gate, WorkflowEvidence
from bot.core.limits import GiB, Limits, MiB
from bot.core.model import Rule
from bot.core.plan import planner
from bot.core.plan.expr import INCOMPLETE_RULES

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "bot" / "core"
APP_RULES = {Rule.MASKED_FAILURE, Rule.MISSING_EVIDENCE, Rule.UNTRUSTED_EVIDENCE}
FORBIDDEN = {"aiohttp", "gidgethub", "os", "socket", "time", "asyncio", "subprocess",
             "requests", "urllib", "http", "sqlite3", "shutil", "tempfile", "pathlib"}
FORBIDDEN_CALLS = {"open", "input", "print", "eval", "exec"}


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            if name.split(".")[0] in FORBIDDEN:
                found.append(f"{path.name}:{node.lineno} imports {name}")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in FORBIDDEN_CALLS):
            found.append(f"{path.name}:{node.lineno} calls {node.func.id}()")
    return found


def test_core_is_pure() -> None:
    files = sorted(CORE.rglob("*.py"))
    assert files, "no core modules found"
    problems = [v for f in files for v in _violations(f)]
    assert problems == []


def test_contract_checker_catches_io(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom aiohttp import web\nopen('x')\n", encoding="utf-8")
    assert len(_violations(bad)) == 3


def table(doc: str, header: str, *, after: str = "") -> list[list[str]]:
    """The rows (cells stripped) of the first Markdown table in `doc` (past the text `after`)
    whose header row starts with `header`."""
    text = (ROOT / doc).read_text(encoding="utf-8")
    lines = (text.split(after, 1)[1] if after else text).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
    return rows


def names(cell: str) -> list[str]:
    """The `code` names in a table cell, in order."""
    return re.findall(r"`([^`]+)`", cell)


def test_every_rule_id_is_documented_where_users_look() -> None:
    readme = {n for row in table("README.md", "| rule |") for n in names(row[0])}
    engine = [n for row in table("docs/verdict-rules.md", "| rule id |") for n in names(row[0])]
    app = [n for row in table("docs/checks.md", "| rule | fails when |") for n in names(row[0])]
    rules = (ROOT / "docs/verdict-rules.md").read_text(encoding="utf-8")
    assert readme == {r.value for r in Rule}
    assert sorted(engine) == sorted(r.value for r in Rule if r not in APP_RULES)
    assert sorted(app) == sorted(r.value for r in Rule if r in APP_RULES)
    for rule in Rule:
        assert f"`{rule.value}`" in rules, rule
    arch = section("docs/architecture.md", "## Verdict rules")
    listed = set(re.findall(r"[a-z]+(?:-[a-z]+)*", arch.split("Rules:", 1)[1]))
    assert {r.value for r in Rule} <= listed


def section(doc: str, heading: str) -> str:
    """The text of `doc` from the line `heading` to the next heading of any level."""
    text = (ROOT / doc).read_text(encoding="utf-8")
    body = text.split(f"\n{heading}", 1)[1]
    return re.split(r"\n#{1,6} ", body, maxsplit=1)[0]


def test_the_baseline_rules_are_the_ones_the_code_applies() -> None:
    """docs/checks.md names the rules a usable baseline may fail on, then all the others."""
    text = " ".join(section("docs/checks.md", "## Baseline (`test-drop`)").split())
    usable, other = text.split("only on rules that leave its count", 1)[1].split(
        "Any other reason", 1)
    other = other.split(" so that commit is walked past", 1)[0]
    counted = set(names(usable)) & {r.value for r in Rule}
    assert counted == set(COUNT_RULES)
    assert set(names(other)) & {r.value for r in Rule} == {r.value for r in Rule} - COUNT_RULES


def test_the_plans_incomplete_evidence_rules_are_the_ones_the_code_applies() -> None:
    text = " ".join(section("docs/plan.md", "## Expressions").split())
    listed = text.split("reports that are **incomplete**", 1)[1].split("prove nothing", 1)[0]
    assert set(names(listed)) == INCOMPLETE_RULES


def test_every_module_is_in_the_architecture_layout() -> None:
    layout = section("docs/architecture.md", "## Layout")
    tree = layout.split("```", 2)[1]
    for package in ("bot", "bot/core", "bot/app"):
        for module in sorted((ROOT / package).glob("*.py")):
            assert re.search(rf"^\s+{re.escape(module.name)}\s", tree, re.M), \
                f"{package}/{module.name} is not in docs/architecture.md's layout"


def test_every_setting_the_app_reads_is_in_the_settings_table() -> None:
    source = Path(app_settings.__file__).read_text(encoding="utf-8")
    read = set(re.findall(r'"((?:CI_TRUTH|GITHUB)_[A-Z_]+|HOST|PORT)"', source))
    rows = table("docs/app.md", "| variable |")
    documented = {n for row in rows for n in names(row[0])}
    assert read and read == documented
    deploy = {n for row in table("docs/deploy.md", "| variable |") for n in names(row[0])}
    assert deploy <= read
    fields = {**app_settings._INTS, **app_settings._DURATIONS, **app_settings._FLOATS}
    defaults = {f.name: f.default for f in dataclasses.fields(app_settings.Settings)}
    for row in rows:
        cells = [n for n in names(row[0]) if n in fields]
        if cells:
            shown = re.findall(r"\d+(?:\.\d+)?", row[1])[:len(cells)]
            assert [float(x) for x in shown] == [defaults[fields[n]] for n in cells], row
        if any(n in app_settings._DURATIONS for n in cells):   # 0 is refused, not "no limit"
            assert "> 0" in row[2], row


def test_every_setting_comes_from_a_documented_variable() -> None:
    """No Settings field is set except from an environment variable (all are documented,
    above), so none is a hidden knob or a dead one."""
    source = Path(app_settings.__file__).read_text(encoding="utf-8")
    mapped = set(re.findall(r'"(?:(?:CI_TRUTH|GITHUB)_[A-Z_]+|HOST|PORT)"\s*[:,]\s*"([a-z_]+)"',
                            source))
    direct = set(re.findall(r'values\["([a-z_]+)"\]', source))
    assert {f.name for f in dataclasses.fields(app_settings.Settings)} == mapped | direct


def _size(value: float) -> str:
    """A cap as the docs write it: 512 MiB, 2 GiB, 5,000,000."""
    if isinstance(value, int) and value >= GiB and value % GiB == 0:
        return f"{value // GiB} GiB"
    if isinstance(value, int) and value >= MiB and value % MiB == 0:
        return f"{value // MiB} MiB"
    return f"{value:,.0f}" if value == int(value) else str(value)


@pytest.mark.parametrize(("doc", "header", "every"), [
    ("docs/configuration.md", "| field | default |", True),
    ("docs/parsing.md", "| cap | default |", False),
])
def test_limit_tables_give_the_real_caps(doc: str, header: str, every: bool) -> None:
    rows = {names(row[0])[0]: row[1] for row in table(doc, header)}
    caps = {f.name: f.default for f in dataclasses.fields(Limits)}
    if every:
        assert set(rows) == set(caps)
    for name, shown in rows.items():
        assert shown.replace(",", "") == _size(caps[name]).replace(",", ""), name


def test_configuration_tables_give_the_real_defaults() -> None:
    header = "| key | type | default | meaning |"
    gate = {names(r[0])[0]: r[2] for r in table("docs/configuration.md", header)}
    expected = {f.name: f.default for f in dataclasses.fields(Gate)}
    assert set(gate) == set(expected)
    for key, value in expected.items():
        assert gate[key] == f"`{json.dumps(list(value) if value == () else value)}`", key
    evidence = {names(r[0])[0]: r[2]
                for r in table("docs/configuration.md", header, after="## `evidence`")}
    workflow = WorkflowEvidence("CI")
    assert evidence["workflows"] == f"`{json.dumps(list(Evidence().workflows))}`"
    assert evidence["forks"] == f"`{Evidence().forks}`"
    assert evidence["workflows[].artifacts"] == f"`{json.dumps(list(workflow.artifacts))}`"
    assert evidence["workflows[].required"] == f"`{json.dumps(workflow.required)}`"


def test_exit_statuses_and_the_planner_bound_are_documented() -> None:
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert f"{cli.EXIT_INTERNAL} internal error" in readme
    action = " ".join((ROOT / "docs/action.md").read_text(encoding="utf-8").split())
    assert f"`{cli.EXIT_INTERNAL}` internal error" in action
    sub = argparse.ArgumentParser().add_subparsers()
    add_check_parser(sub)
    helptext = " ".join(sub.choices["check"].format_help().split())
    assert f"{cli.EXIT_INTERNAL} internal error" in helptext
    plan = " ".join((ROOT / "docs/plan.md").read_text(encoding="utf-8").split())
    assert f"({planner.MAX_GENERATED:,} " in plan
