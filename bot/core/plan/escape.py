"""Escaping untrusted plan text for GitHub Markdown (bot/core/markdown.py) and Mermaid labels."""

from __future__ import annotations

import re

from bot.core import markdown
from bot.core.textfit import fit_chars

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_URL = re.compile(r"^https://[A-Za-z0-9.-]+(/[A-Za-z0-9._~%/+-]*)?$")


def md(text: str, *, limit: int = 2000) -> str:
    """One line of untrusted text, inert in Markdown: no markup, links, HTML, mentions."""
    return markdown.text(text, max_chars=limit)


def md_block(text: str, *, limit: int = 20_000) -> str:
    """Untrusted multi-line text (a description): each line escaped, line breaks kept."""
    text = markdown.truncate(text, limit)
    return "\n".join(markdown.text(line) for line in text.splitlines())


def code(text: str, *, limit: int = 300, table: bool = False) -> str:
    """Untrusted text as an inline code span (expressions, ids, measured values)."""
    return markdown.code(text, max_chars=limit, table=table)


def link(text: str, url: str) -> str:
    """A Markdown link when `url` is a plain https URL, else the text with the URL as code."""
    if _URL.match(url) and len(url) < 500:
        return f"[{md(text)}]({url})"
    return f"{md(text)} {code(url, limit=200)}"


def mermaid(text: str, *, limit: int = 80) -> str:
    """A Mermaid node label (the caller quotes it): anything but plain characters as #code;."""
    text = fit_chars(" ".join(_CONTROL.sub("", text).split()), limit)
    return "".join(ch if ch.isalnum() or ch in " .,:;/+-=()'%_" else f"#{ord(ch)};"
                   for ch in text)
