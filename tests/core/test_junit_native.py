"""The C accelerator (bot/core/_fastjunit.c) reads every report exactly as the Python reader.

Differential: each real report (corpus, tests/data, examples), truncated prefixes, mangled
reports and generated JUnit built to hit the fast path's edges (reruns, pytest suites, odd
times, long names, caps) are parsed by both, in the engine's mode (`passed=` with batches,
with and without system-err) and in the full mode (every TestCase to the sink), at two feed
sizes; the
FileReports and the sequences of tests and passed ids handed out must be identical.
"""

from __future__ import annotations

import gzip
import pyexpat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core import xmlaccel
from bot.core.junit import parse_report
from bot.core.limits import DEFAULT_LIMITS, Limits
from bot.core.measure import Measurer
from bot.core.model import FileReport
from bot.core.testcase import TestCase
from bot.core.xmlstream import new_parser
from tests.conftest import CORPUS
from tests.core.readers import DATA, EXAMPLES, chunked
from tests.core.test_junit_props import PROPS, SAMPLES, mangle

pytestmark = pytest.mark.skipif(not xmlaccel.available(),
                                reason="the C accelerator was not built (no compiler/expat.h)")

Seen = tuple[FileReport, list[TestCase], list[tuple[str, str]]]
SAME_EXPAT = getattr(xmlaccel.NATIVE, "EXPAT_VERSION", None) == pyexpat.EXPAT_VERSION
REPORT_FILES = sorted(
    [p for p in (CORPUS / "junit").rglob("*")
     if p.is_file() and p.suffix in {".xml", ".trx", ".junit-xml", ".golden"}]
    + list(DATA.rglob("*.xml")) + list(EXAMPLES.rglob("*.xml")))
NUMPY = CORPUS / "large" / "numpy-pytest.full.junit.xml.gz"


def _read(data: bytes, native: bool, engine: bool, size: int, limits: Limits,
          system_err: bool = False) -> Seen:
    cases: list[TestCase] = []
    passes: list[tuple[str, str]] = []
    if engine:
        report = parse_report(chunked(data, size), path="r.xml", sink=cases.append,
                              limits=limits, passed=lambda i, e: passes.append((i, e)),
                              passed_many=lambda ids: passes.extend((i, "") for i in ids),
                              system_err=system_err, native=native)
    else:
        report = parse_report(chunked(data, size), path="r.xml", sink=cases.append,
                              limits=limits, system_err=system_err, native=native)
    return report, cases, passes


def same(data: bytes, *, sizes: tuple[int, ...] = (1 << 20, 4093),
         limits: Limits = DEFAULT_LIMITS) -> Seen:
    """Both readers, every mode, every feed size: identical; returns the engine-mode result.

    Modes: the engine's without signatures (no system-err), the engine's with signatures
    configured (system-err read for them), and the full mode (every TestCase to the sink).
    """
    first: Seen | None = None
    for engine, system_err in ((True, False), (True, True), (False, True)):
        for size in sizes:
            pure = _read(data, False, engine, size, limits, system_err)
            fast = _read(data, True, engine, size, limits, system_err)
            first = first or fast
            if not SAME_EXPAT and (pure[0].error or fast[0].error):
                # Another expat (pyexpat's bundled one, e.g. 2.6.3 on Python 3.13, against the
                # system's) may word an error differently or find it a chunk later: both must
                # refuse the input, the sentence and what was read before it may differ.
                assert bool(fast[0].error) == bool(pure[0].error)
                continue
            assert fast[0] == pure[0]
            assert fast[1] == pure[1]
            assert fast[2] == pure[2]
    assert first is not None
    return first


def test_the_files_are_found() -> None:
    assert len(REPORT_FILES) > 150


@pytest.mark.parametrize("path", REPORT_FILES, ids=lambda p: str(p.relative_to(p.parents[2])))
def test_every_real_report_reads_the_same(path: Path) -> None:
    same(path.read_bytes())


def test_numpy_reads_the_same_and_through_the_measurer() -> None:
    data = gzip.decompress(NUMPY.read_bytes())
    report, _, passes = same(data, sizes=(1 << 20, 65_537))
    assert report.counts.tests == 48_021 and len(passes) == report.counts.passed
    states = []
    for native in (False, True):
        m = Measurer(max_test_ids=20_000)
        r = parse_report(chunked(data), path="n.xml", sink=m.sink_for("n.xml"),
                         passed=m.passed, passed_many=m.passed_many, system_err=False,
                         native=native)
        m.add_file(r)
        states.append(m.state())
    assert states[0] == states[1] and not states[0].test_ids_complete


def _events(data: bytes, native: bool) -> tuple[int, int, tuple[int, int, int] | None]:
    """Start and end events of one Parse() of all of ``data``, and the error's position."""
    parser = new_parser(native=native)
    seen = [0, 0]
    parser.StartElementHandler = lambda _n, _a: seen.__setitem__(0, seen[0] + 1)
    parser.EndElementHandler = lambda _n: seen.__setitem__(1, seen[1] + 1)
    try:
        parser.Parse(data, True)
    except pyexpat.ExpatError as exc:
        return seen[0], seen[1], (exc.code, exc.lineno, exc.offset)
    return seen[0], seen[1], None


@pytest.mark.skipif(not SAME_EXPAT, reason="error positions differ between expat versions")
def test_one_parse_call_over_a_mebibyte_reads_the_same_errors_included() -> None:
    """xmlstream feeds 1 MiB at a time; a caller of the bare reader may pass more in one call,
    which the C reader hands expat 1 MiB at a time, as pyexpat does (MAX_CHUNK_SIZE)."""
    data = gzip.decompress(NUMPY.read_bytes())
    assert len(data) > 10 << 20
    whole = _events(data, native=True)
    assert whole == _events(data, native=False) and whole[2] is None and whole[0] > 48_021
    at = data.index(b"<testcase", 3 << 20)                # a tag broken past the third MiB
    broken = data[:at] + b"<testcase <" + data[at + len(b"<testcase"):]
    fast = _events(broken, native=True)
    assert fast == _events(broken, native=False) and fast[2] is not None


@pytest.mark.parametrize("sample", range(len(SAMPLES)))
def test_truncated_prefixes_read_the_same(sample: int) -> None:
    data = SAMPLES[sample]
    step = max(1, len(data) // 150)
    for end in range(0, len(data), step):
        same(data[:end], sizes=(1 << 20, 61))


def test_caps_hold_in_c_with_the_same_sentences() -> None:
    data = gzip.decompress(NUMPY.read_bytes())
    refused = {Limits(max_testcases=1000): "refused: the report holds more than 1,000",
               Limits(max_testcases=0): "refused: the report holds more than 0 testcases",
               Limits(max_depth=3): "refused: XML nested deeper than 3 levels",
               Limits(max_file_bytes=1_000_000): "refused: the report is larger than"}
    for limits, reason in refused.items():
        report = same(data, sizes=(1 << 20,), limits=limits)[0]
        assert report.error is not None and report.error.startswith(reason)
    assert same(data, sizes=(1 << 20,), limits=Limits(max_name=20))[0].error is None


@pytest.mark.parametrize("xml", [
    b"<testsuites><testsuite><b/></testsuite></testsuites>",          # outside a testcase
    b"<testsuites><testsuite><testcase classname='c' name='n'><b/></testcase></testsuite>"
    b"</testsuites>",                                                  # inside one (C case)
    b"<testsuites><testsuite><testcase classname='c' name='n'/></testsuite></testsuites>",
    b"<testsuites><testsuite><testcase name='n'><failure/></testcase></testsuite></testsuites>",
])
def test_a_refused_empty_element_ends_the_parse(xml: bytes) -> None:
    """expat calls an empty element's end handler even after its start handler stopped the
    parse (the depth refusal here): the C reader must ignore it (it once crashed there)."""
    for depth in (1, 2):
        report = same(xml, limits=Limits(max_depth=depth))[0]
        assert report.error == f"refused: XML nested deeper than {depth} levels " \
                               f"(limits.max_depth)"


@PROPS
@given(st.sampled_from(SAMPLES), st.data())
def test_mangled_reports_read_the_same(sample: bytes, data: st.DataObject) -> None:
    same(mangle(sample, data), sizes=(data.draw(st.integers(1, 2048)),))


TIMES = st.sampled_from([None, "1.5", "0", "0.001", "1e3", "2,5", "-1", "1e7", " 1", "inf",
                         "1_0", "", "15ms", "999638317", "nan", ".5", "5.", "1E-2"])
CHILDREN = st.sampled_from([
    "", "<failure message='m'>boom\nline</failure>", "<skipped/>", "<error>e</error>",
    "<system-err>err</system-err>", "<system-out>out</system-out>", "<flakyFailure/>",
    "<flakyError><system-err>x</system-err></flakyError>",
    "<properties><property name='a' value='b'/></properties>",
    "<testcase classname='n' name='n'/>", "<wrap><failure/></wrap>", "text &amp; more",
    "<rerunFailure/>", "<![CDATA[<failure/>]]>"])


@st.composite
def junit_case(draw: st.DrawFn) -> str:
    attrs = {"classname": draw(st.sampled_from([None, "", "a", "b.C", "é" * 4, "k" * 30])),
             "name": draw(st.sampled_from([None, "t", "u", "", "n" * 30])),
             "time": draw(TIMES),
             "status": draw(st.sampled_from([None, None, "skipped", "run"])),
             "line": draw(st.sampled_from([None, "3", "x"])),
             "file": draw(st.sampled_from([None, "f.py"]))}
    head = "".join(f' {k}="{v}"' for k, v in attrs.items() if v is not None)
    body = "".join(draw(st.lists(CHILDREN, max_size=3)))
    return f"<testcase{head}>{body}</testcase>" if body else f"<testcase{head}/>"


@st.composite
def suite(draw: st.DrawFn, depth: int = 0) -> str:
    name = draw(st.sampled_from(["pytest", "s", "", None]))
    tests = draw(st.sampled_from([None, "2", "3"]))
    head = (f' name="{name}"' if name is not None else "") + \
        (f' tests="{tests}"' if tests is not None else "")
    parts = draw(st.lists(st.one_of(
        junit_case(), junit_case().map(lambda c: c + c),  # a repeat: a rerun or a mocha title
        junit_case().map(lambda c: f"<group>{c}</group>"),
        st.just("<properties><property name='p' value='v'/></properties>"),
        *([suite(depth + 1)] if depth < 2 else [])), max_size=8))
    return f"<testsuite{head}>{''.join(parts)}</testsuite>"


@PROPS
@given(st.lists(suite(), min_size=1, max_size=3), st.sampled_from(["testsuites", "testrun", ""]),
       st.integers(1, 300), st.sampled_from([DEFAULT_LIMITS, Limits(max_testcases=3),
                                            Limits(max_depth=4), Limits(max_name=8)]),
       st.integers(0, 40))
def test_generated_junit_reads_the_same(suites: list[str], root: str, size: int,
                                        limits: Limits, cut: int) -> None:
    body = "".join(suites)
    xml = f"<{root} name='pytest tests'>{body}</{root}>" if root else suites[0]
    data = xml.encode()
    same(data, sizes=(size,), limits=limits)
    same(data[:len(data) - cut], sizes=(size,), limits=limits)
