"""Shared bench helpers: synthetic JUnit reports (streamed to disk), timing, RSS, subprocesses."""

from __future__ import annotations

import gzip
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
CORPUS = Path(os.environ.get("CI_TRUTH_SHARED", ROOT.parent / "shared")) / "corpus"
NUMPY_GZ = CORPUS / "large" / "numpy-pytest.full.junit.xml.gz"
CHUNK = 1 << 20
MB = 1_000_000
SIZES = {"1MB": MB, "100MB": 100 * MB, "1GB": 1000 * MB}

_TRACE = "".join(f"    at com.example.module{i}.Service.call(Service.java:{40 + i})\n"
                 for i in range(25))
_PROPS = "".join(f'    <property name="sys.prop.{i:03d}" value="/opt/hostedtoolcache/jdk/'
                 f'17.0.{i}/x64/lib/modules:{"x" * 20}"/>\n' for i in range(40))


def _pytest_block() -> tuple[str, list[int]]:
    """1,000 one-line pytest testcases (2 % failed, 5 % skipped, 3 % with system-out); "@B@"
    stands for the block number, so ids stay unique and blocks are cheap to stamp out."""
    out, n = [], [0, 0, 0]
    for j in range(1000):
        i = f"@B@{j:03d}"
        head = (f'<testcase classname="tests.unit.test_module_{j % 97:03d}.TestFeature{j % 13}" '
                f'name="test_behaviour_{i}[case-{j % 7}]" file="tests/unit/test_module_'
                f'{j % 97:03d}.py" line="{(j * 7) % 900}" time="0.{j:03d}"')
        n[0] += 1
        if j % 50 == 3:
            n[1] += 1
            out.append(f'{head}><failure message="AssertionError: assert {j} == {j + 1}">'
                       f"def test():\n&gt;       assert {j} == {j + 1}\nE       AssertionError"
                       f"</failure></testcase>")
        elif j % 20 == 7:
            n[2] += 1
            out.append(f'{head}><skipped type="pytest.skip" message="needs a GPU">'
                       f"tests/unit/conftest.py:12: needs a GPU</skipped></testcase>")
        elif j % 33 == 5:
            out.append(f"{head}><system-out>collected output line {i}\n</system-out></testcase>")
        else:
            out.append(f"{head} />")
    return "".join(out), n


def _surefire_suite() -> tuple[str, list[int]]:
    """One pretty-printed Surefire suite: a ~4 KB <properties> block, 100 testcases, CDATA;
    "@B@" stands for the suite number."""
    cls = "com.example.module@B@.Feature@B@Test"
    cases, n = [], [0, 0, 0]
    for j in range(100):
        head = f'  <testcase name="shouldHandleCase{j}" classname="{cls}" time="0.0{j % 90 + 10}"'
        n[0] += 1
        if j % 50 == 3:
            n[1] += 1
            cases.append(f'{head}>\n    <failure message="expected: &lt;{j}&gt; but was: '
                         f'&lt;{j + 1}&gt;" type="org.opentest4j.AssertionFailedError">'
                         f"<![CDATA[org.opentest4j.AssertionFailedError: expected: <{j}>\n"
                         f"{_TRACE}]]></failure>\n  </testcase>\n")
        elif j % 20 == 7:
            n[2] += 1
            cases.append(f'{head}>\n    <skipped message="disabled on CI"/>\n  </testcase>\n')
        elif j % 33 == 5:
            cases.append(f"{head}>\n    <system-out><![CDATA[INFO started {cls}\n]]>"
                         f"</system-out>\n  </testcase>\n")
        else:
            cases.append(f"{head}/>\n")
    body = (f'<testsuite name="{cls}" tests="{n[0]}" failures="{n[1]}" errors="0" '
            f'skipped="{n[2]}" time="1.5">\n  <properties>\n{_PROPS}  </properties>\n'
            + "".join(cases) + "</testsuite>\n")
    return body, n


def write_report(path: Path, size: int, style: str) -> int:
    """Stream a synthetic report of about `size` bytes to `path`; return its testcase count."""
    if style == "pytest":
        block, per = _pytest_block()
        blocks = max(1, size // len(block))
        n = [x * blocks for x in per]  # the same counts in every block
        with path.open("w", encoding="utf-8") as fh:
            fh.write(f'<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">'
                     f'<testsuite name="pytest" errors="0" failures="{n[1]}" skipped="{n[2]}" '
                     f'tests="{n[0]}" time="1234.5" timestamp="2026-11-22T02:48:31" '
                     f'hostname="runner">')
            for b in range(blocks):
                fh.write(block.replace("@B@", str(b)))
            fh.write("</testsuite></testsuites>")
        return n[0]
    if style == "surefire":
        suite = _surefire_suite()[0]
        suites = max(1, size // len(suite))
        with path.open("w", encoding="utf-8") as fh:
            fh.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n')
            for b in range(suites):
                fh.write(suite.replace("@B@", str(b)))
            fh.write("</testsuites>\n")
        return suites * 100
    raise ValueError(style)


def unpack_numpy(dest: Path) -> Path:
    """The corpus numpy report, gunzipped into `dest`."""
    out = dest / "numpy-pytest.full.junit.xml"
    with gzip.open(NUMPY_GZ, "rb") as src, out.open("wb") as dst:
        shutil.copyfileobj(src, dst, CHUNK)
    return out


def chunks(path: Path) -> Iterator[bytes]:
    """The file in 1 MiB reads (what every parser under test is fed)."""
    with path.open("rb") as fh:
        while data := fh.read(CHUNK):
            yield data


def peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return -1


def rss_kib() -> int:
    """This process's current resident set (VmRSS) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def child(script: str, *args: str, timeout: float = 3600) -> dict[str, object]:
    """Run `python bench/<script> --one ...` in a fresh process; its last stdout line is JSON."""
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--one", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"{script} {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def median(values: list[float]) -> float:
    """The median (of several noisy runs)."""
    return statistics.median(values)


def spread(values: list[float]) -> str:
    """min–max of runs, for the noise column."""
    return f"{min(values):.1f}–{max(values):.1f}"


def machine() -> str:
    """A one-line description of where the figures were measured."""
    load = os.getloadavg()[0]
    return (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}, load average {load:.1f} at start")


def verdict(ok: bool) -> str:
    """PASS or FAIL."""
    return "PASS" if ok else "FAIL"
