"""The one place command replies escape untrusted text: thin wrappers over core.markdown."""

from __future__ import annotations

from bot.core import markdown
from bot.core.commands.grammar import clean


def code(text: str, *, limit: int = 300) -> str:
    """Untrusted text as an inline code span: no Markdown, HTML, mentions or links apply.

    The backtick run is longer than any run inside; control and bidi characters and
    HTML comment markers are removed, so no marker can be forged in our own comments.
    """
    value = clean(text)
    return markdown.code(value, max_chars=limit) if value else "(empty)"


def plain(text: str, *, limit: int = 300) -> str:
    """Untrusted text as escaped inline Markdown (one line; mentions and #refs broken)."""
    return markdown.text(text, max_chars=limit) or "(empty)"


def block(text: str, *, limit: int = 4000) -> str:
    """Untrusted multi-line text as a fenced code block with a fence no line can close."""
    lines = text.replace("\r", "").split("\n")[:60]
    return markdown.code_block("\n".join(lines), max_chars=limit, info="text")
