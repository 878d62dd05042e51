"""Command line: `ci-truth <command>`; each command lives in its own module."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from bot import __version__, action, check, plan_cli
from bot.app import serve
from bot.ghactions import log_line

# Each module exposes add_parser(subparsers) -> None and run(args) -> int.
COMMANDS: list[ModuleType] = [check, plan_cli, serve, action]

EXIT_INTERNAL = 3


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered command."""
    parser = argparse.ArgumentParser(
        prog="ci-truth", description="Tell the truth about CI: fail when a green run has "
        "no real test evidence.")
    parser.add_argument("--version", action="version", version=f"ci-truth {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        before = set(subparsers.choices)
        module.add_parser(subparsers)
        run: Callable[[argparse.Namespace], int] = module.run
        for name in set(subparsers.choices) - before:
            subparsers.choices[name].set_defaults(_run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; exit 0 ok/neutral, 1 failing verdict, 2 usage or config error, 3 bug."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_usage(sys.stderr)
        print("ci-truth: error: choose a command, e.g. `ci-truth check reports/`",
              file=sys.stderr)
        return 2
    try:
        return int(run(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `ci-truth check ... | head`: the reader left; not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:  # a bug, not bad input: say so without a traceback wall
        if os.environ.get("CI_TRUTH_DEBUG"):
            raise
        print(log_line(f"ci-truth: internal error ({type(exc).__name__}: {exc}); please "
                       "report it"), file=sys.stderr)
        return EXIT_INTERNAL
