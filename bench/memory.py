"""Peak RSS reading a 1 MB vs a 1 GB report, through parse_report alone and `ci-truth check`.

Each case runs in a fresh subprocess that reports its own VmHWM (peak resident set). Target
(issue 2): the 1 GB case at most 10 MB above the 1 MB case. The default caps refuse a 1 GB
report (max_file_bytes 512 MiB; a pytest-style 1 GB report also exceeds max_testcases 5 M), so
the children raise those two caps only; `check` otherwise runs as shipped (Measurer, judge,
text rendering to /dev/null). The `check` path keeps up to Limits.max_test_ids (50,000) test
ids for the test-drop rule, so a third case re-runs the 1 GB check with that cap at 5,000 (what
the 1 MB report holds) to show how much of the difference those ids are.

    python bench/memory.py [--style pytest|surefire] [--big 1GB] [--strict]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
import tempfile
import time
from pathlib import Path

from _common import SIZES, child, chunks, machine, peak_rss_kib, verdict, write_report

TARGET_MIB = 10_000_000 / 2**20  # 10 MB


def one(case: str, path: str, max_test_ids: str) -> None:
    """Child process: read one report one way, print its peak RSS as JSON."""
    from bot.core import limits as limits_mod
    from bot.core.junit import parse_report

    big = {"max_file_bytes": 4 * limits_mod.GiB, "max_total_bytes": 4 * limits_mod.GiB,
           "max_testcases": 100_000_000}
    if int(max_test_ids):
        big["max_test_ids"] = int(max_test_ids)
    start = time.perf_counter()
    if case == "parser":
        report = parse_report(chunks(Path(path)), path=path, sink=lambda _tc: None,
                              limits=limits_mod.Limits(**big))
        status = report.error or f"{report.counts.tests} tests"
    else:
        from bot import cli

        limits_mod.Limits = functools.partial(limits_mod.Limits, **big)  # type: ignore[misc]
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
            status = f"exit {cli.main(['check', path])}"
    print(f'{{"hwm_kib": {peak_rss_kib()}, "seconds": {time.perf_counter() - start:.1f}, '
          f'"status": "{status}"}}')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", default="pytest", choices=["pytest", "surefire"])
    parser.add_argument("--big", default="1GB", choices=["100MB", "1GB"])
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--one", nargs=3, metavar=("CASE", "PATH", "IDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(*args.one)
        return 0
    print(f"memory.py — {machine()}")
    rows: dict[tuple[str, str], dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="ci-truth-bench-") as tmp:
        for size in ("1MB", args.big):
            path = Path(tmp, f"{args.style}-{size}.xml")
            write_report(path, SIZES[size], args.style)
            for case in ("parser", "check"):
                rows[case, size] = child("memory.py", case, str(path), "0")
            if size != "1MB":
                rows["check, max_test_ids=5000", size] = child("memory.py", "check", str(path),
                                                               "5000")
            path.unlink()
    print(f"{args.style}-style reports; peak RSS (VmHWM) of a fresh process per case")
    print(f"  {'case':<28} {'size':>6} {'peak MiB':>9} {'seconds':>8}  outcome")
    for (case, size), r in rows.items():
        print(f"  {case:<28} {size:>6} {int(r['hwm_kib']) / 1024:>9.1f} "  # type: ignore[call-overload]
              f"{r['seconds']:>8}  {r['status']}")
    misses = []
    for case in ("parser", "check"):
        diff = (int(rows[case, args.big]["hwm_kib"])  # type: ignore[call-overload]
                - int(rows[case, "1MB"]["hwm_kib"])) / 1024  # type: ignore[call-overload]
        ok = diff <= TARGET_MIB
        print(f"  {case}: {args.big} − 1MB = {diff:+.1f} MiB (target ≤ {TARGET_MIB:.1f} MiB) "
              f"{verdict(ok)}")
        if not ok:
            misses.append(case)
    capped = (int(rows["check, max_test_ids=5000", args.big]["hwm_kib"])  # type: ignore[call-overload]
              - int(rows["check", "1MB"]["hwm_kib"])) / 1024  # type: ignore[call-overload]
    print(f"  check with max_test_ids=5000: {args.big} − 1MB = {capped:+.1f} MiB "
          f"(the rest of the check difference is the kept test ids)")
    return 1 if misses and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
