"""The real app with the fake GitHub: deliveries from the fake, a handler writing through gh_for."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from aiohttp.test_utils import TestClient

from bot.app import scopes
from bot.app.ports import AppContext, Delivery, GitHubFor
from bot.app.server import METRICS, create_app
from bot.app.settings import Settings
from tests.fakegithub.seed import seed_workflow_run
from tests.fakegithub.server import FakeGitHub

from .conftest import SECRET


async def check_run_handler(delivery: Delivery, gh_for: GitHubFor, ctx: AppContext) -> None:
    """A minimal idempotent handler: one "CI Truth" check run per head SHA."""
    assert delivery.installation_id is not None
    gh = await gh_for(delivery.installation_id,
                      repository_id=delivery.payload["repository"]["id"], scope=scopes.START)
    run = delivery.payload["workflow_run"]
    repo = {"owner": delivery.payload["repository"]["owner"]["login"],
            "repo": delivery.payload["repository"]["name"], "sha": run["head_sha"]}
    existing = await gh.getitem("/repos/{owner}/{repo}/commits/{sha}/check-runs", repo,
                                params={"check_name": "CI Truth", "app_id": ctx.app_id})
    if existing["total_count"] == 0:
        await gh.post("/repos/{owner}/{repo}/check-runs", repo,
                      data={"name": "CI Truth", "head_sha": run["head_sha"],
                            "status": "completed", "conclusion": "success",
                            "output": {"title": "ok", "summary": "ok"}})


async def test_deliveries_with_faults_give_one_check_run(
        aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], settings: Settings,
        fake_github: FakeGitHub) -> None:
    seeded = seed_workflow_run(fake_github.world, reports={"junit.xml": b"<testsuite/>"})
    app_settings = replace(settings, api_url=fake_github.api_url,
                           app_id=fake_github.world.app.id,
                           private_key=fake_github.key.private_pem)
    client = await aiohttp_client(create_app(app_settings, handler=check_run_handler))
    fake_github.webhook_url = str(client.make_url("/webhook"))
    fake_github.webhook_secret = SECRET
    fake_github.inject("GET", r"/check-runs$", 502)
    fake_github.inject_secondary_rate_limit("POST", r"/check-runs$", retry_after=1)
    for _ in range(3):
        delivered = await fake_github.deliver("workflow_run", seeded.payload, guid="same-guid")
        assert delivered.status == 202
    await fake_github.wait_until(lambda: seeded.repo.check_runs, timeout=15)
    await fake_github.wait_until(
        lambda: client.app[METRICS].jobs.get("done") == 1, timeout=15)
    (check,) = seeded.repo.check_runs.values()
    assert check["conclusion"] == "success" and check["app_id"] == fake_github.world.app.id
    (mint,) = fake_github.calls("POST", r"/access_tokens$")
    assert mint.body == {"repository_ids": [seeded.repo.id],
                         "permissions": {"checks": "write", "contents": "read"}}
    assert [c.status for c in fake_github.calls("POST", r"/check-runs$")] == [403, 201]
