"""Coverage reports (Cobertura / coverage.py XML): streaming read of the root line-rate."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from xml.parsers import expat

MAX_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class Coverage:
    """Line coverage of one report (0..1), or why it could not be read."""

    path: str
    line_rate: float | None = None
    error: str | None = None


class _Stop(Exception):
    pass


class _Refused(Exception):
    pass


def _parser() -> expat.XMLParserType:
    """An expat parser that refuses DTDs and entity declarations (no expansion attacks).

    Kept local until bot/core/xmlstream.py lands on main; then this switches to it.
    """
    p = expat.ParserCreate()

    def refuse(*_args: object) -> None:
        raise _Refused("the report declares a DTD or entities; refused")

    p.StartDoctypeDeclHandler = refuse
    p.EntityDeclHandler = refuse
    p.ExternalEntityRefHandler = refuse   # type: ignore[assignment]
    p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    return p


def parse_coverage(chunks: Iterable[bytes], *, path: str) -> Coverage:
    """Read `line-rate` from the root <coverage> element, stopping right after it.

    Never raises on bad input: the result's `error` carries the reason.
    """
    found: dict[str, str] = {}
    p = _parser()

    def start(name: str, attrs: dict[str, str]) -> None:
        if name != "coverage":
            raise _Refused(f"root element is <{name[:50]}>, not <coverage>")
        found.update(attrs)
        raise _Stop

    p.StartElementHandler = start
    total = 0
    try:
        for chunk in chunks:
            total += len(chunk)
            if total > MAX_BYTES:
                return Coverage(path, error=f"larger than {MAX_BYTES} bytes before <coverage>")
            p.Parse(chunk, False)
        p.Parse(b"", True)
    except _Stop:
        pass
    except _Refused as err:
        return Coverage(path, error=str(err))
    except expat.ExpatError as err:
        if total == 0:
            return Coverage(path, error="empty file")
        return Coverage(path, error=f"not well-formed XML: {expat.ErrorString(err.code)} "
                                    f"at line {err.lineno}")
    if "line-rate" not in found:
        if not found and total == 0:
            return Coverage(path, error="empty file")
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
