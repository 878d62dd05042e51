"""Safe expat set-up and feeding: no DTD, no entities, bounded chunks and bytes, readable errors."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from xml.parsers import expat

from bot.core import xmlaccel
from bot.core.limits import DEFAULT_LIMITS, InputRefused

CHUNK = 1 << 20  # bytes handed to expat per Parse() call

_E = expat.errors
_NO_ELEMENTS = _E.codes[_E.XML_ERROR_NO_ELEMENTS]
_JUNK = _E.codes[_E.XML_ERROR_JUNK_AFTER_DOC_ELEMENT]
_MISPLACED_PI = _E.codes[_E.XML_ERROR_MISPLACED_XML_PI]
_ENCODING = {_E.codes[_E.XML_ERROR_UNKNOWN_ENCODING]}
_WRONG_ENCODING = _E.codes[_E.XML_ERROR_INCORRECT_ENCODING]
_ENTITY = {_E.codes[_E.XML_ERROR_UNDEFINED_ENTITY], _E.codes[_E.XML_ERROR_RECURSIVE_ENTITY_REF],
           _E.codes[_E.XML_ERROR_ASYNC_ENTITY], _E.codes[_E.XML_ERROR_EXTERNAL_ENTITY_HANDLING]}
_UNFINISHED = {_NO_ELEMENTS, _E.codes[_E.XML_ERROR_UNCLOSED_TOKEN],
               _E.codes[_E.XML_ERROR_UNCLOSED_CDATA_SECTION], _E.codes[_E.XML_ERROR_PARTIAL_CHAR]}
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


class Refused(Exception):
    """Parsing stopped on purpose (unsafe construct, cap, not a report); str() is the reason."""


def refuse_doctype(*_args: object) -> None:
    """Refuse a DOCTYPE (the expat start-of-DOCTYPE handler)."""
    raise Refused("refused: the report contains a DOCTYPE declaration; ci-truth never reads DTDs "
                  "or entities (they enable billion-laughs and XXE attacks, and no test tool "
                  "writes them)")


def _refuse_entity(*_args: object) -> None:
    raise Refused("refused: the report declares an XML entity; ci-truth never expands entities")


def _refuse_external(*_args: object) -> int:
    raise Refused("refused: the report refers to an external entity; ci-truth never loads them")


def new_parser(*, native: bool = False) -> Any:
    """An expat parser that refuses DTDs and entity declarations the moment they start.

    native=True: the C accelerator's reader (bot/core/_fastjunit.c; the caller checked
    bot.core.xmlaccel.available()), which has the same interface subset; else pyexpat's.
    """
    parser: Any = xmlaccel.NATIVE.Parser() if native and xmlaccel.NATIVE else \
        expat.ParserCreate()
    parser.buffer_text = True
    parser.buffer_size = 1 << 16
    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.EntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_external
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    return parser


def size(n: int) -> str:
    """A byte count for people: 512 MiB, 3.2 KiB, 17 bytes."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


def run(parser: Any, chunks: Iterable[bytes], *, max_bytes: int,
        max_markup: int = DEFAULT_LIMITS.max_markup_bytes) -> str | None:
    """Feed every chunk (in pieces of at most CHUNK bytes); return None or the reason it failed.

    Never raises for bad input: expat errors, refusals, capped or corrupt streams all
    come back as a sentence. Expat buffers an unfinished tag, comment or processing
    instruction whole (rescanning it on every piece): past `max_markup` bytes it is refused.
    """
    total = 0
    head = b""
    fed = [0]

    def feed(piece: bytes | memoryview) -> None:
        parser.Parse(piece, False)
        fed[0] += len(piece)
        if fed[0] - parser.CurrentByteIndex > max_markup:
            raise Refused(f"refused: one tag, comment or processing instruction of the report "
                          f"is longer than the {size(max_markup)} cap (limits.max_markup_bytes)"
                          f"; test tools write far shorter ones")

    try:
        for chunk in chunks:
            n = len(chunk)
            if not n:
                continue
            if len(head) < 64:
                head += bytes(chunk[: 64 - len(head)])
            total += n
            if total > max_bytes:
                return (f"refused: the report is larger than the {size(max_bytes)} cap "
                        f"(limits.max_file_bytes)")
            if n <= CHUNK:
                feed(chunk)
            else:
                view = memoryview(chunk)
                for start in range(0, n, CHUNK):
                    feed(view[start:start + CHUNK])
        parser.Parse(b"", True)
    except (Refused, InputRefused) as exc:
        return str(exc)
    except expat.ExpatError as exc:
        return describe(exc, head, total)
    except RecursionError:
        return "refused: the report nests too deeply to read"
    except MemoryError:
        return "refused: the report needs more memory than is available"
    except LookupError as exc:  # pyexpat asks Python's codecs for encodings it lacks
        return (f"unsupported encoding: the XML declaration names an encoding this reader does "
                f"not know ({exc}); write the report as UTF-8")
    except ValueError as exc:
        if "encoding" in str(exc):
            return (f"unsupported encoding: {exc} (readable: UTF-8, UTF-16, ISO-8859-1 and "
                    f"other single-byte encodings); write the report as UTF-8")
        return f"could not read the report: {exc}"
    except (OSError, EOFError) as exc:
        return f"could not read the report: {exc}"
    except Exception as exc:  # a chunk source's own failure (network, zip): still a reason
        return f"could not read the report: {type(exc).__name__}: {exc}"
    return None


def _looks_like_xml(head: bytes) -> bool:
    for bom in _BOMS:
        if head.startswith(bom):
            return True
    stripped = head.lstrip()
    return stripped.startswith(b"<") or head.startswith(b"\x00<")


def describe(exc: expat.ExpatError, head: bytes, total: int) -> str:
    """Turn an expat error into a sentence a person can act on."""
    line = getattr(exc, "lineno", 0)
    msg = _E.messages.get(exc.code, str(exc))
    if total == 0:
        return "empty file: the report has 0 bytes (the test run probably never wrote it)"
    if not head.strip():
        return "empty file: the report holds only whitespace"
    if not _looks_like_xml(head):
        shown = head[:16].decode("ascii", "replace").replace("\ufffd", "?")
        shown = "".join(c if c.isprintable() else "?" for c in shown)
        return f"not XML: the file starts with {shown!r}, not with '<'"
    if exc.code in (_JUNK, _MISPLACED_PI):
        return (f"junk after document element at line {line}: a second XML document or text "
                f"follows the report's root element (two reports written into one file?)")
    if exc.code == _WRONG_ENCODING:
        return ("wrong encoding: the XML declaration names an encoding the file is not written "
                "in (a UTF-8 file that declares encoding=\"utf-16\", as .NET's StringWriter "
                "writes?); make the declaration match the file's bytes")
    if exc.code in _ENCODING:
        return (f"unsupported encoding: the XML declaration names an encoding this reader does "
                f"not know (readable: UTF-8, UTF-16, ISO-8859-1, US-ASCII) ({msg})")
    if exc.code in _ENTITY:
        return (f"refused: entity reference at line {line} ({msg}); ci-truth never expands "
                f"entities")
    if exc.code == _NO_ELEMENTS and line <= 1 and total < 256:
        return f"no XML element in the file ({msg})"
    if exc.code in _UNFINISHED:
        return (f"truncated or malformed XML at line {line}: {msg} (the file ends before the "
                f"report does: was the test run killed while writing it?)")
    return f"truncated or malformed XML at line {line}: {msg}"
