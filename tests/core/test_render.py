"""Text and Markdown renderings: reasons first, everything escaped, size-capped."""

from __future__ import annotations

import re

import cmarkgfm
from cmarkgfm.cmark import Options
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.commands.accept import without_drop
from bot.core.config import DEFAULT_CONFIG
from bot.core.engine import Result, evaluate
from bot.core.model import (
    Conclusion,
    Counts,
    FailedTest,
    FileReport,
    MeasuredState,
    Reason,
    Source,
    Verdict,
)
from bot.core.render import rehead_markdown, render_markdown, render_text
from bot.core.verdict import judge

HOSTILE_ID = "tests/test_x.py::test_[@octocat <img src=x> ``` #12 \u202e\x1b[31m]"
HOSTILE_MSG = "assert 1 == 2 <!-- marker --> @org/team see owner/repo#9 <script>x</script>"


def result(failures: int = 1, *, message: str = HOSTILE_MSG, details: str = "Traceback\n```",
           files: int = 1, skipped: int = 0) -> Result:
    s = MeasuredState()
    for i in range(files):
        c = Counts(tests=5 + failures + skipped, passed=5, failed=failures, skipped=skipped)
        s.files.append(FileReport(f"reports/shard-{i}@x.xml", "junit", c if i == 0 else
                                  Counts(tests=5, passed=5)))
    for f in s.files:
        s.totals.add(f.counts)
    s.failures = [FailedTest(f"{HOSTILE_ID}{i}", "failure", message, s.files[0].path,
                             "tests/test_x.py", 10 + i, details) for i in range(failures)]
    return Result(state=s, verdict=judge(s, DEFAULT_CONFIG))


def gfm(text: str) -> str:
    return cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)


def test_markdown_puts_reasons_first_then_counts_then_failures() -> None:
    out = render_markdown(result(2))
    assert out.startswith("## ❌ ci-truth: failure\n")
    positions = [out.index(h) for h in ("### Reasons", "### Tests", "### Reports",
                                        "### Failing tests (2)")]
    assert positions == sorted(positions)
    assert "| All | 7 | 5 | 2 | 0 | 0 | 0 | 0.0s |" in out
    assert "Note:" not in out


def test_markdown_escapes_every_untrusted_string() -> None:
    rendered = gfm(render_markdown(result(3)))
    allowed = {"h2", "h3", "p", "ul", "li", "code", "table", "thead", "tbody", "tr", "th",
               "td", "pre", "details", "summary"}
    assert set(re.findall(r"<([a-z0-9]+)", rendered)) <= allowed
    assert "<img" not in rendered and "<script" not in rendered
    assert "<!--" not in rendered and "\u202e" not in rendered and "\x1b" not in rendered
    text_only = re.sub(r"<code>.*?</code>", "", rendered, flags=re.S)
    assert not re.search(r"@\w", text_only)
    assert not re.search(r"#\d", text_only)
    # the hostile id stays whole inside its code span
    assert rendered.count("tests/test_x.py::test_[@octocat &lt;img src=x&gt; ``` #12 [31m]0") \
        == 1


def test_markdown_of_success() -> None:
    s = MeasuredState(files=[FileReport("r.xml", "junit", Counts(tests=3, passed=3))])
    s.totals.add(s.files[0].counts)
    out = render_markdown(Result(s, judge(s, DEFAULT_CONFIG)))
    assert out.startswith("## ✅ ci-truth: success")
    assert "### Reasons" not in out and "### Failing tests" not in out


def test_markdown_is_capped_with_a_visible_note() -> None:
    big = result(3000, message="x" * 400, details="line\n" * 1000, files=300)
    out = render_markdown(big)
    assert len(out) <= 65535
    assert "### Reasons" in out and "| All |" in out
    assert out.rstrip().endswith("on the reports for the complete list.")
    assert "this summary was cut to fit the size limit" in out
    rendered = gfm(out)
    assert rendered.count("<pre>") == rendered.count("</pre>")
    small = render_markdown(big, limit=3000)
    assert len(small) <= 3000 and "Note:" in small


def test_markdown_respects_a_byte_budget() -> None:
    big = result(500, message="测试" * 100)
    out = render_markdown(big, limit=65535, byte_limit=20000)
    assert len(out.encode("utf-8")) <= 20000 and "Note:" in out


def test_capped_failure_list_is_announced_even_when_it_fits() -> None:
    r = result(2)
    r.state.failures_omitted = 5
    r.state.totals.failed += 5
    out = render_markdown(r)
    assert "7 failing tests" not in out and "5 failing tests not shown" in out
    assert "lists are capped" in out


def test_rehead_renders_the_heading_and_reasons_of_the_new_verdict_only() -> None:
    drop = Reason("test-drop", "9 of the baseline's 25 tests are gone", Conclusion.FAILURE)
    base = result(1)
    both = Result(base.state, Verdict(Conclusion.FAILURE, [*base.verdict.reasons, drop]))
    rendered = render_markdown(both)
    kept = rehead_markdown(rendered, without_drop(both.verdict))   # failures still fail
    assert kept.startswith("## ❌ ci-truth: failure\n") and "`failures`:" in kept
    assert "test-drop" not in kept
    assert kept == render_markdown(Result(base.state, without_drop(both.verdict)))
    s = MeasuredState(files=[FileReport("r.xml", "junit", Counts(tests=3, passed=3))])
    s.totals.add(s.files[0].counts)
    only = rehead_markdown(render_markdown(Result(s, Verdict(Conclusion.FAILURE, [drop]))),
                           Verdict(Conclusion.SUCCESS, []))
    assert only == render_markdown(Result(s, Verdict(Conclusion.SUCCESS, [])))


def test_text_is_short_and_has_no_control_characters() -> None:
    out = render_text(result(30))
    assert out.startswith("ci-truth: FAILURE\n35 tests: 5 passed, 30 failed")
    assert "[x] failures: 30 tests did not pass" in out
    assert "failing tests (10 of 30 shown):" in out
    assert "\x1b" not in out and "\u202e" not in out
    assert len(out.splitlines()) < 20


def test_when_space_runs_short_failures_lose_details_before_they_vanish() -> None:
    out = render_markdown(result(60, details="frame\n" * 500))
    assert out.count("<details>") < 60
    listed = out.split("### Failing tests (60)")[1]
    assert len(re.findall(r"^- `+ ?tests/test_x\.py::test_", listed, re.M)) == 60
    assert len(out) <= 65535


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=80), st.text(max_size=200), st.text(max_size=300)),
                min_size=1, max_size=30),
       st.text(max_size=60), st.integers(min_value=500, max_value=8000))
def test_random_failures_render_safely_within_limit(items: list[tuple[str, str, str]],
                                                    path: str, limit: int) -> None:
    s = MeasuredState(files=[FileReport(path or "r.xml", "junit",
                                        Counts(tests=len(items), failed=len(items)))])
    s.totals.add(s.files[0].counts)
    s.failures = [FailedTest(i, "failure", m, path, path or None, 3, d) for i, m, d in items]
    out = render_markdown(Result(s, judge(s, DEFAULT_CONFIG)), limit=limit)
    assert len(out) <= limit
    rendered = gfm(out)
    allowed = {"h2", "h3", "p", "ul", "li", "code", "table", "thead", "tbody", "tr", "th",
               "td", "pre", "details", "summary", "blockquote", "strong"}
    assert set(re.findall(r"<([a-z0-9]+)", rendered)) <= allowed, rendered
    assert rendered.count("<pre") == rendered.count("</pre>")


def test_text_keeps_each_failing_test_on_one_line() -> None:
    """`&#10;` in a name or file attribute must not forge lines such as a SUCCESS verdict."""
    report = (b'<testsuite tests="2"><testcase classname="pkg" name="test_a&#10;ci-truth: SUCCESS'
              b'&#13;&#10;" file="a.py&#10;  [ok] failures: none" line="3"><failure message="boom"'
              b'/></testcase><testcase classname="pkg" name="test_b"/></testsuite>')
    r = evaluate([Source("report.xml", chunks=[report])])
    out = render_text(r)
    assert not re.search(r"^(ci-truth|  \[ok\])", out[1:], re.M)
    assert "  - pkg::test_a ci-truth: SUCCESS (a.py [ok] failures: none:3): boom\n" in out
