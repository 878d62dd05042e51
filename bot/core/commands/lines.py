"""Which lines of a comment may hold a command: outside quotes, code, and HTML comments.

A deliberately small CommonMark-aware line scanner. It errs on the side of "not a
command": text a reader sees as quoted, as code, or does not see at all never triggers
anything. Rules (CommonMark 0.31 where it matters):

- block quotes (``>``, up to 3 spaces first) and their lazy continuation lines;
- fenced code (``` or ~~~, at least 3; closed only by the same character, at least as
  long, with nothing but spaces after; a backtick fence's info string holds no backtick;
  unclosed fences run to the end of their container); fences inside list items end
  when a non-blank line is indented less than the item's content;
- indented code (4+ columns); any line indented 4+ columns is never a command;
- HTML comments (``<!-- ... -->``) and ``<pre>``/``<script>``/``<style>``/``<textarea>``
  blocks;
- GFM tables (header row, delimiter row, and every row up to a blank line or a new block);
- inline code spans and inline HTML comments spanning lines of a paragraph.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_BODY = 65_536  # GitHub's comment cap; anything beyond is not read

_FENCE = re.compile(r"^(`{3,}|~{3,})(.*)$")
_LIST = re.compile(r"^([-+*]|\d{1,9}[.)])( +|\t|$)")
_HTML1 = re.compile(r"^<(pre|script|style|textarea)(\s|>|$)", re.IGNORECASE)
_HTML1_END = re.compile(r"</(pre|script|style|textarea)>", re.IGNORECASE)
_DELIM = re.compile(r"^\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_BLOCK_START = re.compile(r"^(#{1,6}(\s|$)|(\*\s*){3,}$|(-\s*){3,}$|(_\s*){3,}$|<)")
# Inline raw HTML a reader never sees: an open tag (attribute values may span lines).
_OPEN_TAG = re.compile(r"""<[A-Za-z][A-Za-z0-9-]*(?:\s+[A-Za-z_:][A-Za-z0-9_.:-]*"""
                       r"""(?:\s*=\s*(?:[^\s"'=<>`]+|'[^']*'|"[^"]*"))?)*\s*/?>""")
# Processing instructions, CDATA and declarations: (opener, closer), inline and as blocks.
_HIDDEN_HTML = (("<?", "?>"), ("<![CDATA[", "]]>"), ("<!", ">"))


def _hidden_at(text: str, i: int) -> tuple[str, str] | None:
    """(opener, closer) of the processing instruction, CDATA or declaration at ``i``."""
    for opener, closer in _HIDDEN_HTML:
        if text.startswith(opener, i) and (opener != "<!" or text[i + 2:i + 3].isalpha()):
            return opener, closer
    return None


@dataclass
class _Fence:
    char: str
    length: int
    min_indent: int | None   # content column of the list item holding it, if any


def _indent(line: str) -> tuple[int, int]:
    """(columns, characters) of leading whitespace, tabs to the next multiple of 4."""
    col = chars = 0
    for ch in line:
        if ch == " ":
            col += 1
        elif ch == "\t":
            col += 4 - col % 4
        else:
            break
        chars += 1
    return col, chars


def _fence_open(text: str) -> tuple[str, int] | None:
    m = _FENCE.match(text)
    if not m:
        return None
    run = m.group(1)
    if run[0] == "`" and "`" in m.group(2):
        return None
    return run[0], len(run)


def _fence_closes(text: str, fence: _Fence) -> bool:
    stripped = text.strip(" \t")
    run = len(stripped) - len(stripped.lstrip(fence.char))
    return run >= fence.length and stripped[run:].strip(" \t") == ""


def _cells(row: str) -> int:
    row = row.strip(" \t")
    row = row[1:] if row.startswith("|") else row
    row = row[:-1] if row.endswith("|") and not row.endswith("\\|") else row
    return len(re.split(r"(?<!\\)\|", row))


def _starts_table(paragraph: list[tuple[int, str, bool]], rest: str) -> bool:
    """Whether `rest` is a delimiter row turning the paragraph's last line into a header."""
    if not paragraph or "|" not in rest or not _DELIM.match(rest):
        return False
    return _cells(paragraph[-1][1]) == _cells(rest)


def _hidden_spans(text: str) -> list[tuple[int, int]]:
    """Offsets covered by code spans and inline HTML comments in a paragraph's text."""
    spans: list[tuple[int, int]] = []
    i, n = 0, len(text)
    closers: dict[str, int] = {}     # closer → its next offset (-1: none left), O(n) overall
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "`":
            j = i
            while j < n and text[j] == "`":
                j += 1
            run = j - i
            k = j
            close = -1
            while k < n:
                if text[k] == "`":
                    m = k
                    while m < n and text[m] == "`":
                        m += 1
                    if m - k == run:
                        close = m
                        break
                    k = m
                else:
                    k += 1
            if close < 0:
                i = j
            else:
                spans.append((i, close))
                i = close
            continue
        if text.startswith("<!--", i):
            rest = text[i + 4:]
            if rest.startswith(">") or rest.startswith("->"):
                end = i + 4 + rest.index(">") + 1
            else:
                found = text.find("-->", i + 4)
                end = found + 3 if found >= 0 else -1
            if end > 0:
                spans.append((i, end))
                i = end
                continue
        if ch == "<":
            tag = _OPEN_TAG.match(text, i)
            end = tag.end() if tag else -1
            hidden = _hidden_at(text, i) if end < 0 else None
            if hidden is not None:
                opener, closer = hidden
                at = closers.get(closer, 0)
                if 0 <= at < i + len(opener):
                    at = text.find(closer, i + len(opener))
                    closers[closer] = at
                end = at + len(closer) if at >= 0 else -1
            if end > 0:
                spans.append((i, end))
                i = end
                continue
        i += 1
    return spans


def _flush(paragraph: list[tuple[int, str, bool]], out: list[tuple[int, str]]) -> None:
    if not paragraph:
        return
    text = "\n".join(p[1] for p in paragraph)
    spans = _hidden_spans(text)
    offset = 0
    for lineno, line, candidate in paragraph:
        if candidate and not any(a < offset < b for a, b in spans):
            out.append((lineno, line))
        offset += len(line) + 1
    paragraph.clear()


def command_lines(body: str) -> list[tuple[int, str]]:
    """(1-based line number, text without indentation) of every line that may hold a command."""
    text = body[:MAX_BODY].replace("\r\n", "\n").replace("\r", "\n")
    out: list[tuple[int, str]] = []
    paragraph: list[tuple[int, str, bool]] = []
    fence: _Fence | None = None
    html_end: re.Pattern[str] | None = None
    lazy_quote = False
    table = False
    for lineno, line in enumerate(text.split("\n"), start=1):
        col, chars = _indent(line)
        rest = line[chars:]
        blank = rest.strip(" \t") == ""
        if fence is not None:
            if _fence_closes(rest, fence) and (fence.min_indent is not None or col < 4):
                fence = None
                continue
            if fence.min_indent is None or blank or col >= fence.min_indent:
                continue
            fence = None   # the list item holding the fence ended
        if html_end is not None:
            if html_end.search(line):
                html_end = None
            continue
        if blank:
            _flush(paragraph, out)
            lazy_quote = table = False
            continue
        if table:
            if col >= 4 or not (rest.startswith(">") or _fence_open(rest) or _LIST.match(rest)
                                or _BLOCK_START.match(rest)):
                continue   # a table row, whatever it holds
            table = False
        if col >= 4:
            if paragraph and not lazy_quote:
                paragraph.append((lineno, rest, False))   # continuation, never a command
            continue
        if rest.startswith(">"):
            _flush(paragraph, out)
            inner = rest.lstrip("> \t")
            lazy_quote = inner != "" and _fence_open(inner) is None
            continue
        if lazy_quote:
            if _fence_open(rest) is None and not _LIST.match(rest) and not _BLOCK_START.match(rest):
                continue   # lazy continuation of the quoted paragraph
            lazy_quote = False
        if _starts_table(paragraph, rest):
            paragraph.pop()          # the header row is table content
            _flush(paragraph, out)
            table = True
            continue
        opened = _fence_open(rest)
        if opened is not None:
            _flush(paragraph, out)
            fence = _Fence(opened[0], opened[1], None)
            continue
        item = _LIST.match(rest)
        if item is not None:
            _flush(paragraph, out)
            spaces = item.group(2)
            width = 1 if len(spaces) >= 5 or spaces in ("", "\t") else len(spaces)
            content_col = col + len(item.group(1)) + width
            inner_opened = _fence_open(rest[item.end():].lstrip(" "))
            if inner_opened is not None:
                fence = _Fence(inner_opened[0], inner_opened[1], content_col)
                continue
            inner = rest[item.end():].lstrip(" \t")
            while (nested := _LIST.match(inner)) is not None:   # "- - > quote"
                inner = inner[nested.end():].lstrip(" \t")
            if inner.startswith(">"):           # a quote inside the item: lazy lines too
                quoted = inner.lstrip("> \t")
                lazy_quote = quoted != "" and _fence_open(quoted) is None
                continue
            paragraph.append((lineno, rest, False))
            continue
        if rest.startswith("<!--"):
            _flush(paragraph, out)
            if "-->" not in rest[4:] and not rest[4:].startswith(">"):
                html_end = re.compile("-->")
            continue
        block = _hidden_at(rest, 0)
        if block is not None:                  # HTML blocks 3-5: up to their closer
            _flush(paragraph, out)
            opener, closer = block
            if closer not in rest[len(opener):]:
                html_end = re.compile(re.escape(closer))
            continue
        if _HTML1.match(rest):
            _flush(paragraph, out)
            if not _HTML1_END.search(rest):
                html_end = _HTML1_END
            continue
        paragraph.append((lineno, rest, True))
    _flush(paragraph, out)
    return out
