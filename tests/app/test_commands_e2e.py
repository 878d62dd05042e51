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
    comment_event,
    fresh_command_state,  # noqa: F401  (autouse)
    reactions,
    replies,
)
from tests.app.helpers_logic import SECRET, ZERO_TESTS, settings_for
from tests.fakegithub.seed import load_payload, seed_workflow_run
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

