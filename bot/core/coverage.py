"""Coverage reports (Cobertura / coverage.py XML): streaming read of the root line-rate."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bot.core import xmlstream

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


def parse_coverage(chunks: Iterable[bytes], *, path: str) -> Coverage:
    """Read `line-rate` from the root <coverage> element, stopping right after it.

    Same safe expat setup as the JUnit reader (bot/core/xmlstream.py: no DTD, no entities).
    Never raises on bad input: the result's `error` carries the reason.
    """
    found: dict[str, str] = {}
    parser = xmlstream.new_parser()

    def start(name: str, attrs: dict[str, str]) -> None:
        if name != "coverage":
            raise _WrongRoot(f"root element is <{name[:50]}>, not <coverage>")
        found.update(attrs)
        raise _Stop

    parser.StartElementHandler = start
    seen = [0]

    def counted() -> Iterator[bytes]:
        for chunk in chunks:
            seen[0] += len(chunk)
            yield chunk

    try:
        problem = xmlstream.run(parser, counted(), max_bytes=MAX_BYTES)
    except _Stop:
        problem = None
    except _WrongRoot as err:
        return Coverage(path, error=str(err))
    if problem is not None:
        return Coverage(path, error="empty file" if seen[0] == 0 else problem)
    if "line-rate" not in found:
        if not found:
            return Coverage(path, error="no <coverage> element")
        return Coverage(path, error="<coverage> has no line-rate attribute")
    try:
        rate = float(found["line-rate"])
    except ValueError:
        return Coverage(path, error=f"line-rate is not a number: {found['line-rate'][:40]!r}")
    if not 0.0 <= rate <= 1.0:
        return Coverage(path, error=f"line-rate out of range 0..1: {rate}")
    return Coverage(path, line_rate=rate)
