"""The database thread: intake answered after the frame's fsync, indexing retried after errors."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest

from bot.app.recorder import Database, Recorder
from bot.app.store import QUEUED, Record, Store


async def test_a_failed_index_is_logged_retried_and_the_delivery_kept(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = Store(str(tmp_path / "r.db"), sync="NORMAL")
    real_index, failures = store.index, ["database or disk is full"]

    def flaky() -> None:
        if failures and store.pending:
            raise sqlite3.OperationalError(failures.pop())
        real_index()

    store.index = flaky  # type: ignore[method-assign]
    db = Database(store)
    recorder = Recorder(db)
    recorder.start()
    try:
        with caplog.at_level(logging.ERROR, logger="bot.app.recorder"):
            answer = await recorder.record(
                Record("d-1", "push", None, None, None, QUEUED, body=b'{"zen": 1}'))
            assert answer == "new"                 # durable (its frame fsynced) before that
            async with asyncio.timeout(5):
                while failures or "indexing accepted" not in caplog.text:
                    await asyncio.sleep(0.01)      # the idle index ran and failed
        assert "database or disk is full" in caplog.text and "retrying" in caplog.text
        async with asyncio.timeout(5):             # a call indexes first: the retry succeeds
            job = await db.run(store.job, "d-1")
        assert job is not None and job["state"] == QUEUED
    finally:
        await recorder.stop()
        await db.close()


async def test_a_flood_is_indexed_every_index_batch_deliveries_without_a_pause(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.app import recorder as recorder_module

    monkeypatch.setattr(recorder_module, "INDEX_BATCH", 3)
    monkeypatch.setattr(recorder_module, "INDEX_IDLE", 60.0)  # no pause will index in time
    store = Store(str(tmp_path / "r.db"), sync="NORMAL")
    db = Database(store)
    recorder = Recorder(db)
    recorder.start()

    def delivery(n: int) -> Record:
        return Record(f"d-{n}", "push", None, None, None, QUEUED, body=b'{"n": %d}' % n)

    try:
        for n in (1, 2):
            assert await recorder.record(delivery(n)) == "new"
        await asyncio.sleep(0.05)
        assert store.pending == 2                 # below the batch: waits for a pause
        assert await recorder.record(delivery(3)) == "new"
        async with asyncio.timeout(5):            # the third reaches INDEX_BATCH: indexed now
            while store.pending:
                await asyncio.sleep(0.01)
        states = await db.run(lambda: [store.job(f"d-{n}") for n in (1, 2, 3)])
        assert [job["state"] for job in states if job] == [QUEUED] * 3
    finally:
        await recorder.stop()
        await db.close()
