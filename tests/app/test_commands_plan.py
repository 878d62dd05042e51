"""Plan commands in ci-truth's phase and dashboard issues, through the fake GitHub.

The default branch's evidence is a real corpus report judged by the App itself; the phase
issues are created by the plan sync; comments are the corpus's issue_comment payload
adapted to those issues (plain issues, as in the corpus).
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.app import plansource, scopes
from bot.app.ratelimit import RateLimited
from bot.core.commands import waivers_from_comments
from tests.app.helpers_commands import (
    PLAN_FOUNDATION_SCALE,
    comment_event,
    fresh_command_state,  # noqa: F401  (autouse)
    reactions,
    replies,
    repository_payload,
)
from tests.app.helpers_logic import HEALTHY, Env, env_fixture  # noqa: F401
from tests.fakegithub.seed import load_payload, seed_workflow_run

PLAN = PLAN_FOUNDATION_SCALE + """\
    - id: ship
      title: "Phase 3: Ship"
      needs: [scale]
      criteria:
        - id: pass_rate_99
          name: Pass rate 99%
          expr: tests.pass_rate >= 0.99
        - id: huge_suite
          name: Five thousand tests
          expr: tests.total >= 5000
"""


async def planned_repo(env: Env) -> tuple[Any, dict[str, int]]:
    """A repository whose default branch ran 22 passing tests, with its plan issues synced."""
    first = seed_workflow_run(env.fake.world, reports={"junit.xml": HEALTHY})
    repo = first.repo
    head = repo.commit({".github/ci-truth.yml": PLAN}, branch=repo.default_branch)
    payload = load_payload("workflow_run.completed")
    payload["workflow_run"].update(id=first.run["id"] + 1, head_sha=head)
    main = seed_workflow_run(env.fake.world, payload, reports={"junit.xml": HEALTHY})
    await env.deliver(main.payload)
    gh = await env.clients(1, repository_id=repo.id, scope=scopes.PLAN)
    await plansource.sync(gh, env.ctx, repository_payload(repo))
    issues: dict[str, int] = {}
    for issue in repo.issues.values():
        for key in ("foundation", "scale", "ship"):
            if f"<!-- ci-truth:phase id={key} -->" in issue["body"]:
                issues[key] = issue["number"]
        if "<!-- ci-truth:dashboard -->" in issue["body"]:
            issues["dashboard"] = issue["number"]
    assert set(issues) == {"foundation", "scale", "ship", "dashboard"}, issues
    return repo, issues


async def say(env: Env, repo: Any, number: int, body: str, **kw: Any) -> str:
    payload = comment_event(env.fake, repo, number, body, pr=False, **kw)
    await env.deliver(payload, event="issue_comment", delivery_id=f"c-{payload['comment']['id']}")
    mine = replies(env.fake, repo, number)
    return str(mine[-1]["body"]) if mine else ""


async def test_status_and_plan_in_plan_issues(env: Env) -> None:
    repo, issues = await planned_repo(env)
    status = await say(env, repo, issues["scale"], "/truth status")
    assert "ready" in status and "`big_suite` not met" in status and "22" in status
    dash = await say(env, repo, issues["dashboard"], "/truth status")
    assert "Ready now" in dash and "Phase 2: Scale" in dash and "1/3 phases done" in dash
    ship = await say(env, repo, issues["ship"], "/truth status")
    assert "`pass_rate_99` met: `tests.pass_rate = 1" in ship        # 22 of 22 passed
    plan = await say(env, repo, issues["foundation"], "/truth plan")
    assert plan == dash.replace(dash.split("\n")[0], plan.split("\n")[0])


async def test_waive_records_a_visible_waiver_and_syncs_the_plan(env: Env) -> None:
    repo, issues = await planned_repo(env)
    repo.set_permission("lead", "admin", "admin")
    reply = await say(env, repo, issues["scale"],
                      "/truth waive big_suite the big suite runs nightly <!-- x --> @all",
                      user="lead")
    assert "accepted as met **without evidence**" in reply and "`lead`" in reply
    assert reply.count("<!--") == 2                      # our reply marker and the record
    comments = [c for c in repo.comments.values() if c["issue_number"] == issues["scale"]]
    rendered = [{"body": c["body"], "user": {"login": c["user"], "type": "Bot"
                                             if c["user"].endswith("[bot]") else "User"}}
                for c in comments]
    [w] = waivers_from_comments(rendered, app_id=env.ctx.app_id, slug=env.ctx.app_slug)
    assert (w.phase, w.criterion, w.user) == ("scale", "big_suite", "lead")
    assert w.reason == "the big suite runs nightly <!-- x --> @all"
    body = repo.issues[issues["scale"]]["body"]
    assert "waived" in body                               # the plan sync ran with the waiver
    after = await say(env, repo, issues["dashboard"], "/truth status")
    assert "Phase 3: Ship" in after.split("Ready now:")[1]   # scale done by waiver → ship ready


async def test_a_waiver_with_an_emoji_reason_is_read_back(env: Env) -> None:
    """A 300-character reason of astral characters (12 JSON bytes each) is a waiver too."""
    repo, issues = await planned_repo(env)
    repo.set_permission("lead", "admin", "admin")
    reason = "🌙🧪" * 150
    reply = await say(env, repo, issues["scale"], f"/truth waive big_suite {reason}",
                      user="lead")
    assert "accepted as met **without evidence**" in reply
    assert "waived" in repo.issues[issues["scale"]]["body"]


async def test_a_retried_waive_syncs_the_plan_it_did_not_sync(env: Env) -> None:
    """The waiver reply was posted, then the plan sync hit a rate limit: the retried job
    finds the reply (answered once) and still brings the plan issues in line."""
    repo, issues = await planned_repo(env)
    repo.set_permission("lead", "admin", "admin")
    payload = comment_event(env.fake, repo, issues["scale"], "/truth waive big_suite nightly",
                            pr=False, user="lead")
    env.fake.inject_secondary_rate_limit("PATCH", r"/issues/\d+$", retry_after=3600)
    with pytest.raises(RateLimited):                       # the job fails and is retried
        await env.deliver(payload, event="issue_comment", delivery_id="w-1")
    assert len(replies(env.fake, repo, issues["scale"])) == 1      # the waiver is on record
    assert "waived" not in repo.issues[issues["scale"]]["body"]
    env.clients._installations[1].limiter.blocked_until = 0.0      # an hour later: the reset
    await env.deliver(payload, event="issue_comment", delivery_id="w-1")
    assert len(replies(env.fake, repo, issues["scale"])) == 1      # not answered twice
    assert "waived" in repo.issues[issues["scale"]]["body"]


async def test_waive_is_refused_for_readers_elsewhere_and_for_unknown_criteria(env: Env) -> None:
    repo, issues = await planned_repo(env)
    assert "needs write access" in await say(env, repo, issues["scale"],
                                             "/truth waive big_suite nope", user="reader")
    repo.set_permission("w", "write", "write")
    wrong = await say(env, repo, issues["foundation"], "/truth waive big_suite x", user="w")
    assert "has no criterion" in wrong and "`tests_discovered`" in wrong
    people = repo.add_issue("Not a phase", body="<!-- ci-truth:phase id=scale -->")["number"]
    forged = await say(env, repo, people, "/truth waive big_suite forged", user="w")
    assert "works in ci-truth's phase issues" in forged   # marker without our authorship
    assert "waived" not in repo.issues[issues["scale"]]["body"]


async def test_plan_commands_without_a_config_are_ignored(env: Env) -> None:
    main = seed_workflow_run(env.fake.world, reports={"junit.xml": HEALTHY})
    number = main.repo.add_issue("Where is the plan?")["number"]
    payload = comment_event(env.fake, main.repo, number, "/truth plan", pr=False)
    await env.deliver(payload, event="issue_comment")
    assert replies(env.fake, main.repo, number) == []
    assert reactions(main.repo, payload["comment"]["id"]) == []


async def test_a_later_default_branch_run_keeps_the_waiver(env: Env) -> None:
    repo, issues = await planned_repo(env)
    repo.set_permission("lead", "admin", "admin")
    await say(env, repo, issues["scale"], "/truth waive big_suite runs nightly", user="lead")
    assert "waived" in repo.issues[issues["scale"]]["body"]
    head = repo.commit({"NEWS.md": "more\n"}, branch=repo.default_branch)
    payload = load_payload("workflow_run.completed")
    payload["workflow_run"].update(id=99_000_001, head_sha=head,
                                   head_branch=repo.default_branch, event="push")
    later = seed_workflow_run(env.fake.world, payload, reports={"junit.xml": HEALTHY})
    before = len(env.fake.calls("PATCH", r"/issues/\d+$"))
    await env.deliver(later.payload)                      # the App's own plan sync runs
    assert len(env.fake.calls("GET", r"/issues$")) >= 1    # it did look at the plan issues
    scale = repo.issues[issues["scale"]]
    assert "waived" in scale["body"] and scale["state"] == "closed"
    assert len(env.fake.calls("PATCH", r"/issues/\d+$")) - before <= len(issues)  # no churn
