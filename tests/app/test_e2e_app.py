"""End to end through the real server: signed real payloads → intake → store → worker → handlers
→ the real GitHub client → the fake GitHub (API + blob host). Nothing here is mocked.

Payloads are the corpus's `workflow_run.completed`, adapted and seeded by tests.fakegithub.seed;
reports are real corpus files. Each test waits for the delivery's job to finish in the store.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app.handlers import handle
from bot.app.intake import signature_for
from bot.app.server import DB, create_app
from tests.app.helpers_logic import (
    HEALTHY,
    PYTEST_MASKED,
    PYTEST_ZERO,
    SECRET,
    ZERO_TESTS,
    settings_for,
)
from tests.fakegithub.seed import load_payload, seed_workflow_run, zip_reports
from tests.fakegithub.server import FakeGitHub

Client = TestClient  # type: ignore[type-arg]


class App:
    """The running App (test client) and the fake it talks to."""

    def __init__(self, client: Any, fake: FakeGitHub) -> None:
        self.client, self.fake = client, fake
        self.n = 0

    async def post(self, payload: dict[str, Any], *, event: str = "workflow_run",
                   delivery: str | None = None) -> str:
        self.n += 1
        delivery = delivery or f"e2e-{self.n}"
        raw = json.dumps(payload).encode()
        resp = await self.client.post("/webhook", data=raw, headers={
            "Content-Type": "application/json", "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery, "User-Agent": "GitHub-Hookshot/e2e",
            "X-Hub-Signature-256": signature_for(SECRET.encode(), raw)})
        assert resp.status in (200, 202), await resp.text()
        return delivery

    async def settle(self, *deliveries: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until every delivery's job is finished (done or failed); return the rows."""
        db = self.client.server.app[DB]
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            rows = [await db.run(db.store.job, d) for d in deliveries]
            if all(r is not None and r["state"] not in ("queued", "running") for r in rows):
                return [dict(r) for r in rows if r is not None]
            assert loop.time() < end, f"jobs not finished: {rows}"
            await asyncio.sleep(0.05)

    def checks(self, repo: Any) -> list[dict[str, Any]]:
        return [c for c in repo.check_runs.values() if c["name"] == "CI Truth"]


@pytest.fixture
async def app(fake_github: FakeGitHub, tmp_path: Path,
              aiohttp_client: Callable[..., Awaitable[Any]]) -> App:
    settings = settings_for(fake_github, tmp_path)
    client = await aiohttp_client(create_app(settings, handler=handle))
    return App(client, fake_github)


async def test_green_run_with_zero_tests_gets_a_failing_check(app: App) -> None:
    seeded = seed_workflow_run(app.fake.world, reports={"pytest-report.xml": PYTEST_ZERO})
    [row] = await app.settle(await app.post(seeded.payload))
    assert row["state"] == "done", row
    [cr] = app.checks(seeded.repo)
    assert cr["conclusion"] == "failure" and cr["output"]["title"].startswith("0 tests ran")


async def test_healthy_run_gets_success(app: App) -> None:
    seeded = seed_workflow_run(app.fake.world, reports={"junit.xml": HEALTHY})
    await app.settle(await app.post(seeded.payload))
    [cr] = app.checks(seeded.repo)
    assert cr["conclusion"] == "success" and cr["output"]["title"] == "22 passed — 1 report"
    # Credentials never went to the blob host; the artifact did come from it.
    blob = app.fake.calls(host="blob")
    assert blob and all("authorization" not in r.headers for r in blob)


async def test_artifact_with_a_mismatched_digest_fails_the_check_naming_it(app: App) -> None:
    seeded = seed_workflow_run(app.fake.world, reports={"junit.xml": HEALTHY})
    (art,) = seeded.artifacts
    listed = app.fake.corrupt_digest(art)       # GitHub lists a sha256 the bytes do not have
    [row] = await app.settle(await app.post(seeded.payload))
    assert row["state"] == "done", row          # a verdict, not a crash
    [cr] = app.checks(seeded.repo)
    assert cr["conclusion"] == "failure"
    text = cr["output"]["summary"] + cr["output"]["text"]
    assert f"{art.name} (artifact not trusted" in text
    assert f"sha256:{listed[7:19]}" in text and "re-run the workflow" in text
    assert "22 passed" not in cr["output"]["title"]      # its tests were not counted
    assert app.fake.calls(host="blob")                   # it was downloaded, then refused
    (mint,) = app.fake.calls("POST", r"/access_tokens$")  # and with the judge's scoped token
    assert mint.body["repository_ids"] == [seeded.repo.id]


async def test_the_same_delivery_three_times_gives_one_check_run(app: App) -> None:
    seeded = seed_workflow_run(app.fake.world, reports={"junit.xml": ZERO_TESTS})
    ids = [await app.post(seeded.payload, delivery="same") for _ in range(3)]
    others = [await app.post(seeded.payload) for _ in range(2)]   # redelivered under new ids
    await app.settle(*set(ids), *others)
    assert len(app.checks(seeded.repo)) == 1
    assert len(app.fake.calls("POST", r"/check-runs$")) == 1


async def test_faults_still_give_one_correct_check_run(app: App) -> None:
    seeded = seed_workflow_run(app.fake.world, reports={"junit.xml": ZERO_TESTS})
    fake = app.fake
    fake.inject("GET", r"/actions/runs/\d+$", 500)
    fake.inject("GET", r"/actions/runs/\d+/artifacts$", 502)
    fake.inject_secondary_rate_limit("GET", r"/attempts/\d+/jobs$", retry_after=1)
    fake.inject_secondary_rate_limit("POST", r"/check-runs$", retry_after=1, status=429)
    fake.inject("GET", r"/contents/", None, delay=1.0)              # slow answer
    [row] = await app.settle(await app.post(seeded.payload), timeout=60)
    assert row["state"] == "done", row
    [cr] = app.checks(seeded.repo)
    assert cr["conclusion"] == "failure" and "`zero-tests`" in cr["output"]["summary"]
    assert [f.hits for f in fake.faults] == [1] * 5, "every injected fault was hit once"


async def test_masked_failure_end_to_end(app: App) -> None:
    seeded = seed_workflow_run(app.fake.world, reports={"report.xml": PYTEST_MASKED}, jobs=[
        {"name": "test", "conclusion": "success", "steps": [("pytest || true", "success")]}])
    await app.settle(await app.post(seeded.payload))
    [cr] = app.checks(seeded.repo)
    assert cr["conclusion"] == "failure" and "`masked-failure`" in cr["output"]["summary"]


async def test_declared_producer_with_a_missing_shard_end_to_end(app: App) -> None:
    payload = load_payload("workflow_run.completed")
    payload["workflow_run"]["name"] = "CI"
    seeded = seed_workflow_run(app.fake.world, payload, raw_artifacts={
        "junit-1": zip_reports({"a.xml": HEALTHY})})
    seeded.repo.commit({".github/ci-truth.yml": "evidence:\n  workflows:\n    - name: CI\n"
                        "      artifacts: ['junit-*']\n      shards: 2\n"},
                       branch=seeded.repo.default_branch)
    await app.settle(await app.post(seeded.payload))
    [cr] = app.checks(seeded.repo)
    assert cr["conclusion"] == "failure" and "1 of 2 shards" in cr["output"]["summary"]


async def test_fork_run_end_to_end(app: App) -> None:
    payload = load_payload("workflow_run.completed")
    payload["workflow_run"]["head_repository"] = dict(
        payload["workflow_run"]["head_repository"], id=payload["repository"]["id"] + 7,
        full_name="mallory/octo-repo", name="octo-repo")
    payload["workflow_run"].update(event="pull_request", pull_requests=[])
    seeded = seed_workflow_run(app.fake.world, payload, reports={"junit.xml": HEALTHY})
    seeded.repo.add_pull(head_ref="x", head_sha=seeded.run["head_sha"],
                         head_repo=app.fake.world.repo("mallory", "octo-repo"))
    await app.settle(await app.post(seeded.payload))
    [cr] = app.checks(seeded.repo)
    assert cr["conclusion"] == "failure"
    assert "`untrusted-evidence`" in cr["output"]["summary"]
    assert "attacker-controlled" in cr["output"]["summary"]


async def test_rest_calls_per_completed_run_in_steady_state(app: App) -> None:
    """Requested then completed for a new push to an open PR, after one earlier run warmed
    the token, ETag and KV caches. Counts every request to the API host (304s included)."""
    world = app.fake.world
    payload = load_payload("workflow_run.completed")
    payload["workflow_run"].update(name="CI", event="pull_request")
    first = seed_workflow_run(world, payload, reports={"junit.xml": HEALTHY})
    first.repo.commit({".github/ci-truth.yml": "evidence:\n  workflows:\n    - name: CI\n"},
                      branch=first.repo.default_branch)
    pr = first.repo.add_pull(head_ref="feature", head_sha=first.run["head_sha"])
    await app.settle(await app.post(first.payload))
    second = load_payload("workflow_run.completed")
    second["workflow_run"].update(name="CI", event="pull_request", id=first.run["id"] + 1,
                                  head_sha="cd" * 20)
    seeded = seed_workflow_run(world, second, reports={"junit.xml": HEALTHY})
    pr["head_sha"] = "cd" * 20
    requested = dict(seeded.payload, action="requested")
    requested["workflow_run"] = dict(seeded.payload["workflow_run"], status="queued",
                                     conclusion=None)
    await app.settle(await app.post(requested))
    start = len(app.fake.requests)
    await app.settle(await app.post(seeded.payload))
    calls = [r for r in app.fake.requests[start:] if r.host == "api"]
    [cr] = [c for c in app.checks(seeded.repo) if c["head_sha"] == "cd" * 20]
    assert cr["conclusion"] == "success"
    described = [f"{r.method} {r.path}" for r in calls]
    assert len(calls) <= 8, described
    assert not [c for c in described if c.startswith("POST")], "no token mint, no new check"


@pytest.mark.parametrize(("status", "body"), [
    (200, b"PK\x03\x04 truncated garbage"),     # corrupt bytes: the digest catches them
    (500, b"blob store unavailable"),           # the blob host fails
])
async def test_a_bad_artifact_download_fails_the_check_with_a_reason(
        app: App, status: int, body: bytes) -> None:
    seeded = seed_workflow_run(app.fake.world, reports={"junit.xml": HEALTHY})
    fault = app.fake.inject("GET", r"^/actions-results/", status, host="blob", body=body)
    [row] = await app.settle(await app.post(seeded.payload))
    assert row["state"] == "done" and fault.hits == 1
    [cr] = app.checks(seeded.repo)
    assert cr["conclusion"] == "failure", "unread evidence is never green"
    assert "`unreadable-report`" in cr["output"]["summary"]


def _uninstall(world: Any, repo: Any) -> None:
    del world.installations[1]


def _suspend(world: Any, repo: Any) -> None:
    world.installations[1].suspended = True


def _deselect(world: Any, repo: Any) -> None:
    world.installations[1].repo_ids.remove(repo.id)


@pytest.mark.parametrize(("change", "reason", "problems"), [
    (_uninstall, "installation 1 no longer exists: the App was uninstalled", ()),
    (_suspend, "installation 1 is suspended", ()),
    (_deselect, "installation 1 no longer covers repository",
     ("not accessible to the parent installation",)),     # the mint's 422
])
async def test_a_job_for_an_installation_gone_fails_at_once_saying_so(
        app: App, change: Callable[[Any, Any], None], reason: str,
        problems: tuple[str, ...]) -> None:
    seeded = seed_workflow_run(app.fake.world, reports={"junit.xml": HEALTHY})
    change(app.fake.world, seeded.repo)
    with app.fake.expecting(*problems):
        [row] = await app.settle(await app.post(seeded.payload))
    assert row["state"] == "failed" and row["attempts"] == 1, row   # no ~30 s of retries
    assert reason in str(row["last_error"]), row
    assert len(app.fake.calls("POST", r"/access_tokens$")) == 1


async def test_a_repository_removed_from_the_installation_evicts_its_cached_tokens(
        app: App) -> None:
    seeded = seed_workflow_run(app.fake.world, reports={"junit.xml": HEALTHY})
    await app.settle(await app.post(seeded.payload))            # the judge's token is cached
    selected = app.fake.world.installations[1].repo_ids
    assert selected is not None
    selected.remove(seeded.repo.id)
    removed = load_payload("all/installation_repositories.removed.2")
    removed["installation"]["id"] = 1
    removed["repositories_removed"] = [{"id": seeded.repo.id, "name": seeded.repo.name}]
    await app.settle(await app.post(removed, event="installation_repositories"))
    rerun = dict(seeded.payload, workflow_run=dict(seeded.payload["workflow_run"]))
    with app.fake.expecting("not accessible to the parent installation"):
        [row] = await app.settle(await app.post(rerun))
    assert row["state"] == "failed" and row["attempts"] == 1, row
    assert "no longer covers repository" in str(row["last_error"]), row


async def test_a_job_failed_while_suspended_runs_again_when_redelivered(app: App) -> None:
    seeded = seed_workflow_run(app.fake.world, reports={"junit.xml": HEALTHY})
    app.fake.world.installations[1].suspended = True
    [row] = await app.settle(await app.post(seeded.payload, delivery="guid-1"))
    assert row["state"] == "failed" and "suspended" in str(row["last_error"])
    app.fake.world.installations[1].suspended = False           # unsuspended, then redelivered
    [row] = await app.settle(await app.post(seeded.payload, delivery="guid-1"))
    assert row["state"] == "done", row
    [cr] = app.checks(seeded.repo)
    assert cr["conclusion"] == "success"


@pytest.mark.parametrize("moved_to", ["octo-org/renamed-repo", "new-owner/octo-repo"])
async def test_a_repository_renamed_or_transferred_before_the_job_is_still_judged(
        app: App, moved_to: str) -> None:
    seeded = seed_workflow_run(app.fake.world, reports={"junit.xml": HEALTHY})
    old = seeded.repo.full_name
    app.fake.world.move_repo(seeded.repo, moved_to)      # the payload still names the old one
    [row] = await app.settle(await app.post(seeded.payload))
    assert row["state"] == "done", row
    [cr] = app.checks(seeded.repo)
    assert cr["conclusion"] == "success", cr["output"]["summary"]
    assert cr["output"]["title"] == "22 passed — 1 report"
    (zip_old, zip_moved) = app.fake.calls("GET", r"/zip$")
    assert zip_old.path.startswith(f"/repos/{old}/") and zip_old.status == 301
    assert zip_moved.path.startswith(f"/repositories/{seeded.repo.id}/")
    assert zip_moved.status == 302 and zip_moved.auth_scheme == "token"   # same origin
    (blob,) = app.fake.calls(host="blob")
    assert blob.status == 200 and "authorization" not in blob.headers


async def test_a_run_deleted_before_its_job_fails_naming_the_request(app: App) -> None:
    seeded = seed_workflow_run(app.fake.world, reports={"junit.xml": HEALTHY})
    app.fake.inject("GET", r"/actions/runs/\d+$", 404, times=None,   # deleted meanwhile
                    body={"message": "Not Found", "documentation_url":
                          "https://docs.github.com/rest/actions/workflow-runs#get-a-workflow-run"})
    [row] = await app.settle(await app.post(seeded.payload), timeout=60)
    assert row["state"] == "failed" and row["attempts"] == 5, row   # a few tries: replication lag
    reason = str(row["last_error"])
    assert (f"GitHub answered HTTP 404 to GET /repos/{seeded.repo.full_name}/actions/runs/"
            f"{seeded.run['id']}: Not Found") in reason, reason
    assert "attempt 5 of 5" in reason and "ghs_" not in reason and "?" not in reason


async def test_a_permission_refused_on_a_call_fails_at_once_naming_the_permission(
        app: App) -> None:
    seeded = seed_workflow_run(app.fake.world, reports={"junit.xml": HEALTHY})
    app.fake.inject("POST", r"/check-runs$", 403, times=None, body={
        "message": "Resource not accessible by integration",
        "documentation_url": "https://docs.github.com/rest/checks/runs#create-a-check-run"})
    [row] = await app.settle(await app.post(seeded.payload))
    assert row["state"] == "failed" and row["attempts"] == 1, row   # it will not fix itself
    reason = str(row["last_error"])
    assert (f"GitHub answered HTTP 403 to POST /repos/{seeded.repo.full_name}/check-runs: "
            "Resource not accessible by integration") in reason, reason
    assert "likely checks: write" in reason and "'judge'" in reason and "not retried" in reason


async def test_jobs_failed_while_suspended_run_again_on_unsuspend(app: App) -> None:
    world = app.fake.world
    payload = load_payload("workflow_run.completed")
    payload["workflow_run"]["name"] = "CI"
    seeded = seed_workflow_run(world, payload, reports={"junit.xml": HEALTHY})
    seeded.repo.commit({".github/ci-truth.yml": "evidence:\n  workflows:\n    - name: CI\n"},
                       branch=seeded.repo.default_branch)
    requested = dict(seeded.payload, action="requested")
    requested["workflow_run"] = dict(seeded.payload["workflow_run"], status="queued",
                                     conclusion=None)
    await app.settle(await app.post(requested))
    [cr] = app.checks(seeded.repo)
    assert cr["status"] == "in_progress"
    world.installations[1].suspended = True
    completed = await app.post(seeded.payload)
    [row] = await app.settle(completed)
    assert row["state"] == "failed" and "queued again when the installation is unsuspended" \
        in str(row["last_error"]), row
    world.installations[1].suspended = False
    unsuspend = load_payload("all/installation.unsuspend.6")     # GitHub's payload
    unsuspend["installation"]["id"] = 1
    [done] = await app.settle(await app.post(unsuspend, event="installation"))
    assert done["state"] == "done", done
    [row] = await app.settle(completed)
    assert row["state"] == "done" and row["attempts"] == 1, row
    [cr] = app.checks(seeded.repo)
    assert cr["status"] == "completed" and cr["conclusion"] == "success"


async def test_jobs_refused_a_permission_run_again_once_it_is_accepted(app: App) -> None:
    world = app.fake.world
    seeded = seed_workflow_run(world, reports={"junit.xml": HEALTHY})
    granted = world.installations[1].permissions
    del granted["actions"]                          # the judge's token needs actions: read
    with app.fake.expecting("permissions requested are not granted"):
        [row] = await app.settle(delivery := await app.post(seeded.payload))
    assert row["state"] == "failed" and row["attempts"] == 1, row
    assert "queued again when the installation accepts new permissions" in str(row["last_error"])
    granted["actions"] = "read"
    accepted = load_payload("all/installation.new_permissions_accepted.4")   # GitHub's payload
    accepted["installation"]["id"] = 1
    await app.settle(await app.post(accepted, event="installation"))
    [row] = await app.settle(delivery)
    assert row["state"] == "done", row
    [cr] = app.checks(seeded.repo)
    assert cr["conclusion"] == "success"


async def test_jobs_of_a_removed_repository_run_again_when_it_is_added_back(app: App) -> None:
    world = app.fake.world
    seeded = seed_workflow_run(world, reports={"junit.xml": HEALTHY})
    elsewhere = load_payload("workflow_run.completed")
    elsewhere["repository"].update(id=seeded.repo.id + 1, name="other",
                                   full_name=f"{seeded.repo.owner}/other")
    elsewhere["workflow_run"]["head_repository"] = elsewhere["repository"]
    other = seed_workflow_run(world, elsewhere, reports={"junit.xml": HEALTHY})
    selected = world.installations[1].repo_ids
    assert selected is not None
    selected.remove(seeded.repo.id)
    selected.remove(other.repo.id)
    with app.fake.expecting("not accessible to the parent installation"):   # the mint's 422
        rows = await app.settle(mine := await app.post(seeded.payload),
                                theirs := await app.post(other.payload))
    for row in rows:
        assert row["state"] == "failed" and row["attempts"] == 1, row
        assert "or the repository is added to it again" in str(row["last_error"]), row
    selected.add(seeded.repo.id)                    # only this one is selected again
    added = load_payload("all/installation_repositories.added.0")     # GitHub's payload
    added["installation"]["id"] = 1
    added["repositories_added"][0].update(id=seeded.repo.id, name=seeded.repo.name,
                                          full_name=seeded.repo.full_name)
    [done] = await app.settle(await app.post(added, event="installation_repositories"))
    assert done["state"] == "done", done
    [row] = await app.settle(mine)
    assert row["state"] == "done" and row["attempts"] == 1, row
    [cr] = app.checks(seeded.repo)
    assert cr["conclusion"] == "success"
    [row] = await app.settle(theirs)                # still removed: not queued again
    assert row["state"] == "failed", row


def _ping_once_started(app: App, started: threading.Event, answered: threading.Event
                      ) -> threading.Thread:
    """A ping delivered from outside, as GitHub sends it, once `started` is set; `answered`
    is set when it got its 200 within GitHub's 10 s."""
    url, raw = str(app.client.make_url("/webhook")), json.dumps(load_payload("ping")).encode()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "ping",
               "User-Agent": "GitHub-Hookshot/e2e", "X-GitHub-Delivery": "ping-1",
               "X-Hub-Signature-256": signature_for(SECRET.encode(), raw)}

    def github() -> None:
        started.wait(30)
        req = urllib.request.Request(url, data=raw, headers=headers)
        with urllib.request.urlopen(req, timeout=10) as resp:   # GitHub's timeout
            if resp.status == 200:
                answered.set()

    sender = threading.Thread(target=github, daemon=True)
    sender.start()
    return sender


PLAN_OVER_FILES = """\
plan:
  goal: Documented
  phases:
    - id: docs
      title: "Phase 1: Docs"
      criteria:
        - id: has_markdown
          name: Some Markdown in the tree
          expr: files.exists(f, f.endsWith(".md"))
"""


async def test_a_plan_looping_over_a_big_tree_never_stops_webhooks_being_answered(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """cel-python walks `files` at ~0.2 ms a path: on the event loop that is seconds with no
    webhook answered (GitHub fails a delivery after 10 s). Off the loop, a webhook is answered
    while the plan is evaluated: here the evaluation waits until a ping sent meanwhile got its
    answer, which can only happen if the loop is free (on the loop it would wait in vain)."""
    from bot.app import plansync

    seeded = seed_workflow_run(app.fake.world, reports={"junit.xml": HEALTHY})
    tree = seeded.repo.commits[seeded.run["head_sha"]].files
    paths = [f"src/pkg{i // 100}/mod{i}.py" for i in range(2000)] + ["docs/guide.md"]
    tree.update(dict.fromkeys(paths, b""))
    seeded.repo.commit({".github/ci-truth.yml": PLAN_OVER_FILES})
    started, answered, waited = threading.Event(), threading.Event(), list[bool]()
    real = plansync.evaluate_plan

    def evaluate_once_a_webhook_was_answered(*args: Any, **kwargs: Any) -> Any:
        started.set()
        waited.append(answered.wait(10))     # False: nothing was answered while we ran
        return real(*args, **kwargs)

    monkeypatch.setattr(plansync, "evaluate_plan", evaluate_once_a_webhook_was_answered)
    sender = _ping_once_started(app, started, answered)
    [row] = await app.settle(await app.post(seeded.payload))
    await asyncio.to_thread(sender.join, 15)
    assert row["state"] == "done", row
    assert waited and all(waited), waited    # every evaluation saw the webhook answered
    [phase] = [i for i in seeded.repo.issues.values() if i["title"] == "Phase 1: Docs"]
    assert phase["state"] == "closed"        # it was evaluated: the .md is there


@pytest.mark.parametrize(("module", "step"), [
    ("bot.app.judging", "digest_problem"),    # sha256 of the downloaded artifact
    ("bot.app.judging", "iter_zip"),          # reading the zip's members
    ("bot.app.judging", "evaluate"),          # parsing the reports (lazily, from the zip)
    ("bot.app.judging", "render_markdown"),   # the check run's details
    ("bot.core.checkrun", "_pack"),           # the zlib state block
    ("bot.app.handlers", "document"),         # the state document the plan sync reads
])
async def test_judging_a_big_artifact_never_stops_webhooks_being_answered(
        app: App, monkeypatch: pytest.MonkeyPatch, module: str, step: str) -> None:
    """Reports parse at ~120 MB/s and an evaluation may read 2 GiB: judging on the event loop
    is seconds to tens of seconds with no webhook answered (GitHub fails a delivery after
    10 s). Each CPU step of judging and publishing waits here until a ping sent meanwhile got
    its answer, which only a free loop can give (on the loop it waits in vain)."""
    import importlib

    seeded = seed_workflow_run(app.fake.world, reports={"junit.xml": HEALTHY})
    started, answered, waited = threading.Event(), threading.Event(), list[bool]()
    where = importlib.import_module(module)
    real = getattr(where, step)

    def step_once_a_webhook_was_answered(*args: Any, **kwargs: Any) -> Any:
        started.set()
        waited.append(answered.wait(10))     # False: nothing was answered while we ran
        return real(*args, **kwargs)

    monkeypatch.setattr(where, step, step_once_a_webhook_was_answered)
    sender = _ping_once_started(app, started, answered)
    [row] = await app.settle(await app.post(seeded.payload))
    await asyncio.to_thread(sender.join, 15)
    assert row["state"] == "done", row
    assert waited and all(waited), waited    # every call saw the webhook answered
    [cr] = app.checks(seeded.repo)           # and the judgement is the usual one
    assert cr["conclusion"] == "success" and cr["output"]["title"] == "22 passed — 1 report"
