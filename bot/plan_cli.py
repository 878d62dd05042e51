"""`ci-truth plan`: evaluate the plan offline against reports or a saved state, or validate it."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.check import UsageError, read_text, write_stdout
from bot.core.coverage import CoverageCollector, parse_coverage
from bot.core.errors import ConfigError

if TYPE_CHECKING:
    from bot.core.plan import Waiver

MAX_STATE = 256 * 1024 * 1024


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `plan` on the main CLI's subparsers."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "plan", help="evaluate the master plan against test evidence",
        description="Evaluate the `plan:` section of a ci-truth config against reports "
                    "(same inputs as `check`) or a saved `check --format json` state.",
        epilog="Exit status: 0 after an evaluation (whatever the phases' status), 2 on "
               "configuration or usage errors, 3 internal error. See docs/plan.md.")
    p.add_argument("--config", required=True, help="the .github/ci-truth.yml to read")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="report files or directories, read as `check` reads them (coverage "
                        "XML among them feeds coverage.line_rate)")
    p.add_argument("--state", help="a saved `ci-truth check --format json` document")
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                   help="text (default); json: the ci-truth/plan@1 document; markdown: the "
                        "dashboard issue's body")
    p.add_argument("--validate", action="store_true", help="check the plan only")
    p.add_argument("--coverage", help="a Cobertura / coverage.py XML report")
    p.add_argument("--repo", help="directory whose files are the `files` variable")
    p.add_argument("--claim", action="append", default=[], metavar="FACT",
                   help="a plain fact a person claims (repeatable)")
    p.add_argument("--waive", action="append", default=[], metavar="CRITERION=WHO:WHY",
                   help="a waived criterion (repeatable)")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Exit 0 after printing the evaluation, 2 on configuration or usage errors."""
    # Imported here: CEL (cel-python, lark) costs ~18 MiB and 0.2 s, which `ci-truth check`
    # and the other commands should not pay just because `plan` is registered.
    from bot.core.plan import evaluate_plan
    from bot.core.plan.loader import plan_from_text
    from bot.core.plan.render import dashboard, to_json, to_text

    try:
        text = read_text(args.config, MAX_STATE, "config")
        plan, _signatures = plan_from_text(text, source=args.config)
        if plan is None:
            raise ConfigError("no `plan:` section", source=args.config)
        if args.validate:
            write_stdout(f"{args.config}: plan OK: {len(plan.phases)} phases, "
                         f"{len(plan.criteria)} criteria, {len(plan.actions)} actions\n")
            return 0
        state = _state(args, text)
        waivers = [_waiver(w) for w in args.waive]
        files = _repo_files(args.repo) if args.repo else None
        ev = evaluate_plan(plan, state, claimed=args.claim, waivers=waivers, repo_files=files)
    except ConfigError as err:
        print(f"ci-truth: {err}", file=sys.stderr)
        return 2
    except UsageError as err:
        print(f"ci-truth plan: {err}", file=sys.stderr)
        return 2
    if args.format == "json":
        write_stdout(json.dumps(to_json(ev), indent=2) + "\n")
    elif args.format == "markdown":
        write_stdout(dashboard(ev) + "\n")
    else:
        write_stdout(to_text(ev))
    return 0


def _state(args: argparse.Namespace, config_text: str) -> dict[str, Any]:
    if args.state and args.paths:
        raise UsageError("give report PATHs or --state, not both")
    doc: dict[str, Any]
    if args.state:
        try:
            raw = json.loads(read_text(args.state, MAX_STATE, "state"))
        except json.JSONDecodeError as err:
            raise UsageError(f"{args.state} is not JSON: {err.msg} at line {err.lineno}") from None
        if not isinstance(raw, dict) or raw.get("schema") != "ci-truth/state@1":
            raise UsageError(f"{args.state} is not a `check --format json` document "
                             "(schema ci-truth/state@1)")
        doc = raw
    elif args.paths:
        doc = _state_from_reports(args.paths, config_text, args.config)
    else:
        raise UsageError("give report PATHs or --state FILE (or --validate)")
    cov = args.coverage
    if cov:
        result = parse_coverage(_chunks(cov), path=cov)
        if result.error:
            print(f"ci-truth plan: coverage {cov}: {result.error}", file=sys.stderr)
        elif result.line_rate is not None:
            known = (doc.get("coverage") or {}).get("line_rate")
            rate = result.line_rate if not isinstance(known, int | float) \
                else min(known, result.line_rate)          # never overstate coverage
            doc["coverage"] = {"line_rate": rate}
    return doc


def _state_from_reports(paths: Sequence[str], config_text: str, source: str) -> dict[str, Any]:
    """Reports → state through the engine, as `check` computes it; coverage XML among them
    feeds coverage.line_rate instead of counting as an unreadable test report."""
    from bot import intake
    from bot.core.config import parse_config
    from bot.core.engine import evaluate
    from bot.core.limits import Limits
    from bot.core.state import to_json as state_json

    limits = Limits()
    coverage = CoverageCollector()
    result = evaluate(intake.iter_sources(paths, limits=limits),
                      parse_config(config_text, source=source), limits=limits, coverage=coverage)
    for bad in coverage.errors:
        print(f"ci-truth plan: coverage {bad.path}: {bad.error}", file=sys.stderr)
    doc: dict[str, Any] = state_json(result, generator="ci-truth plan")
    return doc


def _chunks(path: str) -> Any:
    # Opened here, not inside the generator: the XML reader turns errors raised while it
    # iterates into a reason ("empty file"), so a missing file must fail before it starts.
    try:
        fh = open(path, "rb")  # noqa: SIM115 - the generator below closes it
    except OSError as err:
        raise UsageError(f"cannot read coverage {path}: {err.strerror}") from None

    def read() -> Any:
        with fh:
            while chunk := fh.read(1 << 16):
                yield chunk
    return read()


def _repo_files(root: str) -> list[str]:
    base = Path(root)
    if not base.is_dir():
        raise UsageError(f"--repo {root} is not a directory")
    out = []
    for p in sorted(base.rglob("*")):
        rel = p.relative_to(base)
        if rel.parts and rel.parts[0] == ".git":
            continue
        if p.is_file():
            out.append(rel.as_posix())
        if len(out) >= 200_000:
            break
    return out


def _waiver(text: str) -> Waiver:
    from bot.core.plan import Waiver

    crit, _, rest = text.partition("=")
    who, _, why = rest.partition(":")
    if not crit or not who:
        raise UsageError(f"--waive {text!r}: expected CRITERION=WHO:WHY")
    return Waiver(crit.strip(), who.strip(), why.strip())


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point (`python -m bot.plan_cli`) until bot/cli.py registers `plan`."""
    parser = argparse.ArgumentParser(prog="ci-truth")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
