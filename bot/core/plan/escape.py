"""Escaping untrusted text for GitHub Markdown and Mermaid (one seam: switch to markdown.py)."""

from __future__ import annotations

import re

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def md(text: str, *, limit: int = 2000) -> str:
    """One line of untrusted text, inert in Markdown: no markup, links, HTML, mentions.

    Kept behind this function until bot/core/markdown.py (engine helper) lands on main.
    """
    text = _CONTROL.sub("", text)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = text.replace("@", "&#64;")          # no @mentions
    return text.replace(":", "&#58;") if text.startswith(("http", "www")) else text


def md_block(text: str, *, limit: int = 20_000) -> str:
    """Untrusted multi-line text (a description): each line escaped, paragraphs kept."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return "\n".join(md(line, limit=limit) for line in text.splitlines())


def code(text: str, *, limit: int = 300) -> str:
    """Untrusted text as inline code (expressions, ids), with a fence longer than any run."""
    text = " ".join(_CONTROL.sub("", text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def mermaid(text: str, *, limit: int = 80) -> str:
    """A Mermaid node label: quoted by the caller; quotes and markup as entity codes."""
    text = " ".join(_CONTROL.sub("", text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    out = []
    for ch in text:
        if ch.isalnum() or ch in " .,:;/+-=()'%_":
            out.append(ch)
        else:
            out.append(f"#{ord(ch)};")
    return "".join(out)


_URL = re.compile(r"^https://[A-Za-z0-9.-]+(/[A-Za-z0-9._~%/+-]*)?$")


def link(text: str, url: str) -> str:
    """A Markdown link when `url` is a plain https URL, else the text with the URL as code."""
    if _URL.match(url) and len(url) < 500:
        return f"[{md(text)}]({url})"
    return f"{md(text)} {code(url, limit=200)}"
