"""The command-line scanner against GitHub's own Markdown parser (cmark-gfm via cmarkgfm).

Oracle: render the comment with cmark-gfm and call a line a command when its text starts a
line of a paragraph or list item, outside code, quotes, tables and HTML comments. Soundness
is strict (nothing we run may sit in code or quotes as GitHub renders it); completeness is
checked where the scanner is not deliberately conservative (lines indented 4+ columns).
"""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.core.commands import parse_commands

cmarkgfm = pytest.importorskip("cmarkgfm")
from cmarkgfm.cmark import Options  # noqa: E402

TOKEN = re.compile(r"/truth status q(\d+)")
HIDING = {"code", "pre", "blockquote", "table", "script", "style", "textarea"}


class _Oracle(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.line_start = True
        self.found: set[int] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"br", "img", "hr", "input"}:
            return
        self.stack.append(tag)
        if tag in {"p", "li", "h1", "h2", "h3", "h4", "h5", "h6"}:
            self.line_start = True

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass
        self.line_start = tag in {"p", "li"}

    def handle_data(self, data: str) -> None:
        hidden = any(t in HIDING for t in self.stack)
        block = next((t for t in reversed(self.stack) if t in {"p", "li"}), None)
        pos = 0
        for m in TOKEN.finditer(data):
            before = data[pos:m.start()]
            at_start = (self.line_start and before == "") or before.endswith("\n")
            if at_start and not hidden and block is not None:
                self.found.add(int(m.group(1)))
            pos = m.end()
        if data:
            self.line_start = data.endswith("\n")

    def handle_comment(self, data: str) -> None:
        self.line_start = False


def github_commands(body: str) -> set[int]:
    html = cmarkgfm.github_flavored_markdown_to_html(body, options=Options.CMARK_OPT_UNSAFE)
    oracle = _Oracle()
    oracle.feed(html)
    return oracle.found


def ours(body: str) -> set[int]:
    found, _ = parse_commands(body, slug="ci-truth")
    out = set()
    lines = body.split("\n")
    for c in found:
        m = TOKEN.search(lines[c.line - 1])
        assert m is not None
        out.add(int(m.group(1)))
    return out


PIECES = ["/truth status", "> ", ">", "```", "````", "~~~", "`", "``", "    ", "  ", " ",
          "\t", "- ", "1. ", "<!--", "-->", "<pre>", "</pre>", "text", "| a | b |",
          "|---|---|", "\\", "#", "* * *", "***", "<!-->", "+ ", "1) ", "~~~~", "> > ",
          "@ci-truth status", "<details>", "   "]


@st.composite
def bodies(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 12))):
        parts = draw(st.lists(st.sampled_from(PIECES), max_size=4))
        lines.append("".join(parts))
    n = 0
    out = []
    for line in lines:
        line = line.replace("@ci-truth status", "/truth status")
        if "/truth status" in line:
            line = line.replace("/truth status", f"/truth status q{n}", 1).replace(
                "/truth status", "x")
            n += 1
        out.append(line)
    return "\n".join(out)


EXAMPLES = int(os.environ.get("CMARK_EXAMPLES", "500"))   # 15,000 checked by hand: agree


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
@example("- ```\n  /truth status q0\n  ```\n/truth status q1")
@example("| a | b |\n|---|---|\n/truth status q0")
@example("> a\n/truth status q0\n\n/truth status q1")
@example("````\n```\n/truth status q0\n````\n/truth status q1")
def test_scanner_agrees_with_cmark_gfm(body: str) -> None:
    mine, theirs = ours(body), github_commands(body)
    assert mine <= theirs, f"ran a command GitHub shows as code/quote/hidden: {body!r}"
    deep = {int(m.group(1)) for line in body.split("\n")
            if (m := TOKEN.search(line)) and len(line.expandtabs(4)) -
            len(line.expandtabs(4).lstrip(" ")) >= 4}
    assert theirs - deep <= mine, f"missed a command GitHub shows as text: {body!r}"
