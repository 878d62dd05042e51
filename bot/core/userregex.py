"""Configured regexes (signatures) on RE2: linear time in the text, with Python `re` semantics.

The texts they search come from test reports, which a fork's pull request controls; Python's
backtracking `re` takes exponential time on patterns like `(\\w+\\s?)+$`, RE2 never does.
`compile_user` accepts what Python's `re.compile` accepts minus what RE2 cannot run in linear
time (backreferences, lookaround, atomic groups, possessive quantifiers, conditionals), and
keeps Python's meaning where the two engines read the same text differently (docs/configuration.md).
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from typing import Protocol

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False        # RE2 would print every refused pattern on stderr

# Python's Unicode classes for str patterns; RE2's own \d \w \s are ASCII-only.
_CLASS = {"d": r"\p{Nd}", "w": r"\p{L}\p{N}_", "s": r"\s\v\p{Z}\x{85}\x{1c}-\x{1f}"}
_UNSUPPORTED = (                   # (prefix of RE2's complaint, what the user wrote)
    ("invalid perl operator: (?=", "a lookahead (?=...)"),
    ("invalid perl operator: (?!", "a negative lookahead (?!...)"),
    ("invalid perl operator: (?<=", "a lookbehind (?<=...)"),
    ("invalid perl operator: (?<!", "a negative lookbehind (?<!...)"),
    ("invalid perl operator: (?P", "a named backreference (?P=name)"),
    ("invalid perl operator: (?>", "an atomic group (?>...)"),
    ("invalid perl operator: (?(", "a conditional (?(group)...)"),
    ("invalid perl operator: (?#", "a comment (?#...)"),
    ("bad repetition operator", "a possessive quantifier (*+, ++, ?+, {m,n}+)"),
    ("invalid repetition size", "a repetition count above 1000"),
    ("pattern too large", "a pattern too large for 8 MiB of compiled program"),
    ("invalid perl operator: (?", "an inline flag other than i, m, s (or a group RE2 lacks)"),
)


class Searcher(Protocol):
    """What the Measurer needs of a signature: a truthy result when the text matches."""

    def search(self, text: str, /) -> object: ...


class UserRegexError(ValueError):
    """A pattern Python accepts but the linear-time engine cannot run; the message says why."""


class UserRegex:
    """One compiled signature; `search` is `re.search` (anywhere in the text), in linear time."""

    __slots__ = ("_dollar", "_re", "pattern")

    def __init__(self, pattern: str, compiled: re2._Regexp, dollar: bool) -> None:
        self.pattern = pattern
        self._re = compiled
        self._dollar = dollar

    def search(self, text: str) -> bool:
        """True when the pattern matches somewhere in `text`."""
        if self._re.search(text) is not None:
            return True
        # Python's `$` (without (?m)) also matches just before a final newline; RE2's does not.
        return self._dollar and text.endswith("\n") and self._re.search(text[:-1]) is not None

    def __repr__(self) -> str:
        return f"UserRegex({self.pattern!r})"


def _translate(pattern: str) -> tuple[str, bool]:
    r"""RE2 syntax with Python's meaning (Unicode \d \w \s, \Z, {,n}, \u...), and if `$` occurs."""
    out: list[str] = []
    i, n, body = 0, len(pattern), -1          # body: where the open class's items start
    dollar = False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            e = pattern[i + 1]
            if e in _CLASS:
                out.append(_CLASS[e] if body >= 0 else f"[{_CLASS[e]}]")
            elif e in "DWS" and body < 0:
                out.append(f"[^{_CLASS[e.lower()]}]")
            elif e == "Z" and body < 0:
                out.append(r"\z")
            elif e in "uUN":                  # \uXXXX \UXXXXXXXX \N{NAME}: RE2 has \x{...}
                end = pattern.index("}", i) + 1 if e == "N" else i + (6 if e == "u" else 10)
                code = ord(unicodedata.lookup(pattern[i + 3:end - 1])) if e == "N" else \
                    int(pattern[i + 2:end], 16)
                out.append(f"\\x{{{code:x}}}")
                i = end
                continue
            elif e == "b" and body >= 0:      # [\b] is a backspace
                out.append(r"\x{8}")
            else:
                out.append(pattern[i:i + 2])
            i += 2
            continue
        if body >= 0:
            if c == "]" and i > body:
                body = -1
            elif c == "[":
                c = r"\["                       # literal in Python; RE2 reads [:alpha:]
        elif c == "[":
            body = i + 2 if pattern.startswith("^", i + 1) else i + 1
        elif c == "{" and pattern.startswith(",", i + 1):
            c = "{0"                            # Python reads {,n} as {0,n}, RE2 as text
        elif c == "$":
            dollar = True
        out.append(c)
        i += 1
    return "".join(out), dollar


def compile_user(pattern: str) -> UserRegex:
    """Compile a configured regex: `re.error` for bad syntax, UserRegexError if RE2 refuses it."""
    with warnings.catch_warnings():   # Python's syntax and messages first; its FutureWarning
        warnings.simplefilter("ignore", FutureWarning)  # (nested sets) is about re, not us
        re.compile(pattern)
    text, dollar = _translate(pattern)
    try:
        compiled = re2.compile(text, _OPTIONS)
    except re2.error as exc:
        raw = exc.args[0] if exc.args else b""
        why = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        if why.startswith("invalid escape sequence: \\") and why[-1:].isdigit():
            what = f"a backreference ({why.rsplit(' ', 1)[-1]})"
        else:
            what = next((w for prefix, w in _UNSUPPORTED if why.startswith(prefix)), why)
        raise UserRegexError(f"{what} is not supported (signatures run on RE2, a linear-time "
                             "engine: see docs/configuration.md#signatures)") from None
    return UserRegex(pattern, compiled, dollar)
