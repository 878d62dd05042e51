"""Hostile reports: DTDs and entities refused at once, caps on depth, size and testcases."""

from __future__ import annotations

import tracemalloc

import pytest

from bot.core.limits import Limits
from tests.core.readers import EXAMPLES, read_bytes

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
