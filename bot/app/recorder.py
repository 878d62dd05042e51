"""Async access to the store: one database thread, and group commit for webhook intake."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from bot.app import intake
from bot.app.store import Record, Store

P = ParamSpec("P")
T = TypeVar("T")


class Database:
    """Runs every Store call on one dedicated thread (SQLite and fsync stay off the loop)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ci-truth-db")

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``fn(*args, **kwargs)`` run on the database thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, lambda: fn(*args, **kwargs))

    async def close(self) -> None:
        """Finish pending calls, then close the database."""
        await self.run(self.store.close)
        self._thread.shutdown(wait=True)


UNAUTHORIZED = "unauthorized"

_Pending = tuple[Record, "str | None", "asyncio.Future[str]"]


class Recorder:
    """Group commit: records queued within ``interval`` share one transaction (one fsync).

    ``await record(r)`` returns only after the transaction holding ``r`` committed, so the
    webhook's 202 still follows a durable write. With ``signature=``, the body's HMAC is
    checked on the database thread just before the batch is written (hashlib releases the
    GIL, so the event loop keeps serving); a body that fails is never written and comes
    back as ``"unauthorized"``.
    """

    def __init__(self, db: Database, *, interval: float = 0.002, secret: bytes = b"") -> None:
        self.db = db
        self.interval = interval
        self._secret = secret
        self._pending: list[_Pending] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self._closing = False

    def start(self) -> None:
        """Start the writer task."""
        self._task = asyncio.get_running_loop().create_task(self._writer(), name="recorder")

    @property
    def alive(self) -> bool:
        """Whether the writer task runs."""
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        """Flush what is pending, then stop the writer."""
        if self._task is None:
            return
        self._closing = True
        self._wake.set()
        await self._task
        self._task = None

    async def record(self, record: Record, *, signature: str | None = None) -> str:
        """Durably record a delivery; returns new, duplicate, requeued or unauthorized.

        ``signature`` (the X-Hub-Signature-256 header) is verified against the body first;
        without it the record is trusted (the caller verified it).
        """
        if self._task is None or self._closing:
            raise RuntimeError("recorder is not running")
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending.append((record, signature, fut))
        self._wake.set()
        return await fut

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            if self.interval and not self._closing:
                await asyncio.sleep(self.interval)
            self._wake.clear()
            batch, self._pending = self._pending, []
            if batch:
                await self._flush(batch)
            if self._closing and not self._pending:
                return

    async def _flush(self, batch: list[_Pending]) -> None:
        try:
            results = await self.db.run(self._write, [(r, sig) for r, sig, _ in batch])
        except Exception as exc:  # every waiter learns the batch failed (→ 503)
            for _, _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        self.batches += 1
        for (_, _, fut), result in zip(batch, results, strict=True):
            if not fut.done():
                fut.set_result(result)

    def _write(self, batch: list[tuple[Record, str | None]]) -> list[str]:
        """On the database thread: verify signatures, then record what verified."""
        results = [UNAUTHORIZED] * len(batch)
        keep = [i for i, (r, sig) in enumerate(batch)
                if sig is None or intake.verify_signature(self._secret, r.body, sig)]
        if keep:
            stored = self.db.store.record_batch([batch[i][0] for i in keep])
            for i, result in zip(keep, stored, strict=True):
                results[i] = result
        return results


class KV:
    """Small JSON key-value state for handlers (``ctx.extras["kv"]``): check-run ids etc."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, namespace: str, key: str) -> Any:
        """The stored JSON value, or None."""
        raw = await self._db.run(self._db.store.kv_get, namespace, key)
        return None if raw is None else json.loads(raw)

    async def put(self, namespace: str, key: str, value: Any) -> None:
        """Store a JSON-serialisable value durably."""
        await self._db.run(self._db.store.kv_put, namespace, key, json.dumps(value))

    async def delete(self, namespace: str, key: str | None = None) -> None:
        """Delete a value, or the whole namespace."""
        await self._db.run(self._db.store.kv_delete, namespace, key)
