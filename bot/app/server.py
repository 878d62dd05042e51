"""The aiohttp application: /webhook intake, /healthz, /metrics, and the lifecycle of its parts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from bot.app import intake
from bot.app.github import GitHubClients
from bot.app.logs import describe
from bot.app.metrics import CONTENT_TYPE, Metrics
from bot.app.ports import AppContext, Handler
from bot.app.recorder import KV, UNAUTHORIZED, Database, Recorder
from bot.app.redelivery import run_periodically
from bot.app.settings import Settings
from bot.app.store import QUEUED, Record, Store
from bot.app.worker import Worker

log = logging.getLogger(__name__)

GitHubFactory = Callable[[aiohttp.ClientSession, Settings, Metrics], GitHubClients]

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
HANDLER: web.AppKey[Handler] = web.AppKey("handler")
FACTORY: web.AppKey[GitHubFactory] = web.AppKey("github_factory")
DB = web.AppKey("db", Database)
RECORDER = web.AppKey("recorder", Recorder)
WORKER = web.AppKey("worker", Worker)
CLIENTS = web.AppKey("clients", GitHubClients)


def _default_factory(session: aiohttp.ClientSession, settings: Settings,
                     metrics: Metrics) -> GitHubClients:
    return GitHubClients(session, settings, metrics)


def create_app(settings: Settings, *, handler: Handler,
               github_factory: GitHubFactory = _default_factory,
               clock: Callable[[], float] = time.time) -> web.Application:
    """The App's web application; its cleanup context owns the store, session and workers."""
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[HANDLER] = handler
    app[FACTORY] = github_factory
    app.cleanup_ctx.append(_make_lifecycle(clock))
    app.router.add_post("/webhook", receive)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


def _make_lifecycle(clock: Callable[[], float]) -> Callable[[web.Application],
                                                              AsyncIterator[None]]:
    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        settings, metrics_ = app[SETTINGS], app[METRICS]
        store = Store(settings.db_path, sync=settings.db_sync, clock=clock)
        db = Database(store)
        recovered = await db.run(store.recover, settings.max_attempts)
        if recovered:
            log.warning("resuming %d job(s) interrupted by a previous stop", recovered)
        session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(),
                                        timeout=aiohttp.ClientTimeout(total=60))
        clients = app[FACTORY](session, settings, metrics_)
        kv = KV(db)
        slug: list[str] = []
        slug_lock = asyncio.Lock()
        extras: dict[str, Any] = {"kv": kv, "settings": settings, "metrics": metrics_}

        async def context() -> AppContext:
            async with slug_lock:
                if not slug:
                    slug.append(await clients.app_slug())
            return AppContext(app_id=settings.app_id, app_slug=slug[0],
                              clock=lambda: datetime.fromtimestamp(clock(), UTC),
                              evict_installation=clients.evict,
                              extras=extras)  # shared by all jobs (handlers keep caches there)

        recorder = Recorder(db, interval=settings.commit_interval,
                            secret=settings.webhook_secret)
        worker = Worker(db, app[HANDLER], clients, context, settings, metrics_,
                        evict=clients.evict, clock=clock)
        app[DB], app[RECORDER], app[WORKER], app[CLIENTS] = db, recorder, worker, clients
        recorder.start()
        worker.start()
        reconciler = asyncio.get_running_loop().create_task(run_periodically(
            clients.app, db, kv, metrics_, interval=settings.redelivery_interval, clock=clock,
            retention_days=settings.retention_days), name="redelivery")
        try:
            yield
        finally:
            reconciler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reconciler
            await recorder.stop()
            await worker.stop()
            await session.close()
            await db.close()

    return lifecycle


async def receive(request: web.Request) -> web.Response:
    """POST /webhook: verify, check, durably record, 202. Errors carry no detail for 401.

    Nothing is recorded, parsed or answered with anything but 401 before the signature
    verifies. On the common path the HMAC runs on the database thread, in the batch that
    records the delivery (``Recorder.record(..., signature=)``), so the event loop does not
    hash 10 KB bodies; the rare paths (bad headers, ping, a full queue) verify here first.
    """
    app = request.app
    settings, metrics_ = app[SETTINGS], app[METRICS]
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        metrics_.delivery("unknown", "too_large")
        raise
    signature = request.headers.get(intake.SIGNATURE_HEADER)
    if signature is None:
        return _unauthorized(metrics_)
    try:
        env = intake.check_headers(request.headers)
        intake.check_body(body)
    except intake.IntakeError as exc:
        if not intake.verify_signature(settings.webhook_secret, body, signature):
            return _unauthorized(metrics_)
        metrics_.delivery("unknown", "rejected")
        return web.Response(status=exc.status, text=exc.reason)
    if env.event == "ping" or app[DB].store.queued >= settings.max_queue:
        if not intake.verify_signature(settings.webhook_secret, body, signature):
            return _unauthorized(metrics_)
        if env.event == "ping":
            metrics_.delivery("ping", "ping")
            return web.json_response({"ok": True, "zen": "ci-truth is listening"})
        metrics_.delivery(env.event, "queue_full")
        return web.Response(status=503, text="queue full")
    # No JSON parse here: the worker parses once (installation, key, ignore decision).
    record = Record(env.delivery_id, env.event, None, None, None, QUEUED, body=body)
    try:
        result = await app[RECORDER].record(record, signature=signature)
    except Exception as exc:  # the batch (or the recorder) failed, maybe before verifying
        if not intake.verify_signature(settings.webhook_secret, body, signature):
            return _unauthorized(metrics_)
        log.error("recording delivery=%s failed: %s", env.delivery_id, describe(exc))
        metrics_.delivery(env.event, "store_error")
        return web.Response(status=503, text="cannot record the delivery")
    if result == UNAUTHORIZED:
        return _unauthorized(metrics_)
    outcome = "duplicate" if result == "duplicate" else "queued"
    metrics_.delivery(env.event, outcome)
    if outcome == "queued":
        app[WORKER].notify()
    log.debug("delivery=%s event=%s outcome=%s", env.delivery_id, env.event, outcome)
    return web.Response(status=202, text=outcome)


def _unauthorized(metrics_: Metrics) -> web.Response:
    metrics_.delivery("unknown", "unauthorized")
    return web.Response(status=401)


async def healthz(request: web.Request) -> web.Response:
    """GET /healthz: 200 while the store writer and the worker scheduler run."""
    app = request.app
    ok = RECORDER in app and WORKER in app and app[RECORDER].alive and app[WORKER].alive
    return web.Response(status=200 if ok else 503, text="ok" if ok else "unhealthy")


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics: Prometheus text exposition."""
    db = request.app[DB]
    states = await db.run(db.store.counts)
    text = request.app[METRICS].render(queue_depth=db.store.queued, job_states=states)
    return web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPE})
