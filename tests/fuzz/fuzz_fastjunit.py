"""Coverage-guided differential fuzz: bot/core/_fastjunit.c against the pure-Python reader.

Atheris (libFuzzer) drives it. Coverage comes from the C extension (built with
-fsanitize=address,undefined,fuzzer-no-link) and from the project's Python modules (atheris
bytecode instrumentation of `bot.*`). Each input is read:

1. through parse_report by both readers (native=False / native=True) in four modes:
   engine (passed=+passed_many) with system_err False and True, and full mode (every
   TestCase to the sink) with system_err True and False; each at two feed sizes
   (1 MiB and a small one derived from the input); under limits chosen from the input;
   FileReport, the TestCase sequence and the passed-id sequence must be equal (and so
   must any exception, though parse_report should never raise);
2. through the bare xmlparser interface (xmlstream.new_parser(native=...)) with recording
   Start/End/CharacterData handlers and a buffer_size chosen from the input: the event
   sequence and the final exception (type, ExpatError code/lineno/offset) must be equal.

The system expat and pyexpat's must be the same version (SAME_EXPAT in
tests/core/test_junit_native.py), so exact equality is required.

A difference is written to $FUZZ_OUT/diffs/ (one file per new signature) and, with
FUZZ_STRICT=1, raised (libFuzzer then writes a crash-* artifact and can minimise it).
Sanitizer reports abort the process (libFuzzer writes crash-*).

Build and run: tests/fuzz/README.md (atheris, clang, an ASan build of the extension). Not
collected by pytest (its name does not start with test_) and not run in CI: it is a tool.
"""

from __future__ import annotations

import hashlib
import os
import sys
import zlib

import atheris

with atheris.instrument_imports(include=["bot"]):
    from bot.core import xmlaccel
    from bot.core.junit import parse_report
    from bot.core.limits import DEFAULT_LIMITS, Limits
    from bot.core.xmlstream import new_parser

import pyexpat

assert xmlaccel.available(), "the C accelerator did not import"
assert xmlaccel.NATIVE.EXPAT_VERSION == pyexpat.EXPAT_VERSION, "not SAME_EXPAT: relax the checks"

OUT = os.environ.get("FUZZ_OUT", "fuzz-out")
STRICT = os.environ.get("FUZZ_STRICT", "") not in ("", "0")
DIFFS = os.path.join(OUT, "diffs")
os.makedirs(DIFFS, exist_ok=True)
SEEN: set[str] = set()

LIMITS = [DEFAULT_LIMITS] * 6 + [
    Limits(max_testcases=3), Limits(max_testcases=0), Limits(max_depth=4), Limits(max_depth=2),
    Limits(max_name=8), Limits(max_name=0), Limits(max_message=5, max_details=10),
    Limits(max_file_bytes=300), Limits(max_testcases=1, max_depth=3, max_name=3),
]
SMALL_SIZES = [1, 2, 3, 7, 61, 64, 127, 509, 4093]
BUF_SIZES = [1 << 16, 1, 2, 5, 16, 64, 1000]
MODES = [  # (engine, system_err)
    (True, False), (True, True), (False, True), (False, False)]


def chunked(data: bytes, size: int):
    for start in range(0, len(data), size):
        yield data[start:start + size]


def read(data: bytes, native: bool, engine: bool, system_err: bool, size: int,
         limits: Limits) -> tuple:
    cases: list = []
    passes: list = []
    try:
        if engine:
            report = parse_report(chunked(data, size), path="r.xml", sink=cases.append,
                                  limits=limits, passed=lambda i, e: passes.append((i, e)),
                                  passed_many=lambda ids: passes.extend((i, "") for i in ids),
                                  system_err=system_err, native=native)
        else:
            report = parse_report(chunked(data, size), path="r.xml", sink=cases.append,
                                  limits=limits, system_err=system_err, native=native)
        exc = None
    except BaseException as e:  # parse_report must never raise; compare if it does
        report, exc = None, (type(e).__name__, str(e))
    return report, cases, passes, exc


def events(data: bytes, native: bool, size: int, bufsize: int) -> tuple:
    seen: list = []
    parser = new_parser(native=native)
    parser.buffer_size = bufsize
    parser.StartElementHandler = lambda n, a: seen.append(("S", n, list(a.items())))
    parser.EndElementHandler = lambda n: seen.append(("E", n))
    parser.CharacterDataHandler = lambda t: seen.append(("C", t))
    exc = None
    try:
        for chunk in chunked(data, size):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except pyexpat.ExpatError as e:
        exc = ("ExpatError", e.code, e.lineno, e.offset, str(e))
    except BaseException as e:
        exc = (type(e).__name__, str(e))
    return seen, exc


def report_diff(data: bytes, where: str, what: str, pure: object, fast: object) -> None:
    sig = hashlib.sha1(f"{where}|{what}".encode()).hexdigest()[:12]
    text = f"{where}: {what} differs\n  pure: {pure!r}\n  fast: {fast!r}\n"
    if sig not in SEEN:
        SEEN.add(sig)
        name = os.path.join(DIFFS, f"{sig}-{hashlib.sha1(data).hexdigest()[:12]}")
        with open(name + ".bin", "wb") as f:
            f.write(data)
        with open(name + ".txt", "w") as f:
            f.write(text[:20000])
        sys.stderr.write(f"\n=== NEW DIFF {sig}: {where}: {what} -> {name}.bin\n")
    if STRICT:
        raise AssertionError(text[:4000])


FIELDS = ("report", "cases", "passes", "exception")


def TestOneInput(data: bytes) -> None:
    h = zlib.crc32(data)
    small = SMALL_SIZES[h % len(SMALL_SIZES)]
    limits = LIMITS[(h >> 8) % len(LIMITS)]
    bufsize = BUF_SIZES[(h >> 16) % len(BUF_SIZES)]
    for size in (1 << 20, small):
        for engine, system_err in MODES:
            pure = read(data, False, engine, system_err, size, limits)
            fast = read(data, True, engine, system_err, size, limits)
            if pure != fast:
                where = f"parse_report engine={engine} system_err={system_err} size={size} " \
                        f"limits={limits}"
                for i, field in enumerate(FIELDS):
                    if pure[i] != fast[i]:
                        report_diff(data, where, field, pure[i], fast[i])
        pe = events(data, False, size, bufsize)
        fe = events(data, True, size, bufsize)
        if pe != fe:
            where = f"xmlparser size={size} buffer_size={bufsize}"
            report_diff(data, where, "events" if pe[0] != fe[0] else "exception", pe, fe)


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
