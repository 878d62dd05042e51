"""Comment commands end to end: signed payload → real server → store → worker → dispatch →
the real GitHub client → the fake GitHub. Nothing here is mocked.

Payloads: the corpus's `workflow_run.completed` (seeded by tests.fakegithub.seed) and its
`issue_comment.created`, adapted to a pull request (`issue.pull_request` added).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.app.handlers import handle
from bot.app.intake import signature_for
from bot.app.server import DB, create_app
from tests.app.helpers_commands import (
    PLAN_FOUNDATION_SCALE,
    comment_event,
    fresh_command_state,  # noqa: F401  (autouse)
    reactions,
    replies,
)
from tests.app.helpers_logic import HEALTHY, SECRET, SMALL, ZERO_TESTS, settings_for
from tests.fakegithub.seed import load_payload, seed_workflow_run, zip_reports
from tests.fakegithub.server import FakeGitHub


class Running:
    """The App behind its real HTTP intake, and the fake GitHub it talks to."""

    def __init__(self, client: Any, fake: FakeGitHub) -> None:
        self.client, self.fake, self.n = client, fake, 0

    async def post(self, payload: dict[str, Any], event: str) -> str:
        self.n += 1
        delivery = f"cmd-e2e-{self.n}"
        raw = json.dumps(payload).encode()
        resp = await self.client.post("/webhook", data=raw, headers={
            "Content-Type": "application/json", "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery, "User-Agent": "GitHub-Hookshot/e2e",
            "X-Hub-Signature-256": signature_for(SECRET.encode(), raw)})
        assert resp.status == 202, await resp.text()
        return delivery

    async def settle(self, delivery: str, timeout: float = 30.0) -> dict[str, Any]:
        db = self.client.server.app[DB]
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            row = await db.run(db.store.job, delivery)
            if row is not None and row["state"] not in ("queued", "running"):
                return dict(row)
            assert loop.time() < end, f"job not finished: {row}"
            await asyncio.sleep(0.05)


@pytest.fixture
async def running(fake_github: FakeGitHub, tmp_path: Path,
                  aiohttp_client: Callable[..., Awaitable[Any]]) -> Running:
    client = await aiohttp_client(create_app(settings_for(fake_github, tmp_path),
                                             handler=handle))
    return Running(client, fake_github)


async def test_status_and_recheck_through_the_real_server(running: Running) -> None:
    fake = running.fake
    payload = load_payload("workflow_run.completed")
    payload["workflow_run"].update(event="pull_request", name="CI")
    seeded = seed_workflow_run(fake.world, payload, reports={"junit.xml": ZERO_TESTS})
    n = seeded.repo.add_pull(head_ref="feature", head_sha=seeded.run["head_sha"])["number"]
    assert (await running.settle(await running.post(seeded.payload, "workflow_run")))[
        "state"] == "done"
    seeded.repo.set_permission("maintainer", "write", "maintain")
    asked = comment_event(fake, seeded.repo, n, "/truth status\n@ci-truth recheck",
                          user="maintainer")
    row = await running.settle(await running.post(asked, "issue_comment"))
    assert row["state"] == "done", row
    assert reactions(seeded.repo, asked["comment"]["id"]) == ["eyes"]
    [reply] = replies(fake, seeded.repo, n)
    assert "`zero-tests`" in reply["body"] and "Rechecked" in reply["body"]
    edited = comment_event(fake, seeded.repo, n, "/truth recheck", user="maintainer",
                           action="edited")
    await running.settle(await running.post(edited, "issue_comment"))
    assert len(replies(fake, seeded.repo, n)) == 1                     # edits are ignored



async def test_a_recheck_racing_another_workflows_completion_keeps_its_red_evidence(
        running: Running) -> None:
    """`/truth recheck` (key: the PR) and another workflow's `completed` on the PR head (key:
    the SHA) run at once on the worker's slots. The recheck read the check run before that
    run's evidence was recorded; written last, it must not replace the red result with the
    green one of the older evidence alone (a false green)."""
    from bot.core import checkrun

    fake = running.fake
    payload = load_payload("workflow_run.completed")
    payload["workflow_run"].update(event="pull_request", name="CI")
    seeded = seed_workflow_run(fake.world, payload, reports={"junit.xml": HEALTHY})
    sha = seeded.run["head_sha"]
    n = seeded.repo.add_pull(head_ref="feature", head_sha=sha)["number"]
    assert (await running.settle(await running.post(seeded.payload, "workflow_run")))[
        "state"] == "done"
    [check] = [c for c in seeded.repo.check_runs.values() if c["name"] == "CI Truth"]
    assert check["conclusion"] == "success"
    lint = seeded.repo.add_run(head_sha=sha, head_branch=seeded.run["head_branch"],
                               name="Lint", path=".github/workflows/lint.yml",
                               event="pull_request")
    seeded.repo.add_job(lint, "lint", conclusion="success")
    seeded.repo.add_artifact(lint, "lint-results", zip_reports({"junit.xml": ZERO_TESTS}))
    completed = json.loads(json.dumps(seeded.payload))
    completed["workflow_run"].update(id=lint["id"], name="Lint", path=lint["path"])
    seeded.repo.set_permission("maintainer", "write", "maintain")
    asked = comment_event(fake, seeded.repo, n, "/truth recheck", user="maintainer")
    # The recheck has read the check run (Lint not in it yet) and asks for the baseline
    # slowly; meanwhile Lint's job judges and writes its red result.
    baseline = r"/commits/master/check-runs$"
    asks = len(fake.calls("GET", baseline))
    fake.inject("GET", baseline, None, delay=1.5, times=1)
    command = await running.post(asked, "issue_comment")
    await fake.wait_until(lambda: len(fake.calls("GET", baseline)) > asks)
    run_job = await running.post(completed, "workflow_run")
    assert (await running.settle(run_job))["state"] == "done"
    assert (await running.settle(command))["state"] == "done"
    assert "Rechecked" in replies(fake, seeded.repo, n)[-1]["body"]
    assert check["conclusion"] == "failure"
    recorded = checkrun.parse_state_block(check["output"]["text"]) or {}
    assert sorted(r["id"] for r in recorded.get("runs") or []) == sorted(
        [seeded.run["id"], lint["id"]])



async def test_an_accept_drop_racing_another_workflows_completion_keeps_its_red_evidence(
        running: Running) -> None:
    """`/truth accept-drop` read the check run before another workflow's red result on the
    same head was written; written last, it must not turn that result green."""
    from bot.core import checkrun

    fake = running.fake
    main = seed_workflow_run(fake.world, reports={"junit.xml": HEALTHY})     # 22 tests
    repo = main.repo
    repo.branches[repo.default_branch] = main.run["head_sha"]
    assert (await running.settle(await running.post(main.payload, "workflow_run")))[
        "state"] == "done"
    payload = load_payload("workflow_run.completed")
    payload["workflow_run"].update(event="pull_request", name="CI", id=main.run["id"] + 5,
                                   head_sha="ef" * 20)
    seeded = seed_workflow_run(fake.world, payload, reports={"junit.xml": SMALL})  # 3 tests
    n = repo.add_pull(head_ref="feature", head_sha="ef" * 20)["number"]
    assert (await running.settle(await running.post(seeded.payload, "workflow_run")))[
        "state"] == "done"
    [check] = [c for c in repo.check_runs.values()
               if c["name"] == "CI Truth" and c["head_sha"] == "ef" * 20]
    assert check["conclusion"] == "failure" and "`test-drop`" in check["output"]["summary"]
    lint = repo.add_run(head_sha="ef" * 20, head_branch=seeded.run["head_branch"],
                        name="Lint", path=".github/workflows/lint.yml", event="pull_request")
    repo.add_job(lint, "lint", conclusion="success")
    repo.add_artifact(lint, "lint-results", zip_reports({"junit.xml": ZERO_TESTS}))
    completed = json.loads(json.dumps(seeded.payload))
    completed["workflow_run"].update(id=lint["id"], name="Lint", path=lint["path"])
    repo.set_permission("maint", "write", "maintain")
    asked = comment_event(fake, repo, n, "/truth accept-drop the gloo tests moved",
                          user="maint")
    # The command reads the PR's head slowly, then the check run while Lint's PATCH (its
    # red verdict) is under way: the command's PATCH queues behind it.
    fake.inject("GET", rf"/pulls/{n}$", None, delay=2.0, times=1)
    fake.inject("PATCH", r"/check-runs/\d+$", None, delay=2.0, times=1)
    command = await running.post(asked, "issue_comment")
    await fake.wait_until(lambda: fake.calls("GET", rf"/pulls/{n}$"))
    run_job = await running.post(completed, "workflow_run")
    assert (await running.settle(run_job))["state"] == "done"
    assert (await running.settle(command))["state"] == "done"
    assert "`empty-report`" in check["output"]["summary"]          # Lint ran no test
    assert check["conclusion"] == "failure"
    recorded = checkrun.parse_state_block(check["output"]["text"]) or {}
    assert sorted(r["id"] for r in recorded.get("runs") or []) == sorted(
        [seeded.run["id"], lint["id"]])

PLAN = PLAN_FOUNDATION_SCALE


async def test_a_waive_racing_a_default_branch_run_keeps_the_waiver(running: Running) -> None:
    """`/truth waive` (key: the phase issue) and a default-branch run's `completed` (key: the
    SHA) sync the same plan issues at once. The run's sync read the waivers before the waiver
    was on record; written last, it must not put the phase back to "not met"."""
    fake = running.fake
    first = seed_workflow_run(fake.world, reports={"junit.xml": HEALTHY})
    repo = first.repo
    head = repo.commit({".github/ci-truth.yml": PLAN}, branch=repo.default_branch)
    payload = load_payload("workflow_run.completed")
    payload["workflow_run"].update(id=first.run["id"] + 1, head_sha=head)
    main = seed_workflow_run(fake.world, payload, reports={"junit.xml": HEALTHY})
    assert (await running.settle(await running.post(main.payload, "workflow_run")))[
        "state"] == "done"
    [scale] = [i for i in repo.issues.values() if "ci-truth:phase id=scale" in i["body"]]
    assert "waived" not in scale["body"]
    nightly = repo.add_run(head_sha=head, head_branch=repo.default_branch, name="Nightly",
                           path=".github/workflows/nightly.yml")
    repo.add_job(nightly, "test", conclusion="success")
    repo.add_artifact(nightly, "nightly-results", zip_reports({"junit.xml": HEALTHY}))
    completed = json.loads(json.dumps(main.payload))
    completed["workflow_run"].update(id=nightly["id"], name="Nightly", path=nightly["path"])
    repo.set_permission("lead", "admin", "admin")
    asked = comment_event(fake, repo, scale["number"], "/truth waive big_suite runs nightly",
                          user="lead", pr=False)
    # Nightly's job has read the waivers (none yet) and asks for the tree slowly; meanwhile
    # the waiver is recorded and the waive's own sync marks the criterion waived.
    tree = r"/git/trees/[0-9a-f]{40}$"
    asks = len(fake.calls("GET", tree))
    fake.inject("GET", tree, None, delay=1.5, times=1)
    run_job = await running.post(completed, "workflow_run")
    await fake.wait_until(lambda: len(fake.calls("GET", tree)) > asks)
    command = await running.post(asked, "issue_comment")
    assert (await running.settle(command))["state"] == "done"
    assert (await running.settle(run_job))["state"] == "done"
    assert "without evidence" in replies(fake, repo, scale["number"])[-1]["body"]
    assert "waived" in repo.issues[scale["number"]]["body"]
