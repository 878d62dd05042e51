"""GitHub's text limits: cut to a UTF-8 byte budget or a character count, astral escapes."""

from __future__ import annotations

import re

MAX_OUTPUT = 65_535            # check-run summary / text: characters (we keep UTF-8 bytes under it)


def fit(text: str, max_bytes: int = MAX_OUTPUT, note: str = "\n\n… (truncated)") -> str:
    """Cut `text` to ≤ max_bytes UTF-8 bytes (hence ≤ that many characters), noting the cut."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    room = max(0, max_bytes - len(note.encode()))
    return data[:room].decode("utf-8", "ignore") + note


def fit_markdown(text: str, max_bytes: int, note: str = "\n\n… (truncated)") -> str:
    """fit() for rendered Markdown: cut before a line at column 0, so no block is left open.

    Inside a failure's `<details>` every line is indented or blank, so a cut there would
    leave the `<details>` (and its code fence) open around the note and the state block.
    """
    if len(text.encode("utf-8")) <= max_bytes:
        return text
    head = fit(text, max(0, max_bytes - len(note.encode())), note="")
    top = [m.start() for m in _TOP_LINE.finditer(text[:len(head) + 1])]
    return (head[:top[-1]] if top else head) + note


def fit_chars(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, ending in an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bmp(text: str) -> str:
    """Characters above U+FFFF written as \\U escapes (the Checks API rejects them)."""
    return _ASTRAL.sub(lambda m: f"\\U{ord(m.group(0)):08x}", text)


_ASTRAL = re.compile("[\U00010000-\U0010FFFF]")
_TOP_LINE = re.compile(r"\n(?=\S)")
