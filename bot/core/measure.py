"""Measurer: a bounded-memory sink for parsed testcases and file reports → MeasuredState."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import TYPE_CHECKING

from bot.core.model import Counts, FailedTest, FileReport, MeasuredState
from bot.core.testids import IdStore
from bot.core.userregex import Searcher

if TYPE_CHECKING:
    from bot.core.testcase import TestCase

_KIND = {"failed": "failure", "error": "error"}


class Measurer:
    """Accumulates what every report yielded; memory is bounded by the Limits caps.

    Per testcase it keeps: failing tests (first `max_failures_kept`, the count stays
    exact in `failures_omitted`; the first `max_details_kept` of them with details),
    signature counts and test ids (first `max_test_ids` distinct ids; beyond that
    `test_ids_complete` becomes False). Totals are the sum
    of the FileReport counts the parser produced, unreadable files included (whatever
    was read before the problem), so totals and the per-file table always agree.

    A signature counts testcases, not matches: a failed or errored testcase counts
    once when its regex matches its message, details or system-err; any other
    testcase counts once when the regex matches its system-err.
    """

    def __init__(self, signatures: Mapping[str, Searcher] | None = None, *,
                 max_failures: int = 2000, max_details: int = 200,
                 max_test_ids: int = 50_000) -> None:
        """Caps normally come from the Limits of the same names (`max_*_kept`, `max_test_ids`)."""
        self._max_failures = max_failures
        self._max_details = max_details
        self._signatures = dict(signatures or {})
        self._state = MeasuredState(signatures={name: 0 for name in self._signatures})
        self._ids = IdStore(max_test_ids)

    def sink_for(self, report: str) -> Callable[[TestCase], None]:
        """A sink for the testcases of one report file (named `report` in failures)."""

        def sink(case: TestCase) -> None:
            self.add_case(case, report)

        return sink

    def passed(self, test_id: str, system_err: str = "") -> None:
        """Record one test that plainly passed (parse_report's fast path: no TestCase)."""
        if self._signatures and system_err:
            state = self._state
            for name, pattern in self._signatures.items():
                if pattern.search(system_err):
                    state.signatures[name] += 1
        if self._state.test_ids_complete and not self._ids.add(test_id):
            self._state.test_ids_complete = False

    def passed_many(self, test_ids: list[str]) -> None:
        """`passed(id)` for each id in turn, without stderr (the C accelerator's batches)."""
        if self._state.test_ids_complete and not self._ids.add_many(test_ids):
            self._state.test_ids_complete = False

    def add_case(self, case: TestCase, report: str) -> None:
        """Record one testcase read from `report`."""
        state = self._state
        outcome = case.outcome
        kind = _KIND.get(outcome.value if isinstance(outcome, Enum) else str(outcome))
        if kind is not None:
            if len(state.failures) < self._max_failures:
                state.failures.append(FailedTest(
                    id=case.id, kind=kind, message=case.message, report=report,
                    file=case.file, line=case.line,
                    details=case.details if len(state.failures) < self._max_details else ""))
            else:
                state.failures_omitted += 1
        if self._signatures:
            texts = (case.message, case.details, case.system_err) if kind else \
                (case.system_err,)
            for name, pattern in self._signatures.items():
                if any(text and pattern.search(text) for text in texts):
                    state.signatures[name] += 1
        if state.test_ids_complete and not self._ids.add(case.id):
            state.test_ids_complete = False

    def add_file(self, report: FileReport) -> None:
        """Record a parsed (or refused) report file; its counts join the totals."""
        self._state.files.append(report)
        self._state.totals.add(report.counts)

    def unreadable(self, path: str, reason: str) -> None:
        """Record a source that could not be read at all."""
        self.add_file(FileReport(path=path, counts=Counts(), error=reason))

    def state(self) -> MeasuredState:
        """The measured state so far (test ids sorted)."""
        self._state.test_ids = self._ids.view()
        return self._state
