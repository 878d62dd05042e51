"""Coverage reports (Cobertura / coverage.py XML): streaming read of the root line-rate."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bot.core import notreport, xmlstream
from bot.core.model import Source

MAX_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class Coverage:
    """Line coverage of one report (0..1), or why it could not be read."""

    path: str
    line_rate: float | None = None
    error: str | None = None


class _Stop(Exception):
    """Raised from the start handler: the root element is read, stop parsing."""


class _WrongRoot(Exception):
    """Raised from the start handler: not a coverage report."""


def _external_doctype_only(name: str, system_id: str | None, public_id: str | None,
                           has_internal_subset: int) -> None:
    """`<!DOCTYPE coverage SYSTEM "...coverage-04.dtd">` is read (the DTD never is); a
    DOCTYPE with an internal subset, where entities live, is refused."""
    if has_internal_subset:
        xmlstream.refuse_doctype()


def parse_coverage(chunks: Iterable[bytes], *, path: str) -> Coverage:
    """Read `line-rate` from the root <coverage> element, stopping right after it.

    Same safe expat setup as the JUnit reader (bot/core/xmlstream.py: no DTD, no entities).
    Never raises on bad input: the result's `error` carries the reason.
    """
    found: dict[str, str] = {}
    outcome: dict[str, str] = {}          # set before raising: xmlstream.run may swallow it
    parser = xmlstream.new_parser()
    parser.StartDoctypeDeclHandler = _external_doctype_only

    def start(name: str, attrs: dict[str, str]) -> None:
        if name != "coverage":
            outcome["wrong"] = f"root element is <{name[:50]}>, not <coverage>"
            raise _WrongRoot(outcome["wrong"])
        found.update(attrs)
        outcome["stopped"] = "yes"
        raise _Stop

    parser.StartElementHandler = start
    seen = [0]

    def counted() -> Iterator[bytes]:
        for chunk in chunks:
            seen[0] += len(chunk)
            yield chunk

    try:
        problem = xmlstream.run(parser, counted(), max_bytes=MAX_BYTES)
    except (_Stop, _WrongRoot):
        problem = None
    if "wrong" in outcome:
        return Coverage(path, error=outcome["wrong"])
    if problem is not None and "stopped" not in outcome:
        return Coverage(path, error="empty file" if seen[0] == 0 else problem)
    if "stopped" not in outcome:
        return Coverage(path, error="no <coverage> element")
    if "line-rate" not in found:
        return Coverage(path, error="<coverage> has no line-rate attribute")
    try:
        rate = float(found["line-rate"])
    except ValueError:
        return Coverage(path, error=f"line-rate is not a number: {found['line-rate'][:40]!r}")
    if not 0.0 <= rate <= 1.0:
        return Coverage(path, error=f"line-rate out of range 0..1: {rate}")
    return Coverage(path, line_rate=rate)


# An external DOCTYPE (no internal subset) is skipped: istanbul, gcovr and Cobertura write one.
# notreport.PROLOG's `*+`: a prolog without a root fails at once, never backtracks.
_ROOT = re.compile(notreport.PROLOG + rb"<([A-Za-z_][\w.:-]*)[\s/>]", re.S)
SNIFF_BYTES = 4096


def root_name(head: bytes) -> str | None:
    """The root element name at the start of an XML document (None if not found yet)."""
    m = _ROOT.match(head.removeprefix(b"\xef\xbb\xbf"))
    return m.group(1).decode("ascii", "replace") if m else None


def _replay(head: bytes, exc: Exception) -> Iterator[bytes]:
    """The bytes read so far, then the reader's error again (for the report parser)."""
    if head:
        yield head
    raise exc


def head_of(source: Source) -> tuple[bytes | None, Source]:
    """A source's first bytes (through the root's start tag, or SNIFF_BYTES) and a Source that
    yields all its bytes again; None when there is nothing to sniff or reading failed (the
    report reader then gives the reason, exactly as before)."""
    if source.chunks is None or source.error is not None:
        return None, source
    it = iter(source.chunks)
    head = b""
    try:
        for chunk in it:
            head += chunk
            if notreport.head_complete(head) or len(head) >= SNIFF_BYTES:
                break
    except Exception as exc:
        return None, Source(source.path, chunks=_replay(head, exc))
    return head, Source(source.path, chunks=itertools.chain([head], it))


def set_aside(head: bytes | None) -> str | None:
    """Why bytes starting with `head` are no test evidence ("coverage report", or what a known
    non-report is: notreport.KNOWN), or None when they may be a test report."""
    if head is None:
        return None
    if root_name(head) == "coverage":
        return "coverage report"
    return notreport.identify(head)


def holds_test_report(sources: Iterable[Source]) -> bool:
    """Whether any source may be a test report: not coverage, not a known non-report (an
    unreadable one counts: the engine fails it). Reads each source's head only."""
    return any(set_aside(head_of(source)[0]) is None for source in sources)


class CoverageCollector:
    """Takes coverage reports and known non-reports out of a stream of report Sources.

    ``engine.evaluate`` runs every source stream through one: coverage XML beside the JUnit
    reports feeds ``coverage.line_rate`` instead of counting as an unreadable test report,
    and XML known not to be a test report (bot/core/notreport.py) goes to ``not_reports``
    (path, what it is), unread past its head. Several coverage reports: the lowest rate
    (never overstate coverage).
    """

    def __init__(self) -> None:
        self.reports: list[Coverage] = []
        self.not_reports: list[tuple[str, str]] = []

    def filter(self, sources: Iterable[Source]) -> Iterator[Source]:
        for source in sources:
            head, source = head_of(source)
            what = set_aside(head)
            if what is None:
                yield source
            elif what == "coverage report":
                self.reports.append(parse_coverage(source.chunks or (), path=source.path))
            else:
                self.not_reports.append((source.path, what))

    def state(self) -> dict[str, float]:
        rates = [c.line_rate for c in self.reports if c.line_rate is not None]
        return {"line_rate": min(rates)} if rates else {}

    @property
    def errors(self) -> list[Coverage]:
        return [c for c in self.reports if c.error is not None]
