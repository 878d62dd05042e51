"""`ci-truth action`: the GitHub Action step (INPUT_* in, outputs/summary/annotations out)."""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from bot import __version__
from bot.action_annotations import plan_annotations
from bot.core.config import Config, parse_config
from bot.core.engine import Result, evaluate
from bot.core.errors import ConfigError
from bot.core.limits import Limits
from bot.core.model import Conclusion
from bot.core.render import render_markdown, render_text
from bot.core.state import to_json
from bot.ghactions import (
    DEFAULT_CONFIG,
    SUMMARY_LIMIT,
    ActionEnv,
    UsageError,
    append_summary,
    command,
    stop_commands_token,
    write_outputs,
)
from bot.intake import iter_sources

MAX_EVENT_BYTES = 25 * 1024 * 1024
MAX_BASELINE_BYTES = 64 * 1024 * 1024


def add_parser(subparsers: Any) -> None:
    """Register `ci-truth action` (inputs come from the environment, not from flags)."""
    subparsers.add_parser(
        "action", help="run as a GitHub Actions step (inputs from INPUT_* variables)",
        description="Judge the reports named by INPUT_REPORTS and write the step's outputs, "
                    "job summary and annotations. See docs/action.md.")


def run(args: argparse.Namespace) -> int:
    """Entry point for the CLI: exit 0 ok, 1 failure verdict (when fail), 2 usage/config."""
    return run_action(os.environ, out=sys.stdout)


def load_config(env: ActionEnv) -> Config:
    """The config input, else .github/ci-truth.yml when present, else the strict defaults."""
    name = env.config or DEFAULT_CONFIG
    path = env.resolve(name)
    if not path.is_file():
        if env.config:
            raise UsageError(f"input 'config': no such file {env.config!r}")
        return parse_config("", source=name)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"input 'config': cannot read {name!r}: {exc}") from None
    return parse_config(text, source=name)


def _read_json(path: Path, limit: int) -> Any:
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than {limit:,} bytes")
    return json.loads(data)


def load_baseline(env: ActionEnv) -> Mapping[str, Any] | None:
    """The baseline input (an earlier state JSON); an unusable one is a usage error."""
    if not env.baseline:
        return None
    try:
        doc = _read_json(env.resolve(env.baseline), MAX_BASELINE_BYTES)
    except (OSError, ValueError) as exc:
        raise UsageError(f"input 'baseline': cannot use {env.baseline!r}: {exc}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"input 'baseline': {env.baseline!r} is not a ci-truth state object")
    return doc


def load_event(env: ActionEnv) -> Mapping[str, Any]:
    """The triggering event's payload; {} when absent or unreadable (it only refines SHAs)."""
    if env.event_path is None:
        return {}
    try:
        doc = _read_json(env.event_path, MAX_EVENT_BYTES)
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def expand_reports(env: ActionEnv) -> tuple[list[Path], list[str]]:
    """Files and directories the report globs name, and the globs that matched nothing."""
    found: dict[Path, None] = {}
    empty: list[str] = []
    for pattern in env.reports:
        root = str(env.workspace)
        matches = sorted(glob.glob(pattern, root_dir=root, recursive=True))
        if not matches:
            empty.append(pattern)
        for match in matches:
            found.setdefault(env.resolve(match), None)
    return list(found), empty


def display_name(path: Path, env: ActionEnv) -> str:
    """A report path as people see it: relative to the workspace when inside it."""
    try:
        return path.relative_to(env.workspace).as_posix()
    except ValueError:
        return path.as_posix()


def state_path(env: ActionEnv) -> Path:
    """Where the state JSON goes: RUNNER_TEMP (cleaned by the runner) or the cwd."""
    base = env.runner_temp or Path.cwd()
    suffix = f"-{env.run_id}" if env.run_id else ""
    return (base / f"ci-truth-state{suffix}-{os.getpid()}.json").resolve()


def step_outputs(doc: Mapping[str, Any], state_file: Path) -> dict[str, str]:
    """The Action's outputs, as strings."""
    tests = doc["tests"]
    verdict = doc["verdict"]
    return {
        "total": str(tests["total"]),
        "passed": str(tests["passed"]),
        "failed": str(tests["failed"]),
        "errors": str(tests["errors"]),
        "skipped": str(tests["skipped"]),
        "conclusion": str(verdict["conclusion"]),
        "reasons": json.dumps(verdict["reasons"], separators=(",", ":"), ensure_ascii=False),
        "state": str(state_file),
    }


def _log_untrusted(text: str, out: TextIO) -> None:
    """Print report-derived text with workflow commands switched off around it."""
    token = stop_commands_token()
    print(f"::stop-commands::{token}", file=out)
    print(text, file=out)
    print(f"::{token}::", file=out)


def judge(env: ActionEnv, config: Config, baseline: Mapping[str, Any] | None,
          out: TextIO) -> Result:
    """Expand the globs, read the reports and run the engine."""
    paths, empty = expand_reports(env)
    for pattern in empty:
        print(command("warning", f"report pattern {pattern!r} matched no file",
                      title="CI Truth: no report"), file=out)
    names = {display_name(p, env): p for p in paths}
    return evaluate(iter_sources(list(names.values()), Limits()), config, baseline=baseline)


def run_action(environ: Mapping[str, str], *, out: TextIO) -> int:
    """The whole step, reading `environ` (os.environ in production); returns the exit code."""
    try:
        env = ActionEnv.from_env(environ)
        config = load_config(env)
        baseline = load_baseline(env)
    except ConfigError as exc:
        print(command("error", exc.bare if exc.key == "" else f"{exc.key}: {exc.bare}",
                      file=exc.source, line=exc.line, title="CI Truth: configuration"), file=out)
        return 2
    except UsageError as exc:
        print(command("error", str(exc), title="CI Truth: usage"), file=out)
        return 2
    event = load_event(env)
    remote = None
    if env.token:
        from bot.action_github import TokenSession     # only token mode needs aiohttp/gidgethub
        remote = TokenSession(env, event)
        if baseline is None:
            baseline = remote.fetch_baseline(out)
    result = judge(env, config, baseline, out)
    doc = to_json(result, generator=f"ci-truth {__version__}")
    path = state_path(env)
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    write_outputs(env.output, step_outputs(doc, path))
    if env.summary:
        append_summary(env.step_summary, render_markdown(result, max_chars=SUMMARY_LIMIT))
    _log_untrusted(render_text(result), out)
    if env.annotations:
        for ann in plan_annotations(result.verdict, result.state, workspace=str(env.workspace)):
            print(ann.render(), file=out)
    if remote is not None:
        remote.publish(result, config, out)
    failed = result.verdict.conclusion is Conclusion.FAILURE
    return 1 if failed and env.fail else 0
