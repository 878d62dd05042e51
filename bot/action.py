"""`ci-truth action`: the GitHub Action step (INPUT_* in, outputs/summary/annotations out)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import io
import json
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot import __version__
from bot.action_annotations import plan_annotations
from bot.check import refuse_unreadable_config
from bot.core import runs
from bot.core.config import DEFAULT_CONFIG, Config, parse_config
from bot.core.engine import Result, evaluate
from bot.core.errors import ConfigError
from bot.core.limits import Limits
from bot.core.model import Conclusion, Reason
from bot.core.render import render_markdown, render_text
from bot.core.state import Baseline, baseline_from_json, to_json
from bot.ghactions import (
    ANNOTATIONS_PER_LEVEL,
    DEFAULT_CONFIG_PATH,
    SUMMARY_LIMIT,
    ActionEnv,
    UsageError,
    append_summary,
    command,
    stop_commands_token,
    write_outputs,
)
from bot.intake import iter_sources

if TYPE_CHECKING:
    import aiohttp

Sleep = Callable[[float], Awaitable[None]]
MAX_EVENT_BYTES = 25 * 1024 * 1024
MAX_BASELINE_BYTES = 256 * 1024 * 1024
MAX_CONFIG_BYTES = 1024 * 1024
MAX_EMPTY_LISTED = 20     # patterns named in the "matched no file" warning


def add_parser(subparsers: Any) -> None:
    """Register `ci-truth action` (inputs come from the environment, not from flags)."""
    subparsers.add_parser(
        "action", help="run as a GitHub Actions step (inputs from INPUT_* variables)",
        description="Judge the reports named by INPUT_REPORTS and write the step's outputs, "
                    "job summary and annotations. See docs/action.md.")


def run(args: argparse.Namespace) -> int:
    """Entry point for the CLI: exit 0 ok, 1 failure verdict (when fail), 2 usage/config."""
    if isinstance(sys.stdout, io.TextIOWrapper):   # Windows runners default to a code page
        sys.stdout.reconfigure(encoding="utf-8", errors="replace")
    return run_action(os.environ, out=sys.stdout)


def _read(path: Path, limit: int, what: str) -> bytes:
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise UsageError(f"input '{what}': cannot read {str(path)!r}: "
                         f"{exc.strerror or exc}") from None
    if len(data) > limit:
        raise UsageError(f"input '{what}': {str(path)!r} is larger than {limit:,} bytes")
    return data


def load_config(env: ActionEnv) -> Config:
    """The config input, else .github/ci-truth.yml when present, else the strict defaults."""
    name = env.config or DEFAULT_CONFIG_PATH
    path = env.resolve(name)
    refuse_unreadable_config(path, name)
    if not path.is_file():
        if env.config:
            raise UsageError(f"input 'config': no such file {env.config!r}")
        return DEFAULT_CONFIG
    try:
        text = _read(path, MAX_CONFIG_BYTES, "config").decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"input 'config': {name!r} is not UTF-8 ({exc.reason})") from None
    return parse_config(text, source=name)


def load_baseline(env: ActionEnv) -> Baseline | None:
    """The baseline input (an earlier state JSON); an unusable one is a usage error."""
    if not env.baseline:
        return None
    data = _read(env.resolve(env.baseline), MAX_BASELINE_BYTES, "baseline")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"input 'baseline': {env.baseline!r} is not JSON: {exc}") from None
    return baseline_from_json(doc, source=env.baseline)


def load_event(env: ActionEnv) -> Mapping[str, Any]:
    """The triggering event's payload; {} when absent or unreadable (it only refines SHAs)."""
    if env.event_path is None:
        return {}
    try:
        doc = json.loads(_read(env.event_path, MAX_EVENT_BYTES, "event"))
    except (UsageError, ValueError, RecursionError):
        return {}
    return doc if isinstance(doc, dict) else {}


def expand_reports(env: ActionEnv) -> tuple[list[Path], list[str]]:
    """Files and directories the report globs or literal paths name, and globs matching nothing."""
    found: dict[Path, None] = {}
    empty: list[str] = []
    for pattern in env.reports:
        root = str(env.workspace)
        if os.path.exists(env.resolve(pattern)):   # a literal name, even with [ ] in it
            matches = [pattern]
        else:
            matches = sorted(glob.glob(pattern, root_dir=root, recursive=True))
        if not matches:
            empty.append(pattern)
        for match in matches:
            found.setdefault(env.resolve(match), None)
    return list(found), empty


def display_name(path: Path, cwd: Path) -> str:
    """A report path as people see it (and as it opens): relative to `cwd` when inside it."""
    try:
        return path.relative_to(cwd).as_posix()
    except ValueError:
        return str(path)


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


def _repo_id(event: Mapping[str, Any]) -> int | None:
    repo = event.get("repository")
    repo_id = repo.get("id") if isinstance(repo, Mapping) else None
    return repo_id if isinstance(repo_id, int) else None


def fork_run(event: Mapping[str, Any]) -> bool:
    """A `workflow_run` step judging a run whose head repository is a fork (forgeable reports)."""
    run = event.get("workflow_run")
    return isinstance(run, Mapping) and runs.is_fork(run, _repo_id(event))


PR_TARGET_ORIGIN = (
    "This pull_request_target job judges reports of a pull request from {head}: the event "
    "runs with a write token, and a job that checks out the pull request's head runs code "
    "its author wrote, so the reports may be forged.")


def fork_pr_target(env: ActionEnv, event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """A `pull_request_target` step for a fork's PR, as a run (head repository) for runs.*."""
    pr = event.get("pull_request")
    if env.event_name != "pull_request_target" or not isinstance(pr, Mapping):
        return None
    head = pr.get("head")
    repo = head.get("repo") if isinstance(head, Mapping) else None   # null: fork deleted
    run = {"head_repository": repo if isinstance(repo, Mapping) else {}}
    return run if runs.is_fork(run, _repo_id(event)) else None


def _fork(env: ActionEnv, event: Mapping[str, Any]
          ) -> tuple[Mapping[str, Any], str | None] | None:
    """The fork's run the reports may come from and the `origin` wording for it, or None."""
    if fork_run(event):
        return event["workflow_run"], None
    pr_run = fork_pr_target(env, event)
    return None if pr_run is None else (pr_run, PR_TARGET_ORIGIN)


def from_fork(env: ActionEnv, event: Mapping[str, Any]) -> bool:
    """The reports may come from a fork: its workflow_run, or its code in pull_request_target."""
    return _fork(env, event) is not None


def fork_reasons(env: ActionEnv, event: Mapping[str, Any], config: Config) -> list[Reason]:
    """The App's `untrusted-evidence` reason for a fork's reports (evidence.forks)."""
    policy = runs.policy_from_config(config)
    fork = None if policy.forks == "ignore" else _fork(env, event)
    if fork is None:
        return []
    run, origin = fork
    return runs.untrusted(run, policy, _repo_id(event), origin=origin)


def judge(env: ActionEnv, config: Config, baseline: Baseline | Mapping[str, Any] | None,
          out: TextIO, emitted: dict[str, int] | None = None,
          extra: list[Reason] | None = None) -> Result:
    """Expand the globs, read the reports and run the engine.

    `emitted` counts the annotations printed here per level (they share GitHub's caps)."""
    paths, empty = expand_reports(env)
    if empty:   # one warning for them all: each would take one of the step's 10
        listed = ", ".join(repr(p) for p in empty[:MAX_EMPTY_LISTED])
        more = f" and {len(empty) - MAX_EMPTY_LISTED:,} more" \
            if len(empty) > MAX_EMPTY_LISTED else ""
        what = f"report pattern {listed}" if len(empty) == 1 else \
            f"{len(empty):,} report patterns ({listed}{more})"
        print(command("warning", f"{what} matched no file", title="CI Truth: no report"),
              file=out)
        if emitted is not None:
            emitted["warning"] = emitted.get("warning", 0) + 1
    cwd = Path.cwd().resolve()
    names = [display_name(Path(os.path.realpath(p)), cwd) for p in paths]   # no raise on a loop
    limits = Limits()
    return evaluate(iter_sources(names, limits), config, baseline=baseline, limits=limits,
                    extra_reasons=extra or ())


def _write_state(env: ActionEnv, doc: Mapping[str, Any]) -> Path:
    path = state_path(env)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    return path


def _summary(env: ActionEnv, result: Result, note: str | None = None) -> None:
    """The result's Markdown, then `note` (where the baseline came from) when it fits."""
    if env.step_summary is None:
        return
    used = env.step_summary.stat().st_size if env.step_summary.exists() else 0
    budget = max(SUMMARY_LIMIT - used, 0)
    tail = f"\n\n{note}\n" if note else ""
    room = max(budget - len(tail.encode()), 0)
    append_summary(env.step_summary, render_markdown(result, limit=room, byte_limit=room) + tail)


async def run_action_async(environ: Mapping[str, str], *, out: TextIO,
                           session: aiohttp.ClientSession | None = None,
                           sleep: Sleep | None = None) -> int:
    """The whole step, reading `environ` (os.environ in production); returns the exit code.

    `session` and `sleep` are for tests (the fake GitHub); token mode opens its own session.
    """
    try:
        env = ActionEnv.from_env(environ)
        if not env.reports:
            raise UsageError("input 'reports' is required: the report files or globs to judge")
        config = load_config(env)
        baseline: Baseline | Mapping[str, Any] | None = load_baseline(env)
    except ConfigError as exc:
        for err in list(getattr(exc, "errors", None) or [exc])[:ANNOTATIONS_PER_LEVEL]:
            print(command("error", f"{err.key}: {err.bare}" if err.key else err.bare,
                          file=err.source, line=err.line, title="CI Truth: configuration"),
                  file=out)
        return 2
    except UsageError as exc:
        print(command("error", str(exc), title="CI Truth: usage"), file=out)
        return 2
    emitted: dict[str, int] = {}
    event = load_event(env)
    extra = fork_reasons(env, event, config)
    if not env.token:
        result = judge(env, config, baseline, out, emitted, extra)
        code, _doc = _finish(env, result, out)
        _annotate(env, result, out, emitted)
        return code
    import aiohttp  # token mode only: the App's client stack

    from bot.action_github import TokenSession
    async with contextlib.AsyncExitStack() as stack:
        if session is None:
            session = await stack.enter_async_context(aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=120)))
        remote = TokenSession(env, event, session, out=out, sleep=sleep)
        if baseline is None:
            baseline = await remote.fetch_baseline()
        result = judge(env, config, baseline, out, emitted, extra)
        code, doc = _finish(env, result, out, remote.note)
        ignored = from_fork(env, event) and runs.policy_from_config(config).forks == "ignore"
        url = None if ignored else await remote.publish(result)   # evidence.forks: ignore
        if url:
            print(f"CI Truth check run: {url}", file=out)
        if config.plan is not None and remote.on_default_branch():
            await remote.sync_plan(config.plan, doc)
        # Last, so every GitHub warning is already counted against the step's cap.
        emitted["warning"] = emitted.get("warning", 0) + remote.warnings
        _annotate(env, result, out, emitted)
    return code


def _finish(env: ActionEnv, result: Result, out: TextIO, note: str | None = None
            ) -> tuple[int, dict[str, Any]]:
    """State file, outputs, summary (with `note`) and log; the exit code and the state JSON."""
    doc = to_json(result, generator=f"ci-truth {__version__}")
    write_outputs(env.output, step_outputs(doc, _write_state(env, doc)))
    if env.summary:
        _summary(env, result, note)
    _log_untrusted(render_text(result), out)
    failed = result.verdict.conclusion is Conclusion.FAILURE
    return (1 if failed and env.fail else 0), doc


def _annotate(env: ActionEnv, result: Result, out: TextIO, emitted: Mapping[str, int]) -> None:
    """The verdict's annotations, within what the step's earlier annotations left of the caps."""
    if env.annotations:
        for ann in plan_annotations(result.verdict, result.state, workspace=str(env.workspace),
                                    emitted=emitted):
            print(ann.render(), file=out)


def run_action(environ: Mapping[str, str], *, out: TextIO) -> int:
    """Synchronous wrapper of run_action_async (the CLI's entry)."""
    return asyncio.run(run_action_async(environ, out=out))
