"""Plan issues on the fake GitHub: real REST calls, real scenarios, the App's bot identity.

Scenarios are the real pytest runs of tests/data/plan (the event-loop failure and its fix).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import gidgethub.aiohttp
import pytest

from bot.app.plansync import evidence_from_run, repo_files, sync_from_run, sync_plan
from bot.core.plan import Evaluation, Evidence, Plan, Waiver, evaluate_plan
from bot.core.plan.loader import plan_from_text
from tests.fakegithub.seed import load_payload

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 22, 4, 30, tzinfo=UTC)
BOT = "ci-truth[bot]"


class Client:
    """ports.GitHub over gidgethub for one installation token (test plumbing only)."""

    def __init__(self, session: aiohttp.ClientSession, base: str, token: str) -> None:
        self.api = gidgethub.aiohttp.GitHubAPI(session, "ci-truth-tests", oauth_token=token,
                                               base_url=base)
        self.installation_id = 1

    @staticmethod
    def _url(url: str, url_vars: Mapping[str, Any] | None,
             params: Mapping[str, Any] | None = None) -> str:
        for k, v in (url_vars or {}).items():
            url = url.replace("{" + k + "}", str(v))
        return url + ("?" + urlencode(params) if params else "")

    async def getitem(self, url: str, url_vars: Mapping[str, Any] | None = None, *,
                      params: Mapping[str, Any] | None = None) -> Any:
        return await self.api.getitem(self._url(url, url_vars, params))

    async def getiter(self, url: str, url_vars: Mapping[str, Any] | None = None, *,
                      params: Mapping[str, Any] | None = None,
                      iterable_key: str | None = None) -> AsyncIterator[Any]:
        async for item in self.api.getiter(self._url(url, url_vars, params),
                                           iterable_key=iterable_key):
            yield item

    async def post(self, url: str, url_vars: Mapping[str, Any] | None = None, *,
                   data: Any) -> Any:
        return await self.api.post(self._url(url, url_vars), data=data)

    async def patch(self, url: str, url_vars: Mapping[str, Any] | None = None, *,
                    data: Any) -> Any:
        return await self.api.patch(self._url(url, url_vars), data=data)


def plan() -> Plan:
    p, _ = plan_from_text((ROOT / "examples/plans/portfolio-goap.yml").read_text())
    assert p is not None
    return p


def scenario(name: str, run_id: int, *, waivers: tuple[Waiver, ...] = (),
             files: list[str] | None = None) -> Callable[[frozenset[str]], Evaluation]:
    state = json.loads((ROOT / "tests/data/plan" / name / "state.json").read_text())
    evidence = Evidence(f"https://github.com/octo-org/octo-repo/actions/runs/{run_id}",
                        f"{run_id:040x}", "2026-11-22T04:00:00Z")
    return lambda claimed: evaluate_plan(plan(), state, claimed=claimed, waivers=waivers,
                                         evidence=evidence, repo_files=files)


@pytest.fixture
async def setup(fake_github: Any) -> AsyncIterator[tuple[Any, Any, Client]]:
    repo = fake_github.world.add_repo("octo-org/octo-repo")
    fake_github.world.installations[1].repo_ids.add(repo.id)
    async with aiohttp.ClientSession() as session:
        yield fake_github, repo, Client(session, fake_github.api_url,
                                        fake_github.installation_token(1))


def ours(repo: Any) -> dict[str, dict[str, Any]]:
    return {i["title"]: i for i in repo.issues.values() if i["user"] == BOT}


def comments_on(repo: Any, number: int) -> list[str]:
    return [c["body"] for c in repo.comments.values() if c["issue_number"] == number]


async def test_issues_labels_dashboard_from_the_broken_suite(setup: Any) -> None:
    fake, repo, gh = setup
    result = await sync_plan(gh, "octo-org", "octo-repo", scenario("broken", 101),
                             bot_login=BOT, now=NOW)
    assert result.created == 5
    issues = ours(repo)
    assert len(issues) == 5
    infra = issues["Test infrastructure: no event-loop conflict, 95%+ passing"]
    assert infra["state"] == "open"
    assert set(infra["labels"]) == {"ci-truth plan", "status: ready", "priority: P0"}
    assert "measured `signatures.event_loop = 8`" in infra["body"]
    assert "- [x]" not in infra["body"]
    dash = next(i for t, i in issues.items() if t.startswith("Plan: "))
    assert f"#{infra['number']} Test infrastructure" in dash["body"]
    assert "9 actions, 8 h 40 min of work" in dash["body"] and "```mermaid" in dash["body"]
    assert "runs/101" in dash["body"]
    # a second delivery of the same run writes nothing
    before = len(fake.calls("POST")) + len(fake.calls("PATCH"))
    again = await sync_plan(gh, "octo-org", "octo-repo", scenario("broken", 101),
                            bot_login=BOT, now=NOW)
    assert (again.created, again.edited, again.commented) == (0, 0, 0)
    assert len(fake.calls("POST")) + len(fake.calls("PATCH")) == before


async def test_duplicate_deliveries_at_once_create_each_issue_once(setup: Any) -> None:
    _fake, repo, gh = setup
    await asyncio.gather(*(sync_plan(gh, "octo-org", "octo-repo", scenario("broken", 101),
                                     bot_login=BOT, now=NOW) for _ in range(3)))
    titles = [i["title"] for i in repo.issues.values()]
    assert len(titles) == 5 and len(set(titles)) == 5


async def test_fix_closes_hand_close_reopens_regression_reopens(setup: Any) -> None:
    fake, repo, gh = setup
    title = "Test infrastructure: no event-loop conflict, 95%+ passing"
    await sync_plan(gh, "octo-org", "octo-repo", scenario("broken", 101), bot_login=BOT,
                    now=NOW)
    number = ours(repo)[title]["number"]
    # a person closes the phase by hand, without evidence
    issue = repo.issues[number]
    issue["state"], issue["state_reason"] = "closed", "completed"
    await sync_plan(gh, "octo-org", "octo-repo", scenario("broken", 101), bot_login=BOT,
                    now=NOW)
    assert repo.issues[number]["state"] == "open"
    said = comments_on(repo, number)[-1]
    assert "evidence does not support it" in said and "`signatures.event_loop = 8`" in said
    # the fix lands: every criterion holds on evidence (2151 tests waived for this small suite)
    waive = (Waiver("tests_discovered", "maintainer", "demo suite has 21 tests"),)
    await sync_plan(gh, "octo-org", "octo-repo", scenario("fixed", 102, waivers=waive),
                    bot_login=BOT, now=NOW)
    issue = repo.issues[number]
    assert issue["state"] == "closed" and issue["state_reason"] == "completed"
    assert "status: done" in issue["labels"]
    said = comments_on(repo, number)[-1]
    assert "closing as completed" in said and "runs/102" in said
    assert "**waived** by `maintainer`" in issue["body"]
    ci = ours(repo)["CI/CD pipeline green"]
    assert "status: ready" in ci["labels"]
    # the next default-branch run regresses
    await sync_plan(gh, "octo-org", "octo-repo", scenario("broken", 103, waivers=waive),
                    bot_login=BOT, now=NOW)
    issue = repo.issues[number]
    assert issue["state"] == "open" and "status: ready" in issue["labels"]
    said = comments_on(repo, number)[-1]
    assert said.startswith("Reopened: a later default-branch run broke")
    assert "`signatures.event_loop = 8`" in said and "runs/103" in said
    assert not fake.unexpected


async def test_people_issues_are_never_touched_and_ticks_are_kept(setup: Any) -> None:
    _fake, repo, gh = setup
    await sync_plan(gh, "octo-org", "octo-repo", scenario("broken", 101), bot_login=BOT,
                    now=NOW)
    dash = next(i for t, i in ours(repo).items() if t.startswith("Plan: "))
    infra_body = ours(repo)["Test infrastructure: no event-loop conflict, 95%+ passing"]["body"]
    theirs = repo.add_issue("copy", infra_body, user="alice")
    # a maintainer ticks a claimed fact on the dashboard
    dash["body"] = dash["body"].replace("- [ ] `conflict_mechanism_understood` (claimed)",
                                        "- [x] `conflict_mechanism_understood` (claimed)")
    result = await sync_plan(gh, "octo-org", "octo-repo", scenario("broken", 101),
                             bot_login=BOT, now=NOW)
    assert result.evaluation is not None
    assert result.evaluation.path.critical_path[0] == "design_test_fixture_solution"
    assert "- [x] `conflict_mechanism_understood` (claimed)" in dash["body"]
    assert "8 actions, 8 h 10 min of work" in dash["body"]
    assert repo.issues[theirs["number"]]["body"] == infra_body
    assert repo.issues[theirs["number"]]["state"] == "open"


async def test_files_on_the_default_branch_feed_document_criteria(setup: Any) -> None:
    _fake, repo, gh = setup
    sha = repo.commit({"README.md": "x",
                       "docs/planning/GOAP_PORTFOLIO_READINESS_COMPLETION.md": "done"})
    files = await repo_files(gh, "octo-org", "octo-repo", sha)
    assert files is not None and "docs/planning/GOAP_PORTFOLIO_READINESS_COMPLETION.md" in files
    assert "docs" not in files and "docs/planning" not in files          # blobs only
    result = await sync_plan(gh, "octo-org", "octo-repo",
                             scenario("broken", 104, files=files), bot_login=BOT, now=NOW)
    assert result.evaluation is not None
    docs = result.evaluation.phases[3]
    assert docs.criteria[0].met and docs.criteria[0].value == f"files: {len(files)} paths"
    issue = ours(repo)["Documented, patterns stored, portfolio ready"]
    assert issue["state"] == "closed"                 # done on evidence, closed with evidence
    assert "closing as completed" in comments_on(repo, issue["number"])[-1]


async def test_sync_from_a_default_branch_run(setup: Any) -> None:
    _fake, repo, gh = setup
    sha = repo.commit({"docs/planning/GOAP_PORTFOLIO_READINESS_COMPLETION.md": "done"})
    stored = repo.add_run(head_sha=sha, name="test-fast", conclusion="success")
    run = await gh.getitem(f"/repos/octo-org/octo-repo/actions/runs/{stored['id']}")
    state = json.loads((ROOT / "tests/data/plan/fixed/state.json").read_text())
    result = await sync_from_run(gh, "octo-org", "octo-repo", plan(), state, run,
                                 bot_login=BOT, now=NOW)
    ev = result.evaluation
    assert ev is not None and ev.evidence.sha == sha
    assert ev.evidence.run_url == f"https://github.com/octo-org/octo-repo/actions/runs/{run['id']}"
    ci = next(c for p in ev.phases for c in p.criteria if c.id == "ci_cd_green")
    assert not ci.met and "test-fast\"].conclusion = 'success'" in ci.value
    assert ci.reason == "no run of workflow 'test-full' in the evidence"
    docs = ours(repo)["Documented, patterns stored, portfolio ready"]
    assert docs["state"] == "closed"                  # the file is on the default branch
    dash = next(i for t, i in ours(repo).items() if t.startswith("Plan: "))
    assert f"[workflow run]({ev.evidence.run_url})" in dash["body"] and sha[:12] in dash["body"]


async def test_labels_spelled_differently_in_the_repo_are_ours_and_stable(setup: Any) -> None:
    # GitHub label names ignore case: the repository's existing spelling is attached
    fake, repo, gh = setup
    for name in ("CI-Truth plan", "Priority: P0", "Status: Ready"):
        repo.ensure_label(name)
    await sync_plan(gh, "octo-org", "octo-repo", scenario("broken", 101), bot_login=BOT,
                    now=NOW)
    title = "Test infrastructure: no event-loop conflict, 95%+ passing"
    infra = ours(repo)[title]
    assert set(infra["labels"]) == {"CI-Truth plan", "Status: Ready", "Priority: P0"}
    before = len(fake.calls("PATCH"))
    again = await sync_plan(gh, "octo-org", "octo-repo", scenario("broken", 101),
                            bot_login=BOT, now=NOW)
    assert (again.created, again.edited, again.commented) == (0, 0, 0)
    assert len(fake.calls("PATCH")) == before
    # the phase moves on: the old status label goes, whatever its spelling
    waive = (Waiver("tests_discovered", "maintainer", "demo suite has 21 tests"),)
    await sync_plan(gh, "octo-org", "octo-repo", scenario("fixed", 102, waivers=waive),
                    bot_login=BOT, now=NOW)
    assert set(ours(repo)[title]["labels"]) == {"CI-Truth plan", "status: done", "Priority: P0"}


def test_evidence_is_dated_by_the_run_s_head_commit() -> None:
    run = load_payload("workflow_run.completed")["workflow_run"]
    assert evidence_from_run(run).commit_time == "2020-10-05T16:32:07Z"
    shifted = {**run, "head_commit": {**run["head_commit"],
                                      "timestamp": "2020-10-05T12:32:07-04:00"}}
    assert evidence_from_run(shifted).commit_time == "2020-10-05T16:32:07Z"
    for bad in ({**run, "head_commit": None}, {**run, "head_commit": {"timestamp": "soon"}},
                {**run, "head_sha": "main"}):
        assert evidence_from_run(bad).commit_time == ""       # undated: never stale


INFRA = "Test infrastructure: no event-loop conflict, 95%+ passing"
WAIVE = (Waiver("tests_discovered", "maintainer", "demo suite has 21 tests"),)


async def sync_run(gh: Any, repo: Any, sha: str, name: str) -> Any:
    """A default-branch run of `sha` as GitHub serves it, synced on scenario `name`."""
    stored = repo.add_run(head_sha=sha, conclusion="success" if name == "fixed" else "failure")
    run = await gh.getitem(f"/repos/octo-org/octo-repo/actions/runs/{stored['id']}")
    state = json.loads((ROOT / "tests/data/plan" / name / "state.json").read_text())
    return await sync_from_run(gh, "octo-org", "octo-repo", plan(), state, run, bot_login=BOT,
                               now=NOW, waivers=WAIVE)


def dashboard_body(repo: Any) -> str:
    return str(next(i for t, i in ours(repo).items() if t.startswith("Plan: "))["body"])


async def test_a_rebase_merged_commit_dated_before_the_recorded_one_applies(setup: Any) -> None:
    # "Rebase and merge" keeps the author date: the newly merged commit (a child of the
    # recorded one) is dated days before it. It breaks the suite: the phase reopens.
    fake, repo, gh = setup
    fix = repo.commit({"src/loop.py": "fixed"})
    merged = repo.commit({"src/loop.py": "regressed"})
    repo.commits[fix].date = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    repo.commits[merged].date = datetime(2026, 11, 18, 8, 0, tzinfo=UTC)
    await sync_run(gh, repo, fix, "fixed")
    assert ours(repo)[INFRA]["state"] == "closed"
    assert f"commit={fix} time=2026-11-21T12:00:00Z" in dashboard_body(repo)
    result = await sync_run(gh, repo, merged, "broken")
    infra = ours(repo)[INFRA]
    assert infra["state"] == "open" and "status: ready" in infra["labels"]
    assert not result.stale
    assert comments_on(repo, infra["number"])[-1].startswith(
        "Reopened: a later default-branch run broke")
    assert f"commit={merged} time=2026-11-18T08:00:00Z" in dashboard_body(repo)
    assert [r.path for r in fake.calls("GET", r"/compare/")] == [
        f"/repos/octo-org/octo-repo/compare/{fix}...{merged}"]


async def test_an_ancestor_is_stale_the_recorded_commit_is_not(setup: Any) -> None:
    fake, repo, gh = setup
    old = repo.commit({"src/loop.py": "broken"})
    head = repo.commit({"src/loop.py": "fixed"})
    repo.commits[old].date = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)   # dated after its child
    repo.commits[head].date = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    await sync_run(gh, repo, head, "fixed")
    assert ours(repo)[INFRA]["state"] == "closed"
    writes = len(fake.calls("POST")) + len(fake.calls("PATCH"))
    # a re-run of the old commit's run finishes: a strict ancestor, nothing written
    result = await sync_run(gh, repo, old, "broken")
    assert ours(repo)[INFRA]["state"] == "closed"
    assert len(fake.calls("POST")) + len(fake.calls("PATCH")) == writes
    assert result.stale and (result.created, result.edited, result.commented) == (0, 0, 0)
    assert len(fake.calls("GET", r"/compare/")) == 1
    # another run of the recorded commit is evidence, and costs no compare request
    result = await sync_run(gh, repo, head, "broken")
    assert not result.stale and ours(repo)[INFRA]["state"] == "open"
    assert len(fake.calls("GET", r"/compare/")) == 1


async def test_when_github_cannot_compare_the_run_applies(setup: Any,
                                                          caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    fake, repo, gh = setup
    root = repo.branches["main"]
    fix = repo.commit({"src/loop.py": "fixed"})
    await sync_run(gh, repo, fix, "fixed")
    assert ours(repo)[INFRA]["state"] == "closed"
    # a force-push rewrote main: the recorded commit is gone (compare: 404)
    del repo.commits[fix]
    repo.branches["main"] = root
    rewritten = repo.commit({"src/loop.py": "regressed"})
    await sync_run(gh, repo, rewritten, "broken")
    assert ours(repo)[INFRA]["state"] == "open"
    assert f"commit={rewritten}" in dashboard_body(repo)
    assert "failed (404); the run applies" in caplog.text
    # rewritten again, the recorded commit kept: the histories diverged, the new run applies
    repo.branches["main"] = root
    again = repo.commit({"src/loop.py": "fixed again"})
    await sync_run(gh, repo, again, "fixed")
    assert ours(repo)[INFRA]["state"] == "closed"
    # GitHub fails (5xx): the run applies
    fake.inject("GET", r"/compare/", 500)
    later = repo.commit({"src/loop.py": "broken again"})
    await sync_run(gh, repo, later, "broken")
    assert ours(repo)[INFRA]["state"] == "open"
    assert "failed (500); the run applies" in caplog.text
    assert [r.status for r in fake.calls("GET", r"/compare/")] == [404, 200, 500]


async def test_a_plan_of_long_escaped_text_still_syncs(setup: Any) -> None:
    # text that escapes 4-5x (< &) within the schema's caps: a phase body of 183,000 and a
    # closing comment of 70,000 characters, refused by GitHub (422), so the plan never synced
    fake, repo, gh = setup
    lines = ["plan:", "  goal: big", "  phases:", "    - id: ph0", "      title: wide",
             f"      description: {json.dumps('&' * 20_000)}", "      criteria:",
             "        - id: c0", "          name: n", "          expr: tests.failed == 0",
             "    - id: ph1", "      title: long", "      criteria:"]
    for i in range(60):
        lines += [f"        - id: d{i}", f"          name: {json.dumps('&' * 200)}",
                  f"          expr: tests.total >= {i - 1000}"]
    lines.append("  actions:")
    for i in range(200):
        lines += [f"    - id: a{i}", f"      name: {json.dumps('<&' * 100)}", "      cost: 1h",
                  "      effects: [c0]"]
    big, errors = plan_from_text("\n".join(lines) + "\n")
    assert big is not None, errors
    state = json.loads((ROOT / "tests/data/plan/broken/state.json").read_text())
    evidence = Evidence("https://github.com/octo-org/octo-repo/actions/runs/9", "9" * 40,
                        "2026-11-22T04:00:00Z")
    result = await sync_plan(gh, "octo-org", "octo-repo",
                             lambda claimed: evaluate_plan(big, state, claimed=claimed,
                                                           evidence=evidence),
                             bot_login=BOT, now=NOW)
    assert result.created == 3
    wide, long = ours(repo)["wide"], ours(repo)["long"]
    assert "more planned actions not shown (body size limit)" in wide["body"]
    assert long["state"] == "closed" and long["state_reason"] == "completed"
    said = comments_on(repo, long["number"])[-1]
    assert said.startswith("All criteria") and "more criteria not shown" in said
    assert not [c for c in fake.calls("POST") + fake.calls("PATCH") if c.status >= 400]
