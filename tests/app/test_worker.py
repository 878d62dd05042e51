"""The worker: retries with backoff, final failure with a redacted reason, one job per key."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.app.metrics import Metrics
from bot.app.ports import AppContext, Delivery, GitHubFor
from bot.app.ratelimit import RateLimited
from bot.app.recorder import Database
from bot.app.settings import Settings
from bot.app.store import DONE, FAILED, QUEUED, Record, Store
from bot.app.worker import Worker, backoff, job_key


async def _no_gh(_installation: int) -> object:
    raise AssertionError("not used")


async def _ctx() -> AppContext:
    return AppContext(app_id=1, app_slug="t", clock=lambda: datetime.now(UTC))


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(Store(settings.db_path, sync="NORMAL"))
    yield database
    await database.close()


def _record(delivery: str, key: str) -> Record:
    return Record(delivery, "check_run", "created", 1, 2, QUEUED, key=key,
                  body=b'{"installation": {"id": 1}, "action": "created"}')


async def _until(predicate: object, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_retries_then_final_failure_with_redacted_reason(
        db: Database, settings: Settings) -> None:
    calls: list[str] = []

    async def broken(delivery: Delivery, gh_for: GitHubFor, ctx: AppContext) -> None:
        calls.append(delivery.id)
        raise RuntimeError("token ghs_abcdefghijklmnopqrstuvwxyz0123456789 was refused")

    metrics = Metrics()
    worker = Worker(db, broken, _no_gh, _ctx, replace(settings, max_attempts=3,  # type: ignore[arg-type]
                                                      backoff_base=0.01), metrics)
    db.store.record_batch([_record("d", "k")])
    worker.start()
    await _until(lambda: (db.store.job("d") or {}).get("state") == FAILED)
    await worker.stop()
    row = db.store.job("d")
    assert row is not None and row["attempts"] == 3 and len(calls) == 3
    assert "ghs_" not in str(row["last_error"]) and "[REDACTED]" in str(row["last_error"])
    assert metrics.jobs == {"retried": 2, "failed": 1}


async def test_a_job_over_its_time_limit_fails_saying_so(db: Database,
                                                          settings: Settings) -> None:
    async def hangs(delivery: Delivery, gh_for: GitHubFor, ctx: AppContext) -> None:
        await asyncio.sleep(60)

    worker = Worker(db, hangs, _no_gh, _ctx, replace(settings, max_attempts=1,  # type: ignore[arg-type]
                                                     job_timeout=0.05), Metrics())
    db.store.record_batch([_record("slow", "k")])
    worker.start()
    await _until(lambda: (db.store.job("slow") or {}).get("state") == FAILED)
    await worker.stop()
    row = db.store.job("slow")
    assert row is not None
    assert "longer than CI_TRUTH_JOB_TIMEOUT (0.05 s)" in str(row["last_error"]), row


async def test_same_key_never_runs_concurrently(db: Database, settings: Settings) -> None:
    active: dict[str, int] = {}
    peak: dict[str, int] = {}

    async def slow(delivery: Delivery, gh_for: GitHubFor, ctx: AppContext) -> None:
        key = delivery.id[0]
        active[key] = active.get(key, 0) + 1
        peak[key] = max(peak.get(key, 0), active[key])
        await asyncio.sleep(0.05)
        active[key] -= 1

    worker = Worker(db, slow, _no_gh, _ctx, replace(settings, workers=4), Metrics())  # type: ignore[arg-type]
    db.store.record_batch([_record(f"{k}{i}", k) for i in range(3) for k in "ab"])
    worker.start()
    await _until(lambda: db.store.counts() == {DONE: 6})
    await worker.stop()
    assert peak == {"a": 1, "b": 1}


async def test_rate_limited_job_waits_for_retry_at(db: Database, settings: Settings) -> None:
    now = time.time()

    async def limited(delivery: Delivery, gh_for: GitHubFor, ctx: AppContext) -> None:
        raise RateLimited(now + 3600, "GitHub rate limit (HTTP 403); retry in 3600 s")

    worker = Worker(db, limited, _no_gh, _ctx, settings, Metrics())  # type: ignore[arg-type]
    db.store.record_batch([_record("r", "k")])
    worker.start()
    await _until(lambda: (db.store.job("r") or {}).get("last_error") is not None)
    await worker.stop()
    row = db.store.job("r")
    assert row is not None and row["state"] == QUEUED and row["next_run_at"] >= now + 3600


async def test_installation_deleted_evicts_before_the_handler(db: Database,
                                                              settings: Settings) -> None:
    evicted: list[int] = []

    async def ok(delivery: Delivery, gh_for: GitHubFor, ctx: AppContext) -> None:
        assert evicted == [5]

    worker = Worker(db, ok, _no_gh, _ctx, settings, Metrics(), evict=evicted.append)  # type: ignore[arg-type]
    db.store.record_batch([Record("i", "installation", "deleted", 5, None, QUEUED,
                                  key="installation:5",
                                  body=b'{"action": "deleted", "installation": {"id": 5}}')])
    worker.start()
    await _until(lambda: (db.store.job("i") or {}).get("state") == DONE)
    await worker.stop()
    assert evicted == [5]


def test_backoff_grows_is_capped_and_jittered() -> None:
    rng = random.Random(1)
    delays = [backoff(n, base=2, cap=60, rng=rng) for n in range(1, 9)]
    assert 1 <= delays[0] <= 2 and 8 <= delays[3] <= 16
    assert all(30 <= d <= 60 for d in delays[5:])


def test_job_keys() -> None:
    run = {"repository": {"id": 9}, "workflow_run": {"head_sha": "abc"}}
    check = {"repository": {"id": 9}, "check_run": {"head_sha": "abc"}}
    assert job_key("workflow_run", run, "d") == job_key("check_run", check, "e")
    comment = {"repository": {"id": 9}, "issue": {"number": 4}}
    assert job_key("issue_comment", comment, "d") == "repo:9:issue:4"
    assert job_key("installation", {"installation": {"id": 3}}, "d") == "installation:3"
    assert job_key("push", {}, "d") == "delivery:d"


async def test_a_delivery_claimed_while_its_keys_job_finishes_is_not_stranded(
        db: Database, settings: Settings) -> None:
    """The scheduler's busy keys can be stale: a job's done() may already have run on the
    database thread when the next claim (with that key still listed) runs. A delivery
    prepared in that claim must not be parked behind a job that has already ended."""
    body = (b'{"installation": {"id": 1}, "repository": {"id": 2},'
            b' "workflow_run": {"head_sha": "abc"}}')
    seen: list[str] = []

    async def handler(delivery: Delivery, gh_for: GitHubFor, ctx: AppContext) -> None:
        await asyncio.sleep(0.1)  # the scheduler goes idle meanwhile
        seen.append(delivery.id)

    store = db.store
    real_done = store.done

    def slow_done(job_id: int) -> None:  # a commit that takes a while (fsync)
        real_done(job_id)
        time.sleep(0.3)

    store.done = slow_done  # type: ignore[method-assign]
    worker = Worker(db, handler, _no_gh, _ctx, settings, Metrics())  # type: ignore[arg-type]
    store.record_batch([Record("a", "workflow_run", None, None, None, QUEUED, body=body)])
    worker.start()
    await _until(lambda: seen == ["a"])
    # "b" (same repository and SHA) is accepted while a's done() runs, and the scheduler
    # is woken (by the 202, or by another job ending) before a's done() has returned.
    recorded = asyncio.ensure_future(db.run(
        store.record_batch, [Record("b", "workflow_run", None, None, None, QUEUED, body=body)]))
    await asyncio.sleep(0)
    worker.notify()
    await recorded
    try:
        await _until(lambda: (store.job("b") or {}).get("state") == DONE, timeout=5)
    finally:
        await worker.stop()
    assert seen == ["a", "b"]


@pytest.mark.parametrize("body", [
    b'{"installation": {"id": 18446744073709551616}, "action": "created"}',
    b'{"installation": {"id": 1}, "repository": {"id": 99999999999999999999}}',
    b'{"installation": {"id": 1}, "action": "\\ud800"}',
    b'{"installation": {"id": 1}, "repository": {"id": 2},'
    b' "workflow_run": {"head_sha": "\\udfff"}}',
])
async def test_a_payload_whose_metadata_sqlite_refuses_fails_alone(
        db: Database, settings: Settings, body: bytes) -> None:
    """A signed payload whose ids do not fit SQLite's INTEGER or whose strings are not
    encodable must end as failed, not roll back every claim (which wedges the whole queue:
    the same job is first in line for every later claim, and after every restart)."""
    seen: list[str] = []

    async def handler(delivery: Delivery, gh_for: GitHubFor, ctx: AppContext) -> None:
        seen.append(delivery.id)

    store = db.store
    store.record_batch([Record("poison", "workflow_run", None, None, None, QUEUED, body=body)])
    store.record_batch([_record("good", "k")])
    worker = Worker(db, handler, _no_gh, _ctx, settings, Metrics())  # type: ignore[arg-type]
    worker.start()
    try:
        await _until(lambda: seen == ["good"], timeout=5)
    finally:
        await worker.stop()
    row = store.job("poison")
    assert row is not None and row["state"] == FAILED


async def test_a_due_retry_behind_a_running_job_of_its_key_does_not_spin_the_scheduler(
        db: Database, settings: Settings) -> None:
    """A keyed job due while its key runs is parked, not re-selected (and skipped) forever."""
    started = asyncio.Event()
    release = asyncio.Event()

    async def handler(delivery: Delivery, gh_for: GitHubFor, ctx: AppContext) -> None:
        if delivery.id == "x" and (db.store.job("x") or {}).get("attempts") == 1:
            raise RuntimeError("first attempt fails")
        if delivery.id == "y":
            started.set()
            await release.wait()

    claims = 0
    claim = db.store.claim

    def counting(*args: object, **kwargs: object) -> object:
        nonlocal claims
        claims += 1
        return claim(*args, **kwargs)  # type: ignore[arg-type]

    db.store.claim = counting  # type: ignore[method-assign]
    worker = Worker(db, handler, _no_gh, _ctx, replace(settings, workers=2,  # type: ignore[arg-type]
                                                       backoff_base=0.1), Metrics(),
                    rng=random.Random(0))
    db.store.record_batch([_record("x", "k"), _record("y", "k")])
    worker.start()
    await asyncio.wait_for(started.wait(), 10)
    await asyncio.sleep(0.2)  # x's retry is due now, behind y (key k) that still runs
    before = claims
    await asyncio.sleep(0.5)
    spun = claims - before
    release.set()
    await _until(lambda: (db.store.job("x") or {}).get("state") == DONE)
    await worker.stop()
    assert spun < 10, f"{spun} claims in 0.5 s while nothing could be claimed"


async def test_a_store_error_while_idle_does_not_stop_the_scheduler(
        db: Database, settings: Settings) -> None:
    """SQLite can fail for a moment ("database is locked" after busy_timeout); jobs go on."""
    import sqlite3

    seen: list[str] = []

    async def handler(delivery: Delivery, gh_for: GitHubFor, ctx: AppContext) -> None:
        seen.append(delivery.id)

    failures = 0
    next_due = db.store.next_due

    def flaky() -> float | None:
        nonlocal failures
        if failures == 0:
            failures += 1
            raise sqlite3.OperationalError("database is locked")
        return next_due()

    db.store.next_due = flaky  # type: ignore[method-assign]
    worker = Worker(db, handler, _no_gh, _ctx, settings, Metrics())  # type: ignore[arg-type]
    worker.start()
    await _until(lambda: failures == 1)
    await db.run(db.store.record_batch, [_record("after", "k")])
    worker.notify()
    try:
        await _until(lambda: seen == ["after"], timeout=5)
        assert worker.alive
    finally:
        await worker.stop()


async def test_waiting_for_a_rate_limit_uses_up_no_attempt(db: Database,
                                                           settings: Settings) -> None:
    """A busy installation rate-limits a job more often than max_attempts: it still runs."""
    calls = 0

    async def busy(delivery: Delivery, gh_for: GitHubFor, ctx: AppContext) -> None:
        nonlocal calls
        calls += 1
        if calls <= 4:
            raise RateLimited(time.time() + 0.02, "GitHub rate limit (HTTP 403); retry in 0 s")

    worker = Worker(db, busy, _no_gh, _ctx, replace(settings, max_attempts=2), Metrics())  # type: ignore[arg-type]
    db.store.record_batch([_record("busy", "k")])
    worker.start()
    await _until(lambda: (db.store.job("busy") or {}).get("state") in (DONE, FAILED))
    await worker.stop()
    row = db.store.job("busy")
    assert row is not None and row["state"] == DONE and calls == 5, row
    assert row["attempts"] == 1, row


async def test_a_rate_limit_that_outlasts_githubs_delivery_window_fails_saying_so(
        tmp_path: object, settings: Settings) -> None:
    """Bounded: after 3 days of hourly rate limits the job ends, saying it is not retried."""
    offset = 0.0

    def clock() -> float:
        return time.time() + offset

    db = Database(Store(settings.db_path, sync="NORMAL", clock=clock))
    calls = 0

    async def limited(delivery: Delivery, gh_for: GitHubFor, ctx: AppContext) -> None:
        nonlocal calls, offset
        calls += 1
        offset += 3600                                  # an hour later, the limit is hit again
        raise RateLimited(clock(), "GitHub rate limit (HTTP 403); retry in 3600 s",
                          what="GitHub rate limit (HTTP 403)")

    worker = Worker(db, limited, _no_gh, _ctx, settings, Metrics(), clock=clock)  # type: ignore[arg-type]
    db.store.record_batch([_record("long", "k")])
    worker.start()
    try:
        await _until(lambda: (db.store.job("long") or {}).get("state") == FAILED)
    finally:
        await worker.stop()
        row = db.store.job("long")
        await db.close()
    assert row is not None and 70 <= calls <= 74, (calls, row)
    reason = str(row["last_error"])
    assert "GitHub rate limit (HTTP 403)" in reason and "retry in" not in reason, reason
    assert "3 days" in reason and "not retried" in reason, reason


async def test_a_store_error_saving_a_retry_is_logged_and_the_lease_reruns_the_job(
        db: Database, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """A failed save must not vanish as an unretrieved task exception: the job's id is logged,
    and the job (still running, its lease no longer renewed) is claimed again."""
    import sqlite3

    calls = 0

    async def flaky(delivery: Delivery, gh_for: GitHubFor, ctx: AppContext) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("first attempt fails")

    real_retry = db.store.retry
    refused = 0

    def retry(job_id: int, at: float, error: str) -> None:
        nonlocal refused
        if refused == 0:
            refused += 1
            raise sqlite3.OperationalError("database is locked")
        real_retry(job_id, at, error)

    db.store.retry = retry  # type: ignore[method-assign]
    worker = Worker(db, flaky, _no_gh, _ctx, replace(settings, lease_seconds=0.3), Metrics())  # type: ignore[arg-type]
    db.store.record_batch([_record("s", "k")])
    worker.start()
    try:
        await _until(lambda: (db.store.job("s") or {}).get("state") == DONE)
    finally:
        await worker.stop()
    row = db.store.job("s")
    assert row is not None and calls == 2 and row["attempts"] == 2, row
    [logged] = [r for r in caplog.records if "database is locked" in r.getMessage()]
    assert logged.levelname == "ERROR" and f"job {row['id']}" in logged.getMessage()
    assert "delivery=s" in logged.getMessage()
