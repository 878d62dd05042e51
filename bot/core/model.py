"""The engine's data model: counts, failing tests, per-file reports, measured state, verdict."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

STATE_SCHEMA = "ci-truth/state@1"


class Conclusion(StrEnum):
    """Check-run conclusions the engine can reach (GitHub's own vocabulary)."""

    SUCCESS = "success"
    FAILURE = "failure"
    NEUTRAL = "neutral"


class Rule(StrEnum):
    """Stable rule ids: a public contract shared by config, docs, check runs and other tools."""

    NO_EVIDENCE = "no-evidence"
    UNREADABLE_REPORT = "unreadable-report"
    EMPTY_REPORT = "empty-report"
    ZERO_TESTS = "zero-tests"
    ALL_SKIPPED = "all-skipped"
    MIN_TESTS = "min-tests"
    FAILURES = "failures"
    TEST_DROP = "test-drop"
    FORBIDDEN_SIGNATURE = "forbidden-signature"
    TOTALS_MISMATCH = "totals-mismatch"
    NOT_A_REPORT = "not-a-report"
    # Rules added by the GitHub App (they need the workflow run, not only the reports).
    MASKED_FAILURE = "masked-failure"
    MISSING_EVIDENCE = "missing-evidence"
    UNTRUSTED_EVIDENCE = "untrusted-evidence"


@dataclass(slots=True)
class Counts:
    """Test counts; `tests` is every testcase, `skipped` included.

    Invariant: tests == passed + failed + errors + skipped. `flaky` is a subset of
    `passed` (passed only after a rerun).
    """

    tests: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    flaky: int = 0
    duration: float = 0.0

    def add(self, other: Counts) -> None:
        self.tests += other.tests
        self.passed += other.passed
        self.failed += other.failed
        self.errors += other.errors
        self.skipped += other.skipped
        self.flaky += other.flaky
        self.duration += other.duration

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.tests,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "skipped": self.skipped,
            "flaky": self.flaky,
            "duration": round(self.duration, 3),
        }


@dataclass(slots=True)
class FailedTest:
    """One failed or errored testcase, as far as the report tells."""

    id: str                      # stable test id (see docs/verdict-rules.md, "test ids")
    kind: str                    # "failure" or "error"
    message: str                 # first line(s) of the message, already truncated
    report: str                  # path of the report file it came from
    file: str | None = None
    line: int | None = None
    details: str = ""            # stack trace / text body, truncated

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "message": self.message,
            "report": self.report,
            "file": self.file,
            "line": self.line,
            "details": self.details,
        }


@dataclass(slots=True)
class Declared:
    """Totals a report declares in its suite attributes (None where not declared)."""

    tests: int | None = None
    failures: int | None = None
    errors: int | None = None
    skipped: int | None = None


@dataclass(slots=True)
class FileReport:
    """What one report file (or zip member) yielded.

    `error` set means the file was unreadable (the reason a person can act on); the
    counts then hold whatever was read before the problem, and are never trusted.
    """

    path: str
    format: str = "unknown"     # junit | xunit2 | nunit2 | nunit3 | trx | unknown
    counts: Counts = field(default_factory=Counts)
    declared: Declared | None = None
    mismatches: list[str] = field(default_factory=list)   # integrity problems, human sentences
    error: str | None = None
    documents: int = 1

    @property
    def readable(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "format": self.format, **self.counts.to_json()}
        if self.declared is not None:
            out["declared"] = {
                "tests": self.declared.tests,
                "failures": self.declared.failures,
                "errors": self.declared.errors,
                "skipped": self.declared.skipped,
            }
        if self.mismatches:
            out["mismatches"] = list(self.mismatches)
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass(slots=True)
class Reason:
    """Why the verdict is what it is: a stable rule id and a sentence a person can act on."""

    rule: str
    message: str
    conclusion: Conclusion = Conclusion.FAILURE
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "message": self.message,
            "conclusion": self.conclusion.value,
            "details": self.details,
        }


@dataclass(slots=True)
class Verdict:
    """The judgement: success, failure or neutral, with every reason that led there."""

    conclusion: Conclusion
    reasons: list[Reason] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "conclusion": self.conclusion.value,
            "reasons": [r.to_json() for r in self.reasons],
        }


@dataclass(slots=True)
class MeasuredState:
    """The measured state of a test suite: everything the verdict and the plan read.

    JSON form (``to_json``) is the ``ci-truth check --format json`` document, minus the
    verdict, and is what baselines, check-run payloads and plan evaluation consume.
    """

    totals: Counts = field(default_factory=Counts)
    files: list[FileReport] = field(default_factory=list)
    failures: list[FailedTest] = field(default_factory=list)   # capped; see failures_omitted
    failures_omitted: int = 0
    signatures: dict[str, int] = field(default_factory=dict)
    test_ids: Sequence[str] = field(default_factory=list)  # sorted, capped; testids.SortedIds
    test_ids_complete: bool = True
    # Filled by adapters that know more than the reports (the App, the Action):
    workflows: dict[str, dict[str, Any]] = field(default_factory=dict)
    coverage: dict[str, float] = field(default_factory=dict)   # e.g. {"line_rate": 0.83}

    @property
    def unreadable(self) -> list[FileReport]:
        return [f for f in self.files if not f.readable]

    @property
    def executed(self) -> int:
        return self.totals.tests - self.totals.skipped

    @property
    def pass_rate(self) -> float:
        """passed / executed (skipped tests excluded); 0.0 when nothing executed."""
        return self.totals.passed / self.executed if self.executed else 0.0

    @property
    def skipped_ratio(self) -> float:
        """skipped / total; 0.0 when there is no test at all."""
        return self.totals.skipped / self.totals.tests if self.totals.tests else 0.0


@dataclass(slots=True)
class Source:
    """One report handed to the engine: a name and its bytes as chunks, or why it was refused.

    Readers (files, zips, artifact downloads) build Sources; the engine never opens anything.
    """

    path: str
    chunks: Iterable[bytes] | None = None
    error: str | None = None
