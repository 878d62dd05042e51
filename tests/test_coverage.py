"""Coverage XML: line-rate from real coverage.py output; hostile or broken input refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.coverage import parse_coverage

REAL = Path(__file__).parent / "data" / "plan" / "fixed" / "coverage.xml"


def chunks(data: bytes, size: int = 7) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def test_real_coverage_py_report_in_small_chunks() -> None:
    data = REAL.read_bytes()
    assert b"coverage.py" in data
    cov = parse_coverage(chunks(data), path="coverage.xml")
    assert cov.error is None and cov.line_rate == 0.9333


def test_doctype_and_entities_are_refused() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE coverage [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;">]><coverage line-rate="&b;"/>')
    cov = parse_coverage([bomb], path="c.xml")
    assert cov.line_rate is None and cov.error is not None and "DOCTYPE" in cov.error


def test_broken_inputs_give_reasons() -> None:
    cases = {
        b"": "empty file",
        b"<junit/>": "not <coverage>",
        b'<coverage lines-valid="3"/>': "no line-rate",
        b'<coverage line-rate="abc"/>': "not a number",
        b'<coverage line-rate="1.5"/>': "out of range",
        b"<coverage line-rate=": "truncated or malformed XML",
    }
    for data, reason in cases.items():
        cov = parse_coverage([data], path="c.xml")
        assert cov.line_rate is None and cov.error is not None and reason in cov.error, data


def test_stops_after_the_root_element() -> None:
    head = b'<coverage line-rate="0.5">'

    def stream():  # type: ignore[no-untyped-def]
        yield head
        raise AssertionError("read past the root element")

    assert parse_coverage(stream(), path="c.xml").line_rate == 0.5


def test_collector_takes_coverage_out_of_the_report_stream() -> None:
    from bot.core.coverage import CoverageCollector
    from bot.core.model import Source

    junit = (REAL.parent / "junit.xml").read_bytes()
    bad = b'<?xml version="1.0"?>\n<!DOCTYPE coverage [<!ENTITY x "y">]><coverage line-rate="1"/>'
    sources = [
        Source("junit.xml", chunks=chunks(junit, 5)),
        Source("coverage.xml", chunks=chunks(b"\xef\xbb\xbf" + REAL.read_bytes(), 3)),
        Source("other/coverage.xml", chunks=[b'<!-- c --><coverage line-rate="0.5"/>']),
        Source("evil.xml", chunks=[bad]),
        Source("missing.xml", error="no such file"),
    ]
    collector = CoverageCollector()
    passed = list(collector.filter(sources))
    assert [s.path for s in passed] == ["junit.xml", "evil.xml", "missing.xml"]
    assert b"".join(passed[0].chunks or []) == junit            # passed through intact
    assert collector.state() == {"line_rate": 0.5}             # the lowest, never overstated
    assert collector.errors == []
    assert b"".join(passed[1].chunks or []) == bad               # DOCTYPE first: the junit
    # parser refuses it as a report, so it is never silently read as coverage


def test_collector_records_unreadable_coverage() -> None:
    from bot.core.coverage import CoverageCollector
    from bot.core.model import Source

    collector = CoverageCollector()
    assert list(collector.filter([Source("c.xml", chunks=[b'<coverage line-rate="x"/>'])])) == []
    assert collector.state() == {} and "not a number" in (collector.errors[0].error or "")


def test_collector_leaves_reader_errors_to_the_report_parser() -> None:
    from bot.core.coverage import CoverageCollector
    from bot.core.limits import InputRefused
    from bot.core.model import Source

    def broken():  # type: ignore[no-untyped-def]
        yield b"\x1f\x8b"
        raise InputRefused("corrupt gzip data in x.gz")

    [out] = list(CoverageCollector().filter([Source("x.gz", chunks=broken())]))
    got = []
    with pytest.raises(InputRefused, match="corrupt gzip"):
        for chunk in out.chunks or []:
            got.append(chunk)
    assert got == [b"\x1f\x8b"]


def test_istanbul_cobertura_with_its_external_doctype_is_coverage() -> None:
    # c8 / nyc / Jest (istanbul), gcovr and Cobertura itself start their report with
    # <!DOCTYPE coverage SYSTEM "...coverage-04.dtd">: it was passed on as a test report,
    # refused for the DOCTYPE, and failed a green run as an unreadable report.
    from bot.core.engine import evaluate
    from bot.core.model import Source

    c8 = REAL.parents[2] / "generated" / "c8-cobertura.xml"
    data = c8.read_bytes()
    assert b"<!DOCTYPE coverage SYSTEM" in data
    assert parse_coverage(chunks(data), path="c.xml").line_rate == 0.6666
    junit = (REAL.parent / "junit.xml").read_bytes()
    result = evaluate([Source("junit.xml", chunks=[junit]),
                       Source("coverage/cobertura-coverage.xml", chunks=chunks(data, 50))])
    assert [f.path for f in result.state.files] == ["junit.xml"]
    assert [r.rule for r in result.verdict.reasons if r.rule == "unreadable-report"] == []
    assert result.state.coverage == {"line_rate": 0.6666}


def test_external_doctype_never_expands_an_entity() -> None:
    data = (b'<?xml version="1.0"?><!DOCTYPE coverage SYSTEM "coverage-04.dtd">'
            b'<coverage line-rate="&rate;"/>')
    cov = parse_coverage([data], path="c.xml")
    assert cov.line_rate is None and cov.error is not None
