"""Comment commands through the handler dispatch, the real GitHub client and the fake GitHub.

Payloads: the corpus's real `issue_comment.created` body, adapted to the fake's repository
and, for pull-request comments, given `issue.pull_request` (the corpus has no PR comment).
Check runs come from the App's own workflow_run handling of real corpus reports.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import gidgethub
import pytest

from bot.core.checkrun import parse_state_block
from bot.core.commands import find_accepted_drop
from bot.core.prcomment import MARKER
from tests.app.helpers_commands import (
    comment_event,
    fresh_command_state,  # noqa: F401  (autouse)
    reactions,
    replies,
)
from tests.app.helpers_logic import (
    FAILING,
    HEALTHY,
    JUNIT,
    PUTRA,
    PYTEST_MANY,
    SMALL,
    ZERO_TESTS,
    Env,
    env_fixture,  # noqa: F401  (the `env` fixture)
)
from tests.fakegithub.seed import load_payload, seed_workflow_run


def pr_run(env: Env, report: Any, **changes: Any) -> tuple[Any, dict[str, Any], int]:
    """A pull_request run of "CI" with `report`, its open PR; returns (seeded, pr, number)."""
    payload = load_payload("workflow_run.completed")
    payload["workflow_run"].update(event="pull_request", name="CI", **changes)
    seeded = seed_workflow_run(env.fake.world, payload, reports={"junit.xml": report})
    pr = seeded.repo.add_pull(head_ref="feature", head_sha=seeded.run["head_sha"])
    return seeded, pr, pr["number"]


async def say(env: Env, repo: Any, number: int, body: str, **kw: Any) -> dict[str, Any]:
    """Post a comment and deliver its issue_comment event; return the payload."""
    payload = comment_event(env.fake, repo, number, body, **kw)
    await env.deliver(payload, event="issue_comment", delivery_id=f"c-{payload['comment']['id']}")
    return payload


def last_reply(env: Env, repo: Any, number: int) -> str:
    return str(replies(env.fake, repo, number)[-1]["body"])


async def test_status_answers_once_with_the_measured_state(env: Env) -> None:
    seeded, _, n = pr_run(env, ZERO_TESTS)
    await env.deliver(seeded.payload)
    p = await say(env, seeded.repo, n, "Why is this red?\n\n/truth status")
    assert reactions(seeded.repo, p["comment"]["id"]) == ["eyes"]
    [reply] = replies(env.fake, seeded.repo, n)
    body = reply["body"]
    assert body.startswith(f"<!-- ci-truth:reply comment={p['comment']['id']} -->")
    assert "failure" in body and "total 0" in body and "`zero-tests`" in body
    assert f"/runs/{seeded.run['id']}" in body                       # link to the evidence run


async def test_explain_gives_reasons_values_and_failed_tests(env: Env) -> None:
    seeded, _, n = pr_run(env, FAILING)
    await env.deliver(seeded.payload)
    await say(env, seeded.repo, n, "/truth explain")
    everything = last_reply(env, seeded.repo, n)
    assert "because" in everything and "`failures`" in everything
    [cr] = env.check_runs(seeded.repo)
    [annotation] = seeded.repo.annotations[cr["id"]]
    failed_id = annotation["title"].partition(": ")[2]
    await say(env, seeded.repo, n, f"/truth explain {failed_id}")
    one = last_reply(env, seeded.repo, n)
    assert f"{failed_id}` failed" in one
    assert annotation["message"].split("\n")[0][:30] in one
    await say(env, seeded.repo, n, "/truth explain zero-tests")
    assert "did not fire" in last_reply(env, seeded.repo, n)


async def test_status_shows_the_skipped_share(env: Env) -> None:
    seeded, _, n = pr_run(env, PUTRA / "pytest/junit.gloo.static.xml")   # 24 tests, 12 skipped
    await env.deliver(seeded.payload)
    await say(env, seeded.repo, n, "/truth status")
    assert "Pass rate 100.0%, skipped 50.0%." in last_reply(env, seeded.repo, n)


NUNIT_ERRORS = JUNIT / ("publish-unit-test-result-action/python/test/files/nunit/nunit3/"
                        "jenkins/NUnit-issue44527.xml")           # 143 errors, long test ids
LONG_ID = ("MyCompanyUiSettings.Tl.My_Tasks.Access_Certification.Access_Certification_Inner_"
           "Screen.Bulk_Acions.Examine_Text_and_Layout.ExaminTextAndLayout::UI_MyTask_AC_ACIS_"
           "BulkActions_ExamineTextAndLayout_ClearAllSelection_TC2712(\"/#/tasks/access-"
           "certification/overview\")")                           # 261 characters


async def test_explain_finds_a_failed_test_whose_annotation_title_was_shortened(
        env: Env) -> None:
    seeded, _, n = pr_run(env, NUNIT_ERRORS)
    await env.deliver(seeded.payload)
    [cr] = env.check_runs(seeded.repo)
    assert not any(a["title"] == f"error: {LONG_ID}" for a in seeded.repo.annotations[cr["id"]])
    await say(env, seeded.repo, n, f"/truth explain {LONG_ID}")
    body = last_reply(env, seeded.repo, n)
    assert "did not fail" not in body
    assert "` errored (report " in body and "not available" in body  # its message


async def test_explain_names_the_report_and_makes_up_no_line(env: Env) -> None:
    seeded, _, n = pr_run(env, PYTEST_MANY)                  # failures with file and line
    await env.deliver(seeded.payload)
    await say(env, seeded.repo, n, "/truth explain test_many::test_value[3]")
    body = last_reply(env, seeded.repo, n)
    assert "failed at `test_many.py:3` (report `test-results!junit.xml`)" in body
    nunit, _, m = pr_run(env, NUNIT_ERRORS, id=seeded.run["id"] + 7, head_sha="ab" * 20)
    await env.deliver(nunit.payload)                         # errors without a source file
    await say(env, nunit.repo, m, f"/truth explain {LONG_ID}")
    body = last_reply(env, nunit.repo, m)
    assert "` errored (report `test-results!junit.xml`):" in body
    assert ":1`" not in body


async def test_explain_does_not_clear_a_failed_test_beyond_the_annotated_ones(env: Env) -> None:
    payload = load_payload("workflow_run.completed")
    payload["workflow_run"].update(event="pull_request", name="CI")
    seeded = seed_workflow_run(env.fake.world, payload,              # 144 + 120 failed tests
                               reports={"a/nunit.xml": NUNIT_ERRORS, "b/pytest.xml": PYTEST_MANY})
    n = seeded.repo.add_pull(head_ref="feature", head_sha=seeded.run["head_sha"])["number"]
    await env.deliver(seeded.payload)
    [cr] = env.check_runs(seeded.repo)
    titles = [a["title"] for a in seeded.repo.annotations[cr["id"]]]
    assert len(titles) == 200 and "failure: test_many::test_value[119]" not in titles
    await say(env, seeded.repo, n, "/truth explain test_many::test_value[119]")
    body = last_reply(env, seeded.repo, n)
    assert "did not fail" not in body and "64 further failures were not kept" in body


@pytest.mark.parametrize(("permission", "role", "allowed"), [
    ("admin", "admin", True), ("write", "maintain", True), ("write", "write", True),
    ("read", "triage", False), ("read", "read", False), ("none", "none", False),
])
async def test_recheck_needs_write_access(env: Env, permission: str, role: str,
                                          allowed: bool) -> None:
    seeded, _, n = pr_run(env, HEALTHY)
    await env.deliver(seeded.payload)
    seeded.repo.set_permission("bob", permission, role)
    before = len(env.fake.calls("PATCH", r"/check-runs/"))
    await say(env, seeded.repo, n, "/truth recheck", user="bob")
    body = last_reply(env, seeded.repo, n)
    patched = len(env.fake.calls("PATCH", r"/check-runs/")) - before
    if allowed:
        assert patched == 1 and "Rechecked" in body
    else:
        assert patched == 0 and "needs write access" in body
    assert len(env.fake.calls("GET", r"/collaborators/bob/permission$")) == 1


@pytest.mark.parametrize(("permission", "answered"), [
    ("admin", True), ("write", True), ("read", True), ("none", False)])
async def test_read_commands_on_a_private_repository(env: Env, permission: str,
                                                     answered: bool) -> None:
    repo = env.fake.world.add_repo("octo-org/secret", private=True)
    n = repo.add_pull(head_ref="f")["number"]
    repo.set_permission("carol", permission, permission)
    await say(env, repo, n, "/truth status", user="carol")
    body = last_reply(env, repo, n)
    assert ("needs read access" not in body) is answered
    assert ("No CI Truth result" in body) is answered


async def test_public_repository_read_commands_need_no_permission_lookup(env: Env) -> None:
    seeded, _, n = pr_run(env, HEALTHY)
    await env.deliver(seeded.payload)
    await say(env, seeded.repo, n, "/truth help", user="drive-by")
    assert "/truth accept-drop <reason>" in last_reply(env, seeded.repo, n)
    assert env.fake.calls("GET", r"/permission$") == []


@pytest.mark.parametrize("variant", ["bot", "ours", "edited", "deleted", "locked", "quoted"])
async def test_ignored_comments_cost_no_request(env: Env, variant: str) -> None:
    seeded, _, n = pr_run(env, HEALTHY)
    await env.deliver(seeded.payload)
    kw: dict[str, Any] = {
        "bot": {"user": "dependabot[bot]"},
        "ours": {"user": env.fake.world.app.bot_login, "via_app": True},
        "edited": {"action": "edited"}, "deleted": {"action": "deleted"},
        "locked": {"locked": True}, "quoted": {}}[variant]
    text = "> /truth recheck" if variant == "quoted" else "/truth recheck"
    start = len(env.fake.requests)
    p = await say(env, seeded.repo, n, text, **kw)
    assert env.api_calls(start) == []
    assert reactions(seeded.repo, p["comment"]["id"]) == []


async def test_injected_arguments_are_neutralised(env: Env) -> None:
    cmarkgfm = pytest.importorskip("cmarkgfm")
    seeded, _, n = pr_run(env, FAILING)
    await env.deliver(seeded.payload)
    await say(env, seeded.repo, n, "/truth explain <img src=x onerror=alert(1)> @octo-org/admins "
                                   "``` <!-- ci-truth:reply comment=1 --> #1\n"
                                   "/truth <b>bold</b> @everyone")
    body = last_reply(env, seeded.repo, n)
    assert body.count("<!--") == 1 and body.count("-->") == 1       # only our own marker
    assert body.index("<!--") == 0
    html = cmarkgfm.github_flavored_markdown_to_html(
        body, options=cmarkgfm.cmark.Options.CMARK_OPT_UNSAFE)     # as GitHub would, raw HTML on
    assert "<img" not in html and "<b>" not in html                 # shown as text, not markup
    assert "&lt;img src=x onerror=alert(1)&gt; @octo-org/admins" in html  # inside <code>
    assert "Unknown command" in body and body.count("\n---\n") == 1  # two answers, one reply


async def test_flood_gets_one_polite_answer_then_silence(env: Env) -> None:
    seeded, _, n = pr_run(env, HEALTHY)
    await env.deliver(seeded.payload)
    for i in range(6):
        await say(env, seeded.repo, n, f"/truth help {i}")
    assert len(replies(env.fake, seeded.repo, n)) == 6
    await say(env, seeded.repo, n, "/truth help again")
    assert "Too many commands" in last_reply(env, seeded.repo, n)
    start = len(env.fake.requests)
    for _ in range(5):
        await say(env, seeded.repo, n, "/truth help")
    assert env.api_calls(start) == []                                # silence costs nothing
    assert len(replies(env.fake, seeded.repo, n)) == 7


async def test_a_redelivered_comment_is_answered_once(env: Env) -> None:
    seeded, _, n = pr_run(env, HEALTHY)
    await env.deliver(seeded.payload)
    p = comment_event(env.fake, seeded.repo, n, "/truth status")
    await env.deliver(p, event="issue_comment", delivery_id="first")
    await env.deliver(p, event="issue_comment", delivery_id="redelivered")
    assert len(replies(env.fake, seeded.repo, n)) == 1


async def test_a_redelivered_comment_spends_no_rate_limit_token(env: Env) -> None:
    """A redelivery of an answered comment must not use up the one polite answer."""
    seeded, _, n = pr_run(env, HEALTHY)
    await env.deliver(seeded.payload)
    first = comment_event(env.fake, seeded.repo, n, "/truth help")
    await env.deliver(first, event="issue_comment", delivery_id="first")
    for i in range(5):                                               # the burst is used up
        await say(env, seeded.repo, n, f"/truth help {i}")
    await env.deliver(first, event="issue_comment", delivery_id="redelivered")
    assert len(replies(env.fake, seeded.repo, n)) == 6               # answered once
    await say(env, seeded.repo, n, "/truth status")
    assert "Too many commands" in last_reply(env, seeded.repo, n)    # not silence


async def test_accept_drop_records_rejudges_and_lapses_when_the_head_moves(env: Env) -> None:
    main = seed_workflow_run(env.fake.world, reports={"junit.xml": HEALTHY})
    repo = main.repo
    repo.branches[repo.default_branch] = main.run["head_sha"]
    await env.deliver(main.payload)
    seeded, _, n = pr_run(env, SMALL, id=main.run["id"] + 5, head_sha="ef" * 20)
    await env.deliver(seeded.payload)
    [cr] = [c for c in env.check_runs(repo) if c["head_sha"] == "ef" * 20]
    assert cr["conclusion"] == "failure" and "`test-drop`" in cr["output"]["summary"]
    repo.set_permission("maint", "write", "maintain")
    await say(env, repo, n, "/truth accept-drop moved <!-- x --> the gloo tests @team",
              user="maint")
    assert "now **success**" in last_reply(env, repo, n)
    assert cr["conclusion"] == "success"
    rec = find_accepted_drop(cr["output"]["text"], "ef" * 20)
    assert rec is not None and rec.user == "maint"
    [sticky] = [c for c in repo.comments.values()                     # the PR comment follows
                if c["issue_number"] == n and c["body"].startswith(MARKER)]
    assert "CI Truth: success" in sticky["body"] and "`test-drop`" not in sticky["body"]
    assert rec.reason == "moved <!-- x --> the gloo tests @team"       # kept, hidden encoded
    assert parse_state_block(cr["output"]["text"]) is not None         # state block intact
    assert "`test-drop`" not in cr["output"]["summary"]
    await say(env, repo, n, "/truth status")
    assert "drop accepted by `maint`" in last_reply(env, repo, n)
    # A recheck of the same head keeps the acceptance; a new head does not inherit it.
    await say(env, repo, n, "/truth recheck", user="maint")
    assert cr["conclusion"] == "success"
    moved = pr_run(env, SMALL, id=main.run["id"] + 9, head_sha="fa" * 20)[0]
    await env.deliver(moved.payload)
    [new] = [c for c in env.check_runs(repo) if c["head_sha"] == "fa" * 20]
    assert new["conclusion"] == "failure"
    assert find_accepted_drop(new["output"]["text"], "fa" * 20) is None


async def test_an_accepted_drop_with_an_emoji_reason_survives_a_recheck(env: Env) -> None:
    """Any reason the grammar takes (300 characters, here astral ones: 12 JSON bytes each)
    is recorded readably: the reply's "recorded" holds for the re-judging too."""
    main = seed_workflow_run(env.fake.world, reports={"junit.xml": HEALTHY})
    repo = main.repo
    repo.branches[repo.default_branch] = main.run["head_sha"]
    await env.deliver(main.payload)
    seeded, _, n = pr_run(env, SMALL, id=main.run["id"] + 5, head_sha="ef" * 20)
    await env.deliver(seeded.payload)
    [cr] = [c for c in env.check_runs(repo) if c["head_sha"] == "ef" * 20]
    repo.set_permission("maint", "write", "maintain")
    reason = "🚚🧪" * 150                                         # 300 characters
    await say(env, repo, n, f"/truth accept-drop {reason}", user="maint")
    assert "now **success**" in last_reply(env, repo, n)
    rec = find_accepted_drop(cr["output"]["text"], "ef" * 20)
    assert rec is not None and rec.reason == reason
    await say(env, repo, n, "/truth recheck", user="maint")
    assert cr["conclusion"] == "success"


async def test_accept_drop_never_accepts_a_head_pushed_after_the_comment(env: Env) -> None:
    """A job run (queued, retried) after a push must not accept the new commit's drop."""
    main = seed_workflow_run(env.fake.world, reports={"junit.xml": HEALTHY})
    repo = main.repo
    repo.branches[repo.default_branch] = main.run["head_sha"]
    await env.deliver(main.payload)
    seeded, pr, n = pr_run(env, SMALL, id=main.run["id"] + 5, head_sha="ef" * 20)
    await env.deliver(seeded.payload)
    repo.set_permission("maint", "write", "maintain")
    comment = comment_event(env.fake, repo, n, "/truth accept-drop moved the gloo tests",
                            user="maint")
    env.fake.world.clock_offset += timedelta(minutes=3)         # then the author pushes
    moved = pr_run(env, SMALL, id=main.run["id"] + 9, head_sha="fa" * 20)[0]
    pr["head_sha"] = "fa" * 20
    await env.deliver(moved.payload)
    await env.deliver(comment, event="issue_comment", delivery_id="late")
    [new] = [c for c in env.check_runs(repo) if c["head_sha"] == "fa" * 20]
    assert new["conclusion"] == "failure"
    assert find_accepted_drop(new["output"]["text"], "fa" * 20) is None
    body = last_reply(env, repo, n)
    assert "nothing accepted" in body and f"`{'fa' * 6}`" in body


async def test_accept_drop_refused_for_readers_and_without_a_drop(env: Env) -> None:
    seeded, _, n = pr_run(env, HEALTHY)
    await env.deliver(seeded.payload)
    await say(env, seeded.repo, n, "/truth accept-drop because", user="reader")
    assert "needs write access" in last_reply(env, seeded.repo, n)
    seeded.repo.set_permission("w", "write", "write")
    await say(env, seeded.repo, n, "/truth accept-drop because", user="w")
    assert "no `test-drop` reason" in last_reply(env, seeded.repo, n)
    await say(env, seeded.repo, n, "/truth accept-drop", user="w")
    assert "a reason is required" in last_reply(env, seeded.repo, n)


async def test_recheck_button_uses_the_same_authorisation(env: Env) -> None:
    seeded, _, _ = pr_run(env, HEALTHY)
    await env.deliver(seeded.payload)
    [cr] = env.check_runs(seeded.repo)
    action = load_payload("all/check_run.requested_action.6")
    action.update(repository=seeded.payload["repository"],
                  installation=seeded.payload["installation"],
                  requested_action={"identifier": "recheck"})
    action["check_run"].update(name="CI Truth", head_sha=cr["head_sha"], id=cr["id"],
                               app=dict(action["check_run"]["app"], id=env.ctx.app_id))
    before = len(env.fake.calls("PATCH", r"/check-runs/"))
    for login, perm, role in (("t", "read", "triage"), ("m", "write", "maintain")):
        seeded.repo.set_permission(login, perm, role)
        action["sender"]["login"] = login
        await env.deliver(action, event="check_run")
    assert len(env.fake.calls("PATCH", r"/check-runs/")) == before + 1
    assert len(env.fake.calls("GET", r"/collaborators/(t|m)/permission$")) == 2


async def test_pr_only_commands_in_a_plain_issue(env: Env) -> None:
    seeded, _, _ = pr_run(env, HEALTHY)
    number = seeded.repo.add_issue("A question")["number"]
    await say(env, seeded.repo, number, "/truth explain", pr=False)
    assert "works on pull requests" in last_reply(env, seeded.repo, number)
    start = len(env.fake.requests)
    p = await say(env, seeded.repo, number, "/truth waive x because", pr=False)  # no config
    [call] = env.api_calls(start)                                   # the config lookup only
    assert call.startswith("GET ") and call.endswith("/contents/.github/ci-truth.yml")
    assert reactions(seeded.repo, p["comment"]["id"]) == []


async def test_a_comment_deleted_before_the_reaction_gets_no_answer(env: Env) -> None:
    seeded, _, n = pr_run(env, HEALTHY)
    await env.deliver(seeded.payload)
    env.fake.inject("POST", r"/reactions$", 404)
    await say(env, seeded.repo, n, "/truth help")
    assert replies(env.fake, seeded.repo, n) == []
    assert env.fake.calls("POST", r"/issues/\d+/comments$") == []


def test_reasons_of_older_check_runs_come_from_the_summary() -> None:
    """Check runs written before the state carried the verdict still explain themselves."""
    from bot.app.command_state import rejudge_without_drop, verdict_of
    from bot.core.checkrun import completed_payloads
    from bot.core.commands import AcceptedDrop
    from bot.core.model import Conclusion, Counts, MeasuredState, Reason, Verdict

    state = MeasuredState(totals=Counts(tests=3, passed=3))
    verdict = Verdict(Conclusion.FAILURE, [
        Reason("test-drop", "3 of the baseline's 22 tests ran"),
        Reason("untrusted-evidence", "fork", Conclusion.NEUTRAL)])
    first = completed_payloads(state, verdict, [], details_md="details", head_sha="a" * 40).first
    run = {"id": 7, "output": first["output"]}
    doc = parse_state_block(first["output"]["text"])
    assert doc is not None and "verdict" not in doc
    got = verdict_of(run, doc)
    assert [(r.rule, r.conclusion) for r in got.reasons] == [
        ("test-drop", Conclusion.FAILURE), ("untrusted-evidence", Conclusion.NEUTRAL)]
    done = rejudge_without_drop(run, AcceptedDrop("a" * 40, "m", 1, "why", "t"))
    assert done is not None and done.verdict.conclusion is Conclusion.NEUTRAL
    patch = done.patch
    assert patch["conclusion"] == "neutral"                           # the fork reason stays
    assert "details" in patch["output"]["text"]
    assert find_accepted_drop(patch["output"]["text"], "a" * 40) is not None


async def test_mixed_commands_answer_what_is_allowed_and_refuse_the_rest(env: Env) -> None:
    seeded, _, n = pr_run(env, ZERO_TESTS)
    await env.deliver(seeded.payload)
    before = len(env.fake.calls("PATCH", r"/check-runs/"))
    await say(env, seeded.repo, n, "/truth status\n/truth recheck\n/truth STATUS", user="reader")
    [reply] = replies(env.fake, seeded.repo, n)
    status, refused = reply["body"].split("\n---\n")
    assert "`zero-tests`" in status and "needs write access" in refused
    assert len(env.fake.calls("PATCH", r"/check-runs/")) == before


async def test_permission_cache_grants_from_cache_and_rechecks_refusals(env: Env) -> None:
    seeded, _, n = pr_run(env, HEALTHY)
    await env.deliver(seeded.payload)
    lookups = r"/collaborators/newbie/permission$"
    await say(env, seeded.repo, n, "/truth recheck", user="newbie")      # public: read
    assert "needs write access" in last_reply(env, seeded.repo, n)
    seeded.repo.set_permission("newbie", "write", "write")               # just promoted
    await say(env, seeded.repo, n, "/truth recheck", user="newbie")
    assert "Rechecked" in last_reply(env, seeded.repo, n)
    assert len(env.fake.calls("GET", lookups)) == 2                      # refusal re-asked
    await say(env, seeded.repo, n, "/truth recheck", user="newbie")
    assert "Rechecked" in last_reply(env, seeded.repo, n)
    assert len(env.fake.calls("GET", lookups)) == 2                      # grant from cache


async def test_a_cached_permission_does_not_pass_to_the_next_holder_of_a_login(
        env: Env) -> None:
    """A login is not an identity: after a rename another account may take it at once."""
    seeded, _, n = pr_run(env, HEALTHY)
    await env.deliver(seeded.payload)
    seeded.repo.set_permission("erin", "write", "write")
    await say(env, seeded.repo, n, "/truth recheck", user="erin")
    assert "Rechecked" in last_reply(env, seeded.repo, n)              # cached as a grant
    users, perms = env.fake.world.users, seeded.repo.permissions
    users["erin-old"] = dict(users.pop("erin"), login="erin-old")      # erin renames, and a
    perms["erin-old"] = perms.pop("erin")                              # new account takes
    await say(env, seeded.repo, n, "/truth recheck", user="erin")      # "erin" within the TTL
    assert env.fake.world.user("erin")["id"] != users["erin-old"]["id"]
    assert "needs write access" in last_reply(env, seeded.repo, n)
    assert len(env.fake.calls("GET", r"/collaborators/erin/permission$")) == 2


async def test_permission_lookup_refused_fails_closed_and_a_server_error_grants_nothing(
        env: Env) -> None:
    seeded, _, n = pr_run(env, HEALTHY)
    await env.deliver(seeded.payload)
    seeded.repo.set_permission("erin", "admin", "admin")
    before = len(env.fake.calls("PATCH", r"/check-runs/"))
    env.fake.inject("GET", r"/collaborators/erin/permission$", 403,
                    body={"message": "Resource not accessible by integration"})
    await say(env, seeded.repo, n, "/truth recheck", user="erin")
    assert "needs write access" in last_reply(env, seeded.repo, n)   # unknown = not allowed
    env.fake.inject("GET", r"/collaborators/erin/permission$", 501)  # not retried in the job
    replies_before = len(replies(env.fake, seeded.repo, n))
    with pytest.raises(gidgethub.GitHubBroken):                       # the job fails, retried
        await say(env, seeded.repo, n, "/truth recheck", user="erin")
    assert len(replies(env.fake, seeded.repo, n)) == replies_before
    assert len(env.fake.calls("PATCH", r"/check-runs/")) == before    # nothing was rechecked


async def test_authorise_fails_closed_on_unknown_commands_and_malformed_repositories(
        env: Env) -> None:
    from bot.app import scopes
    from bot.app.command_authz import authorise

    seeded, _, _ = pr_run(env, HEALTHY)
    seeded.repo.set_permission("erin", "admin", "admin")
    gh = await env.clients(1, repository_id=seeded.repo.id, scope=scopes.COMMAND)
    repo = dict(seeded.payload["repository"], private=True)
    assert await authorise(gh, env.ctx, command="recheck", repository=repo, user="erin")
    assert not await authorise(gh, env.ctx, command="sudo", repository=repo, user="erin")
    assert not await authorise(gh, env.ctx, command="recheck", repository=repo, user="")
    assert not await authorise(gh, env.ctx, command="recheck",
                               repository=dict(repo, id="not-a-number"), user="erin")
    assert not await authorise(gh, env.ctx, command="recheck",
                               repository={"id": seeded.repo.id}, user="erin")  # no owner


async def test_a_recheck_racing_the_runs_own_completion_makes_one_sticky_comment(
        env: Env) -> None:
    """`/truth recheck` on a PR and the head run's `completed` have different job keys
    (issue vs SHA), so the worker runs them at once; the PR still gets one sticky comment."""
    import asyncio

    from bot.app.worker import job_key
    from tests.fakegithub.seed import zip_reports

    seeded, _, n = pr_run(env, HEALTHY)
    await env.deliver(seeded.payload)                  # green: a check run, no comment
    assert not [c for c in seeded.repo.comments.values() if MARKER in c["body"]]
    seeded.repo.set_permission("bob", "write", "write")
    seeded.artifacts[0].data = zip_reports({"junit.xml": ZERO_TESTS})   # now it fails
    comment = comment_event(env.fake, seeded.repo, n, "/truth recheck", user="bob")
    assert (job_key("workflow_run", seeded.payload, "d-2")
            != job_key("issue_comment", comment, "c-1"))         # they may run concurrently
    # Writes to one installation are serialised (and spaced 1-3 s in production): while the
    # first job's PATCH of the check run is slow, the other job's PATCH queues behind it,
    # and each then finds no sticky comment before either has created one.
    env.fake.inject("PATCH", r"/check-runs/\d+$", None, delay=0.5, times=1)
    await asyncio.gather(env.deliver(seeded.payload, delivery_id="d-2"),
                         env.deliver(comment, event="issue_comment", delivery_id="c-1"))
    sticky = [c for c in seeded.repo.comments.values() if MARKER in c["body"]]
    assert len(sticky) == 1
