"""Signature regexes on RE2: linear time, and the same answers Python's `re.search` gave."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.userregex import UserRegexError, compile_user

# Patterns whose meaning differs between the engines unless translated, and everyday ones.
PATTERNS = [
    r"Timeout$", r"(?m)^FAILED .*$", r"error\Z", r"^\d+ passed$", r"\w+Error: ", r"x\sy",
    r"\W\S\D", r"[\w.]+@[^\s]+", r"[^\d\s]+", r"a{,2}b", r"a{1,}", r"(?i)out of memory",
    r"(?s)begin.*end", r"[]x]+", r"[^]x]", r"\[\d\]", r"\\d", r"\$\{x\}",
    r"[$]", r"(?m)end$\n", r"\u00e9|\N{DEGREE SIGN}", r"[[:alpha:]]+", r"[\b]a",
]                                  # (none that backtrack badly: Python's re is the oracle)
TEXT = st.lists(st.sampled_from([*"ab xy:\n\t\v\b°\u00a0\u2028_5٣éÄ$[]{},.@\\", "Timeout",
                                 "error", "FAILED ", "fail", "out of MEMORY", "begin", "end",
                                 "Error: ", " passed"]), max_size=30).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PATTERNS), TEXT)
def test_search_answers_what_python_re_answers(pattern: str, text: str) -> None:
    assert compile_user(pattern).search(text) == bool(re.search(pattern, text))


@pytest.mark.parametrize(("pattern", "text", "expected"), [
    (r"Timeout$", "Read Timeout\n", True),           # Python's $ before a final newline
    (r"Timeout$", "Read Timeout\n\n", False),
    (r"error\Z", "error\n", False),                  # \Z is the very end
    (r"\w+Fehler", "ÄFehler", True),                 # Unicode \w, \d, \s as in Python
    (r"^\d+$", "١٢٣", True),
    (r"x\sy", "x\u00a0y", True),
    (r"a{,2}b", "b", True),                          # {,n} is {0,n}, not text
])
def test_python_meaning_is_kept(pattern: str, text: str, expected: bool) -> None:
    assert compile_user(pattern).search(text) is expected
    assert bool(re.search(pattern, text)) is expected


@pytest.mark.parametrize(("pattern", "fragment"), [
    (r"(a)\1", r"a backreference (\1)"),
    (r"a(?=b)", "a lookahead (?=...)"),
    (r"(?<!a)b", "a negative lookbehind (?<!...)"),
    (r"(?>a+)b", "an atomic group (?>...)"),
    (r"a{1001}", "a repetition count above 1000"),
])
def test_what_re2_cannot_run_is_refused_by_name(pattern: str, fragment: str) -> None:
    with pytest.raises(UserRegexError, match=re.escape(fragment)):
        compile_user(pattern)


def test_python_syntax_errors_stay_re_errors() -> None:
    with pytest.raises(re.error, match="missing \\)"):
        compile_user("(unclosed")
