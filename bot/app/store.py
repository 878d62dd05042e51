"""SQLite durable store: deliveries (dedupe), jobs (the work queue with leases), key-value state.

All methods are synchronous and small; the async side runs them on one dedicated thread
(`bot.app.recorder.Database`) so a commit's fsync never blocks the event loop.

Recording a delivery has two steps. ``accept`` makes it durable: its frame is fsynced in the
spool (the intake's write-ahead log) before the webhook is answered. ``index`` then inserts
the accepted deliveries and their jobs in one commit without an fsync of its own; until then
they are invisible to claims, and after a crash ``replay`` (at open) indexes every frame
past ``spool_index.indexed_upto``. So a webhook waits for one fsync, not two.
"""

from __future__ import annotations

import fcntl
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, NamedTuple, TypeVar

from bot.app.spool import Spool

log = logging.getLogger(__name__)
T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries(
  id TEXT PRIMARY KEY, event TEXT NOT NULL, action TEXT, installation_id INTEGER,
  repository_id INTEGER, outcome TEXT NOT NULL, received_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS jobs(
  id INTEGER PRIMARY KEY, delivery_id TEXT NOT NULL UNIQUE, event TEXT NOT NULL,
  key TEXT, spool_seg INTEGER NOT NULL, spool_off INTEGER NOT NULL,
  spool_len INTEGER NOT NULL, state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, next_run_at REAL NOT NULL, lease_until REAL,
  last_error TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL, waiting_since REAL);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs(state, next_run_at);
CREATE INDEX IF NOT EXISTS jobs_parked ON jobs(key) WHERE state='parked';
CREATE INDEX IF NOT EXISTS jobs_keyed ON jobs(key) WHERE state='queued' AND key IS NOT NULL;
CREATE TABLE IF NOT EXISTS spool_index(
  segment INTEGER PRIMARY KEY, indexed_upto INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS kv(
  namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, updated_at REAL NOT NULL,
  PRIMARY KEY(namespace, key));
"""

QUEUED, RUNNING, DONE, FAILED, IGNORED = "queued", "running", "done", "failed", "ignored"
PARKED = "parked"  # queued behind a running job of the same key; queued again when it ends
LOST = "the delivery body is missing from the spool (storage lost or truncated)"
INTERRUPTED = "the process stopped during its last allowed attempt (does the job crash it?)"
UNSTORABLE = ("payload ids or strings cannot be stored (an integer beyond 64 bits,"
              " or text that is not valid Unicode)")


_JOBS_INTO = ("INSERT INTO jobs(delivery_id, event, key, spool_seg, spool_off, spool_len, state,"
              " attempts, next_run_at, created_at, updated_at)")
_INSERT_JOB = ("INSERT INTO jobs(delivery_id, event, key, spool_seg, spool_off, spool_len, state,"
               " attempts, next_run_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,0,?,?,?)")
_ROWS_PER_INSERT = 64  # 11 parameters a job row: far below SQLite's variable limit


def _parts(items: list[T]) -> list[list[T]]:
    return [items[i:i + _ROWS_PER_INSERT] for i in range(0, len(items), _ROWS_PER_INSERT)]


def _insert(verb: str, width: int, rows: int) -> str:
    """``verb VALUES (?,…),(?,…)…`` for ``rows`` rows: one statement, one step, per batch."""
    row = "(" + ",".join("?" * width) + ")"
    return f"{verb} VALUES " + ",".join([row] * rows)


_SEP = "\x1f"  # never in a delivery id or event name: intake accepts printable ASCII only


def _meta(r: Record) -> bytes:
    """What a replay needs besides the body: ``id US event`` for intake's records, else JSON."""
    bare = r.key is None and r.action is None and r.installation_id is None and \
        r.repository_id is None
    if bare and _SEP not in r.delivery_id and _SEP not in r.event:
        return (r.delivery_id + _SEP + r.event).encode()
    return json.dumps([r.delivery_id, r.event, r.key, r.action, r.installation_id,
                       r.repository_id]).encode()


def _from_meta(meta: bytes) -> Record | None:
    """The queued Record a frame's metadata describes (body left out), or None if garbled."""
    try:
        text = meta.decode()
        if not text.startswith("["):
            delivery, event = text.split(_SEP)
            return Record(delivery, event, None, None, None, QUEUED)
        delivery, event, key, action, inst, repo = json.loads(text)
    except ValueError:
        return None
    return Record(delivery, event, action, inst, repo, QUEUED, key)


class StoreError(RuntimeError):
    """The database cannot be used (locked by another process, unreadable)."""


@dataclass(frozen=True)
class Record:
    """One delivery to record; ``body`` matters only when ``outcome == "queued"``.

    ``key`` None means "decide when the job is first claimed" (intake does not parse).
    """

    delivery_id: str
    event: str
    action: str | None
    installation_id: int | None
    repository_id: int | None
    outcome: str            # queued | ignored
    key: str | None = None
    body: bytes = b""


class Prepared(NamedTuple):
    """What the worker learnt from a job's payload the first time it was claimed."""

    key: str
    data: dict[str, Any] | None
    state: str | None = None        # IGNORED or FAILED: the job ends here, with ``reason``
    reason: str | None = None
    action: str | None = None
    installation_id: int | None = None
    repository_id: int | None = None


Prepare = Callable[[str, str, bytes], Prepared]


@dataclass(frozen=True)
class Job:
    """A claimed job: the worker runs it, then calls done/retry/fail."""

    id: int
    delivery_id: str
    event: str
    key: str
    payload: bytes
    attempts: int           # including the current one
    data: dict[str, Any] | None = None  # the parsed payload when the claim parsed it
    waiting_since: float | None = None  # when it first waited for a rate limit (``wait``)


class Store:
    """The SQLite database of one serving process (an exclusive lock file enforces that)."""

    def __init__(self, path: str, *, sync: str = "FULL",
                 clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._lock_file: IO[bytes] | None = None
        self.spool: Spool | None = None
        if path == ":memory:":
            raise StoreError("the store needs a file path (bodies are spooled beside it)")
        self._lock_file = open(path + ".lock", "ab")  # noqa: SIM115 - held for our lifetime
        try:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            raise StoreError(f"{path} is in use by another ci-truth process") from None
        try:
            self.spool = Spool(path + ".spool", fsync=sync != "NORMAL")
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                      cached_statements=256)  # + an INSERT per batch size
            # WAL: readers never block the writer; synchronous=FULL fsyncs the WAL on every
            # commit, so a recorded delivery survives power loss, not only kill -9 (NORMAL).
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(f"PRAGMA synchronous={'NORMAL' if sync == 'NORMAL' else 'FULL'}")
            self._full = sync != "NORMAL"
            self.db.execute("PRAGMA busy_timeout=5000")
            self.db.executescript(SCHEMA)
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(jobs)")}
            if "waiting_since" not in columns:  # a database from before rate-limit waits
                self.db.execute("ALTER TABLE jobs ADD COLUMN waiting_since REAL")
            self._pending: list[tuple[Record, tuple[int, int, int]]] = []
            self._pending_ids: set[str] = set()
            replayed = self.replay()
        except (sqlite3.Error, OSError) as exc:
            self.close()
            raise StoreError(f"cannot open database {path}: {exc}") from None
        if replayed:
            log.warning("indexed %d delivery(ies) accepted but not indexed before a stop",
                        replayed)
        self.queued = self._count_open()

    def close(self) -> None:
        """Close the database and release the process lock."""
        if getattr(self, "db", None) is not None:
            self.db.close()
        if self.spool is not None:
            self.spool.close()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _count_open(self) -> int:
        row = self.db.execute("SELECT count(*) FROM jobs WHERE state IN (?, ?, ?)",
                              (QUEUED, RUNNING, PARKED)).fetchone()
        return int(row[0])

    # -- intake ------------------------------------------------------------------------------

    def record_batch(self, records: Sequence[Record]) -> list[str]:
        """Record deliveries: ``accept`` then ``index`` (visible to claims on return)."""
        results = self.accept(records)
        self.index()
        return results

    def accept(self, records: Sequence[Record]) -> list[str]:
        """Make deliveries durable; per record: new, duplicate or requeued.

        A duplicate delivery id is a no-op, except that a redelivery of a job that finally
        failed queues it again (GitHub redelivers with the same id). New queued deliveries
        are durable on return (their frames fsynced) but reach the tables at ``index``;
        a batch with a known id or an unqueued outcome is recorded row by row at once.
        """
        if not records:
            return []
        ids = [r.delivery_id for r in records]
        if (len(set(ids)) == len(ids) and all(r.outcome == QUEUED for r in records)
                and not self.known(ids)):  # known() counts accepted, unindexed ids too
            refs = self._append(records)
            self._pending += zip(records, refs, strict=True)
            self._pending_ids.update(ids)
            self.queued += len(records)
            return ["new"] * len(records)
        self.index()  # what was accepted before goes first, so this batch sees it
        return self._record_each(records)

    @property
    def pending(self) -> int:
        """Deliveries accepted (durable) but not yet indexed."""
        return len(self._pending)

    def index(self) -> None:
        """Insert the accepted deliveries and their jobs (one commit, no fsync of its own).

        Their frames are durable already; should this commit be lost, ``replay`` redoes it.
        """
        if not self._pending:
            return
        pending = self._pending
        now = self.clock()
        with self._transaction(fsync=False) as db:
            for part in _parts(pending):
                db.execute(_insert("INSERT OR IGNORE INTO deliveries", 7, len(part)), [
                    v for r, _ in part for v in (r.delivery_id, r.event, r.action,
                                                 r.installation_id, r.repository_id,
                                                 r.outcome, now)])
                db.execute(_insert(_JOBS_INTO, 11, len(part)), [
                    v for r, ref in part
                    for v in (r.delivery_id, r.event, r.key, *ref, QUEUED, 0, now, now, now)])
            self._indexed_upto([ref for _, ref in pending])
        self._pending = []
        self._pending_ids.clear()

    def _append(self, records: Sequence[Record]) -> list[tuple[int, int, int]]:
        """Frames for these records in the spool, fsynced with FULL durability."""
        assert self.spool is not None
        metas = [_meta(r) for r in records]
        return self.spool.append([r.body for r in records], metas)

    def _indexed_upto(self, refs: Iterable[tuple[int, int, int]]) -> None:
        ends: dict[int, int] = {}
        for segment, offset, length in refs:
            ends[segment] = max(ends.get(segment, 0), offset + length)
        self.db.executemany("INSERT INTO spool_index VALUES (?, ?) ON CONFLICT(segment) DO UPDATE"
                            " SET indexed_upto=max(indexed_upto, excluded.indexed_upto)",
                            list(ends.items()))

    def _record_each(self, records: Sequence[Record]) -> list[str]:
        """The exact path, one row at a time, in a FULL commit (duplicates, requeues)."""
        now = self.clock()
        results: list[str] = []
        new_jobs: list[Record] = []
        requeued: list[Record] = []
        with self._transaction() as db:
            for r in records:
                if self._insert_delivery(r, now):
                    if r.outcome == QUEUED:
                        new_jobs.append(r)
                    results.append("new")
                    continue
                cur = db.execute(
                    "UPDATE jobs SET state=?, attempts=0, next_run_at=?, updated_at=?,"
                    " waiting_since=NULL WHERE delivery_id=? AND state=?",
                    (QUEUED, now, now, r.delivery_id, FAILED))
                results.append("requeued" if cur.rowcount == 1 else "duplicate")
                if cur.rowcount == 1 and r.outcome == QUEUED:
                    requeued.append(r)
            refs = self._append(new_jobs + requeued)  # durable before the commit
            db.executemany(
                _INSERT_JOB,
                [(r.delivery_id, r.event, r.key, *ref, QUEUED, now, now, now)
                 for r, ref in zip(new_jobs, refs[:len(new_jobs)], strict=True)])
            # A requeued job runs the redelivered body, prepared again: the body it failed
            # with may be the reason (lost from the spool, truncated).
            db.executemany(
                "UPDATE jobs SET key=?, spool_seg=?, spool_off=?, spool_len=? WHERE delivery_id=?",
                [(r.key, *ref, r.delivery_id)
                 for r, ref in zip(requeued, refs[len(new_jobs):], strict=True)])
            self._indexed_upto(refs)
        self.queued += len(new_jobs) + results.count("requeued")
        return results

    @contextmanager
    def _transaction(self, *, fsync: bool = True) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error.

        ``fsync=False``: this commit needs no fsync of its own (what it writes is durable
        elsewhere or recomputable); it runs with ``synchronous=NORMAL``, FULL again after.
        """
        db = self.db
        relaxed = self._full and not fsync
        if relaxed:
            db.execute("PRAGMA synchronous=NORMAL")
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        finally:
            if relaxed:
                db.execute("PRAGMA synchronous=FULL")

    def _insert_delivery(self, r: Record, now: float) -> bool:
        """The delivery's row; False when its id is known already (nothing is written)."""
        cur = self.db.execute("INSERT OR IGNORE INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?)",
                              (r.delivery_id, r.event, r.action, r.installation_id,
                               r.repository_id, r.outcome, now))
        return bool(cur.rowcount == 1)

    def replay(self) -> int:
        """Index the frames a stopped process accepted but did not index; returns how many.

        Each earlier segment is read from its ``indexed_upto`` to its first torn frame
        (written, never acknowledged); a frame whose delivery is known is skipped.
        """
        assert self.spool is not None
        upto = dict(self.db.execute("SELECT segment, indexed_upto FROM spool_index"))
        found: list[tuple[Record, tuple[int, int, int]]] = []
        for segment in sorted(self.spool.segments() - {self.spool.segment}):
            for meta, offset, length, _end in self.spool.scan(segment, upto.get(segment, 0)):
                record = _from_meta(meta)
                if record is None:
                    break  # not ours: stop this segment as at a torn frame
                found.append((record, (segment, offset, length)))
        if not found:
            return 0
        now = self.clock()
        indexed = 0
        with self._transaction() as db:
            for r, ref in found:
                if self._insert_delivery(r, now):  # a known delivery's frame adds nothing
                    db.execute(_INSERT_JOB,
                               (r.delivery_id, r.event, r.key, *ref, QUEUED, now, now, now))
                    indexed += 1
            self._indexed_upto(ref for _, ref in found)
        return indexed

    def known(self, delivery_ids: Iterable[str]) -> set[str]:
        """Which of these delivery ids (GUIDs) we have recorded."""
        ids = list(delivery_ids)
        found = self._pending_ids.intersection(ids)  # accepted, not indexed yet
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            found.update(row[0] for row in self.db.execute(
                f"SELECT id FROM deliveries WHERE id IN ({marks})", chunk))  # noqa: S608
        return found

    # -- the queue ---------------------------------------------------------------------------

    def recover(self, max_attempts: int | None = None) -> int:
        """At startup: jobs left running by a dead process are queued again (attempts kept).

        A job whose interrupted attempt was its last of ``max_attempts`` fails instead: one
        that kills the process every time would otherwise run again at every start, forever.
        """
        now = self.clock()
        with self._transaction() as db:
            ended = 0 if max_attempts is None else db.execute(
                "UPDATE jobs SET state=?, lease_until=NULL, last_error=?, updated_at=?"
                " WHERE state=? AND attempts>=?",
                (FAILED, INTERRUPTED, now, RUNNING, max_attempts)).rowcount
            cur = db.execute("UPDATE jobs SET state=?, lease_until=NULL, next_run_at=?,"
                             " updated_at=? WHERE state=?", (QUEUED, now, now, RUNNING))
            db.execute("UPDATE jobs SET state=? WHERE state=?", (QUEUED, PARKED))
        if ended:
            self.queued = max(0, self.queued - ended)
            log.error("failed %d job(s) whose last attempt was interrupted: %s", ended,
                      INTERRUPTED)
        return cur.rowcount

    def claim(self, limit: int, busy_keys: Iterable[str], lease_seconds: float,
              prepare: Prepare | None = None) -> list[Job]:
        """Take up to ``limit`` due jobs whose keys are not busy, at most one per key.

        A job without a key is prepared first (``prepare`` parses it once, off the intake
        path); a running job whose lease expired (its worker died) is due again. A queued job
        whose key is busy is parked until that key's running job ends, so a deep queue behind
        one busy key is not scanned again by every claim.
        """
        now = self.clock()
        busy = set(busy_keys)
        marks = ",".join("?" * len(busy))
        # Two single-state queries, each read in jobs_due order: an OR of the two made SQLite
        # sort every due row on every claim (a temp B-tree over the whole backlog).
        cols = ("id, delivery_id, event, key, spool_seg, spool_off, spool_len, attempts,"
                " next_run_at, waiting_since")
        free = f"(key IS NULL OR key NOT IN ({marks}))"
        rows = self.db.execute(  # only "?" placeholders are formatted in
            f"SELECT {cols} FROM jobs WHERE state=? AND next_run_at<=? AND {free}"  # noqa: S608
            " ORDER BY next_run_at, id LIMIT ?", (QUEUED, now, *busy, limit * 4)).fetchall()
        rows += self.db.execute(
            f"SELECT {cols} FROM jobs WHERE state=? AND lease_until<=? AND {free}"  # noqa: S608
            " ORDER BY next_run_at, id LIMIT ?", (RUNNING, now, *busy, limit * 4)).fetchall()
        rows.sort(key=lambda row: (row[8], row[0]))
        jobs: list[Job] = []
        ended = 0  # jobs that end here (ignored, failed): counted out only once committed
        # A claim needs no fsync of its own: what it writes (keys, running, parked) is
        # recomputed or requeued after a crash, and the next FULL commit syncs the WAL with
        # these frames in it. Without this, claims under a flood took turns with intake
        # batches at the one fsync the database thread can do at a time.
        with self._transaction(fsync=False):
            for ident, delivery, event, key, seg, off, length, attempts, _due, since in rows:
                data, payload = None, None
                if key is None:
                    payload = self._payload(seg, off, length)
                    if payload is None:
                        prep = Prepared(f"delivery:{delivery}", None, FAILED, LOST)
                    elif prepare is not None:
                        prep = prepare(event, delivery, payload)
                    else:
                        prep = Prepared(f"delivery:{delivery}", None)
                    try:
                        self._note(ident, delivery, prep)
                    except (OverflowError, UnicodeEncodeError):  # refused at bind: no row changed
                        prep = Prepared(f"delivery:{delivery}", None, FAILED, UNSTORABLE)
                        self._note(ident, delivery, prep)
                    key, data = prep.key, prep.data
                    if prep.state is not None:
                        self._end(ident, prep.state, prep.reason, now)
                        ended += 1
                        continue
                if key in busy:
                    continue                         # parked below if that key really runs
                if len(jobs) >= limit:
                    continue
                if payload is None:
                    payload = self._payload(seg, off, length)
                    if payload is None:
                        self._end(ident, FAILED, LOST, now)
                        ended += 1
                        continue
                busy.add(key)
                jobs.append(Job(ident, delivery, event, key, payload, attempts + 1, data, since))
                self.db.execute("UPDATE jobs SET state=?, attempts=?, lease_until=?,"
                                " updated_at=? WHERE id=?",
                                (RUNNING, attempts + 1, now + lease_seconds, now, ident))
            self._park(busy, now)
        self.queued = max(0, self.queued - ended)
        return jobs

    def _note(self, ident: int, delivery: str, prep: Prepared) -> None:
        """Store what ``prepare`` learnt: the job's key, the delivery's ids and outcome."""
        self.db.execute("UPDATE jobs SET key=? WHERE id=?", (prep.key, ident))
        self.db.execute("UPDATE deliveries SET action=?, installation_id=?,"
                        " repository_id=?, outcome=? WHERE id=?",
                        (prep.action, prep.installation_id, prep.repository_id,
                         prep.state or QUEUED, delivery))

    def _park(self, busy: set[str], now: float) -> None:
        """Park the due queued jobs of busy keys, so that claims stop scanning them.

        Whatever made their key known (this claim's prepare, a retry, a requeue), left queued
        they would keep ``next_due()`` in the past and the scheduler would claim nothing in a
        loop. Only behind a job of the key that really runs: the caller's busy keys may be
        stale (that job's done() already ran), and nothing would ever unpark them.
        """
        if not busy:
            return
        marks = ",".join("?" * len(busy))
        # Through jobs_keyed (literal states, so the partial index applies; INDEXED BY makes
        # SQLite refuse the statement rather than plan otherwise): by the busy keys,
        # never a scan of the unkeyed backlog that a flood leaves due.
        self.db.execute(  # only "?" placeholders are formatted in
            "UPDATE jobs INDEXED BY jobs_keyed SET state='parked'"  # noqa: S608
            " WHERE state='queued' AND key IS NOT NULL AND next_run_at<=?"
            f" AND key IN ({marks}) AND key IN (SELECT key FROM jobs WHERE state='running')",
            (now, *busy))

    def _payload(self, segment: int, offset: int, length: int) -> bytes | None:
        assert self.spool is not None
        try:
            return self.spool.read(segment, offset, length)
        except (OSError, ValueError):
            return None

    def _end(self, job_id: int, state: str, reason: str | None, now: float) -> None:
        self.db.execute("UPDATE jobs SET state=?, last_error=?, lease_until=NULL, updated_at=?"
                        " WHERE id=?", (state, reason, now, job_id))

    def next_due(self) -> float | None:
        """When the earliest queued job becomes due (None if nothing is queued)."""
        row = self.db.execute("SELECT min(next_run_at) FROM jobs WHERE state=?",
                              (QUEUED,)).fetchone()
        return None if row[0] is None else float(row[0])

    def heartbeat(self, job_ids: Sequence[int], lease_seconds: float) -> None:
        """Extend the leases of running jobs."""
        now = self.clock()
        self.db.executemany("UPDATE jobs SET lease_until=? WHERE id=? AND state=?",
                            [(now + lease_seconds, i, RUNNING) for i in job_ids])

    def done(self, job_id: int) -> None:
        """The job succeeded."""
        self._finish(job_id, DONE, None)

    def fail(self, job_id: int, error: str) -> None:
        """The job failed for good; ``error`` (already redacted) is kept."""
        self._finish(job_id, FAILED, error)

    def retry(self, job_id: int, at: float, error: str) -> None:
        """Queue the job again at ``at`` (epoch seconds), keeping the last error."""
        with self._transaction() as db:
            db.execute("UPDATE jobs SET state=?, next_run_at=?, lease_until=NULL,"
                       " last_error=?, updated_at=? WHERE id=?",
                       (QUEUED, at, error, self.clock(), job_id))
            self._unpark(job_id)

    def wait(self, job_id: int, at: float, error: str) -> None:
        """Queue the job again at ``at`` for a rate limit: its attempt is given back (waiting
        is not failing); ``waiting_since`` keeps when it first waited, which bounds the waits."""
        now = self.clock()
        with self._transaction() as db:
            db.execute("UPDATE jobs SET state=?, attempts=max(0, attempts-1), next_run_at=?,"
                       " lease_until=NULL, last_error=?, updated_at=?,"
                       " waiting_since=coalesce(waiting_since, ?) WHERE id=?",
                       (QUEUED, at, error, now, now, job_id))
            self._unpark(job_id)

    def requeue_failed(self, installation_id: int, marker: str, since: float,
                       repository_ids: Sequence[int] | None = None) -> int:
        """Queue again (attempts reset) the installation's jobs that failed since ``since``
        with ``marker`` in their reason, only those of ``repository_ids`` if given; returns
        how many. The installation and repository are the ones the delivery's payload named
        (stored when the job was first claimed)."""
        now = self.clock()
        sql = ("UPDATE jobs SET state=?, attempts=0, next_run_at=?, lease_until=NULL,"
               " updated_at=?, waiting_since=NULL"
               " WHERE state=? AND updated_at>=? AND instr(last_error, ?)>0"
               " AND delivery_id IN (SELECT id FROM deliveries WHERE installation_id=?")
        args = (QUEUED, now, now, FAILED, since, marker, installation_id)
        n = 0
        with self._transaction() as db:
            if repository_ids is None:
                n = int(db.execute(sql + ")", args).rowcount)
            for i in range(0, len(repository_ids or ()), 500):
                chunk = list(repository_ids or ())[i:i + 500]
                marks = ",".join("?" * len(chunk))  # only "?" placeholders are formatted in
                n += int(db.execute(sql + f" AND repository_id IN ({marks}))",
                                    (*args, *chunk)).rowcount)
        self.queued += n
        return n

    def _finish(self, job_id: int, state: str, error: str | None) -> None:
        with self._transaction() as db:
            cur = db.execute("UPDATE jobs SET state=?, lease_until=NULL, last_error=?,"
                             " updated_at=? WHERE id=? AND state=?",
                             (state, error, self.clock(), job_id, RUNNING))
            self._unpark(job_id)
        if cur.rowcount:
            self.queued = max(0, self.queued - 1)

    def _unpark(self, job_id: int) -> None:
        """The job no longer runs: the jobs parked behind its key are queued again."""
        row = self.db.execute("SELECT key FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row is not None and row[0] is not None:
            self.db.execute("UPDATE jobs SET state=? WHERE key=? AND state=?",
                            (QUEUED, row[0], PARKED))

    def job(self, delivery_id: str) -> dict[str, object] | None:
        """The job row of a delivery, as a dict (for tests and operators)."""
        cur = self.db.execute("SELECT id, state, attempts, next_run_at, last_error, key"
                              " FROM jobs WHERE delivery_id=?", (delivery_id,))
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip(("id", "state", "attempts", "next_run_at", "last_error", "key"), row,
                        strict=True))

    def counts(self) -> dict[str, int]:
        """Number of jobs per state."""
        return {str(s): int(n) for s, n in
                self.db.execute("SELECT state, count(*) FROM jobs GROUP BY state")}

    def prune(self, older_than_days: float) -> int:
        """Forget finished jobs and deliveries older than the retention (≥ GitHub's 3 days)."""
        self.index()  # a segment holding accepted frames must be referenced before pruning
        cutoff = self.clock() - older_than_days * 86400
        with self._transaction() as db:
            n = db.execute("DELETE FROM jobs WHERE state IN (?, ?, ?) AND updated_at<?",
                           (DONE, FAILED, IGNORED, cutoff)).rowcount
            db.execute("DELETE FROM deliveries WHERE received_at<? AND id NOT IN"
                       " (SELECT delivery_id FROM jobs)", (cutoff,))
        if self.spool is not None:
            live = {int(r[0]) for r in self.db.execute("SELECT DISTINCT spool_seg FROM jobs")}
            self.spool.remove_except(live)
            present = self.spool.segments()
            gone = [(seg,) for (seg,) in self.db.execute("SELECT segment FROM spool_index")
                    if seg not in present]
            self.db.executemany("DELETE FROM spool_index WHERE segment=?", gone)
        return n

    # -- key-value state for handlers --------------------------------------------------------

    def kv_get(self, namespace: str, key: str) -> str | None:
        """A stored value, or None."""
        row = self.db.execute("SELECT value FROM kv WHERE namespace=? AND key=?",
                              (namespace, key)).fetchone()
        return None if row is None else str(row[0])

    def kv_put(self, namespace: str, key: str, value: str) -> None:
        """Store (or replace) a value."""
        self.db.execute("INSERT INTO kv VALUES (?,?,?,?) ON CONFLICT(namespace, key) DO UPDATE"
                        " SET value=excluded.value, updated_at=excluded.updated_at",
                        (namespace, key, value, self.clock()))

    def kv_prune(self, namespace: str, older_than_days: float) -> int:
        """Forget a namespace's values not written for ``older_than_days``; returns how many."""
        cutoff = self.clock() - older_than_days * 86400
        return int(self.db.execute("DELETE FROM kv WHERE namespace=? AND updated_at<?",
                                   (namespace, cutoff)).rowcount)

    def kv_delete(self, namespace: str, key: str | None = None) -> None:
        """Delete one value, or a whole namespace when ``key`` is None."""
        if key is None:
            self.db.execute("DELETE FROM kv WHERE namespace=?", (namespace,))
        else:
            self.db.execute("DELETE FROM kv WHERE namespace=? AND key=?", (namespace, key))

