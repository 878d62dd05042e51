"""Streaming JUnit-family parser (pyexpat handlers) and parse_report, which picks the dialect."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from bot.core import dotnet, xmlaccel
from bot.core.limits import DEFAULT_LIMITS, Limits
from bot.core.model import Declared, FileReport
from bot.core.reportbase import (
    MAX_SECONDS,
    Context,
    Dialect,
    compare,
    cut,
    depth_refusal,
    first_line,
    parse_int,
    parse_time,
)
from bot.core.suites import Suite, declared_of, merge_runs, sum_declared
from bot.core.testcase import Outcome, TestCase
from bot.core.xmlstream import Refused, new_parser, run

_OUTCOMES = (Outcome.PASSED, Outcome.SKIPPED, Outcome.FAILED, Outcome.ERROR)
_SKIP_STATUS = frozenset({"disabled", "notrun", "skipped", "skip", "ignored", "suppressed"})
_KNOWN = ("testsuites, testsuite, assemblies, assembly, test-results, test-run, test-suite, "
          "TestRun")


# Test result formats ci-truth does not read: refused (their failures must not vanish) with the
# way to the JUnit XML the same tool writes.
_UNREAD = {"testng-results": "TestNG's own results format; point ci-truth at the JUnit XML "
                             "TestNG writes beside it (Surefire: surefire-reports/TEST-*.xml; "
                             "TestNG alone: junitreports/TEST-*.xml)"}


_CHILD = {"skipped": 1, "failure": 2, "error": 3, "system-err": 0,
          "flakyFailure": -1, "flakyError": -1}
_PYTEST_SUITES = frozenset({"pytest", "pytest tests"})
_SUITE = frozenset({"testsuite", "testsuites", "testrun"})


class _Handlers:
    """The expat handlers and finish step, plus three entry points for the C accelerator:
    `adopt(attrs)` makes a plain passed testcase it already tallied the held-back `pending`,
    `flush()` releases `pending`, `tally(n)` counts n testcases into the integrity tallies."""

    __slots__ = ("adopt", "end", "finish", "flush", "start", "tally")

    def __init__(self, start: Callable[[str, dict[str, str]], None], end: Callable[[str], None],
                 finish: Callable[[bool], None], adopt: Callable[[dict[str, str]], None],
                 flush: Callable[[], None], tally: Callable[[int], None]) -> None:
        self.start = start
        self.end = end
        self.finish = finish
        self.adopt = adopt
        self.flush = flush
        self.tally = tally


def junit(ctx: Context, parser: Any) -> Dialect:
    """Handlers for <testsuites>/<testsuite> reports (and Eclipse <testrun>).

    Closures over local variables, because this runs for every element of reports that
    can be gigabytes long: only the current testcase is held, its text capped while read.
    """
    lim = ctx.limits
    max_depth, max_name = lim.max_depth, lim.max_name
    max_message, max_details = lim.max_message, lim.max_details
    emit, emit_pass, passed = ctx.emit, ctx.emit_pass, ctx.passed
    fast, counts, cap = passed is not None, ctx.counts, lim.max_testcases
    keep_err = ctx.system_err
    suites: list[Suite] = []
    top: list[Declared] = []
    root: list[Declared] = []
    depth = 0
    case: dict[str, str] | None = None
    case_depth = -9
    rank = 0
    msg = ""
    details: list[str] = []
    err: list[str] = []
    buf: list[str] = details
    buf_len = 0
    flaky = False
    skipped_too = False  # a <skipped> was seen in the testcase (pytest: skip then teardown error)
    collecting = False
    # The testcase held back (a rerun may follow) as a plain tuple, see _Fields: a TestCase is
    # built only when a sink needs one (a passed test goes to emit_pass as id and system-err).
    pending: _Fields | None = None
    line_base = [0]  # 1 for pytest: 0-based line numbers, reruns written as repeated testcases
    raw = [0, 0, 0]  # testcase elements, failing, skipped (for integrity checks)
    raw_slack = [0]  # pytest reruns merged: each one pytest may have declared as a test

    def collect(data: str) -> None:
        nonlocal buf_len
        if buf_len < max_details:
            buf.append(data)
            buf_len += len(data)

    def recount(first: int, then: int, merged: int) -> None:
        """Two testcase elements (ranks) became one test: the integrity tallies follow."""
        target: list[list[int]] = [raw]
        if suites:
            s = suites[-1]
            tally = [s.tests, s.failing, s.skipped]
            target.append(tally)
        for counts in target:
            counts[0] -= 1
            for rank_, sign in ((first, -1), (then, -1), (merged, 1)):
                if rank_ == 1:
                    counts[2] += sign
                elif rank_:
                    counts[1] += sign
        if suites:
            suites[-1].tests, suites[-1].failing, suites[-1].skipped = target[1]

    def release(f: _Fields) -> None:
        """Hand one finished test to the context: a passed one without building a TestCase."""
        if fast and f[3] == 0 and not f[10]:
            emit_pass(f[0], f[4], f[7])
        else:
            emit(_case(f, line_base[0]))

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal depth, case, case_depth, rank, msg, details, err, buf, buf_len, flaky
        nonlocal collecting, skipped_too
        depth += 1
        if depth > max_depth:
            raise Refused(depth_refusal(max_depth))
        if name == "testcase":
            if case is None:  # msg too: a status-skipped testcase has no child to set it
                case, case_depth, rank, flaky, msg = attrs, depth, 0, False, ""
                skipped_too = False
            return
        if case is not None:
            if depth == case_depth + 1:
                code = _CHILD.get(name)
                if code is None:
                    return
                if code == 1:
                    skipped_too = True
                if code == 0:
                    if not keep_err:
                        return
                    if err:
                        buf, buf_len = err, sum(map(len, err))
                    else:
                        buf = err = []
                        buf_len = 0
                elif code > rank:
                    rank, msg = code, attrs.get("message", "")
                    buf = details = []
                    buf_len = 0
                elif code < 0:
                    flaky = True
                    return
                else:
                    return
                collecting = True
                parser.CharacterDataHandler = collect
            return
        if name in _SUITE:
            if attrs.get("name") in _PYTEST_SUITES:
                line_base[0] = 1
            declared = declared_of(attrs)
            if depth == 1 and name != "testsuite":
                if declared != Declared():
                    root.append(declared)
                return
            if not suites:  # one running sum, not a list: a report may hold 100k top suites
                top[:] = [sum_declared([*top, declared]) or declared]
            suites.append(Suite(cut(attrs.get("name", ""), max_name), declared, depth))

    def end(name: str) -> None:
        nonlocal depth, case, collecting, pending, err, details
        if collecting and depth == case_depth + 1:
            parser.CharacterDataHandler = None
            collecting = False
        elif depth == case_depth and case is not None:
            attrs, case = case, None
            r = rank
            if r == 0 and ("status" in attrs or "result" in attrs):
                status = attrs.get("status") or attrs.get("result") or ""
                if status.lower() in _SKIP_STATUS:
                    r = 1
            name = attrs.get("name", "")
            if len(name) > max_name:
                name = cut(name, max_name)
            classname = attrs.get("classname", "")
            if len(classname) > max_name:
                classname = cut(classname, max_name)
            if classname:
                tid = classname + "::" + name
            elif suites and suites[-1].name:
                tid = suites[-1].name + "::" + name
            else:
                tid = name
            text = message = ""
            if r:
                text = cut("".join(details), max_details)
                message = msg or (first_line(text, max_message) if r > 1 else "")
                if len(message) > max_message:
                    message = cut(message, max_message)
            line = attrs.get("line")
            seconds = attrs.get("time")
            if seconds is None:
                secs = 0.0
            else:
                try:
                    secs = float(seconds)
                except ValueError:
                    secs = parse_time(seconds)
                if not 0.0 <= secs < MAX_SECONDS:
                    secs = parse_time(seconds)
            tc = (tid, name, classname, r, secs, message, text,
                  cut("".join(err), max_details) if err else "", attrs.get("file"), line,
                  flaky and r == 0)
            if err:
                err = []
            if details:
                details = []
            # pytest writes a test that skips and then errors in a fixture's teardown as one
            # testcase with <skipped> and <error>, and declares it both skipped and errored:
            # the test is an error, the integrity tallies count it as pytest does
            both = r > 1 and skipped_too and line_base[0] == 1
            raw[0] += 1
            if r:
                raw[1 if r > 1 else 2] += 1
                if both:
                    raw[2] += 1
            if suites:
                s = suites[-1]
                s.tests += 1
                if r > 1:
                    s.failing += 1
                    if both:
                        s.skipped += 1
                elif r:
                    s.skipped += 1
            if pending is None:
                pending = tc
            # a repeat is a rerun: in pytest's reports after a pass-looking attempt
            # (pytest-rerunfailures; a failure then its teardown error are two testcases,
            # and pytest declares both), in others after a failing run
            elif pending[0] == tid and tid and (
                    pending[3] == 0 if line_base[0] else pending[3] > 1):
                base = line_base[0]
                first = _case(pending, base)
                merged = merge_runs(first, _case(tc, base), last_wins=bool(base))
                m = _OUTCOMES.index(merged.outcome)
                recount(pending[3], r, m)
                if base:  # pytest declares an attempt whose call passed (rerun for teardown)
                    raw_slack[0] += 1
                    if suites:
                        suites[-1].slack += 1
                pending = (merged.id, merged.name, merged.classname, m, merged.time,
                           merged.message, merged.details, merged.system_err, merged.file,
                           pending[9] if merged is first else tc[9], merged.flaky)
            elif fast and pending[3] == 0 and not pending[10]:  # release(pending), inlined
                counts.tests += 1
                counts.passed += 1
                counts.duration += pending[4]
                if counts.tests > cap:
                    ctx.refuse_cap()
                passed(pending[0], pending[7])  # type: ignore[misc]  # fast: not None
                pending = tc
            else:  # emit(_case(pending, line_base[0])), inlined
                f, raw_line = pending, pending[9]
                emit(TestCase(f[0], f[1], f[2], _OUTCOMES[f[3]], f[4], f[5], f[6], f[7], f[8],
                              None if raw_line is None else _line(raw_line, line_base[0]),
                              f[10]))
                pending = tc
        elif suites and suites[-1].depth == depth:
            suite = suites.pop()
            where = f"suite {suite.name!r}" if suite.name else "an unnamed suite"
            compare(ctx, where, suite.declared, suite.tests, suite.failing, suite.skipped,
                    suite.slack)
            if suites:
                parent = suites[-1]
                parent.tests += suite.tests
                parent.slack += suite.slack
                parent.failing += suite.failing
                parent.skipped += suite.skipped
        depth -= 1

    def finish(complete: bool) -> None:
        nonlocal pending
        if pending is not None:
            last, pending = pending, None
            release(last)
        if not complete:
            return
        if root:
            ctx.report.declared = root[0]
            compare(ctx, "the report's root", root[0], raw[0], raw[1], raw[2], raw_slack[0])
        else:
            ctx.report.declared = sum_declared(top)

    # The C accelerator (bot/core/_fastjunit.c) counts plain passes itself, and calls these
    # where junit.py would have: never per test, only around the constructs it replays here.
    def adopt(attrs: dict[str, str]) -> None:
        nonlocal depth, case, case_depth, rank, flaky, skipped_too
        depth += 1
        case, case_depth, rank, flaky, skipped_too = attrs, depth, 0, False, False
        end("testcase")  # `pending` is None here: this testcase becomes `pending`
        tally(-1)        # ... and was tallied when it ended, in its own suite

    def flush() -> None:
        nonlocal pending
        if pending is not None:
            release(pending)  # may refuse at the cap: `pending` stays, as in end()
            pending = None

    def tally(n: int) -> None:
        raw[0] += n
        if suites:
            suites[-1].tests += n

    return _Handlers(start, end, finish, adopt, flush, tally)


# A testcase before a TestCase is built: id, name, classname, rank (0 passed, 1 skipped,
# 2 failed, 3 error), seconds, message, details, system-err, file, raw line attribute, flaky.
_Fields = tuple[str, str, str, int, float, str, str, str, "str | None", "str | None", bool]


def _one_by_one(passed: Callable[[str, str], None]) -> Callable[[list[str]], None]:
    def many(ids: list[str]) -> None:
        for test_id in ids:
            passed(test_id, "")

    return many


def _case(f: _Fields, line_base: int) -> TestCase:
    line = f[9]
    return TestCase(f[0], f[1], f[2], _OUTCOMES[f[3]], f[4], f[5], f[6], f[7], f[8],
                    None if line is None else _line(line, line_base), f[10])


def _line(text: str, base: int) -> int | None:
    value = parse_int(text)
    return None if value is None else value + base


_DIALECTS: dict[str, tuple[str, Callable[[Context, Any], Dialect]]] = {
    "testsuites": ("junit", junit), "testsuite": ("junit", junit), "testrun": ("junit", junit),
    **dotnet.ROOTS,
}


def parse_report(chunks: Iterable[bytes], *, path: str, sink: Callable[[TestCase], None],
                 limits: Limits = DEFAULT_LIMITS,
                 passed: Callable[[str, str], None] | None = None,
                 system_err: bool = True,
                 passed_many: Callable[[list[str]], None] | None = None,
                 native: bool | None = None) -> FileReport:
    """Read one report; never raises on bad input (FileReport.error says why it is unreadable).

    `passed(id, system_err)`, when given, receives each test that simply passed (not flaky)
    instead of `sink` receiving a TestCase: building one costs more than the rest of the
    per-test work, and a measurer only needs the id and the captured stderr of a pass.
    `system_err=False` leaves TestCase.system_err empty in JUnit reports (no text is
    captured for it): for callers that match no signatures against it.

    `passed_many(ids)`, when given with `passed`, must equal `passed(id, "")` for each id in
    turn: the C accelerator hands over plain passes in batches through it.

    The dialect is chosen by the root element: testsuites/testsuite → junit, assemblies →
    xunit2, test-results → nunit2, test-run → nunit3, TestRun → trx.

    `native`: read with the C accelerator (True, when built), with pyexpat and these Python
    handlers alone (False), or as bot.core.xmlaccel says (None). Both give identical results
    (tests/core/test_junit_native.py).
    """
    report = FileReport(path=path)
    ctx = Context(report, sink, limits, passed, system_err)
    native = xmlaccel.enabled() if native is None else native and xmlaccel.available()
    parser = new_parser(native=native)
    chosen: list[Dialect] = []
    drain: list[Callable[[], None]] = []

    def root(name: str, attrs: dict[str, str]) -> None:
        entry = _DIALECTS.get(name)
        if entry is None:
            hint = _UNREAD.get(name)
            if hint:
                raise Refused(f"not a test report ci-truth reads: <{name}> is {hint}")
            raise Refused(f"not a test report: the root element is <{cut(name, 64)}>; "
                          f"known report roots are {_KNOWN}")
        report.format, factory = entry
        dialect = factory(ctx, parser)
        chosen.append(dialect)
        parser.StartElementHandler = dialect.start
        parser.EndElementHandler = dialect.end
        dialect.start(name, attrs)
        if native and passed is not None and isinstance(dialect, _Handlers):
            parser.accelerate(dialect, counts=report.counts,
                              passed_many=passed_many or _one_by_one(passed),
                              refuse_cap=ctx.refuse_cap, refused=Refused,
                              depth_message=depth_refusal(limits.max_depth),
                              max_depth=limits.max_depth, max_name=limits.max_name,
                              max_testcases=limits.max_testcases, system_err=system_err)
            drain.append(parser.drain)

    parser.StartElementHandler = root
    error = run(parser, chunks, max_bytes=limits.max_file_bytes,
                max_markup=limits.max_markup_bytes)
    parser.StartElementHandler = parser.EndElementHandler = None
    parser.CharacterDataHandler = None
    if chosen:
        try:
            for step in drain:
                step()
            chosen[0].finish(error is None)
        except Refused as exc:
            error = error or str(exc)
        except Exception as exc:  # the sink failed on the last test: still a reason, no trace
            error = error or f"could not read the report: {type(exc).__name__}: {exc}"
    report.error = error
    return report
