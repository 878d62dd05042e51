"""Async access to the store: one database thread, and group commit for webhook intake."""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from bot.app import intake
from bot.app.logs import describe
from bot.app.store import Record, Store

log = logging.getLogger(__name__)
P = ParamSpec("P")
INDEX_IDLE = 0.005   # seconds without intake after which accepted deliveries are indexed
INDEX_BATCH = 512    # ... or this many of them, whichever comes first
INDEX_RETRY = 1.0    # seconds before an idle retry after indexing failed
T = TypeVar("T")


class Database:
    """Runs every Store call on one dedicated thread (SQLite and fsync stay off the loop).

    One queue holds two kinds of work: webhook deliveries (``intake``, for ``Recorder``) and
    other calls (``run``). Whenever the thread is free it takes everything queued: the
    deliveries as one batch, so the next batch forms while the current one is written, with
    no round trip through the event loop to start it; then the calls, so claims and state
    reads are never starved by a flood. Accepted deliveries are indexed when intake pauses
    (``INDEX_IDLE``), when ``INDEX_BATCH`` of them wait, and before any call runs.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        # One C-level queue for both kinds of work: put() takes no Python lock, which matters
        # when 64 connections queue deliveries while the thread commits.
        self._queue: queue.SimpleQueue[_Work] = queue.SimpleQueue()
        self._closed = False
        self._retry_at = 0.0  # after an index failed, idle retries wait until then
        self._thread = threading.Thread(target=self._serve, name="ci-truth-db", daemon=True)
        self._thread.start()

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``fn(*args, **kwargs)`` run on the database thread."""
        if self._closed:
            raise RuntimeError("the database is closed")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put((None, (lambda: fn(*args, **kwargs), fut, loop)))
        return await fut

    def intake(self, writer: Callable[[list[_Pending]], None], item: _Pending) -> None:
        """Queue one delivery for the next intake batch, which ``writer`` records."""
        if self._closed:
            raise RuntimeError("the database is closed")
        self._queue.put((writer, item))

    @property
    def alive(self) -> bool:
        """Whether the database thread serves."""
        return self._thread.is_alive() and not self._closed

    def _serve(self) -> None:
        get, get_nowait, empty = self._queue.get, self._queue.get_nowait, self._queue.empty
        while True:
            if self.store.pending:
                wait = max(INDEX_IDLE, self._retry_at - time.monotonic())
                try:  # index once intake pauses (or enough has piled up, below)
                    work = [get(timeout=wait)]
                except queue.Empty:
                    self._index()
                    continue
            else:
                work = [get()]
            while not empty():  # everything queued meanwhile joins this round
                work.append(get_nowait())
            batch: list[_Pending] = []
            calls: list[_Call] = []
            writer = None
            for kind, item in work:
                if kind is None:
                    calls.append(item)
                elif kind is _STOP:
                    self._closed = True
                else:
                    writer = kind
                    batch.append(item)
            if batch and writer is not None:
                writer(batch)
            if calls or self.store.pending >= INDEX_BATCH:
                self._index()  # what a call reads includes every accepted delivery
            for fn, fut, loop in calls:
                try:
                    result = fn()
                except BaseException as exc:  # handed to the awaiting task, not raised here
                    loop.call_soon_threadsafe(_settle, fut, None, exc)
                else:
                    loop.call_soon_threadsafe(_settle, fut, result, None)
            if self._closed:
                return

    def _index(self) -> None:
        try:
            self.store.index()
        except Exception as exc:  # accepted deliveries are durable: a later index retries
            self._retry_at = time.monotonic() + INDEX_RETRY
            log.error("indexing accepted deliveries failed (retrying in %.0f s): %s",
                      INDEX_RETRY, describe(exc))

    async def close(self) -> None:
        """Finish pending calls, then close the database and stop its thread."""
        await self.run(self.store.close)
        self._closed = True
        self._queue.put((_STOP, None))
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)


def _stop(_batch: list[_Pending]) -> None:
    """Marks the end of the database thread's queue."""


_STOP = _stop


def _settle(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if fut.done():  # the awaiting task was cancelled meanwhile
        return
    if exc is None:
        fut.set_result(result)
    else:
        fut.set_exception(exc)


UNAUTHORIZED = "unauthorized"

_Pending = tuple[Record, "str | None", "asyncio.Future[str]", asyncio.AbstractEventLoop]
_Call = tuple[Callable[[], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop]
_Work = tuple["Callable[[list[_Pending]], None] | None", Any]


class Recorder:
    """Group commit: deliveries queued while a batch commits share the next one (one fsync).

    ``await record(r)`` returns only after the transaction holding ``r`` committed, so the
    webhook's 202 still follows a durable write. With ``signature=``, the body's HMAC is
    checked on the database thread just before the batch is written (hashlib releases the
    GIL, so the event loop keeps serving); a body that fails is never written and comes
    back as ``"unauthorized"``. A batch's answers reach the event loop in one call.
    """

    def __init__(self, db: Database, *, interval: float = 0.0, secret: bytes = b"") -> None:
        self.db = db
        self.interval = interval
        self._verifier = intake.Verifier(secret)
        self._running = False

    def start(self) -> None:
        """Accept deliveries."""
        self._running = True

    @property
    def alive(self) -> bool:
        """Whether deliveries are accepted and the database thread serves."""
        return self._running and self.db.alive

    async def stop(self) -> None:
        """Stop accepting; return once every accepted delivery is recorded (or failed)."""
        if not self._running:
            return
        self._running = False
        await self.db.run(lambda: None)  # runs after every batch queued before it

    async def record(self, record: Record, *, signature: str | None = None) -> str:
        """Durably record a delivery; returns new, duplicate, requeued or unauthorized.

        ``signature`` (the X-Hub-Signature-256 header) is verified against the body first;
        without it the record is trusted (the caller verified it).
        """
        if not self._running:
            raise RuntimeError("recorder is not running")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[str] = loop.create_future()
        self.db.intake(self._flush, (record, signature, fut, loop))
        return await fut

    def _flush(self, batch: list[_Pending]) -> None:
        """On the database thread: record one batch, then answer all of it in one call."""
        if self.interval:  # optional extra wait so that more deliveries join the batch
            time.sleep(self.interval)
        try:
            results: list[str] | BaseException = self._write([(r, sig) for r, sig, _, _ in batch])
        except Exception as exc:  # every waiter learns the batch failed (→ 503)
            results = exc
        by_loop: dict[asyncio.AbstractEventLoop, list[int]] = {}
        for i, (_, _, _, loop) in enumerate(batch):  # one loop in the App; tests may run more
            by_loop.setdefault(loop, []).append(i)
        for loop, where in by_loop.items():
            part = results if isinstance(results, BaseException) else [results[i] for i in where]
            loop.call_soon_threadsafe(_answer, [batch[i][2] for i in where], part)

    def _write(self, batch: list[tuple[Record, str | None]]) -> list[str]:
        """On the database thread: verify signatures, then record what verified."""
        results = [UNAUTHORIZED] * len(batch)
        keep = [i for i, (r, sig) in enumerate(batch)
                if sig is None or self._verifier.verify(r.body, sig)]
        if keep:
            stored = self.db.store.accept([batch[i][0] for i in keep])
            for i, result in zip(keep, stored, strict=True):
                results[i] = result
        return results


def _answer(futures: list[asyncio.Future[str]], results: list[str] | BaseException) -> None:
    for i, fut in enumerate(futures):
        if isinstance(results, BaseException):
            _settle(fut, None, results)
        else:
            _settle(fut, results[i], None)


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
