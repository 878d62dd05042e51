"""Escaping of hostile text, checked by rendering with GitHub's own cmark-gfm."""

from __future__ import annotations

import html
import re

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import markdown as md

HOSTILE = [
    "@octocat please look",
    "cc @org/team and @someone-else",
    "fixes #123 and owner/repo#45 and GH-7",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<!-- ci-truth-marker --> hidden",
    "<!<!---->-- nested -->-->",
    "&lt;already&gt; &amp; &#64;",
    "```\n# fake heading\n```",
    "`` code `` and ` tick",
    "[click](https://evil.example/x) ![img](https://evil.example/i.png)",
    "# Heading\n> quote\n- list\n1. one\n---",
    "| a | b |\n|---|---|\n| c | d |",
    "**bold** _em_ ~~strike~~ \\escaped\\",
    "right\u202eto left\u2066isolate\u2069 and \u200fmark",
    "bell\x07 esc\x1b[31m red \x00 nul \x9b csi",
    "line1\r\nline2\rline3",
    "https://evil.example/phish www.evil.example",
    "x" * 5 + "`" * 7 + "y",
    "trailing backtick`",
    "`leading backtick",
    "emoji 🎉 and CJK 测试",
]


def gfm(text: str) -> str:
    """GitHub's renderer with raw HTML allowed, so escaping is what stops it."""
    return cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)


def visible(rendered: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", rendered))


@pytest.mark.parametrize("hostile", HOSTILE)
def test_text_renders_as_one_inert_paragraph(hostile: str) -> None:
    out = md.text(hostile)
    assert "\n" not in out
    rendered = gfm("Message: " + out)
    tags = set(re.findall(r"</?([a-z]+)", rendered))
    assert tags == {"p"}, rendered                      # no links, images, code, html
    shown = visible(rendered)
    assert "<!--" not in shown and "-->" not in shown
    assert not re.search(r"@\w", shown)                 # every mention broken
    assert not re.search(r"#\d|GH-\d", shown)           # every issue reference broken
    assert not re.search(r"https?://|www\.", shown)     # no autolinkable URL


@pytest.mark.parametrize("hostile", HOSTILE)
def test_text_keeps_the_readable_content(hostile: str) -> None:
    shown = visible(gfm(md.text(hostile))).replace(md.ZWSP, "")
    expected = " ".join(md.strip_comments(md.strip_unsafe(hostile)).split())
    assert shown.strip() == expected


@pytest.mark.parametrize("hostile", HOSTILE)
def test_code_span_holds_everything(hostile: str) -> None:
    out = md.code(hostile)
    rendered = gfm("Test " + out + " end")
    assert rendered.count("<code>") == 1, rendered
    inner = html.unescape(re.search(r"<code>(.*)</code>", rendered, re.S).group(1))
    assert inner.strip() == " ".join(md.strip_comments(md.strip_unsafe(hostile)).split())
    assert rendered.endswith(" end</p>\n")


@pytest.mark.parametrize("hostile", HOSTILE)
def test_code_in_table_cell_stays_in_its_cell(hostile: str) -> None:
    table = f"| name | n |\n|---|---|\n| {md.code(hostile, table=True)} | 1 |\n"
    rendered = gfm(table)
    assert rendered.count("<td>") == 2, rendered
    assert rendered.count("<code>") == 1


@pytest.mark.parametrize("hostile", HOSTILE)
def test_text_in_table_cell_stays_in_its_cell(hostile: str) -> None:
    rendered = gfm(f"| a | b |\n|---|---|\n| {md.text(hostile)} | 1 |\n")
    assert rendered.count("<td>") == 2, rendered


@pytest.mark.parametrize("hostile", [*HOSTILE, "a\n````\nb\n`````\nc", "~~~\nx\n~~~"])
def test_code_block_cannot_be_closed_from_inside(hostile: str) -> None:
    block = md.code_block(hostile)
    rendered = gfm(block + "\n\nafter")
    assert rendered.count("<pre>") == 1
    assert rendered.rstrip().endswith("<p>after</p>"), rendered
    inner = html.unescape(re.search(r"<code>(.*)</code>", rendered, re.S).group(1))
    assert "\x1b" not in inner and "\u202e" not in inner


def test_comment_markers_removed_even_when_nested() -> None:
    assert md.strip_comments("<!<!---->-- x -->-->") == " x "
    assert md.strip_comments("a <!-- b --!> c") == "a  b  c"


def test_strip_unsafe_removes_controls_and_bidi_only() -> None:
    assert md.strip_unsafe("a\x00b\x1bc\u202ed\u2066e\tf\ng\r\nh\ufeff") == "abcde\tf\ng\nh"
    assert md.strip_unsafe("naïve 测试 🎉") == "naïve 测试 🎉"


def test_mentions_and_refs_get_zero_width_space() -> None:
    out = md.text("@alice #12 org/repo#3")
    assert "@" + md.ZWSP + "alice" in out
    assert out.count(md.ZWSP) == 3
    assert md.text("mail me at a@b") == "mail me at a@" + md.ZWSP + "b"


def test_backtick_fence_longer_than_any_run() -> None:
    assert md.code("a``b") == "```a``b```"
    assert md.code("`x`") == "`` `x` ``"
    assert md.code("") == "` `"
    assert md.code_block("````").startswith("`````\n")


def test_truncate_by_characters_and_bytes() -> None:
    assert md.truncate("short", 10) == "short"
    cut = md.truncate("abcdefghij" * 10, 20, note="…")
    assert cut == "abcdefghijabcdefghi…" and len(cut) == 20
    text = "é" * 100                                      # 2 bytes each
    cut = md.truncate(text, 100, max_bytes=51, note="[cut]")
    assert len(cut.encode()) <= 51 and cut.endswith("[cut]")
    assert cut == "é" * 23 + "[cut]"
    cut = md.truncate("🎉" * 10, 10, max_bytes=10, note="")
    assert cut == "🎉" * 2                                  # never half a character
    assert md.truncate("abcdef", 2, note="long note") == "ab"


def test_text_max_chars_truncates_visibly() -> None:
    out = md.text("x" * 500, max_chars=50)
    assert "truncated" in out and len(out) < 80


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_random_text_never_escapes(value: str) -> None:
    rendered = gfm("> " + md.text(value))
    assert set(re.findall(r"</?([a-z0-9]+)", rendered)) <= {"blockquote", "p"}, rendered
    rendered = gfm("x " + md.code(value) + " y")
    assert rendered.count("<code>") == 1 and rendered.endswith(" y</p>\n"), rendered


@settings(max_examples=200, deadline=None)
@given(st.text(), st.integers(min_value=0, max_value=50), st.integers(min_value=0,
                                                                     max_value=200))
def test_random_truncation_respects_both_budgets(value: str, chars: int, nbytes: int) -> None:
    out = md.truncate(value, chars, nbytes)
    assert len(out) <= chars and len(out.encode("utf-8", "surrogatepass")) <= nbytes


@pytest.mark.parametrize("start", ["- item", "+ item", "1. item", "12) item", "# head",
                                   "> quote", "=== ", "--- ", "    indented", "* star"])
def test_text_at_line_start_is_a_plain_paragraph(start: str) -> None:
    rendered = gfm("intro\n" + md.text(start) + "\n\n" + md.text(start))
    assert set(re.findall(r"</?([a-z0-9]+)", rendered)) == {"p"}, rendered


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_random_text_at_line_start_never_escapes(value: str) -> None:
    rendered = gfm(md.text(value))
    assert set(re.findall(r"</?([a-z0-9]+)", rendered)) <= {"p"}, rendered
