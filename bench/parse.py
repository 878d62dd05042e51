"""Parser throughput: ci-truth's parse_report vs a bare pyexpat <testcase> counter and junitparser.

Every measurement runs in a fresh subprocess fed the same file in 1 MiB reads; methods are
interleaved run by run so load from other processes hits them alike, and the verdicts use
ratios of medians from this run only. Throughput is MB (10^6 bytes) per second of the
process's CPU time (the machine is shared, so wall time mostly measures the scheduler);
wall-clock MB/s is printed beside it. Targets (issue 2): ci-truth ≥ 0.8× the bare counter
and ≥ 2× junitparser. junitparser builds the whole tree (~6 GB RAM at 1 GB), so it runs on the
numpy report and 100 MB only. The benchmark raises ci-truth's caps (max_file_bytes 512 MiB,
max_testcases 5 M would refuse the 1 GB reports by design) to measure parsing itself.

Rows: `ci-truth` is parse_report as bot/core/engine.py calls it (`passed=`/`passed_many=` into a
real Measurer, system_err=False as with the default config) with the default reader (the C
accelerator when built); the targets apply to it. Informative: `ci-truth-pure`, the same with
the pure-Python reader; `ci-truth-full`, the old row (a no-op TestCase sink, every test built).

    python bench/parse.py [--sizes numpy,100MB,1GB] [--styles pytest,surefire] [--runs 3]
                          [--quick] [--strict]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from xml.parsers import expat

from _common import (
    SIZES,
    child,
    chunks,
    machine,
    median,
    peak_rss_kib,
    spread,
    unpack_numpy,
    verdict,
    write_report,
)

TARGET_EXPAT, TARGET_JUNITPARSER = 0.8, 2.0
JUNITPARSER_MAX = 200_000_000  # bytes: beyond this junitparser's tree needs gigabytes of RAM


def _parse(path: Path, *, engine: bool, native: bool | None) -> int:
    """parse_report as the engine calls it (engine=True: `passed=`/`passed_many=` into a real
    Measurer, system_err=False as with the default config), or with a no-op TestCase sink."""
    from bot.core.junit import parse_report
    from bot.core.limits import GiB, Limits
    from bot.core.measure import Measurer

    limits = Limits(max_file_bytes=4 * GiB, max_total_bytes=4 * GiB, max_testcases=100_000_000)
    if engine:
        m = Measurer(max_failures=limits.max_failures_kept,
                     max_details=limits.max_details_kept, max_test_ids=limits.max_test_ids)
        report = parse_report(chunks(path), path=str(path), sink=m.sink_for(str(path)),
                              limits=limits, passed=m.passed, passed_many=m.passed_many,
                              system_err=False, native=native)
        m.add_file(report)
    else:
        report = parse_report(chunks(path), path=str(path), sink=lambda _tc: None,
                              limits=limits, native=native)
    if report.error:
        raise SystemExit(f"ci-truth refused {path}: {report.error}")
    return report.counts.tests


def _citruth(path: Path) -> int:
    return _parse(path, engine=True, native=None)


def _citruth_pure(path: Path) -> int:
    return _parse(path, engine=True, native=False)


def _citruth_full(path: Path) -> int:
    return _parse(path, engine=False, native=None)


class _Doctype(Exception):
    pass


def _refuse(*_args: object) -> None:
    raise _Doctype


def _expat(path: Path) -> int:
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse
    count = 0

    def start(name: str, _attrs: object) -> None:
        nonlocal count
        if name == "testcase":
            count += 1

    parser.StartElementHandler = start
    for data in chunks(path):
        parser.Parse(data, False)
    parser.Parse(b"", True)
    return count


def _expat_extract(path: Path) -> int:
    """Informative: the minimal start/end handler pair of the measurements doc (classname, name,
    time, status, message per testcase into a tuple), no caps, no record object."""
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse
    count = 0
    case: dict[str, str] | None = None
    status, message = "passed", ""

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal case, status, message
        if name == "testcase":
            case, status, message = attrs, "passed", ""
        elif case is not None and name in ("failure", "error", "skipped"):
            status, message = name, attrs.get("message", "")

    def end(name: str) -> None:
        nonlocal case, count
        if name == "testcase" and case is not None:
            _ = (case.get("classname", ""), case.get("name", ""), float(case.get("time") or 0),
                 status, message)
            case = None
            count += 1

    parser.StartElementHandler, parser.EndElementHandler = start, end
    for data in chunks(path):
        parser.Parse(data, False)
    parser.Parse(b"", True)
    return count


def _junitparser(path: Path) -> int:
    from junitparser import JUnitXml, TestSuite

    xml = JUnitXml.fromfile(str(path))
    suites = [xml] if isinstance(xml, TestSuite) else list(xml)
    count = 0
    for suite in suites:
        for case in suite:  # the same fields ci-truth extracts per testcase
            _ = (case.classname, case.name, case.time, case.is_skipped, case.is_passed,
                 [r.message for r in case.result])
            count += 1
    return count


METHODS = {"ci-truth": _citruth, "expat-count": _expat, "junitparser": _junitparser,
           "ci-truth-pure": _citruth_pure, "ci-truth-full": _citruth_full,
           "expat-extract": _expat_extract}
INFORMATIVE = ("ci-truth-pure", "ci-truth-full")  # rows without a target of their own


def one(method: str, path: str) -> None:
    """Child process: time one method on one file (imports done first), print JSON."""
    import junitparser  # noqa: F401

    import bot.core.junit
    import bot.core.measure  # noqa: F401
    wall, cpu = time.perf_counter(), time.process_time()
    tests = METHODS[method](Path(path))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f'{{"wall": {wall}, "cpu": {cpu}, "tests": {tests}, "rss_kib": {peak_rss_kib()}}}')


def bench_file(label: str, path: Path, expected: int | None, runs: int,
               with_junitparser: bool, extract: bool = False) -> list[str]:
    """Measure every method on one file; print the rows; return failed targets."""
    methods = (["ci-truth", "expat-count"] + (["junitparser"] if with_junitparser else [])
               + list(INFORMATIVE) + (["expat-extract"] if extract else []))
    mb = path.stat().st_size / 1e6
    speeds: dict[str, list[float]] = {m: [] for m in methods}
    walls: dict[str, list[float]] = {m: [] for m in methods}
    rss: dict[str, int] = {}
    for _ in range(runs):
        for m in methods:
            r = child("parse.py", m, str(path))
            if expected is not None and r["tests"] != expected:
                raise SystemExit(f"{m} counted {r['tests']} testcases in {label}, not {expected}")
            expected = int(r["tests"])  # type: ignore[call-overload]
            speeds[m].append(mb / float(r["cpu"]))  # type: ignore[arg-type]
            walls[m].append(mb / float(r["wall"]))  # type: ignore[arg-type]
            rss[m] = max(rss.get(m, 0), int(r["rss_kib"]))  # type: ignore[call-overload]
    print(f"\n{label}: {mb:,.1f} MB, {expected:,} testcases, {runs} runs")
    print(f"  {'method':<14} {'MB/s (CPU)':>10} {'min–max':>12} {'MB/s (wall)':>11} "
          f"{'min–max':>12} {'peak RSS MiB':>12}")
    for m in methods:
        print(f"  {m:<14} {median(speeds[m]):>10.1f} {spread(speeds[m]):>12} "
              f"{median(walls[m]):>11.1f} {spread(walls[m]):>12} {rss[m] / 1024:>12.0f}")
    ours, misses = median(speeds["ci-truth"]), []
    for other, target in (("expat-count", TARGET_EXPAT), ("junitparser", TARGET_JUNITPARSER)):
        if other in speeds:
            ratio = ours / median(speeds[other])
            ok = ratio >= target
            print(f"  ci-truth / {other}: {ratio:.2f}× (target ≥ {target}×) {verdict(ok)}")
            if not ok:
                misses.append(f"{label} vs {other}: {ratio:.2f}×")
        else:
            print(f"  ci-truth / {other}: not run (its whole-tree parse needs ~6 GB at 1 GB)")
    for m in INFORMATIVE:
        ratio = median(speeds[m]) / median(speeds["expat-count"])
        print(f"  (informative) {m} / expat-count: {ratio:.2f}×")
    if "expat-extract" in speeds:
        ratio = median(speeds["expat-extract"]) / median(speeds["expat-count"])
        print(f"  (informative) expat-extract / expat-count: {ratio:.2f}×")
    return misses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="numpy,100MB,1GB",
                        help="comma list of numpy, 1MB, 100MB, 1GB")
    parser.add_argument("--styles", default="pytest,surefire")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="numpy and 100MB, one run (a smoke test, not a measurement)")
    parser.add_argument("--extract", action="store_true",
                        help="also run expat-extract (a minimal start/end handler; informative)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(*args.one)
        return 0
    if args.quick:
        args.sizes, args.runs = "numpy,100MB", 1
    print(f"parse.py — {machine()}")
    misses: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ci-truth-bench-") as tmp:
        for size in args.sizes.split(","):
            if size == "numpy":
                misses += bench_file("numpy (corpus)", unpack_numpy(Path(tmp)), 48021,
                                     args.runs, True, args.extract)
                continue
            for style in args.styles.split(","):
                path = Path(tmp, f"{style}-{size}.xml")
                start = time.perf_counter()
                n = write_report(path, SIZES[size], style)
                print(f"\n(generated {path.name} in {time.perf_counter() - start:.1f} s)")
                misses += bench_file(f"{style} {size}", path, n, args.runs,
                                     SIZES[size] <= JUNITPARSER_MAX, args.extract)
                path.unlink()
    print("\nverdict:", "all targets met" if not misses else "MISSED: " + "; ".join(misses))
    return 1 if misses and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
