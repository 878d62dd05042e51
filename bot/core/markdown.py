"""Escaping of untrusted text (test names, messages, paths) for GitHub-flavoured Markdown."""

from __future__ import annotations

import re

ZWSP = "\u200b"
# C0 controls except tab and newline, DEL, C1 controls, bidi controls (embeddings,
# overrides, isolates, marks), line/paragraph separators, BOM and zero-width joiners.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_COMMENT = re.compile(r"<!--|--!?>")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]#|~!])")
_LEADING = re.compile(r"^(\d{1,9}(?=[.)])|[-+=])")
_MENTION = re.compile(r"@(?=\w)")
_REF = re.compile(r"#(?=\d)|(?i:\b(GH)-(?=\d))")
_URL = re.compile(r"(?i)(\bhttps?|\bftp|\bwww)(?=[:.])")
_BACKTICKS = re.compile(r"`+")


def strip_unsafe(text: str) -> str:
    """Remove control, bidi and invisible characters (keeps tab and newline; CR → nothing)."""
    text = text.replace("\r\n", "\n")
    return _UNSAFE.sub("", text)


def strip_comments(text: str) -> str:
    previous = None
    while previous != text:
        previous, text = text, _COMMENT.sub("", text)
    return text


def html_escape(text: str) -> str:
    """Escape & < > so no HTML tag, comment or entity survives (text never goes in attributes)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def neutralise(text: str) -> str:
    """Break @mentions, #123 / owner/repo#123 / GH-123 references and bare URLs with U+200B."""
    text = _MENTION.sub("@" + ZWSP, text)
    text = _REF.sub(lambda m: (m.group(1) + "-" if m.group(1) else "#") + ZWSP, text)
    return _URL.sub(lambda m: m.group(1) + ZWSP, text)


def text(value: str, *, max_chars: int | None = None) -> str:
    """Untrusted text as inline Markdown: one line, no markup, no HTML, no mentions.

    Newlines and tabs become spaces, so the result is safe inside a list item or a
    table cell.
    """
    value = strip_comments(strip_unsafe(value))
    value = " ".join(value.split())
    if max_chars is not None:
        value = truncate(value, max_chars)
    value = _MD_SPECIAL.sub(r"\\\1", neutralise(html_escape(value)))
    return _LEADING.sub(lambda m: m.group(1)[:-1] + "\\" + m.group(1)[-1], value)


def code(value: str, *, max_chars: int | None = None, table: bool = False) -> str:
    """Untrusted text as an inline code span that nothing inside can close.

    The fence is a backtick run longer than any run inside; padding spaces keep a
    leading or trailing backtick from joining the fence. In a table cell `|` is escaped
    (GFM splits cells before parsing code spans).
    """
    value = strip_comments(strip_unsafe(value))
    value = " ".join(value.split()) or " "
    if max_chars is not None:
        value = truncate(value, max_chars)
    longest = max((len(m) for m in _BACKTICKS.findall(value)), default=0)
    fence = "`" * (longest + 1)
    if value.startswith("`") or value.endswith("`") or (
            value.startswith(" ") and value.endswith(" ") and value.strip()):
        value = f" {value} "
    if table:
        value = value.replace("|", "\\|")
    return f"{fence}{value}{fence}"


def code_block(value: str, *, max_chars: int | None = None, info: str = "") -> str:
    """Untrusted multi-line text as a fenced code block no line inside can close."""
    value = strip_comments(strip_unsafe(value)).replace("\t", "    ")
    if max_chars is not None:
        value = truncate(value, max_chars)
    longest = max((len(m) for m in _BACKTICKS.findall(value)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{value.rstrip()}\n{fence}"


def truncate(value: str, max_chars: int, max_bytes: int | None = None,
             note: str = "… (truncated)") -> str:
    """Cut `value` to at most max_chars characters and max_bytes UTF-8 bytes, note included.

    The note is appended only when something was cut; the cut never splits a character.
    """
    if max_bytes is None:
        max_bytes = max_chars * 4
    if len(value) <= max_chars and len(value.encode("utf-8")) <= max_bytes:
        return value
    note_bytes = len(note.encode("utf-8"))
    if len(note) > max_chars or note_bytes > max_bytes:
        note = ""
        note_bytes = 0
    keep = value[: max(0, max_chars - len(note))]
    budget = max_bytes - note_bytes
    encoded = keep.encode("utf-8")
    if len(encoded) > budget:
        keep = encoded[:max(0, budget)].decode("utf-8", errors="ignore")
    return keep + note


def size_ok(value: str, max_chars: int, max_bytes: int) -> bool:
    """True when value fits both budgets."""
    return len(value) <= max_chars and len(value.encode("utf-8")) <= max_bytes
