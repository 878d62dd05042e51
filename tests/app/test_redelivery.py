"""The redelivery reconciler against the fake: failed deliveries we never recorded come back."""

from __future__ import annotations

import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from bot.app.github import GitHubClients
from bot.app.metrics import Metrics
from bot.app.ratelimit import RateLimited
from bot.app.recorder import KV, Database
from bot.app.redelivery import MAX_TRIES_PER_GUID, reconcile, run_periodically
from bot.app.server import DB, create_app
from bot.app.settings import Settings
from bot.app.store import QUEUED, Record, Store
from tests.fakegithub.server import FakeGitHub
from tests.fakegithub.state import add_delivery

from .conftest import SECRET
from .test_webhook import Recording


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _payload(sha: str) -> dict[str, Any]:
    return {"action": "completed", "installation": {"id": 1}, "repository": {"id": 5},
            "workflow_run": {"id": 9, "head_sha": sha}}


async def test_startup_reconciler_redelivers_only_unknown_failures(
        aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], settings: Settings,
        fake_github: FakeGitHub) -> None:
    port = _free_port()
    fake_github.webhook_secret = SECRET
    fake_github.webhook_url = f"http://127.0.0.1:{port}/webhook"  # nothing listens yet
    lost = await fake_github.deliver("workflow_run", _payload("a" * 40), guid="lost-1")
    known = await fake_github.deliver("workflow_run", _payload("b" * 40), guid="known-1")
    add_delivery(fake_github.world, "workflow_run", status_code=200, guid="fine-1")
    failures = {d["guid"]: d["id"] for d in fake_github.world.deliveries
                if d["status_code"] != 200}
    assert set(failures) == {"lost-1", "known-1"}, (lost, known)

    app_settings = replace(settings, api_url=fake_github.api_url,
                           app_id=fake_github.world.app.id,
                           private_key=fake_github.key.private_pem)
    store = Store(app_settings.db_path)  # "known-1" reached us by another path earlier
    store.record_batch([Record("known-1", "workflow_run", None, None, None, QUEUED, body=b"{}")])
    store.close()

    handler = Recording()
    client = await aiohttp_client(create_app(app_settings, handler=handler),
                                  server_kwargs={"port": port})
    await fake_github.wait_until(lambda: handler.deliveries, timeout=10)
    await fake_github.settle()
    assert fake_github.world.redeliveries == [failures["lost-1"]]
    assert [d.id for d in handler.deliveries if d.id == "lost-1"] == ["lost-1"]
    (listing,) = fake_github.calls("GET", r"^/app/hook/deliveries$")
    assert listing.query["status"] == "failure" and listing.auth_scheme == "Bearer"
    store_after: Store = client.app[DB].store
    assert store_after.known(["lost-1", "known-1"]) == {"lost-1", "known-1"}


async def test_reconcile_window_newest_attempt_try_cap_and_failed_requests(
        settings: Settings, fake_github: FakeGitHub) -> None:
    world = fake_github.world
    world.clock_offset = -timedelta(days=3, minutes=10)
    add_delivery(world, "workflow_run", status_code=502, guid="too-old")    # GitHub forgot it
    world.clock_offset = -timedelta(hours=2)
    first = add_delivery(world, "workflow_run", status_code=502, guid="twice")
    broken = add_delivery(world, "workflow_run", status_code=0, guid="refused")  # timed out
    world.clock_offset = timedelta(0)
    newest = add_delivery(world, "workflow_run", status_code=500, guid="twice")
    add_delivery(world, "workflow_run", status_code=202, guid="fine")
    app_settings = replace(settings, api_url=fake_github.api_url, app_id=world.app.id,
                           private_key=fake_github.key.private_pem)
    metrics = Metrics()
    store = Store(app_settings.db_path, sync="NORMAL")
    db = Database(store)
    kv = KV(db)
    async with aiohttp.ClientSession() as session:
        app = GitHubClients(session, app_settings, metrics).app
        fake_github.inject("POST", rf"/deliveries/{broken['id']}/attempts$", 502, times=None)
        now = time.time()
        assert await reconcile(app, db, kv, metrics, now=now) == 1
        assert world.redeliveries == [newest["id"]]          # a guid's newest attempt only
        assert first["id"] not in world.redeliveries
        assert metrics.redeliveries == {"requested": 1, "failed": 1}
        for _ in range(5):                                   # our endpoint keeps failing
            await reconcile(app, db, kv, metrics, now=now)
        assert world.redeliveries == [newest["id"]] * MAX_TRIES_PER_GUID
        assert metrics.redeliveries["failed"] == MAX_TRIES_PER_GUID  # "refused" gave up too
        redo = len(fake_github.calls("POST", r"/attempts$"))
        await reconcile(app, db, kv, metrics, now=now)
        assert len(fake_github.calls("POST", r"/attempts$")) == redo  # nothing more to ask
    await db.close()


async def test_a_rate_limit_pauses_the_pass_without_using_up_tries(
        settings: Settings, fake_github: FakeGitHub) -> None:
    world = fake_github.world
    lost = [add_delivery(world, "workflow_run", status_code=502, guid=f"lost-{i}")
            for i in range(3)]
    app_settings = replace(settings, api_url=fake_github.api_url, app_id=world.app.id,
                           private_key=fake_github.key.private_pem)
    metrics = Metrics()
    db = Database(Store(app_settings.db_path, sync="NORMAL"))
    kv = KV(db)
    async with aiohttp.ClientSession() as session:
        app = GitHubClients(session, app_settings, metrics).app
        limit = fake_github.inject_primary_rate_limit("POST", r"/attempts$", reset_in=3600,
                                                      times=None)  # an hour: the job queue's
        assert await reconcile(app, db, kv, metrics, now=time.time()) == 0
        for _ in range(MAX_TRIES_PER_GUID + 1):             # a rate-limited hour of passes
            with pytest.raises(RateLimited):                # that ask GitHub nothing
                await reconcile(app, db, kv, metrics, now=time.time())
        assert len(fake_github.calls("POST", r"/attempts$")) == 1
        assert len(fake_github.calls("GET", r"/app/hook/deliveries")) == 1
        assert metrics.redeliveries == {"rate_limited": 1}
        fake_github.faults.remove(limit)                     # the limit resets
        app.limiter.blocked_until = 0.0                      # at the reset time
        assert await reconcile(app, db, kv, metrics, now=time.time()) == 3
        assert sorted(world.redeliveries) == sorted(d["id"] for d in lost)
    await db.close()


async def test_failed_pings_are_not_redelivered(settings: Settings,
                                                fake_github: FakeGitHub) -> None:
    world = fake_github.world
    add_delivery(world, "ping", status_code=0, installation_id=None, guid="ping-1")
    lost = add_delivery(world, "workflow_run", status_code=502, guid="lost-1")
    app_settings = replace(settings, api_url=fake_github.api_url, app_id=world.app.id,
                           private_key=fake_github.key.private_pem)
    metrics = Metrics()
    db = Database(Store(app_settings.db_path, sync="NORMAL"))
    async with aiohttp.ClientSession() as session:
        app = GitHubClients(session, app_settings, metrics).app
        assert await reconcile(app, db, KV(db), metrics, now=time.time()) == 1
    assert world.redeliveries == [lost["id"]]     # a ping is answered, never recorded
    await db.close()


async def test_retry_counters_are_pruned_after_the_redelivery_window(
        settings: Settings, fake_github: FakeGitHub) -> None:
    now = [time.time() - 4 * 86400]
    store = Store(settings.db_path, sync="NORMAL", clock=lambda: now[0])
    store.kv_put("redelivery", "gone-1", "3")       # GitHub forgot these deliveries
    store.kv_put("check_runs", "1:abc", "42")       # handlers' state is not the reconciler's
    now[0] += 4 * 86400 - 3600
    store.kv_put("redelivery", "recent-1", "1")
    now[0] += 3600
    app_settings = replace(settings, api_url=fake_github.api_url,
                           app_id=fake_github.world.app.id,
                           private_key=fake_github.key.private_pem)
    metrics = Metrics()
    db = Database(store)
    async with aiohttp.ClientSession() as session:
        app = GitHubClients(session, app_settings, metrics).app
        await run_periodically(app, db, KV(db), metrics, interval=0, clock=lambda: now[0],
                               retention_days=7)
    assert store.kv_get("redelivery", "gone-1") is None
    assert store.kv_get("redelivery", "recent-1") == "1"
    assert store.kv_get("check_runs", "1:abc") == "42"
    await db.close()
