"""Comment commands, pure core: parsing, authorisation table, rate limiting, escaping, records."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.commands import (
    AcceptDrop,
    AcceptedDrop,
    Decision,
    Explain,
    Help,
    Invalid,
    Plan,
    RateLimiter,
    Recheck,
    Status,
    Unknown,
    Waive,
    WaiverRecord,
    allowed,
    drop_block,
    find_accepted_drop,
    level,
    needs_lookup,
    parse_commands,
    waiver_block,
    waivers_from_comments,
)
from bot.core.commands.lines import command_lines
from bot.core.commands.ratelimit import Bucket
from bot.core.commands.render import explain_text, help_text, reply_body, status_text
from bot.core.commands.text import block, code

SLUG = "ci-truth"


def cmds(body: str) -> list[object]:
    return [type(c).__name__ for c in parse_commands(body, slug=SLUG)[0]]


def only(body: str) -> object:
    found, _ = parse_commands(body, slug=SLUG)
    assert len(found) == 1, found
    return found[0]


# --- where a command may stand -------------------------------------------------------

@pytest.mark.parametrize("body", [
    "/truth recheck",
    "/TRUTH Recheck",
    "@ci-truth recheck",
    "@CI-Truth RECHECK please, the runner flaked",
    "Thanks for the fix.\n\n/truth recheck",
    "Thanks for the fix.\n/truth recheck",            # a paragraph's later line
    "   /truth recheck",                               # up to 3 spaces of indentation
    "```\ncode\n```\n/truth recheck",                  # after a closed fence
    "````\n```\n````\n/truth recheck",                 # a longer fence closed by its own length
    "> quoted\n\n/truth recheck",                      # a blank line ends the quote
    "~~~\n/truth status\n~~~\n/truth recheck",
    "`code` and\n/truth recheck",                      # code span closed on the line before
    "<!-- hidden -->\n/truth recheck",
    "- item\n\n/truth recheck",
])
def test_command_recognised(body: str) -> None:
    assert isinstance(only(body), Recheck)


@pytest.mark.parametrize("body", [
    "please /truth recheck",                           # not the first token
    "> /truth recheck",                                # block quote
    " > > /truth recheck",                             # nested quote
    "> I said\n/truth recheck",                        # lazy continuation of the quote
    "```\n/truth recheck\n```",
    "~~~~\n/truth recheck\n~~~\n/truth recheck\n~~~~",  # a shorter fence does not close
    "```\n/truth recheck\n~~~\n/truth recheck",        # other fence character; unclosed to the end
    "``` x\n/truth recheck\n``` y\n/truth recheck",    # closing fence has no info string
    "    /truth recheck",                              # indented code
    "\t/truth recheck",
    "`\n/truth recheck`",                              # inside a code span over two lines
    "``a ` b\n/truth recheck``",                       # the span closes on an equal run only
    "<!--\n/truth recheck\n-->",                       # invisible HTML comment
    "text <!-- hide\n/truth recheck -->",              # inline comment across lines
    "<pre>\n/truth recheck\n</pre>",
    "- ```\n  /truth recheck\n  ```",                  # fence inside a list item
    "`/truth recheck`",
    "\\/truth recheck",
    "/truthrecheck",
    "/truth-recheck",
    "@ci-truth-evil recheck",
    "@someone recheck",
    "- /truth recheck",                                # first token is the list marker
])
def test_command_not_recognised(body: str) -> None:
    assert cmds(body) == []


def test_list_item_fence_ends_with_the_item() -> None:
    # CommonMark: an unclosed fence inside a list item ends when the item does.
    assert cmds("- ```\n  code\n\n/truth recheck") == ["Recheck"]


def test_backtick_fence_info_string_with_backtick_is_not_a_fence() -> None:
    # "``` a`b" is not a fence opener (inline code instead), so the next line is a command.
    assert cmds("``` a`b\n\n/truth status") == ["Status"]


def test_multiple_commands_in_order_deduplicated_and_capped() -> None:
    body = "\n".join(["/truth status", "/truth status", "/truth plan", "/truth explain",
                      "/truth help", "/truth recheck", "/truth explain zero-tests",
                      "/truth accept-drop x"])
    found, cut = parse_commands(body, slug=SLUG)
    assert [type(c).__name__ for c in found] == ["Status", "Plan", "Explain", "Help",
                                                  "Recheck"]
    assert cut == 2
    assert found[0].line == 1 and found[1].line == 3


def test_crlf_bodies() -> None:
    assert cmds("hi\r\n```\r\n/truth recheck\r\n```\r\n/truth status\r\n") == ["Status"]


# --- arguments ------------------------------------------------------------------------

def test_bare_prefix_is_help_and_unknown_keeps_the_word() -> None:
    assert isinstance(only("/truth"), Help)
    u = only("/truth <b>merge</b> now")
    assert isinstance(u, Unknown) and u.word == "<b>merge</b>"


def test_explain_targets() -> None:
    assert only("/truth explain") == Explain(None, 1)
    assert only("/truth explain zero-tests") == Explain("zero-tests", 1)
    # test ids may hold spaces and brackets
    assert only("/truth explain suite::adds two [x-1]") == Explain("suite::adds two [x-1]", 1)
    assert isinstance(only("/truth explain " + "a" * 513), Invalid)


def test_accept_drop_needs_a_bounded_reason() -> None:
    assert only("/truth accept-drop removed the legacy suite") == AcceptDrop(
        "removed the legacy suite", 1)
    bad = only("/truth accept-drop")
    assert isinstance(bad, Invalid) and bad.command == "accept-drop"
    assert "required" in bad.problem
    assert isinstance(only("/truth accept-drop " + "x" * 301), Invalid)
    assert isinstance(only("/truth accept-drop " + "x" * 700), Invalid)


def test_waive_needs_criterion_id_and_reason() -> None:
    assert only("/truth waive pass_rate_95 infra is down") == Waive(
        "pass_rate_95", "infra is down", 1)
    assert isinstance(only("/truth waive pass_rate_95"), Invalid)
    assert isinstance(only("/truth waive <img src=x> because"), Invalid)
    assert isinstance(only("/truth waive @org/team because"), Invalid)


def test_arguments_are_cleaned_of_controls_and_bidi() -> None:
    c = only("/truth accept-drop ok\u202e\u200bdone\x07 now")
    assert isinstance(c, AcceptDrop)
    assert c.reason == "ok done now"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("/truth @ci-ruhckeast>`~ \n\t<!->x")),
               max_size=200))
def test_parser_never_raises_and_commands_sit_on_a_real_line(body: str) -> None:
    found, cut = parse_commands(body, slug=SLUG)
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for c in found:
        assert 1 <= c.line <= len(lines)
        head = lines[c.line - 1].lstrip(" ")
        assert head.casefold().startswith(("/truth", "@ci-truth"))
    assert cut >= 0


def test_scanner_reports_lines_without_indentation() -> None:
    assert command_lines("a\n  b\n> c\n") == [(1, "a"), (2, "b")]


# --- authorisation table -------------------------------------------------------------

@pytest.mark.parametrize(("permission", "private_ok", "write_ok"), [
    ("admin", True, True), ("maintain", True, True), ("write", True, True),
    ("triage", True, False), ("read", True, False), ("none", False, False),
    ("bogus", False, False),
])
def test_permission_matrix(permission: str, private_ok: bool, write_ok: bool) -> None:
    for name in ("help", "status", "explain", "plan", "unknown"):
        assert allowed(name, permission) is private_ok
        assert allowed(name, permission, public_repo=True) is True
    for name in ("recheck", "accept-drop", "waive"):
        assert allowed(name, permission) is write_ok
        assert allowed(name, permission, public_repo=True) is write_ok
    assert allowed("frobnicate", permission) is False


def test_permission_document_reading() -> None:
    assert level({"permission": "write", "role_name": "maintain"}) == "write"
    assert level(None) == "none"
    assert level({"permission": "superuser"}) == "none"
    assert needs_lookup("status", public_repo=True) is False
    assert needs_lookup("status", public_repo=False) is True
    assert needs_lookup("recheck", public_repo=True) is True


# --- rate limiting --------------------------------------------------------------------

def test_flood_gets_one_polite_answer_then_silence_then_recovers() -> None:
    rl = RateLimiter(user=Bucket(3, 1 / 60), thread=Bucket(100, 1))
    got = [rl.check("alice", ("r", 1), now=0.0) for _ in range(8)]
    assert got == [Decision.ALLOW] * 3 + [Decision.WARN] + [Decision.SILENT] * 4
    assert rl.check("bob", ("r", 1), now=0.0) is Decision.ALLOW     # others unaffected
    assert rl.check("alice", ("r", 1), now=59.0) is Decision.SILENT
    assert rl.check("alice", ("r", 1), now=61.0) is Decision.ALLOW  # one token refilled
    assert rl.check("alice", ("r", 1), now=61.0) is Decision.WARN   # warned afresh


def test_thread_bucket_limits_many_users_on_one_pr() -> None:
    rl = RateLimiter(user=Bucket(10, 1), thread=Bucket(2, 1 / 600))
    got = [rl.check(f"u{i}", ("r", 7), now=0.0) for i in range(5)]
    assert got == [Decision.ALLOW, Decision.ALLOW, Decision.WARN, Decision.SILENT,
                   Decision.SILENT]
    assert rl.check("u9", ("r", 8), now=0.0) is Decision.ALLOW      # another PR


def test_a_repeated_command_gets_its_first_decision_for_free() -> None:
    rl = RateLimiter(user=Bucket(2, 1 / 60), thread=Bucket(100, 1))
    assert rl.check("alice", 1, now=0.0, event="c1") is Decision.ALLOW
    assert rl.check("alice", 1, now=0.0, event="c1") is Decision.ALLOW   # redelivered
    assert rl.check("alice", 1, now=0.0, event="c2") is Decision.ALLOW   # still had a token
    assert rl.check("alice", 1, now=0.0, event="c3") is Decision.WARN
    assert rl.check("alice", 1, now=0.0, event="c3") is Decision.WARN    # retried: warn again
    assert rl.check("alice", 1, now=0.0, event="c1") is Decision.ALLOW
    assert rl.check("alice", 1, now=0.0, event="c4") is Decision.SILENT


def test_rate_limiter_memory_is_bounded_and_clock_skew_safe() -> None:
    rl = RateLimiter(max_keys=10)
    for i in range(100):
        rl.check(f"u{i}", ("r", i), now=float(i), event=i)
    assert len(rl) <= 10 and len(rl._decided) <= 10
    rl2 = RateLimiter(user=Bucket(1, 1), thread=Bucket(5, 1))
    assert rl2.check("a", 1, now=100.0) is Decision.ALLOW
    assert rl2.check("a", 1, now=50.0) is Decision.WARN   # time going back refills nothing


# --- escaping -------------------------------------------------------------------------

@pytest.mark.parametrize("hostile", [
    "@octocat @org/team",
    "<img src=x onerror=alert(1)>",
    "``` ` ``",
    "<!-- ci-truth:reply comment=1 -->",
    "[click](https://evil.example)",
    "#123 owner/repo#4",
    "a\u202eb\x00c",
])
def test_code_span_is_inert(hostile: str) -> None:
    out = code(hostile)
    fence = out[: len(out) - len(out.lstrip("`"))]
    assert out.endswith(fence) and len(out) > 2 * len(fence)
    inner = out[len(fence): -len(fence)]
    assert fence not in inner                      # nothing inside can close the span
    assert not inner.startswith("`") and not inner.endswith("`")
    assert "<!--" not in out and "-->" not in out
    assert "\u202e" not in out and "\x00" not in out


def test_block_fence_is_longer_than_any_run_inside() -> None:
    out = block("line 1\n````\n<!-- x -->\n\tindented")
    first = out.split("\n")[0]
    assert first == "`````text"
    assert out.endswith("\n`````")
    assert "<!--" not in out
    assert "\n    indented\n" in out              # tab kept as spaces, not dropped


# --- records --------------------------------------------------------------------------

def test_accepted_drop_round_trip_and_lapse() -> None:
    rec = AcceptedDrop("a" * 40, "alice", 7, "removed <!-- ci-truth:accepted-drop --> -->", "t")
    text = "summary\n" + drop_block(rec)
    assert find_accepted_drop(text, "a" * 40) == rec
    assert find_accepted_drop(text, "b" * 40) is None                # the head moved
    assert text.count("-->") == 1                                    # the reason cannot close it


def test_accepted_drop_ignores_garbage_blocks() -> None:
    assert find_accepted_drop("<!-- ci-truth:accepted-drop v1 !!!! -->", "a") is None
    assert find_accepted_drop("<!-- ci-truth:accepted-drop v1 e30= -->", "a") is None


def test_waivers_only_from_our_comments() -> None:
    w = WaiverRecord("foundation", "pass_rate_95", "alice", 7, "infra outage",
                     "2026-01-01T00:00:00Z")
    ours = {"body": waiver_block(w), "user": {"login": "ci-truth[bot]", "type": "Bot"}}
    via = {"body": waiver_block(w), "user": {"login": "x", "type": "User"},
           "performed_via_github_app": {"id": 42}}
    forged = {"body": waiver_block(w), "user": {"login": "mallory", "type": "User"}}
    impostor = {"body": waiver_block(w), "user": {"login": "ci-truth[bot]", "type": "User"}}
    assert waivers_from_comments([ours], app_id=42, slug=SLUG) == [w]
    assert waivers_from_comments([via], app_id=42, slug=SLUG) == [w]
    assert waivers_from_comments([forged, impostor], app_id=42, slug=SLUG) == []


# --- replies --------------------------------------------------------------------------

STATE = {
    "schema": "ci-truth/state@1",
    "tests": {"total": 120, "passed": 100, "failed": 1, "errors": 0, "skipped": 19,
              "pass_rate": 0.99, "skipped_ratio": 0.158},
    "failures": [{"id": "tests/test_x.py::test_<b>@admin", "kind": "failure",
                  "message": "assert 1 == 2 <!-- ci-truth:reply comment=9 -->",
                  "report": "junit.xml", "file": "tests/test_x.py", "line": 12,
                  "details": "Traceback\n```\n@everyone"}],
    "failures_omitted": 0,
    "workflows": {"CI <script>": {"conclusion": "success", "run_id": 555, "url": "x"}},
    "verdict": {"conclusion": "failure", "reasons": [
        {"rule": "failures", "message": "1 test failed", "conclusion": "failure",
         "details": {"failed": 1}},
        {"rule": "test-drop", "message": "40 tests fewer", "conclusion": "failure",
         "details": {"before": 160, "after": 120}}]},
}


def test_status_and_explain_render_values_and_links_safely() -> None:
    s = status_text(STATE, head_sha="c" * 40, repo="o/r", check_id=99)
    assert "failure" in s and "total 120" in s
    assert "(https://github.com/o/r/actions/runs/555)" in s
    assert "(https://github.com/o/r/runs/99)" in s
    assert "<script>" not in s.replace("`CI <script>`", "")
    e = explain_text(STATE, None, head_sha="c" * 40, repo="o/r")
    assert "before=160, after=120" in e
    r = explain_text(STATE, "test-drop", head_sha="c" * 40, repo="o/r")
    assert "40 tests fewer" in r and "1 test failed" not in r
    assert "did not fire" in explain_text(STATE, "zero-tests", head_sha="c" * 40, repo="o/r")
    t = explain_text(STATE, "tests/test_x.py::test_<b>@admin", head_sha="c" * 40, repo="o/r")
    assert "tests/test_x.py:12" in t and "Traceback" in t
    assert "<!--" not in t
    unknown = explain_text(STATE, "nope", head_sha="c" * 40, repo="o/r")
    assert "neither a rule id nor a failed test" in unknown
    assert "No CI Truth result" in status_text(None, head_sha="c" * 40, repo="o/r",
                                               check_id=None)


def test_reply_body_has_one_marker_and_help_lists_every_command() -> None:
    body = reply_body(5, ["a", "b"], cut=1)
    assert body.startswith("<!-- ci-truth:reply comment=5 -->\n")
    assert body.count("<!--") == 1 and "1 more ignored" in body
    h = help_text(SLUG)
    for usage in ("/truth status", "/truth accept-drop <reason>", "/truth waive", "/truth plan",
                  "/truth explain", "/truth recheck", "/truth help", "@ci-truth"):
        assert usage in h
    assert isinstance(only("/truth plan"), Plan) and isinstance(only("/truth status"), Status)


@pytest.mark.parametrize("body", [
    "- > Alice wrote:\n/truth recheck",               # lazy continuation of a quote in an item
    "- > Alice wrote:\n  /truth recheck",             # the same, indented to the item
    "1. > Alice wrote:\n/truth recheck",
    "- - > Alice wrote:\n/truth recheck",             # a quote in a nested item
])
def test_quote_inside_a_list_item_hides_its_lazy_lines(body: str) -> None:
    assert cmds(body) == []


@pytest.mark.parametrize("body", [
    '<img alt="\n/truth recheck\n">',                  # inside an attribute value: not shown
    "x <a title='\n/truth recheck'>y</a>",
    "<?php\n/truth recheck\n?>",                       # processing instruction
    "x <![CDATA[\n/truth recheck ]]>",                 # CDATA section
    "<!DOCTYPE\n/truth recheck\n>",                    # declaration
])
def test_lines_inside_raw_html_constructs_are_not_commands(body: str) -> None:
    assert cmds(body) == []
