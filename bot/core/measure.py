"""Measurer: a bounded-memory sink for parsed testcases and file reports → MeasuredState."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Mapping
from enum import Enum
from typing import TYPE_CHECKING

from bot.core.model import Counts, FailedTest, FileReport, MeasuredState

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

    def __init__(self, signatures: Mapping[str, re.Pattern[str]] | None = None, *,
                 max_failures: int = 2000, max_details: int = 200,
                 max_test_ids: int = 50_000) -> None:
        """Caps normally come from the Limits of the same names (`max_*_kept`, `max_test_ids`)."""
        self._max_failures = max_failures
        self._max_details = max_details
        self._signatures = dict(signatures or {})
        self._state = MeasuredState(signatures={name: 0 for name in self._signatures})
        self._ids = _IdList(max_test_ids)

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
        self._state.test_ids = self._ids.sorted()
        return self._state


class _IdList:
    """Distinct test ids up to a cap, mostly in a sorted list (~40 bytes less per id than a set).

    New ids go to a small pending set; every `cap // 8` of them are merged into the sorted
    list, dropping ids it already held. When the list is nearly full, an id is first looked
    up in it by bisection, so the count is exact at the cap. Every merge follows at least
    `cap // 8` additions or fills the list, so the work per id stays constant. This keeps
    `ci-truth check` on a 1 GB report within 10 MB of a 1 MB one (docs/performance.md).
    """

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._chunk = max(1, cap // 8)
        self._sorted: list[str] = []
        self._pending: set[str] = set()
        self._exact = False        # pending ids are known to be absent from _sorted

    def add(self, test_id: str) -> bool:
        """Keep `test_id`; False when it is new but `cap` distinct ids are already kept."""
        pending = self._pending
        if test_id in pending:
            return True
        if self._exact and self._holds(test_id):
            return True
        if len(self._sorted) + len(pending) >= self._cap:
            if self._exact:
                return False
            self._merge()
            return self.add(test_id)
        pending.add(test_id)
        if len(pending) >= self._chunk and not self._exact:
            self._merge()
        return True

    def add_many(self, test_ids: list[str]) -> bool:
        """`add` for each id in turn; False when one of them was dropped at the cap.

        Far from the cap (and before the list is nearly full) the ids go to the pending set
        at once: the same ids are kept as one by one, since none can be dropped.
        """
        pending = self._pending
        if not self._exact and len(self._sorted) + len(pending) + len(test_ids) < self._cap:
            pending.update(test_ids)
            if len(pending) >= self._chunk:
                self._merge()
            return True
        kept = True
        for test_id in test_ids:
            if not self.add(test_id):
                kept = False
                break  # Measurer stops adding once one id was dropped
        return kept

    def sorted(self) -> list[str]:
        """The distinct ids kept, sorted."""
        self._merge()
        return list(self._sorted)

    def _holds(self, test_id: str) -> bool:
        ids = self._sorted
        i = bisect_left(ids, test_id)
        return i < len(ids) and ids[i] == test_id

    def _merge(self) -> None:
        if not self._pending:
            return
        merged = self._sorted
        # Only ids not held yet join the list (set.difference runs in C; the list is sorted in
        # place, never copied): the list never holds a duplicate.
        merged.extend(self._pending.difference(merged) if merged else self._pending)
        self._pending.clear()
        merged.sort()
        self._exact = self._cap - len(merged) < self._chunk
