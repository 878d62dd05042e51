"""Test helpers: run parse_report over a file or bytes and keep what the sink received."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from bot.core.junit import parse_report
from bot.core.limits import DEFAULT_LIMITS, Limits
from bot.core.model import FileReport
from bot.core.testcase import TestCase

DATA = Path(__file__).resolve().parents[1] / "data"
GENERATED = DATA / "generated"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def chunked(data: bytes, size: int = 1 << 20) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def read_bytes(data: bytes, *, path: str = "report.xml", size: int = 1 << 20,
               limits: Limits = DEFAULT_LIMITS) -> tuple[FileReport, list[TestCase]]:
    cases: list[TestCase] = []
    report = parse_report(chunked(data, size), path=path, sink=cases.append, limits=limits)
    return report, cases


def read(path: Path, **kwargs: object) -> tuple[FileReport, list[TestCase]]:
    return read_bytes(path.read_bytes(), path=str(path), **kwargs)  # type: ignore[arg-type]


def by_id(cases: list[TestCase]) -> dict[str, TestCase]:
    return {c.id: c for c in cases}
