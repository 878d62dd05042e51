"""judge(): the measured state + config (+ baseline) → a Verdict with actionable reasons."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.core.config import Config
from bot.core.model import Conclusion, Counts, FileReport, MeasuredState, Reason, Rule, Verdict
from bot.core.state import Baseline

MAX_NAMED = 5          # items named inside one message
MAX_DETAILS = 50       # items listed in a reason's details
_ORDER = {Conclusion.FAILURE: 0, Conclusion.NEUTRAL: 1, Conclusion.SUCCESS: 2}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _listing(items: Sequence[str]) -> str:
    shown = "; ".join(items[:MAX_NAMED])
    more = len(items) - MAX_NAMED
    return shown + (f"; and {more} more" if more > 0 else "")


def _percent(x: float) -> str:
    return f"{x * 100:.1f}".rstrip("0").rstrip(".") + "%"


def _reason(rule: Rule, message: str, conclusion: Conclusion = Conclusion.FAILURE,
            **details: object) -> Reason:
    return Reason(rule=rule.value, message=message, conclusion=conclusion,
                  details=dict(details))


def _unreadable(files: list[FileReport], total: int) -> Reason:
    named = [f"{f.path} ({f.error})" for f in files]
    wide = any((f.error or "").startswith("not a test report") for f in files)
    return _reason(
        Rule.UNREADABLE_REPORT,
        f"{len(files)} of {_plural(total, 'report')} could not be read safely, so ci-truth "
        f"cannot vouch for {'it' if len(files) == 1 else 'them'}: {_listing(named)}. "
        + ("An XML file that is not a test report means the path or glob is wider than the "
           "reports: name the report files (e.g. target/surefire-reports/TEST-*.xml, "
           "build/test-results/**/*.xml); XML known not to be a report (coverage, lint, "
           "SBOMs, build files) is skipped by itself. " if wide else "")
        + "Check the report path and make sure the step that writes the report runs to "
        "completion (a truncated file usually means the test run was killed or ran out of "
        "disk), then run the tests again.",
        files=[{"path": f.path, "reason": f.error} for f in files[:MAX_DETAILS]],
        count=len(files))


def not_reports(skipped: Sequence[tuple[str, str]]) -> Reason:
    """The notice listing XML set aside as known non-reports (path, what it is): never fails."""
    one = len(skipped) == 1
    named = [f"{path} ({what})" for path, what in skipped]
    return _reason(
        Rule.NOT_A_REPORT,
        f"Skipped {_plural(len(skipped), 'XML file')} that "
        f"{'is not a test report' if one else 'are not test reports'} (the root element "
        f"says what {'it is' if one else 'they are'}): "
        f"{_listing(named)}. Nothing in {'it' if one else 'them'} was counted.",
        Conclusion.SUCCESS,
        files=[{"path": path, "what": what} for path, what in skipped[:MAX_DETAILS]],
        count=len(skipped))


def _empty(files: list[FileReport], readable: int) -> Reason:
    named = [f"{f.path} ({_plural(f.counts.tests, 'test')}"
             + (", all skipped)" if f.counts.tests else ")") for f in files]
    return _reason(
        Rule.EMPTY_REPORT,
        f"{len(files)} of {_plural(readable, 'readable report')} executed no test while "
        f"the others did: {_listing(named)}. This is what a shard whose test discovery "
        "broke looks like; check that job's log for collection or import errors.",
        files=[f.path for f in files[:MAX_DETAILS]], count=len(files))


def _report_rules(state: MeasuredState, config: Config, ok: list[FileReport],
                  counts: Counts) -> Iterable[Reason]:
    gate = config.gate
    executed = counts.tests - counts.skipped
    if ok and counts.tests == 0:
        yield _reason(
            Rule.ZERO_TESTS,
            f"{_plural(len(ok), 'report')} {'was' if len(ok) == 1 else 'were'} read but "
            "contained no testcase at all, so nothing shows that any test ran. Check the "
            "test command: the paths or name patterns it collects, and import errors "
            "during collection.", files=[f.path for f in ok[:MAX_DETAILS]])
        return
    if ok and counts.skipped and counts.skipped / counts.tests >= gate.max_skipped_ratio:
        ratio = counts.skipped / counts.tests
        head = (f"All {_plural(counts.tests, 'test')} were skipped, so nothing was verified"
                if executed == 0 else
                f"{counts.skipped} of {counts.tests} tests were skipped ({_percent(ratio)}), "
                f"at or above gate.max_skipped_ratio ({_percent(gate.max_skipped_ratio)})")
        yield _reason(
            Rule.ALL_SKIPPED,
            f"{head}. Look for a missing dependency or service behind skip conditions "
            "(importorskip, skipif, an unset environment variable) in the test job.",
            skipped=counts.skipped, total=counts.tests, ratio=round(ratio, 6))
    elif ok and executed < gate.min_tests:
        yield _reason(
            Rule.MIN_TESTS,
            f"Only {_plural(executed, 'test')} executed; gate.min_tests requires at least "
            f"{gate.min_tests}. Check that every test directory and shard still runs, or "
            "lower gate.min_tests if the suite really shrank.",
            executed=executed, min_tests=gate.min_tests)
    empty = [f for f in ok if f.counts.tests - f.counts.skipped == 0]
    if empty and executed > 0:
        yield _empty(empty, len(ok))


def _failures(state: MeasuredState, config: Config) -> Reason | None:
    t = state.totals
    if not t.failed and not t.errors:
        return None
    parts = [p for p in (f"{t.failed} failed" if t.failed else "",
                         f"{t.errors} errored" if t.errors else "") if p]
    first = state.failures[0] if state.failures else None
    example = ""
    if first is not None:
        msg = first.message.strip().splitlines()[0] if first.message.strip() else ""
        msg = msg if len(msg) <= 120 else msg[:119] + "…"
        example = f" First: {first.id}" + (f" ({msg})" if msg else "") + f" in {first.report}."
    allowed = config.gate.allow_failures
    tail = (" gate.allow_failures is true, so this does not fail the check." if allowed else
            " Fix them; errors include tests that could not even be collected.")
    return _reason(
        Rule.FAILURES, f"{_plural(t.failed + t.errors, 'test')} did not pass "
        f"({' and '.join(parts)}).{example}{tail}",
        Conclusion.NEUTRAL if allowed else Conclusion.FAILURE,
        failed=t.failed, errors=t.errors,
        tests=[f.id for f in state.failures[:MAX_DETAILS]])


def _test_drop(state: MeasuredState, config: Config, baseline: Baseline) -> Reason | None:
    before, now = baseline.total, state.totals.tests
    if before == 0 or now >= before:
        return None
    drop = (before - now) / before
    allowed = config.gate.max_test_drop
    if drop <= allowed:
        return None
    vanished: list[str] = []
    named = ""
    if baseline.complete and state.test_ids_complete:
        present = set(state.test_ids)
        vanished = sorted(i for i in baseline.test_ids if i not in present)
        if vanished:
            named = f" Vanished: {_listing(vanished)}."
    else:
        named = " The vanished tests cannot be named: a test id list was capped or missing."
    return _reason(
        Rule.TEST_DROP,
        f"{before - now} of the baseline's {_plural(before, 'test')}"
        + (f" ({baseline.origin})" if baseline.origin else "") + f" are gone (now {now}, a "
        f"{_percent(drop)} drop; gate.max_test_drop allows {_percent(allowed)}).{named} If "
        "they were removed on purpose, refresh the baseline; otherwise check that every "
        "shard and test directory still runs.",
        baseline=before, total=now, drop=round(drop, 6), vanished=vanished[:MAX_DETAILS],
        vanished_count=len(vanished), baseline_origin=baseline.origin)


def _signatures(state: MeasuredState, config: Config) -> Iterable[Reason]:
    for name in config.gate.forbid:
        count = state.signatures.get(name, 0)
        if count:
            pattern = config.signatures[name].pattern if name in config.signatures else "?"
            yield _reason(
                Rule.FORBIDDEN_SIGNATURE,
                f"Forbidden signature {name} (regex {pattern[:200]}) matched "
                f"{_plural(count, 'testcase')}. gate.forbid lists it, so this fails even "
                "when those tests pass; fix the cause or remove it from gate.forbid.",
                signature=name, count=count)


def _mismatches(ok: list[FileReport]) -> Reason | None:
    bad = [f for f in ok if f.mismatches]
    if not bad:
        return None
    named = [f"{f.path}: {', '.join(f.mismatches[:3])}" for f in bad]
    return _reason(
        Rule.TOTALS_MISMATCH,
        f"{_plural(len(bad), 'report')} declare{'s' if len(bad) == 1 else ''} totals that "
        f"disagree with the testcases {'it' if len(bad) == 1 else 'they'} contain"
        f"{'s' if len(bad) == 1 else ''}: {_listing(named)}. The report was probably cut "
        "short, merged or edited after the run; regenerate it from the test runner.",
        files=[{"path": f.path, "mismatches": f.mismatches[:10]} for f in bad[:MAX_DETAILS]])


def conclude(reasons: Iterable[Reason]) -> Conclusion:
    """failure if any reason fails, else neutral if any is neutral, else success."""
    found = {r.conclusion for r in reasons}
    for c in (Conclusion.FAILURE, Conclusion.NEUTRAL):
        if c in found:
            return c
    return Conclusion.SUCCESS


def judge(state: MeasuredState, config: Config, *, baseline: Baseline | None = None,
          extra_reasons: Sequence[Reason] = ()) -> Verdict:
    """Apply every rule of docs/verdict-rules.md; never success without evidence."""
    reasons: list[Reason] = []
    if not state.files:
        reasons.append(_reason(
            Rule.NO_EVIDENCE,
            "No test report was found, so nothing shows that tests ran. Make the test step "
            "write a JUnit XML report (for example pytest --junitxml=report.xml) and point "
            "ci-truth at it or upload it as an artifact."))
    ok = [f for f in state.files if f.readable]
    bad = [f for f in state.files if not f.readable]
    if bad:
        reasons.append(_unreadable(bad, len(state.files)))
    counts = Counts()
    for f in ok:
        counts.add(f.counts)
    reasons.extend(_report_rules(state, config, ok, counts))
    for reason in (_failures(state, config),
                   _test_drop(state, config, baseline) if baseline else None):
        if reason is not None:
            reasons.append(reason)
    reasons.extend(_signatures(state, config))
    mismatch = _mismatches(ok)
    if mismatch is not None:
        reasons.append(mismatch)
    reasons.extend(extra_reasons)
    if conclude(reasons) is Conclusion.SUCCESS and counts.tests - counts.skipped <= 0:
        reasons.append(_reason(Rule.ZERO_TESTS, "No test executed, so nothing was verified."))
    reasons.sort(key=lambda r: _ORDER[r.conclusion])
    return Verdict(conclusion=conclude(reasons), reasons=reasons)
