"""The one place command replies escape untrusted text (arguments, names, messages)."""

from __future__ import annotations

import re
import unicodedata

from bot.core.commands.grammar import clean

_MARKERS = re.compile(r"<!|--+>")


def neutral(text: str, *, limit: int = 300) -> str:
    """Untrusted text made inert for any context: no controls, bidi, or comment markers."""
    out = _inert(clean(text))
    return out if len(out) <= limit else out[: limit - 1] + "…"


def code(text: str, *, limit: int = 300) -> str:
    """Untrusted text as an inline code span: no Markdown, HTML, mentions or links apply.

    The backtick run is longer than any run inside (CommonMark closes a span only on an
    equal run); spaces pad it only where an edge backtick would otherwise join the fence. HTML comment markers
    are broken even here, so no marker can be forged inside our own comments.
    """
    body = neutral(text, limit=limit)
    if not body:
        return "(empty)"
    longest = max((len(r) for r in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    if body.startswith("`") or body.endswith("`") or (
            body.startswith(" ") and body.endswith(" ")):
        body = f" {body} "          # CommonMark strips one space each side, keeps the rest
    return f"{fence}{body}{fence}"


def block(text: str, *, limit: int = 4000) -> str:
    """Untrusted multi-line text as a fenced code block with a fence no line can close."""
    lines = [_inert(line)[:limit] for line in text.replace("\r", "").split("\n")[:60]]
    body = "\n".join(lines)[:limit]
    longest = max((len(r) for r in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{body}\n{fence}"


def _inert(line: str) -> str:
    """One line with controls removed (tabs kept as spaces) and comment markers broken."""
    kept = "".join(" " if ch == "\t" else ch for ch in line
                   if ch == "\t" or unicodedata.category(ch)[0] != "C")
    return _MARKERS.sub(lambda m: m.group(0).replace("<", "‹").replace(">", "›"), kept)
