"""Hostile reports: DTDs and entities refused at once, caps on depth, size and testcases."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest

from bot.core.junit import parse_report
from bot.core.limits import Limits
from tests.core.readers import EXAMPLES, GENERATED, read_bytes

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<testsuite><testcase name="&lol9;"><failure message="&lol9;"/></testcase></testsuite>
"""

QUADRATIC = (b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "' + b"A" * 50_000 + b'">]>'
             b"<testsuite><testcase name=\"x\"><failure>" + b"&a;" * 50_000
             + b"</failure></testcase></testsuite>")

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<testsuite><testcase name="t"><failure message="&xxe;"/></testcase></testsuite>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY % ext SYSTEM "http://127.0.0.1:9/evil.dtd"> %ext;]>
<testsuite/>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE testsuite SYSTEM "http://127.0.0.1:9/junit.dtd"><testsuite/>"""


def _peak(data: bytes) -> tuple[str | None, int]:
    tracemalloc.start()
    try:
        report, _ = read_bytes(data)
        return report.error, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("data", [BILLION_LAUGHS, QUADRATIC, XXE, PARAMETER_ENTITY, EXTERNAL_DTD],
                         ids=["billion-laughs", "quadratic", "xxe", "parameter-entity", "dtd"])
def test_dtd_is_refused_at_once_without_memory_growth(data: bytes) -> None:
    error, peak = _peak(data)
    assert error is not None and error.startswith("refused: the report contains a DOCTYPE")
    assert "etc/passwd" not in error
    assert peak < 2 * len(data) + 512 * 1024  # nothing was expanded


def test_entity_reference_without_declaration_is_refused() -> None:
    data = b'<testsuite><testcase name="&xxe;"/></testsuite>'
    report, cases = read_bytes(data)
    assert report.error is not None and report.error.startswith("refused: entity reference")
    assert cases == []


def test_predefined_and_character_references_still_work() -> None:
    data = b'<testsuite><testcase name="a &lt;b&gt; &amp; &#233;"/></testsuite>'
    report, cases = read_bytes(data)
    assert report.error is None and cases[0].name == "a <b> & é"


def test_depth_cap() -> None:
    deep = b"<testsuite>" + b"<x>" * 100 + b"</x>" * 100 + b"</testsuite>"
    report, _ = read_bytes(deep)
    assert report.error is not None and "nested deeper than 64 levels" in report.error
    nunit = b"<test-run>" + b"<test-suite>" * 80 + b"</test-suite>" * 80 + b"</test-run>"
    report, _ = read_bytes(nunit)
    assert report.error is not None and "nested deeper" in report.error


def test_file_size_cap() -> None:
    data = (EXAMPLES / "healthy" / "pytest-report.xml").read_bytes()
    report, _ = read_bytes(data, limits=Limits(max_file_bytes=500), size=100)
    assert report.error == ("refused: the report is larger than the 500 bytes cap "
                            "(limits.max_file_bytes)")


def test_testcase_cap_applies_to_every_dialect() -> None:
    data = (EXAMPLES / "healthy" / "pytest-report.xml").read_bytes()
    report, cases = read_bytes(data, limits=Limits(max_testcases=3))
    assert report.error is not None and "more than 3 testcases" in report.error
    assert len(cases) <= 3
    trx = (b"<TestRun><Results>" + b'<UnitTestResult testName="t" outcome="Passed"/>' * 5
           + b"</Results></TestRun>")
    report, _ = read_bytes(trx, limits=Limits(max_testcases=3))
    assert report.error is not None and "more than 3" in report.error


MARKUP = Limits(max_markup_bytes=64 * 1024)
_LONG = b"a" * 200_000


@pytest.mark.parametrize("data", [
    b'<testsuite><testcase classname="c" name="' + _LONG + b'"/></testsuite>',
    b'<testsuite><testcase name="t"><failure message="' + _LONG + b'"/></testcase></testsuite>',
    b'<testsuite name="' + _LONG + b'"><testcase name="t"/></testsuite>',
    b'<testsuite><testcase name="t"' + b"".join(b' a%d="1"' % i for i in range(20_000))
    + b"/></testsuite>",
    b'<testsuite><testcase name="t"/><!--' + _LONG + b"--></testsuite>",
    b'<testsuite><testcase name="t"/><testcase name="' + _LONG,
], ids=["name", "message", "suite-name", "many-attributes", "comment", "unclosed"])
def test_markup_cap_refuses_a_tag_expat_would_buffer_whole(data: bytes) -> None:
    # expat holds an unfinished start tag (or comment) whole and rescans it on every chunk:
    # a 500 MB name took 1.2 GB and a minute, then passed
    report, _ = read_bytes(data, limits=MARKUP, size=16 * 1024)
    assert report.error == ("refused: one tag, comment or processing instruction of the report "
                            "is longer than the 64 KiB cap (limits.max_markup_bytes); test "
                            "tools write far shorter ones")


@pytest.mark.parametrize("body", [b"<system-out>" + _LONG * 5 + b"</system-out>",
                                  b"<failure>" + _LONG * 5 + b"</failure>",
                                  b"<failure><![CDATA[<" + _LONG * 5 + b"]]></failure>"],
                         ids=["system-out", "failure", "cdata"])
def test_markup_cap_leaves_long_text_alone(body: bytes) -> None:
    data = b'<testsuite><testcase name="t" time="1">' + body + b"</testcase></testsuite>"
    report, cases = read_bytes(data, limits=MARKUP, size=16 * 1024)
    assert report.error is None and len(cases) == 1


def test_names_are_capped() -> None:
    data = b'<testsuite><testcase classname="c" name="' + b"n" * 5000 + b'"/></testsuite>'
    _, cases = read_bytes(data)
    assert len(cases[0].name) == 512 and cases[0].id == "c::" + cases[0].name


def test_mismatch_list_is_capped() -> None:
    suites = b"".join(b'<testsuite name="s%d" tests="9"><testcase name="t"/></testsuite>' % i
                      for i in range(50))
    report, _ = read_bytes(b"<testsuites>" + suites + b"</testsuites>")
    assert len(report.mismatches) == 21
    assert report.mismatches[-1] == "(further mismatches not listed)"


def _synthetic(blocks: int) -> Iterator[bytes]:
    """A large pytest report made of a real one's testcases repeated, produced lazily."""
    real = (GENERATED / "pytest-failures.xml").read_bytes()
    start = real.index(b"<testcase ")
    end = real.rindex(b"</testsuite>")
    head, body, tail = real[:start], real[start:end], real[end:]
    yield head
    for _ in range(blocks):
        yield body
    yield tail


def _peak_streaming(blocks: int) -> tuple[int, int]:
    tracemalloc.start()
    try:
        report = parse_report(_synthetic(blocks), path="big.xml", sink=lambda _: None)
        return report.counts.tests, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_report_size() -> None:
    small_tests, small_peak = _peak_streaming(20)
    big_tests, big_peak = _peak_streaming(1500)  # about 2 MB of XML, 75 times the small one
    assert (small_tests, big_tests) == (140, 10_500)
    assert big_peak < small_peak + 256 * 1024


def test_chunk_source_failure_is_a_reason_not_a_traceback() -> None:
    def broken() -> Iterator[bytes]:
        yield b"<testsuite><testcase name='a'/>"
        raise ConnectionResetError("peer went away")

    report = parse_report(broken(), path="r.xml", sink=lambda _: None)
    assert report.error == "could not read the report: peer went away"


def test_leading_whitespace_in_tiny_chunks_is_not_mistaken_for_an_empty_file() -> None:
    report, _ = read_bytes(b"    \n  PASS everything\n", size=1)
    assert report.error is not None and report.error.startswith("not XML")
