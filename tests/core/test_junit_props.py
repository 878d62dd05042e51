"""Property tests: random bytes, mangled real reports and random zips never crash the readers,
and garbage never reads as a report with tests in it."""

from __future__ import annotations

import io
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.archive import iter_zip
from bot.core.junit import parse_report
from bot.core.limits import Limits
from bot.core.model import FileReport
from tests.conftest import CORPUS
from tests.core.readers import EXAMPLES, GENERATED, chunked

SAMPLES = [
    (GENERATED / "pytest-failures.xml").read_bytes(),
    (GENERATED / "node-test-junit.xml").read_bytes(),
    (GENERATED / "ctest-junit.xml").read_bytes(),
    (EXAMPLES / "healthy" / "pytest-report.xml").read_bytes(),
    (CORPUS / "junit/quick-junit/crates/quick-junit-tests/tests/fixtures/basic_report.xml"
     ).read_bytes(),
    (CORPUS / "junit/publish-unit-test-result-action/python/test/files/trx/xunit/"
              "dotnet-trx.trx").read_bytes(),
    (CORPUS / "junit/publish-unit-test-result-action/python/test/files/nunit/nunit3/jenkins/"
              "NUnit-correct.xml").read_bytes(),
    (CORPUS / "junit/publish-unit-test-result-action/python/test/files/xunit/mstest/"
              "fixie.xml").read_bytes(),
]
SMALL = Limits(max_file_bytes=1 << 20, max_testcases=10_000)
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parse(data: bytes, size: int = 1 << 20) -> FileReport:
    report = parse_report(chunked(data, size), path="fuzz.xml", sink=lambda _: None,
                          limits=SMALL)
    c = report.counts
    assert c.tests == c.passed + c.failed + c.errors + c.skipped
    assert report.error is None or report.error.strip()
    return report


@PROPS
@given(st.binary(max_size=4096))
def test_random_bytes_never_look_like_evidence(data: bytes) -> None:
    report = _parse(data)
    assert report.error is not None or report.counts.tests == 0


@PROPS
@given(st.sampled_from(SAMPLES), st.data())
def test_truncated_real_reports_are_errors(sample: bytes, data: st.DataObject) -> None:
    end = len(sample.rstrip())
    cut = data.draw(st.integers(min_value=0, max_value=end - 1))
    report = _parse(sample[:cut], size=data.draw(st.integers(1, 4096)))
    assert report.error is not None


def mangle(sample: bytes, data: st.DataObject) -> bytes:
    """A real report with 1-5 random deletions, insertions of XML-ish tokens, or bit flips."""
    mangled = bytearray(sample)
    for _ in range(data.draw(st.integers(1, 5))):
        at = data.draw(st.integers(0, max(len(mangled) - 1, 0)))
        action = data.draw(st.sampled_from(["delete", "insert", "flip"]))
        if action == "delete":
            del mangled[at:at + data.draw(st.integers(1, 64))]
        elif action == "insert":
            mangled[at:at] = data.draw(st.sampled_from(
                [b"<", b"&", b"]]>", b"<!DOCTYPE x>", b"\x00", b"<testcase>", b"</testsuite>",
                 b"&lol;", b"\xff\xfe", b"<?xml version='1.0'?>"]))
        elif mangled:
            mangled[at] ^= data.draw(st.integers(1, 255))
    return bytes(mangled)


@PROPS
@given(st.sampled_from(SAMPLES), st.data())
def test_mangled_real_reports_never_crash(sample: bytes, data: st.DataObject) -> None:
    _parse(mangle(sample, data), size=data.draw(st.integers(1, 2048)))


NAMES = st.tuples(st.text(min_size=1, max_size=20),
                  st.sampled_from([".xml", ".trx", ".junit-xml", ".txt", ".xml.gz", ""])).map(
    lambda t: (t[0].replace("\x00", "") or "x") + t[1])


@PROPS
@given(st.lists(st.tuples(NAMES, st.one_of(st.sampled_from(SAMPLES), st.binary(max_size=300))),
                max_size=6, unique_by=lambda m: m[0]),
       st.data())
def test_random_zips_never_crash(members: list[tuple[str, bytes]], data: st.DataObject) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, content in members:
            zf.writestr(name, content)
    raw = bytearray(buf.getvalue())
    corrupt = bool(raw) and data.draw(st.booleans())
    if corrupt:
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] ^= data.draw(st.integers(1, 255))
    intact = dict(members)
    for member in iter_zip(io.BytesIO(bytes(raw)), name="a.zip", limits=SMALL):
        if member.chunks is None:
            assert member.error
            continue
        report = parse_report(member.chunks, path=member.name, sink=lambda _: None)
        c = report.counts
        assert c.tests == c.passed + c.failed + c.errors + c.skipped
        content = intact.get(member.name.removeprefix("a.zip!"))
        if not corrupt and content is not None and content not in SAMPLES:
            assert report.error is not None or c.tests == 0  # random bytes are never evidence
