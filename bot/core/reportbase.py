"""What every report dialect shares: the per-file context, counting, odd times, integrity text."""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn, Protocol

from bot.core.limits import Limits
from bot.core.model import Declared, FileReport
from bot.core.testcase import Outcome, TestCase
from bot.core.xmlstream import Refused

MAX_MISMATCHES = 20
MAX_SECONDS = 1e6  # 11.6 days: longer "durations" are nanoseconds or garbage
_UNITS = (("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1.0))


class Dialect(Protocol):
    """A report dialect's expat handlers plus the end-of-file step."""

    def start(self, name: str, attrs: dict[str, str]) -> None: ...
    def end(self, name: str) -> None: ...
    def finish(self, complete: bool) -> None: ...


class Context:
    """One file being read: counts into the FileReport, hands TestCases to the sink, caps."""

    __slots__ = ("_cap", "counts", "limits", "passed", "report", "sink", "system_err")

    def __init__(self, report: FileReport, sink: Callable[[TestCase], None],
                 limits: Limits, passed: Callable[[str, str], None] | None = None,
                 system_err: bool = True) -> None:
        self.report = report
        self.counts = report.counts
        self.sink = sink
        self.passed = passed
        self.system_err = system_err  # False: nobody reads TestCase.system_err, skip it
        self.limits = limits
        self._cap = limits.max_testcases

    def emit(self, tc: TestCase) -> None:
        """Count one test and hand it to the sink."""
        c = self.counts
        c.tests += 1
        outcome = tc.outcome
        if outcome is Outcome.PASSED:
            c.passed += 1
            if tc.flaky:
                c.flaky += 1
        elif outcome is Outcome.SKIPPED:
            c.skipped += 1
        elif outcome is Outcome.FAILED:
            c.failed += 1
        else:
            c.errors += 1
        c.duration += tc.time
        if c.tests > self._cap:
            self.refuse_cap()
        self.sink(tc)

    def emit_pass(self, test_id: str, seconds: float, system_err: str) -> None:
        """Count one plainly passed test and hand its id and stderr to `passed` (no TestCase)."""
        c = self.counts
        c.tests += 1
        c.passed += 1
        c.duration += seconds
        if c.tests > self._cap:
            self.refuse_cap()
        self.passed(test_id, system_err)  # type: ignore[misc]  # only called when set

    def refuse_cap(self) -> NoReturn:
        """Stop reading: the report holds more testcases than limits.max_testcases."""
        raise Refused(f"refused: the report holds more than {self._cap:,} testcases "
                      f"(limits.max_testcases)")

    def mismatch(self, text: str) -> None:
        """Record one integrity problem (capped, with a count of the rest)."""
        found = self.report.mismatches
        if len(found) < MAX_MISMATCHES:
            found.append(text)
        elif len(found) == MAX_MISMATCHES:
            found.append("(further mismatches not listed)")


def depth_refusal(max_depth: int) -> str:
    """The reason given when elements nest deeper than limits.max_depth."""
    return f"refused: XML nested deeper than {max_depth} levels (limits.max_depth)"


def parse_time(text: str | None) -> float:
    """Seconds from a time attribute; 0.0 when absent, negative, not finite or unreadable."""
    if not text:
        return 0.0
    try:
        value = float(text)
    except ValueError:
        value = _odd_time(text.strip())
    if 0.0 <= value < MAX_SECONDS:
        return value
    if value >= MAX_SECONDS and text.strip().isdigit():
        value = value / 1e9  # Go durations written raw (container-structure-test): nanoseconds
        return value if value < MAX_SECONDS else 0.0
    return 0.0  # negative, NaN, infinite or absurd


def _odd_time(text: str) -> float:
    """`2,503.1` (thousands), `0,010` (decimal comma), `0:00:01.5` (h:m:s), `15ms`, `3ns`."""
    if "," in text:
        text = text.replace(",", "") if "." in text else text.replace(",", ".")
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3 or "/" in text or " " in text:
            return 0.0  # a wall-clock time or a date, not a duration
        try:
            return int(parts[0]) * 3600 + int(parts[1]) * 60 + float(parts[2])
        except ValueError:
            return 0.0
    for suffix, scale in _UNITS:
        if text.endswith(suffix):
            try:
                return float(text[: -len(suffix)]) * scale
            except ValueError:
                return 0.0
    try:
        return float(text)
    except ValueError:
        return 0.0


def parse_int(text: str | None) -> int | None:
    """A non-negative count from an attribute, None when absent or unreadable."""
    if text is None:
        return None
    try:
        value = int(text.strip())
    except ValueError:
        try:
            value = int(float(text))
        except (ValueError, OverflowError):
            return None
    return value if value >= 0 else None


def cut(text: str, limit: int) -> str:
    """Truncate to `limit` characters, marking the cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + "…"


def first_line(text: str, limit: int) -> str:
    """The first non-blank line of a body, truncated: a message when the report gave none."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            return cut(line, limit)
    return ""


def compare(ctx: Context, where: str, declared: Declared,
            tests: int, failing: int, skipped: int, slack: int = 0) -> None:
    """Integrity: compare declared totals with the testcases actually present (a declared
    test count may exceed `tests` by `slack`: reruns merged into one test)."""
    if declared.tests is not None and not tests <= declared.tests <= tests + slack:
        ctx.mismatch(f"{where} declares {declared.tests} tests but contains {tests}")
    if declared.failures is not None or declared.errors is not None:
        said = (declared.failures or 0) + (declared.errors or 0)
        if said != failing:
            ctx.mismatch(f"{where} declares {said} failed or errored tests but contains "
                         f"{failing}")
    if declared.skipped is not None and declared.skipped != skipped:
        ctx.mismatch(f"{where} declares {declared.skipped} skipped tests but contains {skipped}")
