"""The C reader's pyexpat-like interface under hostile use (bot/core/_fastjunit.c).

parse_report only sets handlers from inside handlers and never re-enters Parse, but the
interface promises pyexpat's rules at any time: these pin what must hold when a handler
replaces itself, switches buffering, re-enters Parse, fails, or the reader is collected
mid-document with a reference cycle through its handlers. Run under ASan as well
(docs/parsing.md, "Two implementations").
"""

from __future__ import annotations

import gc
import itertools
import weakref
from xml.parsers import expat

import pytest

from bot.core import xmlaccel
from bot.core.xmlstream import new_parser

pytestmark = pytest.mark.skipif(not xmlaccel.available(),
                                reason="the C accelerator was not built (no compiler/expat.h)")

# A pytest failure whose text expat delivers in several pieces (comments split it).
FAILURE = (b"<testsuite name='pytest'><testcase classname='tests.test_a' name='test_b'>"
           b"<failure message='assert 1 == 2'>def test_b():<!-- -->\n&gt;       assert 1 == 2"
           b"<!-- -->\nE       assert 1 == 2<!-- -->\ntests/test_a.py:3: AssertionError"
           b"</failure></testcase></testsuite>")
TEXT = ("def test_b():\n>       assert 1 == 2\nE       assert 1 == 2\n"
        "tests/test_a.py:3: AssertionError")


@pytest.mark.parametrize(("size", "change"), [
    # turns buffer_text off while its buffered text is flushed: the piece that overflowed
    # the buffer used to stay buffered and arrive after later pieces
    (24, ("buffer_text", False)),
    *[(16, ("buffer_size", n)) for n in (1, 7, 16, 1 << 16)],  # resizes the buffer
])
def test_text_stays_in_order_when_the_handler_changes_buffering(
        size: int, change: tuple[str, object]) -> None:
    parser = new_parser(native=True)
    parser.buffer_size = size
    pieces: list[str] = []

    def collect(data: str) -> None:
        pieces.append(data)
        setattr(parser, *change)

    parser.CharacterDataHandler = collect
    parser.Parse(FAILURE, True)
    assert "".join(pieces) == TEXT


def test_a_handler_may_replace_itself_and_drop_its_last_reference() -> None:
    parser = new_parser(native=True)
    seen: list[str] = []

    def once(name: str, attrs: dict[str, str]) -> None:
        seen.append(name)
        parser.StartElementHandler = None  # `once` is now referenced only by this frame

    parser.StartElementHandler = once
    del once
    parser.Parse(FAILURE, True)
    assert seen == ["testsuite"]


def test_parse_from_a_handler_is_refused_and_stops_the_parse() -> None:
    parser = new_parser(native=True)
    parser.StartElementHandler = lambda name, attrs: parser.Parse(b"<testsuite/>", True)
    with pytest.raises(RuntimeError, match="inside a handler"):
        parser.Parse(FAILURE, False)
    with pytest.raises(expat.ExpatError):  # stopped for good, as after any handler failure
        parser.Parse(b"", True)


def test_a_reader_in_a_cycle_with_its_handlers_is_collected_mid_document() -> None:
    refs = []
    for _ in range(50):
        parser = new_parser(native=True)
        parser.StartElementHandler = lambda name, attrs, p=parser: gc.collect(0)
        parser.CharacterDataHandler = lambda data, p=parser: None
        parser.Parse(FAILURE[:150], False)  # left open inside <failure>, text buffered
        refs.append(weakref.ref(parser.StartElementHandler))
        del parser
    gc.collect()
    assert all(ref() is None for ref in refs)


def test_handlers_cannot_be_deleted() -> None:
    parser = new_parser(native=True)
    with pytest.raises(AttributeError):
        del parser.StartElementHandler
    with pytest.raises(AttributeError):
        del parser.buffer_size


def test_current_byte_index_is_pyexpats_between_parse_calls() -> None:
    # xmlstream's markup cap reads it after every chunk: the bytes expat consumed so far
    pieces = [b"<testsuite><testcase name='", b"t'>", b"<!-- " + b"c" * 5000, b" -->",
              b"<failure message='" + b"m" * 3000, b"'/></testcase>"]
    seen: dict[bool, list[int]] = {}
    for native in (True, False):
        parser = new_parser(native=native)
        seen[native] = []
        for piece in pieces:
            parser.Parse(piece, False)
            seen[native].append(parser.CurrentByteIndex)
    # The exact indexes depend on the libexpat release (2.6 defers reparsing a large token
    # until enough new data came): with the same library both readers agree exactly.
    fed = [sum(map(len, pieces[:i + 1])) for i in range(len(pieces))]
    if xmlaccel.NATIVE is not None and xmlaccel.NATIVE.EXPAT_VERSION == expat.EXPAT_VERSION:
        assert seen[True] == seen[False]
    for got in seen.values():
        assert all(a <= b for a, b in itertools.pairwise(got))
        assert all(0 < v <= f for v, f in zip(got, fed, strict=True))
        assert got[-1] == 8071              # all but the unclosed <testsuite>'s end
