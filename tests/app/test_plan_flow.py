"""The master plan through the App: workflow_run deliveries → check run + plan issues.

Real reports: tests/data/plan (pytest runs failing with asyncio's "This event loop is already
running", then fixed). The fake GitHub records every request; the App's own client is used.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.app.helpers_logic import Env, env_fixture  # noqa: F401  (the `env` fixture)
from tests.fakegithub.seed import load_payload, seed_workflow_run

DATA = Path(__file__).resolve().parents[1] / "data" / "plan"
PLAN = """\
signatures:
  event_loop: "This event loop is already running"
plan:
  goal: Event-loop fix shipped
  phases:
    - id: foundation
      title: "Phase 1: Foundation"
      priority: P0
      criteria:
        - id: no_event_loop_errors
          name: No event-loop RuntimeError
          expr: signatures.event_loop == 0
        - id: pass_rate_95
          name: Pass rate at least 95%
          expr: tests.pass_rate >= 0.95
    - id: ci
      title: "Phase 2: CI green"
      priority: P1
      needs: [foundation]
      criteria:
        - id: ci_green
          name: CI workflow succeeds
          expr: workflows["CI"].conclusion == "success"
"""
BOT = "ci-truth[bot]"


def payload(n: int, **run: Any) -> dict[str, Any]:
    body = copy.deepcopy(load_payload("workflow_run.completed"))
    body["workflow_run"].update({"id": 90_000 + n, "head_sha": f"{n:040x}", "name": "CI", **run})
    return body


def deliver_seed(env: Env, n: int, scenario: str, **run: Any) -> Any:
    # pytest exits 1 on the broken suite: the CI run fails; the fixed one succeeds
    conclusion = "success" if scenario == "fixed" else "failure"
    seeded = seed_workflow_run(env.fake.world, payload(n, **run), conclusion=conclusion,
                               reports={"junit.xml": DATA / scenario / "junit.xml"})
    return seeded


def issues(repo: Any) -> dict[str, dict[str, Any]]:
    return {i["title"]: i for i in repo.issues.values() if i["user"] == BOT}


def last_comment(repo: Any, number: int) -> str:
    return [c["body"] for c in repo.comments.values() if c["issue_number"] == number][-1]


async def test_plan_issues_follow_default_branch_evidence(env: Env) -> None:
    first = deliver_seed(env, 1, "broken")
    repo = first.repo
    repo.commit({".github/ci-truth.yml": PLAN}, branch=repo.default_branch)
    for _ in range(3):                                   # duplicate deliveries
        await env.deliver(first.payload, delivery_id="d-1")
    [cr] = env.check_runs(repo)
    assert cr["conclusion"] == "failure"
    mine = issues(repo)
    assert sorted(mine) == ["Phase 1: Foundation", "Phase 2: CI green",
                            "Plan: Event-loop fix shipped"]
    found = mine["Phase 1: Foundation"]
    assert found["state"] == "open"
    assert set(found["labels"]) == {"ci-truth plan", "status: ready", "priority: P0"}
    assert "measured `signatures.event_loop = 8`" in found["body"]
    assert f"actions/runs/{first.run['id']}" in found["body"]
    assert "status: blocked" in mine["Phase 2: CI green"]["labels"]
    dash = mine["Plan: Event-loop fix shipped"]
    assert f"#{found['number']} Phase 1: Foundation" in dash["body"]

    # a person closes phase 1 by hand: the next evidence reopens it
    repo.issues[found["number"]].update(state="closed", state_reason="completed")
    second = deliver_seed(env, 2, "broken")
    await env.deliver(second.payload, delivery_id="d-2")
    assert repo.issues[found["number"]]["state"] == "open"
    assert "evidence does not support it" in last_comment(repo, found["number"])

    # the fix lands on the default branch: both phases hold on evidence and close
    fixed = deliver_seed(env, 3, "fixed")
    await env.deliver(fixed.payload, delivery_id="d-3")
    mine = issues(repo)
    assert mine["Phase 1: Foundation"]["state"] == "closed"
    assert mine["Phase 1: Foundation"]["state_reason"] == "completed"
    assert "status: done" in mine["Phase 1: Foundation"]["labels"]
    said = last_comment(repo, found["number"])
    assert "closing as completed" in said and "`signatures.event_loop = 0`" in said
    assert f"actions/runs/{fixed.run['id']}" in said
    assert mine["Phase 2: CI green"]["state"] == "closed"

    # a pull request run is not default-branch evidence: the plan does not move
    pr = deliver_seed(env, 4, "broken", event="pull_request", head_branch="feature")
    repo.add_pull(head_ref="feature", head_sha=pr.run["head_sha"])
    start = len(env.fake.requests)
    await env.deliver(pr.payload, delivery_id="d-4")
    assert issues(repo)["Phase 1: Foundation"]["state"] == "closed"
    plan_numbers = {i["number"] for i in issues(repo).values()}
    touched = [c for c in env.api_calls(start) if c.split()[0] in ("POST", "PATCH")
               and "/issues" in c]
    assert touched                                       # the PR got its comment...
    assert not [c for c in touched                       # ...and no plan issue was written
                if any(c.endswith(f"/issues/{n}") or f"/issues/{n}/" in c
                       for n in plan_numbers) or c.endswith("/issues")]

    # the suite regresses on the default branch: reopened, naming criterion, value and run
    again = deliver_seed(env, 5, "broken")
    await env.deliver(again.payload, delivery_id="d-5")
    issue = issues(repo)["Phase 1: Foundation"]
    assert issue["state"] == "open" and "status: ready" in issue["labels"]
    said = last_comment(repo, found["number"])
    assert said.startswith("Reopened: a later default-branch run broke")
    assert "`signatures.event_loop = 8`" in said and f"actions/runs/{again.run['id']}" in said
    assert len(issues(repo)) == 3                        # never a duplicate


async def test_no_plan_section_means_no_issue_requests(env: Env) -> None:
    seeded = deliver_seed(env, 1, "broken")
    seeded.repo.commit({".github/ci-truth.yml": "signatures: {}\n"},
                       branch=seeded.repo.default_branch)
    start = len(env.fake.requests)
    await env.deliver(seeded.payload)
    assert not [c for c in env.api_calls(start) if "/issues" in c]
    assert seeded.repo.issues == {}


COVERAGE_PLAN = PLAN.replace('''        - id: pass_rate_95''', '''        - id: coverage_79
          name: Line coverage at least 79%
          expr: coverage.line_rate >= 0.79
        - id: pass_rate_95''')


async def test_coverage_in_the_artifact_feeds_the_plan(env: Env) -> None:
    body = payload(7)
    seeded = seed_workflow_run(env.fake.world, body, conclusion="success", reports={
        "junit.xml": DATA / "fixed" / "junit.xml", "coverage.xml": DATA / "fixed" / "coverage.xml"})
    seeded.repo.commit({".github/ci-truth.yml": COVERAGE_PLAN},
                       branch=seeded.repo.default_branch)
    await env.deliver(seeded.payload)
    [cr] = env.check_runs(seeded.repo)
    assert cr["conclusion"] == "success"                 # coverage.xml is not a bad report
    found = issues(seeded.repo)["Phase 1: Foundation"]
    assert found["state"] == "closed"
    assert "`coverage.line_rate = 0.9333`" in last_comment(seeded.repo, found["number"])


async def test_a_killed_shard_is_not_evidence_for_the_plan(env: Env) -> None:
    # shard 1 is the fixed suite; shard 2 (the broken one) was killed while writing its report,
    # and the run is green: the counts read cover shard 1 only
    body = payload(8)
    cut = (DATA / "broken" / "junit.xml").read_bytes()[:1500]
    seeded = seed_workflow_run(env.fake.world, body, conclusion="success", reports={
        "shard-1.xml": DATA / "fixed" / "junit.xml", "shard-2.xml": cut})
    repo = seeded.repo
    sha = seeded.run["head_sha"]
    repo.commits[sha].files[".github/ci-truth.yml"] = PLAN.encode()
    repo.branches[repo.default_branch] = sha             # the run is the default branch head
    await env.deliver(seeded.payload)
    [cr] = env.check_runs(repo)
    assert cr["conclusion"] == "failure"                 # unreadable-report
    found = issues(repo)["Phase 1: Foundation"]
    assert found["state"] == "open" and "- [x]" not in found["body"]
    assert "incomplete test evidence" in found["body"]

    # a person closes it: the sync from the check run's state reopens it, nothing ticked
    repo.issues[found["number"]].update(state="closed", state_reason="completed")
    person = {**seeded.payload["sender"], "login": "octocat", "type": "User"}
    base = {k: seeded.payload[k] for k in ("repository", "installation")}
    closed = issues_event("closed", repo.issues[found["number"]], base, person)
    await env.deliver(closed, event="issues", delivery_id="i-8")
    assert repo.issues[found["number"]]["state"] == "open"
    assert "- [x]" not in repo.issues[found["number"]]["body"]
    assert "incomplete test evidence" in last_comment(repo, found["number"])


def issues_event(action: str, issue: dict[str, Any], base: dict[str, Any],
                 sender: dict[str, Any]) -> dict[str, Any]:
    """A real `issues` payload (corpus issues.reopened.20) carrying our issue and sender."""
    body = copy.deepcopy(load_payload("all/issues.reopened.20"))
    author = {"login": issue["user"], "type": "Bot" if issue["user"].endswith("[bot]") else "User"}
    body["action"] = action
    body["issue"].update(number=issue["number"], title=issue["title"], body=issue["body"],
                         state=issue["state"], user={**body["issue"]["user"], **author})
    body.update(repository=base["repository"], installation=base["installation"], sender=sender)
    return body


async def test_a_hand_close_is_reopened_at_once_and_only_for_our_issues(env: Env) -> None:
    first = deliver_seed(env, 1, "broken")
    repo = first.repo
    repo.commit({".github/ci-truth.yml": PLAN}, branch=repo.default_branch)
    await env.deliver(first.payload, delivery_id="d-1")
    found = issues(repo)["Phase 1: Foundation"]
    person = {**first.payload["sender"], "login": "octocat", "type": "User"}
    base = {k: first.payload[k] for k in ("repository", "installation")}

    # a person closes phase 1 by hand: the `issues.closed` delivery reopens it right away
    repo.issues[found["number"]].update(state="closed", state_reason="completed")
    closed = issues_event("closed", repo.issues[found["number"]], base, person)
    await env.deliver(closed, event="issues", delivery_id="i-1")
    assert repo.issues[found["number"]]["state"] == "open"
    assert "evidence does not support it" in last_comment(repo, found["number"])

    # the same delivery again, our own close, and a person's look-alike issue: no writes
    start = len(env.fake.requests)
    await env.deliver(closed, event="issues", delivery_id="i-1")
    ours = issues_event("closed", repo.issues[found["number"]], base,
                        {**person, "login": BOT, "type": "Bot"})
    await env.deliver(ours, event="issues", delivery_id="i-2")
    fake = dict(repo.issues[found["number"]], user="mallory")
    forged = issues_event("closed", fake, base, person)
    await env.deliver(forged, event="issues", delivery_id="i-3")
    writes = [c for c in env.api_calls(start) if c.split()[0] in ("POST", "PATCH", "PUT")]
    assert writes == []


async def test_an_ancestor_s_run_does_not_move_the_plan_back(env: Env) -> None:
    # main moved on from commit 1 (broken) to its child, commit 2 (fixed); then commit 1's
    # run is re-run ("Re-run jobs" on an old run) or finishes late: stale evidence, not a
    # regression. Commit 1 carries the LATER date (a skewed clock): ancestry decides.
    base = deliver_seed(env, 0, "broken").repo
    c1 = base.commit({".github/ci-truth.yml": PLAN}, branch=base.default_branch)
    c2 = base.commit({"src/loop.py": "fixed"}, branch=base.default_branch)
    old = deliver_seed(env, 1, "broken", head_sha=c1)
    new = deliver_seed(env, 2, "fixed", head_sha=c2)
    repo = new.repo
    t0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    repo.commits[c1].date = t0 + timedelta(hours=1)
    repo.commits[c2].date = t0
    await env.deliver(new.payload, delivery_id="d-2")
    phase = issues(repo)["Phase 1: Foundation"]
    assert phase["state"] == "closed"
    dash = issues(repo)["Plan: Event-loop fix shipped"]
    assert f"commit={c2} time=2026-11-20T09:00:00Z" in dash["body"]

    start = len(env.fake.requests)
    await env.deliver(old.payload, delivery_id="d-1")
    [cr] = [c for c in env.check_runs(repo) if c["head_sha"] == c1]
    assert cr["conclusion"] == "failure"                 # the old commit is still judged
    assert issues(repo)["Phase 1: Foundation"]["state"] == "closed"
    calls = env.api_calls(start)
    assert [c for c in calls if "/compare/" in c] == [      # an ancestor of the recorded
        f"GET /repos/{repo.full_name}/compare/{c2}...{c1}",   # commit, which is on main
        f"GET /repos/{repo.full_name}/compare/{c2}...{repo.default_branch}"]
    writes = [c for c in calls if c.split()[0] in ("POST", "PATCH") and "/issues" in c]
    assert writes == []                                  # no plan issue written

    # another run of the recorded commit (a second workflow, a re-run) is evidence again,
    # and costs no compare request
    again = deliver_seed(env, 3, "broken", head_sha=c2, name="Nightly")
    start = len(env.fake.requests)
    await env.deliver(again.payload, delivery_id="d-3")
    assert issues(repo)["Phase 1: Foundation"]["state"] == "open"
    assert f"actions/runs/{again.run['id']}" in last_comment(repo, phase["number"])
    assert not [c for c in env.api_calls(start) if "/compare/" in c]


async def test_a_future_dated_commit_does_not_freeze_the_plan(env: Env) -> None:
    # a dev machine's clock put commit 1 in 2099; every later commit looks older. Commit 2
    # (its child, dated today) breaks the suite: the phase must reopen (codecov/shared#32)
    base = deliver_seed(env, 0, "broken").repo
    c1 = base.commit({".github/ci-truth.yml": PLAN}, branch=base.default_branch)
    c2 = base.commit({"src/loop.py": "regressed"}, branch=base.default_branch)
    base.commits[c1].date = datetime(2099, 1, 1, tzinfo=UTC)
    base.commits[c2].date = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    fixed = deliver_seed(env, 1, "fixed", head_sha=c1)
    await env.deliver(fixed.payload, delivery_id="d-1")
    repo = fixed.repo
    phase = issues(repo)["Phase 1: Foundation"]
    assert phase["state"] == "closed"
    assert f"commit={c1} time=2099-01-01T00:00:00Z" in issues(repo)[
        "Plan: Event-loop fix shipped"]["body"]

    broken = deliver_seed(env, 2, "broken", head_sha=c2)
    await env.deliver(broken.payload, delivery_id="d-2")
    phase = issues(repo)["Phase 1: Foundation"]
    assert phase["state"] == "open"                      # main is broken: not done
    assert "status: ready" in phase["labels"]
    assert f"actions/runs/{broken.run['id']}" in last_comment(repo, phase["number"])
    assert f"commit={c2} time=2026-11-20T09:00:00Z" in issues(repo)[
        "Plan: Event-loop fix shipped"]["body"]


async def test_an_edit_while_the_head_has_no_ci_keeps_the_recorded_evidence(env: Env) -> None:
    # the fix closed the phases; then a docs-only commit (paths-ignore: no CI) becomes the
    # head, and a person edits the dashboard: the plan stays on the recorded evidence
    fixed = deliver_seed(env, 1, "fixed")
    repo = fixed.repo
    repo.commits[fixed.run["head_sha"]].files[".github/ci-truth.yml"] = PLAN.encode()
    repo.branches[repo.default_branch] = fixed.run["head_sha"]
    for run in (fixed.run, fixed.payload["workflow_run"]):   # the run ended before our check
        run["updated_at"] = "2026-01-05T10:00:00Z"
    await env.deliver(fixed.payload, delivery_id="d-1")
    mine = issues(repo)
    assert mine["Phase 1: Foundation"]["state"] == "closed"
    repo.commit({"README.md": "typo fixed"}, branch=repo.default_branch)
    dash = mine["Plan: Event-loop fix shipped"]
    person = {**fixed.payload["sender"], "login": "octocat", "type": "User"}
    base = {k: fixed.payload[k] for k in ("repository", "installation")}
    start = len(env.fake.requests)
    await env.deliver(issues_event("edited", dash, base, person), event="issues",
                      delivery_id="i-1")
    assert issues(repo)["Phase 1: Foundation"]["state"] == "closed"
    writes = [c for c in env.api_calls(start) if c.split()[0] in ("POST", "PATCH", "PUT")]
    assert writes == []


async def test_an_issue_event_sync_records_the_head_it_evaluated(env: Env) -> None:
    # commit 1 (broken) is recorded; commits 2 (broken) and 3 (fixed) land. Commit 3 was a
    # pull request's head, pushed to main as is (fast-forward): its CI Truth check run, from
    # the PR run, is the head's. A person's close makes the plan sync from commit 3: the
    # dashboard must record commit 3, so commit 2's late run is stale, not "ahead" of 1.
    base = deliver_seed(env, 0, "broken").repo
    c1 = base.commit({".github/ci-truth.yml": PLAN}, branch=base.default_branch)
    c2 = base.commit({"src/loop.py": "still broken"}, branch=base.default_branch)
    c3 = base.commit({"src/loop.py": "fixed"}, branch=base.default_branch)
    first = deliver_seed(env, 1, "broken", head_sha=c1)
    repo = first.repo
    await env.deliver(first.payload, delivery_id="d-1")
    phase = issues(repo)["Phase 1: Foundation"]
    assert phase["state"] == "open"
    pr = deliver_seed(env, 3, "fixed", head_sha=c3, event="pull_request", head_branch="fix")
    repo.add_pull(head_ref="fix", head_sha=c3)
    await env.deliver(pr.payload, delivery_id="d-3")
    assert issues(repo)["Phase 1: Foundation"]["state"] == "open"    # a PR run moves nothing
    person = {**first.payload["sender"], "login": "octocat", "type": "User"}
    dash = issues(repo)["Plan: Event-loop fix shipped"]
    base_keys = {k: first.payload[k] for k in ("repository", "installation")}
    await env.deliver(issues_event("edited", dash, base_keys, person), event="issues",
                      delivery_id="i-1")
    assert issues(repo)["Phase 1: Foundation"]["state"] == "closed"  # the head's evidence
    assert f"commit={c3} " in issues(repo)["Plan: Event-loop fix shipped"]["body"]

    late = deliver_seed(env, 2, "broken", head_sha=c2)
    await env.deliver(late.payload, delivery_id="d-2")
    assert issues(repo)["Phase 1: Foundation"]["state"] == "closed"  # stale: not moved back


async def test_a_marker_naming_a_commit_off_the_default_branch_freezes_nothing(
        env: Env) -> None:
    # a person with write access edits the dashboard's evidence marker to name the tip of a
    # branch main is later fast-forwarded along: main's runs are ancestors of that commit,
    # "behind" it, yet they are the default branch's truth and must move the plan
    base = deliver_seed(env, 0, "broken").repo
    c1 = base.commit({".github/ci-truth.yml": PLAN}, branch=base.default_branch)
    first = deliver_seed(env, 1, "broken", head_sha=c1)
    repo = first.repo
    await env.deliver(first.payload, delivery_id="d-1")
    c2 = repo.commit({"src/loop.py": "fixed"}, branch="develop")
    tip = repo.commit({"src/more.py": "wip"}, branch="develop")
    dash = issues(repo)["Plan: Event-loop fix shipped"]
    dash["body"] = dash["body"].replace(f"commit={c1} ", f"commit={tip} ")
    repo.branches[repo.default_branch] = c2                      # main fast-forwards to c2
    fixed = deliver_seed(env, 2, "fixed", head_sha=c2)
    await env.deliver(fixed.payload, delivery_id="d-2")
    assert issues(repo)["Phase 1: Foundation"]["state"] == "closed"
    assert f"commit={c2} " in issues(repo)["Plan: Event-loop fix shipped"]["body"]  # repaired
