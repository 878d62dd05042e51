"""The .NET report dialects: xUnit.net v1/v2 XML, NUnit 2 and 3 XML, MSTest/VSTest TRX."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from bot.core.model import Declared
from bot.core.reportbase import (
    Context,
    compare,
    cut,
    depth_refusal,
    first_line,
    parse_int,
    parse_time,
)
from bot.core.testcase import Outcome, TestCase, make_id
from bot.core.xmlstream import Refused, size

P, S, F, E = Outcome.PASSED, Outcome.SKIPPED, Outcome.FAILED, Outcome.ERROR
# Result words of each dialect, lower-cased; anything unknown counts as an error (never a pass).
XUNIT = {"pass": P, "fail": F, "skip": S, "notrun": S}
NUNIT = {"success": P, "passed": P, "failure": F, "failed": F, "error": E, "ignored": S,
         "skipped": S, "notrunnable": E, "inconclusive": S, "warning": P, "cancelled": E}
NUNIT3_LABEL = {"error": E, "invalid": E, "cancelled": E}
ONE_TIME = {"setup": "OneTimeSetUp", "teardown": "OneTimeTearDown"}  # NUnit 3 suite `site`
TRX = {"passed": P, "passedbutrunaborted": P, "completed": P, "warning": P, "failed": F,
       "error": E, "timeout": E, "aborted": E, "notrunnable": E, "notexecuted": S,
       "inconclusive": S, "pending": S, "disconnected": E, "inprogress": E}
# Text inside a test worth keeping: element → which buffer it fills.
TEXT = {"message": "msg", "Message": "msg", "stack-trace": "details", "StackTrace": "details",
        "StdErr": "err", "reason": "msg"}


class _Cases:
    """Shared handler: one element per test, result in attributes, text in child elements."""

    case_elements: frozenset[str] = frozenset()

    def __init__(self, ctx: Context, parser: Any) -> None:
        self.ctx = ctx
        self.parser = parser
        self.limits = ctx.limits
        self.depth = 0
        self.case: dict[str, str] | None = None
        self.case_depth = 0
        self.case_name = ""
        self.failure_child = False
        self.quiet_depth = 0  # inside NUnit 3's <assertions>: a repeat of the <failure> text
        self.bufs: dict[str, list[str]] = {}
        self.buf: list[str] = []
        self.buf_len = 0
        self.suite = ""
        self.seen = 0
        self.failing = 0
        self.skipped = 0
        self.declared: Declared | None = None

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise Refused(depth_refusal(self.limits.max_depth))
        if name in self.case_elements:
            if self.case is None:
                self.case, self.case_depth, self.bufs = attrs, self.depth, {}
                self.case_name = name
                self.failure_child = False
                self.quiet_depth = 0
        elif self.case is not None:
            if name == "failure":
                self.failure_child = True
            elif name == "assertions" and not self.quiet_depth:
                self.quiet_depth = self.depth
            target = None if self.quiet_depth else TEXT.get(name)
            if target is not None:
                self.buf = self.bufs.setdefault(target, [])
                self.buf_len = sum(map(len, self.buf))
                self.parser.CharacterDataHandler = self._collect
        else:
            self.other(name, attrs)

    def end(self, name: str) -> None:
        if self.case is not None:
            if self.depth == self.case_depth and name == self.case_name:
                attrs, self.case = self.case, None
                self.case_test(attrs)
            elif name in TEXT:
                self.parser.CharacterDataHandler = None
            elif self.depth == self.quiet_depth:
                self.quiet_depth = 0
        else:
            self.parser.CharacterDataHandler = None  # text an `other` element asked for
            self.other_end(name)
        self.depth -= 1

    def listen(self, into: list[str]) -> None:
        """Collect the current element's text (capped) into `into`."""
        self.buf = into
        self.buf_len = sum(map(len, into))
        self.parser.CharacterDataHandler = self._collect

    def emit_extra(self, name: str, classname: str, bufs: dict[str, list[str]]) -> None:
        """An error found outside any test (a fixture, the run): not in the declared totals."""
        self.bufs = bufs
        tc = self.build(name, classname, E, 0.0)
        self.seen -= 1
        self.failing -= 1
        self.ctx.emit(tc)

    def _collect(self, data: str) -> None:
        if self.buf_len < self.limits.max_details:
            self.buf.append(data)
            self.buf_len += len(data)

    def text(self, key: str, limit: int) -> str:
        return cut("".join(self.bufs.get(key, ())).strip(), limit)

    def build(self, name: str, classname: str, outcome: Outcome, time: float) -> TestCase:
        """A TestCase from the current test's attributes and collected text."""
        lim = self.limits
        if classname and name.startswith(classname + "."):
            name = name[len(classname) + 1:]  # "Ns.Class.Method(x)" under class "Ns.Class"
        details = self.text("details", lim.max_details) if outcome is not P else ""
        msg = self.text("msg", lim.max_message) if outcome is not P else ""
        name, classname = cut(name, lim.max_name), cut(classname, lim.max_name)
        self.seen += 1
        self.failing += outcome is F or outcome is E
        self.skipped += outcome is S
        return TestCase(id=make_id(classname, name, self.suite), name=name,
                        classname=classname, outcome=outcome, time=time,
                        message=msg or first_line(details, lim.max_message), details=details,
                        system_err=self.text("err", lim.max_details))

    def other(self, name: str, attrs: dict[str, str]) -> None:
        """Elements outside a test (suites, summaries)."""

    def other_end(self, name: str) -> None:
        """The end of an element outside a test."""

    def case_test(self, attrs: dict[str, str]) -> None:
        raise NotImplementedError

    def finish(self, complete: bool) -> None:
        """Check the declared totals against the tests present when the file was complete."""
        self.ctx.report.declared = self.declared
        if complete and self.declared is not None:
            compare(self.ctx, "the report's summary", self.declared, self.seen, self.failing,
                    self.skipped)


class XUnit(_Cases):
    """xUnit.net v2 (<assemblies>) and v1 (<assembly>) XML: <test result="Pass|Fail|Skip">."""

    case_elements = frozenset({"test", "error"})  # <errors><error>: failures outside tests

    def other(self, name: str, attrs: dict[str, str]) -> None:
        if name == "assembly":
            d = Declared(tests=parse_int(attrs.get("total")),
                         failures=parse_int(attrs.get("failed")),
                         skipped=parse_int(attrs.get("skipped")))
            if self.declared is None:
                self.declared = d
            else:
                for field in ("tests", "failures", "skipped"):
                    a, b = getattr(self.declared, field), getattr(d, field)
                    setattr(self.declared, field, None if a is None or b is None else a + b)
            self.suite = attrs.get("name", "")

    def case_test(self, attrs: dict[str, str]) -> None:
        if self.case_name == "error":  # e.g. a class fixture's cleanup threw: not a pass
            what = " ".join(filter(None, (attrs.get("type"), attrs.get("name"))))
            self.emit_extra(what or "error", "", self.bufs)
            return
        outcome = XUNIT.get(attrs.get("result", "").lower(), E)
        self.ctx.emit(self.build(attrs.get("name", ""), attrs.get("type", ""), outcome,
                                 parse_time(attrs.get("time"))))


class NUnit(_Cases):
    """NUnit 2 (<test-results>) and NUnit 3 (<test-run>, <test-suite>) XML: <test-case>."""

    case_elements = frozenset({"test-case"})

    def __init__(self, ctx: Context, parser: Any) -> None:
        super().__init__(ctx, parser)
        # Suites open here whose setup or teardown failed: depth, attributes, tests not
        # passed before it, its own text.
        self.failed_suites: list[tuple[int, dict[str, str], int, dict[str, list[str]]]] = []

    def other(self, name: str, attrs: dict[str, str]) -> None:
        if self.depth == 1:
            self.declared = nunit_declared(name, attrs)
        if name == "test-suite":
            self.suite = attrs.get("fullname") or attrs.get("name", "")
            site = attrs.get("site", "").lower()
            if site in ONE_TIME and NUNIT.get(attrs.get("result", "").lower(), E) in (F, E):
                self.failed_suites.append((self.depth, attrs, self.not_passed(), {}))
        elif name in TEXT and self.failed_suites:
            depth, _attrs, _failing, bufs = self.failed_suites[-1]
            if self.depth == depth + 2:  # <failure><message> or <reason><message> of the suite
                self.listen(bufs.setdefault(TEXT[name], []))

    def not_passed(self) -> int:
        """Failed or errored tests read so far, errors outside tests included."""
        return self.ctx.counts.failed + self.ctx.counts.errors

    def other_end(self, name: str) -> None:
        """A suite whose OneTimeSetUp or OneTimeTearDown failed while none of its tests did
        (NUnit 3 leaves them Passed after a teardown threw): an error, never green."""
        if name != "test-suite" or not self.failed_suites:
            return
        depth, attrs, failing, bufs = self.failed_suites[-1]
        if depth != self.depth:
            return
        self.failed_suites.pop()
        if self.not_passed() == failing:
            self.emit_extra(ONE_TIME[attrs.get("site", "").lower()],
                            attrs.get("fullname") or attrs.get("name", ""), bufs)

    def case_test(self, attrs: dict[str, str]) -> None:
        result = attrs.get("result")
        if result is None:  # NUnit 2.0-2.4: executed/success and a <failure> child only
            if attrs.get("executed", "").lower() == "false":
                result = "skipped"
            elif self.failure_child or attrs.get("success", "true").lower() != "true":
                result = "failure"
            else:
                result = "success"
        outcome = NUNIT.get(result.lower(), E)
        if outcome is F:
            outcome = NUNIT3_LABEL.get(attrs.get("label", "").lower(), F)
        if attrs.get("executed", "").lower() == "false" and outcome is P:
            outcome = S
        name = attrs.get("name", "")
        classname = attrs.get("classname", "")
        if not classname:
            classname, name = split_full_name(attrs.get("fullname", name))
        time = parse_time(attrs.get("duration", attrs.get("time")))
        self.ctx.emit(self.build(name, classname, outcome, time))


def split_full_name(full: str) -> tuple[str, str]:
    """"Ns.Class.Method(1.5)" → ("Ns.Class", "Method(1.5)"); no dot → ("", full)."""
    head = full.split("(", 1)[0]
    cut_at = head.rfind(".")
    return (full[:cut_at], full[cut_at + 1:]) if cut_at > 0 else ("", full)


def nunit_declared(root: str, attrs: dict[str, str]) -> Declared:
    """NUnit 2 `total` leaves out not-run tests and counts invalid ones apart; NUnit 3's
    `failed` includes errors."""
    total = parse_int(attrs.get("total"))
    if root == "test-results":
        not_run = parse_int(attrs.get("not-run")) or 0
        errors = parse_int(attrs.get("errors"))
        invalid = parse_int(attrs.get("invalid")) or 0
        return Declared(tests=None if total is None else total + not_run,
                        failures=parse_int(attrs.get("failures")),
                        errors=None if errors is None else errors + invalid)
    return Declared(tests=total, failures=parse_int(attrs.get("failed")))


class Trx(_Cases):
    """MSTest/VSTest TRX: <UnitTestResult outcome=...>; class names come later, in definitions.

    TRX writes <Results> before <TestDefinitions>, so results are held until the end of the
    file to give them their class names: packed in one bytearray (outcome, duration, testId,
    name), texts only where a failure or a signature needs them, all within
    limits.max_trx_held_bytes. A result with <InnerResults> (data-driven MSTest) counts its
    rows, not itself.
    """

    case_elements = frozenset({"UnitTestResult"})

    def __init__(self, ctx: Context, parser: Any) -> None:
        super().__init__(ctx, parser)
        self.held = bytearray()  # HEAD + testId + name, UTF-8, per result
        self.held_count = 0
        self.held_bytes = 0
        self.texts: dict[int, tuple[str, str, str]] = {}  # result number → message, details, err
        self.with_details = 0
        self.classes: dict[str, int] = {}  # UnitTest id → index in class_names
        self.class_names: list[str] = []
        self.class_index: dict[str, int] = {}
        self.unit = ""
        self.suspended: list[tuple[dict[str, str], int, dict[str, list[str]]]] = []
        self.rows_from: dict[int, int] = {}  # depth of a result with rows → failing before them
        self.parents = {P: 0, S: 0, F: 0, E: 0}  # results with rows, by their own outcome
        self.run_outcome = ""  # <ResultSummary outcome>
        self.run_errors: dict[str, list[str]] = {}  # first <RunInfo outcome="Error"> text
        self.run_info = False

    def hold(self, n: int) -> None:
        """Charge `n` bytes to the held results; refuse past limits.max_trx_held_bytes."""
        self.held_bytes += n
        cap = self.limits.max_trx_held_bytes
        if self.held_bytes > cap:
            raise Refused(f"refused: the TRX holds more than {size(cap)} of test results "
                          f"before its test definitions (limits.max_trx_held_bytes: about "
                          f"{cap // 160:,} tests with short names)")

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if name == "UnitTestResult" and self.case is not None:  # a row of <InnerResults>
            self.rows_from.setdefault(self.case_depth, self.failing)
            self.suspended.append((self.case, self.case_depth, self.bufs))
            self.case = None
        super().start(name, attrs)

    def end(self, name: str) -> None:
        super().end(name)
        if self.case is None and self.suspended and name == "UnitTestResult":
            self.case, self.case_depth, self.bufs = self.suspended.pop()
            self.case_name = name

    def other(self, name: str, attrs: dict[str, str]) -> None:
        if name == "UnitTest":
            self.unit = attrs.get("id", "")
        elif name == "TestMethod" and self.unit:
            classname = cut(attrs.get("className", "").split(",")[0].strip(), self.limits.max_name)
            index = self.class_index.get(classname)
            if index is None:
                index = self.class_index[classname] = len(self.class_names)
                self.class_names.append(classname)
                self.hold(len(classname) + HELD_COST)
            self.classes[self.unit[:self.limits.max_name]] = index
            self.hold(len(self.unit) + HELD_COST)
            self.unit = ""
        elif name == "ResultSummary":
            self.run_outcome = attrs.get("outcome", "")
        elif name == "RunInfo":
            self.run_info = attrs.get("outcome", "").lower() == "error" and not self.run_errors
        elif name == "Text" and self.run_info:
            self.listen(self.run_errors.setdefault("msg", []))
        elif name == "Counters":
            errors = [parse_int(attrs.get(k)) for k in ("error", "timeout", "aborted",
                                                         "notRunnable", "disconnected")]
            self.declared = Declared(tests=parse_int(attrs.get("total")),
                                     failures=parse_int(attrs.get("failed")),
                                     errors=sum(e or 0 for e in errors))

    def case_test(self, attrs: dict[str, str]) -> None:
        outcome = TRX.get(attrs.get("outcome", "").lower(), E)
        failing = outcome is F or outcome is E
        extra = 0
        before = self.rows_from.pop(self.case_depth, None)
        if before is not None:  # its rows were the tests
            self.parents[outcome] += 1
            if not failing or self.failing > before:
                return
            extra = EXTRA  # failed while none of its rows did: an error, not in the counters
            outcome = E
        else:
            self.seen += 1
            self.failing += failing
            self.skipped += outcome is S
        lim = self.limits
        msg = details = err = ""
        if failing:
            keep = self.ctx.system_err or self.with_details < lim.max_details_kept
            details = self.text("details", lim.max_details) if keep else ""
            self.with_details += keep
            msg = self.text("msg", lim.max_message) or first_line(details, lim.max_message)
        if self.ctx.system_err:
            err = self.text("err", lim.max_details)
        if msg or details or err:
            self.texts[self.held_count] = (msg, details, err)
            self.hold(len(msg) + len(details) + len(err) + HELD_COST)
        test_id = attrs.get("testId", "")[:lim.max_name].encode()
        name = cut(attrs.get("testName", ""), lim.max_name).encode()
        record = HEAD.pack(CODES[outcome] | extra, parse_time(attrs.get("duration")),
                           len(test_id), len(name)) + test_id + name
        self.hold(len(record))
        self.held += record
        self.held_count += 1

    def finish(self, complete: bool) -> None:
        held, self.held = self.held, bytearray()
        at = 0
        for number in range(self.held_count):
            code, time, id_len, name_len = HEAD.unpack_from(held, at)
            at += HEAD.size
            test_id = held[at:at + id_len].decode()
            name = held[at + id_len:at + id_len + name_len].decode()
            at += id_len + name_len
            index = self.classes.get(test_id)
            classname = "" if index is None else self.class_names[index]
            if classname and name.startswith(classname + "."):
                name = name[len(classname) + 1:]
            msg, details, err = self.texts.pop(number, ("", "", ""))
            self.ctx.emit(TestCase(id=make_id(classname, name, ""), name=name,
                                   classname=classname, outcome=OUTCOMES[code & ~EXTRA],
                                   time=time, message=msg, details=details, system_err=err))
        outcome = self.run_outcome.lower()
        if outcome and self.failing == 0 and (outcome == "passedbutrunaborted"
                                              or TRX.get(outcome, E) in (F, E)):
            # e.g. a crashed test host: the results written all passed, the run did not
            self.run_errors.setdefault("details", [
                f"the TRX run outcome is {self.run_outcome} but no test result failed"])
            self.emit_extra("test run", "", self.run_errors)
        self.declared = self.rows_only(self.declared)
        super().finish(complete)

    def rows_only(self, declared: Declared | None) -> Declared | None:
        """Counters that also count each data-driven parent (VSTest 17.x), without them."""
        with_rows = sum(self.parents.values())
        if declared is None or not with_rows or declared.tests != self.seen + with_rows:
            return declared  # none, or only the rows counted (VSTest 18)
        p = self.parents
        return Declared(tests=self.seen,
                        failures=None if declared.failures is None else declared.failures - p[F],
                        errors=None if declared.errors is None else declared.errors - p[E],
                        skipped=declared.skipped)


OUTCOMES = (P, S, F, E)
CODES = {outcome: code for code, outcome in enumerate(OUTCOMES)}
EXTRA = 0x80  # a held result outside the declared totals
HEAD = struct.Struct("<BdHH")  # outcome code, seconds, testId and name lengths (UTF-8 bytes)
HELD_COST = 64  # bytes charged per held text or definition beyond its characters


Factory = Callable[[Context, Any], Any]
ROOTS: dict[str, tuple[str, Factory]] = {
    "assemblies": ("xunit2", XUnit), "assembly": ("xunit2", XUnit),
    "test-results": ("nunit2", NUnit), "test-run": ("nunit3", NUnit),
    "test-suite": ("nunit3", NUnit), "TestRun": ("trx", Trx),
}
