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
