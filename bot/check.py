"""`ci-truth check`: read reports from paths, judge them, print text, JSON or Markdown."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from bot.core.config import DEFAULT_CONFIG, Config, parse_config
from bot.core.errors import ConfigError
from bot.core.state import Baseline, baseline_from_json
from bot.ghactions import log_line

DEFAULT_CONFIG_PATH = Path(".github/ci-truth.yml")
MAX_CONFIG_BYTES = 1024 * 1024
MAX_BASELINE_BYTES = 256 * 1024 * 1024


class UsageError(Exception):
    """Bad arguments or unreadable inputs the user named: exit 2 with this message."""


def add_parser(subparsers: Any) -> None:
    """Register `check`."""
    p = subparsers.add_parser(
        "check", help="judge test reports (exit 0 ok/neutral, 1 failure, 2 usage or "
        "config error, 3 internal error)",
        description="Read test reports (files, directories, .zip, .gz) and say whether they "
        "are real evidence that the tests ran and passed.",
        epilog="Exit status: 0 success or neutral, 1 failure verdict, 2 usage or configuration "
        "error, 3 internal error (CI_TRUTH_DEBUG=1 shows the traceback). Every format is safe "
        "to print in a workflow log: no test name can issue a workflow command.")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="report files, directories (searched recursively for *.xml, *.trx, "
                   "*.junit-xml, *.junit, optionally .gz), .zip or .gz; a pipe (/dev/stdin) "
                   "is read whole")
    p.add_argument("--config", metavar="FILE",
                   help="configuration (default: .github/ci-truth.yml when it exists)")
    p.add_argument("--baseline", metavar="FILE",
                   help="an earlier `check --format json` output, for the test-drop rule")
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                   help="text (default); json: the ci-truth/state@1 document, a later "
                   "--baseline; markdown: what the Action writes to the job summary")
    p.add_argument("--output", metavar="FILE", help="write here instead of standard output")


def read_text(path: str, cap: int, what: str) -> str:
    """A small UTF-8 text file (config, state), refused with a usage error past `cap` bytes."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(cap + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > cap:
        raise UsageError(f"{what} {path} is larger than {cap} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} {path} is not UTF-8 text ({exc.reason} at byte "
                         f"{exc.start})") from None


def not_a_file(path: Path) -> str | None:
    """What an existing config path is when it is not a readable file, else None."""
    if path.is_file() or not os.path.lexists(path):
        return None
    if path.is_dir():
        return "a directory"
    return "not a regular file" if path.exists() else "a dangling symlink"


def refuse_unreadable_config(path: Path, name: str) -> None:
    """A config path that exists but is no file: a config error, as the App makes it."""
    what = not_a_file(path)
    if what is not None:
        raise ConfigError(f"is {what}, not a file; fix or remove it (ci-truth does not fall "
                          f"back to the defaults)", source=name)


def load_config(path: str | None) -> Config:
    """The named config, else .github/ci-truth.yml if present, else the defaults."""
    if path is None:
        refuse_unreadable_config(DEFAULT_CONFIG_PATH, str(DEFAULT_CONFIG_PATH))
        if not DEFAULT_CONFIG_PATH.is_file():
            return DEFAULT_CONFIG
        path = str(DEFAULT_CONFIG_PATH)
    return parse_config(read_text(path, MAX_CONFIG_BYTES, "config"), source=path)


def load_baseline(path: str) -> Baseline:
    """Read an earlier JSON output for the test-drop rule."""
    text = read_text(path, MAX_BASELINE_BYTES, "baseline")
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise UsageError(f"baseline {path} is not JSON: {exc}") from None
    return baseline_from_json(doc, source=path)


def render(result: Any, fmt: str) -> str:
    """The chosen rendering of a Result, with no workflow command in it (see `inert`)."""
    from bot.core.render import render_markdown, render_text
    from bot.core.state import to_json
    if fmt == "json":
        return inert(json.dumps(to_json(result), indent=2, ensure_ascii=False) + "\n", fmt)
    if fmt == "markdown":
        return inert(render_markdown(result) + "\n", fmt)
    return inert(render_text(result), fmt)


_LINE_BREAK = re.compile(r"(\r\n?|\n)")   # where the runner splits a step's output


def inert(out: str, fmt: str) -> str:
    """`out` with nothing a runner acts on: `check` may judge a fork's reports in a
    privileged job, and its output (unlike the Action's) is not inside ::stop-commands::.

    JSON spells `#` of `##[` as an escape (`#` only occurs inside strings: same data); text
    breaks `##[` as log_line does; Markdown puts an invisible U+200B in `##[` and before a
    `::` that starts a line (after its indentation, which Markdown needs).
    """
    if fmt == "json":
        return out.replace("##[", "#\\u0023[")
    parts = _LINE_BREAK.split(out)
    for i in range(0, len(parts), 2):
        line = log_line(parts[i]) if fmt == "text" else parts[i].replace("##[", "##\u200b[")
        blank = len(line) - len(line.lstrip())
        if line[blank:].startswith("::"):
            line = line[:blank] + "\u200b" + line[blank:]
        parts[i] = line
    return "".join(parts)


def write_stdout(text: str) -> None:
    """Print `text`; a reader that left (`| head`) only ends the output, not the verdict."""
    try:
        sys.stdout.buffer.write(text.encode("utf-8", errors="replace"))
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)   # the exit-time flush must not fail too
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def run(args: argparse.Namespace) -> int:
    """Exit 0 for success or neutral, 1 for a failing verdict, 2 for usage/config errors."""
    from bot.core.engine import evaluate
    from bot.core.limits import Limits
    from bot.core.model import Conclusion
    from bot.intake import iter_sources
    try:
        config = load_config(args.config)
        baseline = load_baseline(args.baseline) if args.baseline else None
        limits = Limits()
        result = evaluate(iter_sources(args.paths, limits), config, baseline=baseline,
                          limits=limits)
        out = render(result, args.format)
        if args.output:
            try:
                Path(args.output).write_text(out, encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}"
                                 ) from None
        else:
            write_stdout(out)
    except (ConfigError, UsageError) as exc:
        print(log_line(f"ci-truth: error: {exc}"), file=sys.stderr)
        return 2
    return 1 if result.verdict.conclusion is Conclusion.FAILURE else 0
