"""One parsed testcase (TestCase) and its outcome (Outcome), as handed to a parser's sink."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    """What happened to one test, after reruns were taken into account."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass(slots=True)
class TestCase:
    """One test as a report describes it; text fields are already truncated to the Limits."""

    __test__ = False  # not a pytest test class

    id: str                 # "<classname>::<name>", or "<suite>::<name>", or "<name>"
    name: str
    classname: str
    outcome: Outcome
    time: float             # seconds, 0.0 when absent or unreadable
    message: str = ""
    details: str = ""
    system_err: str = ""
    file: str | None = None
    line: int | None = None
    flaky: bool = False     # passed only after rerun(s)


def make_id(classname: str, name: str, suite: str) -> str:
    """The stable test id: classname::name, else suite::name, else name."""
    if classname:
        return f"{classname}::{name}"
    if suite:
        return f"{suite}::{name}"
    return name
