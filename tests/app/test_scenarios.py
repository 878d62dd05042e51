"""Repository lifecycles through the real server, worker and the fake GitHub, checked at each
step as a maintainer sees them: the CI Truth check run, the sticky PR comment, command replies,
plan issues and the dashboard.

Payloads are the corpus's `workflow_run.completed` and `issue_comment.created`, adapted to the
runs and PRs each step seeds; reports are real corpus files. Each scenario reads as a story.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from bot.app.handlers import handle
from bot.app.intake import signature_for
from bot.app.server import DB, create_app
from tests.app.helpers_commands import (
    comment_event,
    fresh_command_state,  # noqa: F401  (autouse)
    replies,
)
from tests.app.helpers_logic import HEALTHY, PYTEST_ZERO, SECRET, SMALL, settings_for
from tests.app.test_plan_flow import DATA as PLAN_DATA
from tests.app.test_plan_flow import issues_event
from tests.fakegithub.repo import FakeRepo
from tests.fakegithub.seed import load_payload, zip_reports
from tests.fakegithub.server import FakeGitHub

BOT = "ci-truth[bot]"
TWO_SHARDS = """\
evidence:
  workflows:
    - name: CI
      artifacts: ["junit-*"]
      shards: 2
"""


def fewer_tests(report: Path, keep: float) -> bytes:
    """`report` after its author deleted tests: only the first `keep` share of its testcases
    (the suite's counts follow, as pytest writes them)."""
    text = report.read_text("utf-8")
    cases = re.findall(r"<testcase\b.*?(?:/>|</testcase>)", text, flags=re.S)
    kept = cases[:round(len(cases) * keep)]
    for gone in cases[len(kept):]:
        text = text.replace(gone, "", 1)
    return re.sub(r'\btests="\d+"', f'tests="{len(kept)}"', text).encode()


class Lifecycle:
    """One repository as it lives with the App: pushes, runs, PRs, people, their comments."""

    def __init__(self, client: Any, fake: FakeGitHub, repo: FakeRepo) -> None:
        self.client, self.fake, self.repo = client, fake, repo
        self.n = 0
        self.declared = False           # the config declares the CI workflow's shards

    # -- GitHub sends ---------------------------------------------------------------------
    async def post(self, payload: Mapping[str, Any], event: str) -> dict[str, Any]:
        """Deliver one signed webhook and wait for its job to finish; returns the job row."""
        self.n += 1
        delivery = f"scenario-{self.n}"
        raw = json.dumps(payload).encode()
        resp = await self.client.post("/webhook", data=raw, headers={
            "Content-Type": "application/json", "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery, "User-Agent": "GitHub-Hookshot/scenario",
            "X-Hub-Signature-256": signature_for(SECRET.encode(), raw)})
        assert resp.status == 202, await resp.text()
        db = self.client.server.app[DB]
        loop = asyncio.get_running_loop()
        end = loop.time() + 20
        while True:
            row = await db.run(db.store.job, delivery)
            if row is not None and row["state"] not in ("queued", "running"):
                assert row["state"] == "done", dict(row)
                return dict(row)
            assert loop.time() < end, f"job not finished: {row}"
            await asyncio.sleep(0.02)

    def run_payload(self, run: Mapping[str, Any], action: str = "completed") -> dict[str, Any]:
        """The corpus's workflow_run payload, describing `run` of this repository."""
        body = load_payload("workflow_run.completed")
        body["action"] = action
        repo_doc = body["repository"]
        repo_doc.update(id=self.repo.id, name=self.repo.name, full_name=self.repo.full_name,
                        default_branch=self.repo.default_branch)
        wr = body["workflow_run"]
        head = self.fake.world.repo(*run["_head_repo"].split("/"))
        assert head is not None
        head_doc = dict(wr["head_repository"], id=head.id, name=head.name,
                        full_name=head.full_name)
        pulls = [{"url": f"https://api.github.com/repos/{self.repo.full_name}/pulls/{n}",
                  "id": p["id"], "number": n,
                  "head": {"ref": p["head_ref"], "sha": p["head_sha"],
                           "repo": {"id": head.id, "name": head.name}},
                  "base": {"ref": p["base_ref"], "sha": self.repo.branches[p["base_ref"]],
                           "repo": {"id": self.repo.id, "name": self.repo.name}}}
                 for n, p in self.repo.pulls.items()
                 if p["state"] == "open" and p["head_sha"] == run["head_sha"]
                 and head is self.repo]
        done = action == "completed"
        wr.update(id=run["id"], name=run["name"], path=run["path"], event=run["event"],
                  head_branch=run["head_branch"], head_sha=run["head_sha"],
                  run_attempt=run["run_attempt"], head_repository=head_doc,
                  status="completed" if done else "queued",
                  conclusion=run["conclusion"] if done else None,
                  html_url=f"https://github.com/{self.repo.full_name}/actions/runs/{run['id']}",
                  pull_requests=pulls)
        body["installation"] = {"id": 1, "node_id": "MDIz1"}
        return body

    async def ci(self, sha: str, branch: str, shards: Mapping[str, bytes | Path], *,
                 event: str = "pull_request", conclusion: str = "success") -> dict[str, Any]:
        """Workflow CI runs on `sha`: requested, then completed with one artifact per shard."""
        run = self.repo.add_run(head_sha=sha, head_branch=branch, name="CI", event=event,
                                status="in_progress", conclusion=None)
        await self.post(self.run_payload(run, "requested"), "workflow_run")
        if self.declared:               # a declared producer's check shows while CI runs
            assert self.check(sha)["status"] == "in_progress"
        return await self.finish(run, shards, conclusion)

    async def finish(self, run: dict[str, Any], shards: Mapping[str, bytes | Path],
                     conclusion: str = "success") -> dict[str, Any]:
        """`run` (its current attempt) completes, uploading `shards`."""
        run.update(status="completed", conclusion=conclusion)
        for i in range(1, len(shards) + 1):
            self.repo.add_job(run, f"test ({i})", conclusion=conclusion,
                              steps=[("Run pytest", conclusion)])
        for name, report in shards.items():
            self.repo.add_artifact(run, name, zip_reports({"pytest-report.xml": report}))
        await self.post(self.run_payload(run), "workflow_run")
        return run

    async def rerun(self, run: dict[str, Any], shards: Mapping[str, bytes | Path],
                    conclusion: str = "success") -> dict[str, Any]:
        """A maintainer re-runs the run's jobs: attempt n+1 of the same run."""
        run.update(run_attempt=run["run_attempt"] + 1, status="in_progress", conclusion=None)
        for art in [a for a in self.repo.artifacts.values() if a.run_id == run["id"]]:
            del self.repo.artifacts[art.id]           # the new attempt uploads them again
        return await self.finish(run, shards, conclusion)

    async def say(self, number: int, text: str, *, user: str) -> dict[str, Any]:
        """`user` comments `text` on PR or issue `number`; returns ci-truth's reply (if any)."""
        pr = bool(self.repo.issues[number].get("pull_request"))
        await self.post(comment_event(self.fake, self.repo, number, text, user=user, pr=pr),
                        "issue_comment")
        answers = replies(self.fake, self.repo, number)
        return answers[-1] if answers else {}

    # -- what a maintainer sees -------------------------------------------------------------
    def check(self, sha: str) -> dict[str, Any]:
        [cr] = [c for c in self.repo.check_runs.values()
                if c["name"] == "CI Truth" and c["head_sha"] == sha]
        return cr

    def annotations(self, sha: str) -> list[dict[str, Any]]:
        return self.repo.annotations.get(self.check(sha)["id"], [])

    def sticky(self, number: int) -> list[str]:
        return [c["body"] for c in self.repo.comments.values()
                if c["issue_number"] == number and c["user"] == BOT
                and "ci-truth:pr-comment" in c["body"]]


@pytest.fixture
async def life(fake_github: FakeGitHub, tmp_path: Path,
               aiohttp_client: Callable[..., Awaitable[Any]]) -> Lifecycle:
    repo = fake_github.world.add_repo("octo-org/octo-repo", repo_id=300029405, installation=1,
                                      default_branch="main")
    client = await aiohttp_client(create_app(settings_for(fake_github, tmp_path),
                                             handler=handle))
    return Lifecycle(client, fake_github, repo)


def details(life: Lifecycle, sha: str) -> str:
    """The check run's details (output.text) without its hidden records."""
    return re.sub(r"<!-- ci-truth:[^>]* -->\n?", "", life.check(sha)["output"]["text"])


async def test_a_pull_request_from_a_silent_shard_to_merge_then_an_accepted_drop(
        life: Lifecycle) -> None:
    repo, fake = life.repo, life.fake
    base = repo.commit({".github/ci-truth.yml": TWO_SHARDS, "src/app.py": "x = 1\n"})
    life.declared = True
    await life.ci(base, "main", {"junit-1": HEALTHY, "junit-2": SMALL}, event="push")
    assert life.check(base)["conclusion"] == "success"             # 22 + 3 tests on main

    # 1. A PR is opened. CI is green, but shard 2's pytest collected no test.
    head1 = repo.commit({"tests/conftest.py": "collect_ignore = ['.']\n"}, branch="feature")
    pr = repo.add_pull(head_ref="feature", head_sha=head1, user="author")
    n = pr["number"]
    await life.ci(head1, "feature", {"junit-1": HEALTHY, "junit-2": PYTEST_ZERO})
    cr = life.check(head1)
    assert cr["conclusion"] == "failure"
    assert cr["output"]["title"] == "Empty report — 22 passed"
    summary = cr["output"]["summary"]
    assert "junit-2\\!pytest-report.xml (0 tests)" in summary      # names the silent shard
    assert f"Baseline for `test-drop`: 25 tests at commit `{base[:12]}` on `main`." in summary
    [sticky] = life.sticky(n)
    assert "### ❌ CI Truth: failure" in sticky and "Rules: `empty-report`, `test-drop`" in sticky
    assert f"pull/{n}/checks" in sticky

    # 2. The author pushes a fix: the new head is green, the one comment says so.
    head2 = repo.commit({"tests/conftest.py": None}, branch="feature")
    pr["head_sha"] = head2
    run2 = await life.ci(head2, "feature", {"junit-1": HEALTHY, "junit-2": SMALL})
    assert life.check(head2)["conclusion"] == "success"
    assert life.check(head2)["output"]["title"] == "25 passed — 2 reports"
    [sticky] = life.sticky(n)
    assert "### ✅ CI Truth: success" in sticky and "Rules:" not in sticky
    assert life.check(head1)["conclusion"] == "failure"            # the old head keeps its red

    # 3. A maintainer re-runs the jobs: attempt 2 replaces attempt 1's evidence, same check.
    edits = len(fake.calls("PATCH", r"/issues/comments/\d+$"))
    await life.rerun(run2, {"junit-1": HEALTHY, "junit-2": SMALL})
    cr = life.check(head2)
    assert cr["conclusion"] == "success"
    assert f"run {run2['id']} attempt 2" in cr["output"]["summary"]
    assert len(fake.calls("PATCH", r"/issues/comments/\d+$")) == edits   # nothing new to say

    # 4. The PR is merged; main's run completes: green, and no comment anywhere.
    pr["state"] = "closed"
    merged = repo.commit({"tests/conftest.py": None}, message=f"Merge pull request #{n}")
    await life.ci(merged, "main", {"junit-1": HEALTHY, "junit-2": SMALL}, event="push")
    assert life.check(merged)["conclusion"] == "success"
    assert len(life.sticky(n)) == 1

    # 5. A later PR deletes a third of shard 1's tests: test-drop against the merge.
    drop1 = repo.commit({"test/integration/test_elastic_spark_torch.py": None},
                        branch="cleanup")
    pr2 = repo.add_pull(head_ref="cleanup", head_sha=drop1, user="author")
    m = pr2["number"]
    fewer = fewer_tests(HEALTHY, 0.6)                               # 13 of 22 kept
    run3 = await life.ci(drop1, "cleanup", {"junit-1": fewer, "junit-2": SMALL})
    cr = life.check(drop1)
    assert (cr["conclusion"], cr["output"]["title"]) == ("failure", "Tests vanished — 16 passed")
    assert f"9 of the baseline's 25 tests (commit {merged[:12]} on main)" in \
        cr["output"]["summary"]
    [sticky2] = life.sticky(m)
    assert "Rules: `test-drop`" in sticky2

    # 6. A maintainer accepts the drop: the check turns green and says who accepted it.
    repo.set_permission("maint", "write", "maintain")
    reply = await life.say(m, "/truth accept-drop the old Spark API tests went with it",
                           user="maint")
    assert f"Test-count drop accepted for `{drop1[:12]}` by `maint`" in reply["body"]
    assert "The check is now **success**" in reply["body"]
    cr = life.check(drop1)
    assert (cr["conclusion"], cr["output"]["title"]) == ("success", "16 passed — 2 reports")
    text = details(life, drop1)
    assert text.startswith(f"**Test-count drop accepted** for `{drop1[:12]}` by `maint`")
    assert "## ✅ ci-truth: success" in text                       # the details agree
    assert "ci-truth: failure" not in text and "`test-drop`: 9 of" not in text
    [sticky2] = life.sticky(m)
    assert "### ✅ CI Truth: success" in sticky2

    # 7. A flaky job is re-run on that same head: the acceptance holds, the details agree.
    await life.rerun(run3, {"junit-1": fewer, "junit-2": SMALL})
    cr = life.check(drop1)
    assert cr["conclusion"] == "success" and f"run {run3['id']} attempt 2" in \
        cr["output"]["summary"]
    text = details(life, drop1)
    assert text.startswith(f"**Test-count drop accepted** for `{drop1[:12]}` by `maint`")
    assert "## ✅ ci-truth: success" in text
    assert "ci-truth: failure" not in text and "`test-drop`: 9 of" not in text

    # 8. The next push to the PR: the acceptance lapses, the new head is judged in full.
    drop2 = repo.commit({"README.md": "Spark support removed.\n"}, branch="cleanup")
    pr2["head_sha"] = drop2
    await life.ci(drop2, "cleanup", {"junit-1": fewer, "junit-2": SMALL})
    cr = life.check(drop2)
    assert cr["conclusion"] == "failure" and "accepted" not in cr["output"]["text"]
    [sticky2] = life.sticky(m)
    assert "### ❌ CI Truth: failure" in sticky2 and "Rules: `test-drop`" in sticky2
    status = await life.say(m, "/truth status", user="author")
    assert f"**CI Truth for `{drop2[:12]}`: failure**" in status["body"]
    assert "`test-drop` (`failure`)" in status["body"] and "accepted" not in status["body"]
    assert life.check(drop1)["conclusion"] == "success"             # the accepted head stays


PLAN = """\
signatures:
  event_loop: "This event loop is already running"
plan:
  goal: Event-loop fix shipped
  phases:
    - id: foundation
      title: "Phase 1: Foundation"
      criteria:
        - id: no_event_loop_errors
          name: No event-loop RuntimeError
          expr: signatures.event_loop == 0
        - id: pass_rate_95
          name: Pass rate at least 95%
          expr: tests.pass_rate >= 0.95
    - id: ci
      title: "Phase 2: CI green"
      needs: [foundation]
      criteria:
        - id: ci_green
          name: CI workflow succeeds
          expr: workflows["CI"].conclusion == "success"
    - id: scale
      title: "Phase 3: Scale"
      needs: [ci]
      criteria:
        - id: big_suite
          name: A thousand tests
          expr: tests.total >= 1000
"""
BROKEN = PLAN_DATA / "broken" / "junit.xml"     # pytest: 8 event-loop RuntimeErrors
FIXED = PLAN_DATA / "fixed" / "junit.xml"


def plan_issues(repo: FakeRepo) -> dict[str, dict[str, Any]]:
    return {i["title"]: i for i in repo.issues.values() if i["user"] == BOT}


def said(repo: FakeRepo, number: int) -> list[str]:
    return [c["body"] for c in repo.comments.values() if c["issue_number"] == number]


async def test_a_master_plan_follows_main_through_red_green_a_hand_close_a_waiver_and_a_rerun(
        life: Lifecycle) -> None:
    repo = life.repo
    run_url = f"https://github.com/{repo.full_name}/actions/runs/{{}}".format

    # 1. The plan lands on main with the suite broken: a red check and the plan's issues.
    c1 = repo.commit({".github/ci-truth.yml": PLAN})
    old = await life.ci(c1, "main", {"test-results": BROKEN}, event="push",
                        conclusion="failure")
    cr = life.check(c1)
    assert (cr["conclusion"], cr["output"]["title"]) == (
        "failure", "8 failed — 8 failed, 12 passed, 1 skipped")
    notes = life.annotations(c1)
    assert len(notes) == 8 and {(a["path"], a["annotation_level"]) for a in notes} == {
        ("test_async.py", "failure")}
    assert "This event loop is already running" in notes[0]["message"]
    mine = plan_issues(repo)
    assert sorted(mine) == ["Phase 1: Foundation", "Phase 2: CI green", "Phase 3: Scale",
                            "Plan: Event-loop fix shipped"]
    p1, p2, p3 = (mine[t] for t in ("Phase 1: Foundation", "Phase 2: CI green",
                                    "Phase 3: Scale"))
    dash = mine["Plan: Event-loop fix shipped"]
    assert "status: ready" in p1["labels"] and "status: blocked" in p3["labels"]
    assert "measured `signatures.event_loop = 8`" in p1["body"]
    assert f"evidence commit={c1}" in dash["body"]

    # 2. Another red commit: the same issues, now citing it.
    c2 = repo.commit({"app.py": "loop.run_until_complete(fetch(n))\n"})
    red = await life.ci(c2, "main", {"test-results": BROKEN}, event="push",
                        conclusion="failure")
    assert len(plan_issues(repo)) == 4
    assert f"evidence commit={c2}" in dash["body"] and run_url(red["id"]) in p1["body"]

    # 3. Someone closes phase 1 by hand: reopened at once, saying why, linking the evidence.
    repo.close_issue(p1["number"], by="octocat")
    person = {**load_payload("all/issues.reopened.20")["sender"], "login": "octocat",
              "type": "User"}
    base = {"repository": life.run_payload(red)["repository"],
            "installation": {"id": 1, "node_id": "MDIz1"}}
    await life.post(issues_event("closed", p1, base, person), "issues")
    assert p1["state"] == "open"
    [reopened] = said(repo, p1["number"])
    assert reopened.startswith("Reopened: this issue was closed by `octocat` but the evidence "
                               "does not support it.")
    assert f"[run]({run_url(red['id'])})" in reopened               # a link a person can click

    # 4. The fix lands: phases 1 and 2 close on evidence, phase 3 is ready.
    c3 = repo.commit({"app.py": "await fetch(n)\n"})
    green = await life.ci(c3, "main", {"test-results": FIXED}, event="push")
    assert life.check(c3)["conclusion"] == "success"
    assert (p1["state"], p1["state_reason"], p2["state"]) == ("closed", "completed", "closed")
    assert said(repo, p1["number"])[-1].startswith("All criteria of this phase hold on evidence")
    assert p3["state"] == "open" and "status: ready" in p3["labels"]
    assert f"evidence commit={c3}" in dash["body"]

    # 5. The lead waives phase 3's criterion: shown as waived, never as measured; it closes.
    repo.set_permission("lead", "admin", "admin")
    reply = await life.say(p3["number"], "/truth waive big_suite the nightly job runs those",
                           user="lead")
    assert "accepted as met **without evidence** by `lead`" in reply["body"]
    assert "**waived** by `lead`: the nightly job runs those" in p3["body"]
    assert "- [ ] **A thousand tests**" in p3["body"]               # not ticked
    assert p3["state"] == "closed" and "| #3 Phase 3: Scale | — | ✅ done | 1/1 |" in dash["body"]

    # 6. Someone re-runs the weeks-old red run of c1: its check updates, the plan does not move.
    before = len(repo.comments)
    await life.rerun(old, {"test-results": BROKEN}, "failure")
    assert f"run {old['id']} attempt 2" in life.check(c1)["output"]["summary"]
    assert [p1["state"], p2["state"], p3["state"]] == ["closed"] * 3
    assert f"evidence commit={c3}" in dash["body"] and run_url(green["id"]) in dash["body"]
    assert len(repo.comments) == before


async def test_a_fork_pull_request_under_advisory_then_the_maintainer_ignores_forks(
        life: Lifecycle) -> None:
    repo, world = life.repo, life.fake.world
    base = repo.commit({".github/ci-truth.yml": "evidence:\n  workflows:\n    - name: CI\n"})
    life.declared = True
    await life.ci(base, "main", {"junit": HEALTHY}, event="push")

    # 1. mallory opens a PR from a fork; its CI is green with every test passing.
    fork = world.add_repo("mallory/octo-repo", installation=None, fork_of=repo)
    fork.branches["main"], fork.commits[base] = base, repo.commits[base]
    head = fork.commit({"src/app.py": "x = 2\n"}, branch="patch-1")
    repo.commits[head] = fork.commits[head]
    n = repo.add_pull(head_ref="patch-1", head_sha=head, head_repo=fork, user="mallory")["number"]
    run = repo.add_run(head_sha=head, head_branch="patch-1", name="CI", event="pull_request",
                       status="in_progress", conclusion=None, head_repo=fork)
    await life.post(life.run_payload(run, "requested"), "workflow_run")
    assert life.check(head)["status"] == "in_progress"
    await life.finish(run, {"junit": HEALTHY})
    cr = life.check(head)                          # advisory: shown, and never green
    assert (cr["conclusion"], cr["output"]["title"]) == (
        "failure", "Fork evidence not trusted — 22 passed")
    assert "(fork: attacker-controlled)" in cr["output"]["summary"]
    assert life.sticky(n) == []                    # fork provenance alone: no PR comment

    # 2. The maintainer switches to `forks: ignore` on main and asks for a recheck.
    repo.commit({".github/ci-truth.yml":
                 "evidence:\n  forks: ignore\n  workflows:\n    - name: CI\n"})
    repo.set_permission("maint", "write", "maintain")
    reply = await life.say(n, "/truth recheck", user="maint")
    assert "fork runs are not judged (`evidence.forks: ignore`)" in reply["body"]
    assert "still shows its earlier result" in reply["body"]
    assert "no completed evidence run" not in reply["body"]      # there is one: it is ignored
    assert life.check(head)["conclusion"] == "failure"          # nothing judged, nothing written

    # 3. The next push to the fork PR is not judged at all: no new check run.
    head2 = fork.commit({"src/app.py": "x = 3\n"}, branch="patch-1")
    repo.commits[head2] = fork.commits[head2]
    repo.pulls[n]["head_sha"] = head2
    run2 = repo.add_run(head_sha=head2, head_branch="patch-1", name="CI", event="pull_request",
                        status="in_progress", conclusion=None, head_repo=fork)
    await life.post(life.run_payload(run2, "requested"), "workflow_run")
    await life.finish(run2, {"junit": HEALTHY})
    assert not [c for c in repo.check_runs.values() if c["head_sha"] == head2]
