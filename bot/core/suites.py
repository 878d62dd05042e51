"""JUnit suite bookkeeping: declared totals, per-suite tallies, and merging consecutive reruns."""

from __future__ import annotations

from bot.core.model import Declared
from bot.core.reportbase import parse_int
from bot.core.testcase import Outcome, TestCase


def declared_of(attrs: dict[str, str]) -> Declared:
    """Totals a suite element declares (skipped = skipped|skips + disabled|ignored)."""
    skipped = parse_int(attrs.get("skipped", attrs.get("skips")))
    disabled = parse_int(attrs.get("disabled", attrs.get("ignored")))  # ignored: Eclipse
    if disabled:
        skipped = (skipped or 0) + disabled
    return Declared(tests=parse_int(attrs.get("tests")),
                    failures=parse_int(attrs.get("failures")),
                    errors=parse_int(attrs.get("errors")), skipped=skipped)


class Suite:
    """One open <testsuite>: its name, what it declares, and the testcases counted inside."""

    __slots__ = ("declared", "depth", "failing", "name", "skipped", "slack", "tests")

    def __init__(self, name: str, declared: Declared, depth: int) -> None:
        self.name = name
        self.declared = declared
        self.depth = depth
        self.tests = 0
        self.failing = 0
        self.skipped = 0
        self.slack = 0  # merged pytest reruns: declared tests may exceed `tests` by this


def sum_declared(items: list[Declared]) -> Declared | None:
    """Field-wise sum of declared totals (None where no suite declared the field)."""
    if not items:
        return None

    def total(values: list[int | None]) -> int | None:
        known = [v for v in values if v is not None]
        return sum(known) if known else None
    return Declared(tests=total([d.tests for d in items]),
                    failures=total([d.failures for d in items]),
                    errors=total([d.errors for d in items]),
                    skipped=total([d.skipped for d in items]))


def merge_runs(first: TestCase, then: TestCase, *, last_wins: bool = False) -> TestCase:
    """One test written twice in a row (a rerun); the times add up.

    `last_wins` (pytest-rerunfailures, which writes earlier attempts without their failure):
    the last run decides, and a pass after any rerun is flaky. Otherwise: passed once and
    failed once is a flaky pass, all runs failing is the worst failure.
    """
    if last_wins:
        winner = then
        winner.flaky = then.outcome is Outcome.PASSED
    else:
        runs = {first.outcome, then.outcome}
        failing = runs & {Outcome.FAILED, Outcome.ERROR}
        if Outcome.PASSED in runs and failing:
            winner = first if first.outcome is Outcome.PASSED else then
            winner.flaky = True
        elif failing:
            worst = first.outcome is Outcome.ERROR or then.outcome not in failing
            winner = first if worst else then
        else:
            winner = then if then.outcome is Outcome.PASSED else first
    winner.time = first.time + then.time
    return winner
