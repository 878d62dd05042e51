"""MeasuredState + Verdict ↔ the `ci-truth/state@1` JSON document, and baselines read from it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot import __version__
from bot.core.errors import ConfigError
from bot.core.model import STATE_SCHEMA, MeasuredState, Verdict

if TYPE_CHECKING:
    from bot.core.engine import Result

GENERATOR = f"ci-truth {__version__}"
MAX_BASELINE_IDS = 1_000_000


def state_to_json(state: MeasuredState) -> dict[str, Any]:
    """The measured state as JSON (every field of the schema except `verdict`)."""
    tests = state.totals.to_json()
    tests["pass_rate"] = round(state.pass_rate, 6)
    tests["skipped_ratio"] = round(state.skipped_ratio, 6)
    return {
        "tests": tests,
        "files": [f.to_json() for f in state.files],
        "unreadable": [{"path": f.path, "reason": f.error} for f in state.unreadable],
        "failures": [f.to_json() for f in state.failures],
        "failures_omitted": state.failures_omitted,
        "signatures": dict(state.signatures),
        "test_ids": list(state.test_ids),
        "test_ids_complete": state.test_ids_complete,
        "workflows": dict(state.workflows),
        "coverage": dict(state.coverage),
    }


def document(state: MeasuredState, verdict: Verdict, *, generator: str = GENERATOR
             ) -> dict[str, Any]:
    """The full `ci-truth check --format json` document."""
    return {"schema": STATE_SCHEMA, "generator": generator, **state_to_json(state),
            "verdict": verdict.to_json()}


def to_json(result: Result, *, generator: str = GENERATOR) -> dict[str, Any]:
    """`Result` (engine.Result: .state and .verdict) → the state@1 document."""
    return document(result.state, result.verdict, generator=generator)


class BaselineError(ConfigError):
    """A --baseline document that is not an earlier ci-truth JSON output (a usage error)."""


@dataclass(frozen=True)
class Baseline:
    """What the test-drop rule needs from an earlier run."""

    total: int
    test_ids: frozenset[str] = frozenset()
    complete: bool = False       # True when test_ids lists every test of that run
    origin: str = ""             # where it came from, for messages ("commit abc… on main")


def baseline_from_json(doc: Any, *, source: str = "baseline") -> Baseline:
    """Read the parts of an earlier state@1 document the verdict needs.

    Tolerant: unknown fields are ignored and a missing `test_ids` only means the
    vanished tests cannot be named. Anything that is not such a document raises
    BaselineError naming the field.
    """
    def bad(key: str, message: str) -> BaselineError:
        return BaselineError(message, key=key, source=source)

    if not isinstance(doc, Mapping):
        raise bad("", "expected a JSON object written by `ci-truth check --format json`")
    schema = doc.get("schema")
    if schema is not None and schema != STATE_SCHEMA:
        raise bad("schema", f"expected {STATE_SCHEMA!r}, got {str(schema)[:80]!r}")
    tests = doc.get("tests")
    if not isinstance(tests, Mapping):
        raise bad("tests", "missing: this is not a `ci-truth check --format json` output")
    total = tests.get("total")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise bad("tests.total", f"expected a whole number of at least 0, got {total!r}"[:120])
    origin = _origin(doc.get("source"))
    raw_ids = doc.get("test_ids")
    if raw_ids is None:
        return Baseline(total=total, origin=origin)
    if not isinstance(raw_ids, list) or not all(isinstance(i, str) for i in raw_ids):
        raise bad("test_ids", "expected a list of test id strings")
    if len(raw_ids) > MAX_BASELINE_IDS:
        raise bad("test_ids", f"more than {MAX_BASELINE_IDS} ids")
    complete = doc.get("test_ids_complete", True) is True
    return Baseline(total=total, test_ids=frozenset(raw_ids), complete=complete, origin=origin)


def _origin(source: Any) -> str:
    """"commit <sha> on <ref>" from the App's `source` (head_sha, ref), else ""."""
    if not isinstance(source, Mapping) or not isinstance(source.get("head_sha"), str):
        return ""
    ref = source.get("ref")
    return (f"commit {source['head_sha'][:12]}"
            + (f" on {ref[:100]}" if isinstance(ref, str) and ref else ""))
