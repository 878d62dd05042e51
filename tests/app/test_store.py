"""The SQLite store: dedupe, durable queue with leases, recovery, retry and failure, kv."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app.store import (
    DONE,
    FAILED,
    IGNORED,
    LOST,
    PARKED,
    QUEUED,
    RUNNING,
    Prepared,
    Record,
    Store,
    StoreError,
)
from bot.app.worker import prepare


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def rec(delivery: str, key: str = "k", outcome: str = QUEUED) -> Record:
    return Record(delivery, "workflow_run", "completed", 1, 2, outcome, key=key,
                  body=b'{"installation": {"id": 1}}')


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Store:
    s = Store(str(tmp_path / "s.db"), clock=clock)
    yield s
    s.close()


def test_insert_and_duplicate_is_a_no_op(store: Store) -> None:
    assert store.record_batch([rec("a"), rec("b"), rec("a")]) == ["new", "new", "duplicate"]
    assert store.record_batch([rec("a")]) == ["duplicate"]
    assert store.counts() == {QUEUED: 2}
    assert store.queued == 2


def test_ignored_deliveries_are_recorded_without_a_job(store: Store) -> None:
    assert store.record_batch([rec("x", outcome="ignored")]) == ["new"]
    assert store.known(["x", "y"]) == {"x"}
    assert store.job("x") is None and store.queued == 0


def test_records_survive_reopening(tmp_path: Path, clock: Clock) -> None:
    path = str(tmp_path / "d.db")
    s = Store(path, clock=clock)
    s.record_batch([rec("a")])
    s.close()
    s = Store(path, clock=clock)
    assert s.job("a") is not None and s.queued == 1
    assert s.record_batch([rec("a")]) == ["duplicate"]
    s.close()


def test_a_second_process_cannot_open_the_same_database(store: Store) -> None:
    with pytest.raises(StoreError, match="in use"):
        Store(store.path)


def test_claim_takes_one_job_per_key(store: Store) -> None:
    store.record_batch([rec("a", "k1"), rec("b", "k1"), rec("c", "k2")])
    jobs = store.claim(10, [], 60)
    assert sorted(j.delivery_id for j in jobs) == ["a", "c"]
    assert store.claim(10, [j.key for j in jobs], 60) == []
    store.done(jobs[0].id)
    assert [j.delivery_id for j in store.claim(10, ["k2"], 60)] == ["b"]


def test_expired_lease_makes_a_running_job_due_again(store: Store, clock: Clock) -> None:
    store.record_batch([rec("a")])
    (job,) = store.claim(1, [], 30)
    assert job.attempts == 1 and store.claim(1, [], 30) == []
    clock.now += 31
    (again,) = store.claim(1, [], 30)
    assert again.delivery_id == "a" and again.attempts == 2


def test_heartbeat_keeps_the_lease(store: Store, clock: Clock) -> None:
    store.record_batch([rec("a")])
    (job,) = store.claim(1, [], 30)
    clock.now += 20
    store.heartbeat([job.id], 30)
    clock.now += 20
    assert store.claim(1, [], 30) == []


def test_recover_requeues_jobs_of_a_dead_process(tmp_path: Path, clock: Clock) -> None:
    path = str(tmp_path / "r.db")
    s = Store(path, clock=clock)
    s.record_batch([rec("a"), rec("b", "k2")])
    s.claim(2, [], 300)
    s.close()  # as if killed: both jobs stay "running"
    s = Store(path, clock=clock)
    assert s.counts() == {RUNNING: 2}
    assert s.recover() == 2
    jobs = s.claim(5, [], 300)
    assert sorted(j.delivery_id for j in jobs) == ["a", "b"]
    assert all(j.attempts == 2 for j in jobs)  # the interrupted attempt counts
    s.close()


def test_retry_waits_until_next_run_then_final_failure(store: Store, clock: Clock) -> None:
    store.record_batch([rec("a")])
    (job,) = store.claim(1, [], 60)
    store.retry(job.id, clock.now + 10, "GitHubBroken 502: bad gateway")
    assert store.claim(1, [], 60) == [] and store.next_due() == clock.now + 10
    clock.now += 10
    (job,) = store.claim(1, [], 60)
    store.fail(job.id, "gave up")
    row = store.job("a")
    assert row is not None and row["state"] == FAILED and row["last_error"] == "gave up"
    assert row["attempts"] == 2 and store.queued == 0


def test_a_rate_limit_wait_gives_the_attempt_back_and_keeps_its_first_time(
        store: Store, clock: Clock) -> None:
    store.record_batch([rec("a")])
    (job,) = store.claim(1, [], 60)
    assert job.waiting_since is None
    first = clock.now
    store.wait(job.id, clock.now + 3600, "RateLimited: GitHub rate limit; retry in 3600 s")
    assert store.claim(1, [], 60) == [] and store.next_due() == clock.now + 3600
    clock.now += 3600
    (job,) = store.claim(1, [], 60)
    assert job.attempts == 1 and job.waiting_since == first
    store.wait(job.id, clock.now + 3600, "RateLimited: GitHub rate limit; retry in 3600 s")
    clock.now += 3600
    (job,) = store.claim(1, [], 60)
    assert job.attempts == 1 and job.waiting_since == first   # since the first wait
    store.fail(job.id, "gave up")
    assert store.record_batch([rec("a")]) == ["requeued"]      # a redelivery starts afresh
    (job,) = store.claim(1, [], 60)
    assert job.attempts == 1 and job.waiting_since is None


def test_a_database_from_before_rate_limit_waits_opens_and_keeps_its_jobs(
        tmp_path: Path, clock: Clock) -> None:
    path = str(tmp_path / "old.db")
    s = Store(path, clock=clock)
    s.record_batch([rec("a")])
    s.db.execute("ALTER TABLE jobs DROP COLUMN waiting_since")   # the earlier schema
    s.close()
    s = Store(path, clock=clock)
    (job,) = s.claim(1, [], 60)
    s.wait(job.id, clock.now, "RateLimited: GitHub rate limit; retry in 0 s")
    (job,) = s.claim(1, [], 60)
    assert job.delivery_id == "a" and job.attempts == 1 and job.waiting_since == clock.now
    s.close()


def test_redelivery_of_a_failed_job_queues_it_again(store: Store) -> None:
    store.record_batch([rec("a")])
    (job,) = store.claim(1, [], 60)
    store.fail(job.id, "boom")
    assert store.record_batch([rec("a")]) == ["requeued"]
    row = store.job("a")
    assert row is not None and row["state"] == QUEUED and row["attempts"] == 0
    (job,) = store.claim(1, [], 60)
    store.done(job.id)
    assert store.record_batch([rec("a")]) == ["duplicate"]
    assert store.counts() == {DONE: 1}


def test_redelivery_of_a_job_whose_body_was_lost_runs_the_redelivered_body(
        tmp_path: Path, clock: Clock) -> None:
    """GitHub redelivers the payload with the same id: that copy replaces the lost one."""
    path = str(tmp_path / "l.db")
    s = Store(path, clock=clock)
    s.record_batch([Record("a", "workflow_run", None, None, None, QUEUED, body=b'{"v": 1}')])
    assert s.spool is not None
    segment = s.spool.segment
    s.close()
    (tmp_path / "l.db.spool" / f"{segment:08d}.bin").unlink()   # the storage lost it
    s = Store(path, clock=clock)
    assert s.claim(1, [], 60) == []
    row = s.job("a")
    assert row is not None and (row["state"], row["last_error"]) == (FAILED, LOST)
    redelivered = Record("a", "workflow_run", None, None, None, QUEUED, body=b'{"v": 1}')
    assert s.record_batch([redelivered, redelivered]) == ["requeued", "duplicate"]
    assert s.queued == 1
    (job,) = s.claim(1, [], 60, lambda e, d, b: Prepared("repo:1", None))
    assert (job.delivery_id, job.payload, job.key) == ("a", b'{"v": 1}', "repo:1")
    s.close()
    s = Store(path, clock=clock)                  # the new frame is not replayed as a new job
    assert s.counts() == {RUNNING: 1}
    s.close()


def test_prune_forgets_old_finished_work_only(store: Store, clock: Clock) -> None:
    store.record_batch([rec("old"), rec("open", "k2")])
    (job,) = [j for j in store.claim(2, [], 60) if j.delivery_id == "old"]
    store.done(job.id)
    clock.now += 8 * 86400
    assert store.prune(7) == 1
    assert store.known(["old", "open"]) == {"open"}


def test_prune_forgets_old_ignored_jobs_and_their_spool_segment(tmp_path: Path,
                                                               clock: Clock) -> None:
    """An ignored job (no installation) is finished work too: it must not pin its segment."""
    path = str(tmp_path / "i.db")
    s = Store(path, clock=clock)
    s.record_batch([Record("skip", "e", None, None, None, QUEUED, body=b"{}")])
    ignored = Prepared("-", None, IGNORED, "ignored: no installation")
    assert s.claim(1, [], 60, lambda e, d, b: ignored) == []
    assert s.spool is not None
    segment = s.spool.segment
    s.close()
    s = Store(path, clock=clock)               # a later process: that segment is not current
    clock.now += 8 * 86400
    assert s.prune(7) == 1
    assert s.known(["skip"]) == set() and s.counts() == {}
    assert s.spool is not None and segment not in s.spool.segments()
    s.close()


def test_requeue_failed_takes_the_installations_jobs_that_failed_so_since(
        store: Store, clock: Clock) -> None:
    body = b'{"installation": {"id": %d}, "repository": {"id": %d}}'
    store.record_batch([Record(d, "workflow_run", None, None, None, QUEUED, body=body % ids)
                        for d, ids in (("old", (1, 7)), ("mine", (1, 8)), ("other", (2, 9)),
                                       ("else", (1, 10)))])

    reasons = {"old": "suspended (not retried; on unsuspend)",
               "mine": "suspended (not retried; on unsuspend)",
               "other": "suspended (not retried; on unsuspend)", "else": "BadRequest: Gone"}
    for job in store.claim(4, [], 60, prepare):
        store.fail(job.id, reasons[job.delivery_id])
        clock.now += 100 if job.delivery_id == "old" else 0
    assert store.requeue_failed(1, "on unsuspend", since=clock.now - 50) == 1
    assert {d: (store.job(d) or {})["state"] for d in reasons} == {
        "old": FAILED, "mine": QUEUED, "other": FAILED, "else": FAILED}
    assert (store.job("mine") or {})["attempts"] == 0 and store.queued == 1
    (again,) = store.claim(4, [], 60, prepare)
    assert again.delivery_id == "mine" and again.payload == body % (1, 8)


def test_requeue_failed_for_added_repositories_takes_only_theirs(store: Store,
                                                                   clock: Clock) -> None:
    body = b'{"installation": {"id": %d}, "repository": {"id": %d}}'
    store.record_batch([Record(d, "workflow_run", None, None, None, QUEUED, body=body % ids)
                        for d, ids in (("added", (1, 7)), ("still-out", (1, 8)),
                                       ("other-inst", (2, 9)), ("many", (1, 1500)))])
    for job in store.claim(4, [], 60, prepare):
        store.fail(job.id, "no longer covers repository (not retried; on re-add)")
    assert store.requeue_failed(1, "on re-add", clock.now - 50,
                                [7, 9, *range(1000, 1600)]) == 2   # chunked beyond 500 ids
    assert {d: (store.job(d) or {})["state"] for d in ("added", "still-out", "other-inst",
                                                       "many")} == {
        "added": QUEUED, "still-out": FAILED, "other-inst": FAILED, "many": QUEUED}
    assert store.requeue_failed(1, "on re-add", clock.now - 50, []) == 0
    assert store.queued == 2


def test_unkeyed_jobs_are_prepared_once_at_claim(store: Store) -> None:
    store.record_batch([Record(d, "e", None, None, None, QUEUED, body=b"{}")
                        for d in ("x1", "x2", "bad", "skip")])
    seen: list[str] = []

    def prepare(event: str, delivery: str, body: bytes) -> Prepared:
        seen.append(delivery)
        if delivery == "bad":
            return Prepared("-", None, FAILED, "payload is not valid JSON")
        if delivery == "skip":
            return Prepared("-", None, IGNORED, "ignored: no installation")
        return Prepared("same", {"n": delivery})

    jobs = store.claim(4, [], 60, prepare)
    assert [(j.delivery_id, j.data) for j in jobs] == [("x1", {"n": "x1"})]
    assert store.counts() == {RUNNING: 1, PARKED: 1, FAILED: 1, IGNORED: 1}  # x2 waits for x1
    assert store.claim(4, ["same"], 60, prepare) == []
    store.done(jobs[0].id)
    (again,) = store.claim(4, [], 60, prepare)
    assert again.delivery_id == "x2" and again.data is None  # keyed already: not re-parsed
    assert seen == ["x1", "x2", "bad", "skip"] and store.queued == 1


def test_jobs_behind_a_busy_key_are_parked_until_it_ends(store: Store) -> None:
    """A deep queue behind one running key is set aside, in order, and comes back."""
    def prepare(event: str, delivery: str, body: bytes) -> Prepared:
        return Prepared("hot" if delivery.startswith("h") else delivery, None)

    store.record_batch([Record(d, "e", None, None, None, QUEUED, body=b"{}")
                        for d in ("h1", "h2", "h3", "c1")])
    first = store.claim(4, [], 60, prepare)
    assert [j.delivery_id for j in first] == ["h1", "c1"]
    assert store.counts() == {RUNNING: 2, PARKED: 2}
    assert store.next_due() is None          # nothing parked is due
    store.retry(first[0].id, store.clock() + 3600, "later")   # h1 leaves: h2, h3 come back
    (second,) = store.claim(4, ["c1"], 60, prepare)
    assert second.delivery_id == "h2"
    assert store.counts() == {RUNNING: 2, PARKED: 1, QUEUED: 1}
    store.done(second.id)
    assert store.counts() == {RUNNING: 1, QUEUED: 2, DONE: 1} and store.queued == 3


def test_parked_jobs_are_queued_again_after_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite")
    store = Store(path)
    store.record_batch([Record(d, "e", None, None, None, QUEUED, body=b"{}")
                        for d in ("a", "b")])
    assert len(store.claim(4, [], 60, lambda e, d, b: Prepared("k", None))) == 1
    store.close()
    again = Store(path)
    assert again.recover() == 1
    assert again.counts() == {QUEUED: 2} and again.queued == 2
    again.close()


def test_kv(store: Store) -> None:
    assert store.kv_get("check_runs", "1:abc") is None
    store.kv_put("check_runs", "1:abc", "42")
    store.kv_put("check_runs", "1:abc", "43")
    store.kv_put("check_runs", "1:def", "44")
    assert store.kv_get("check_runs", "1:abc") == "43"
    store.kv_delete("check_runs", "1:abc")
    assert store.kv_get("check_runs", "1:abc") is None
    store.kv_delete("check_runs")
    assert store.kv_get("check_runs", "1:def") is None


def test_claims_commit_without_fsync_and_restore_full_sync(store: Store) -> None:
    """Claim writes are recomputable; intake's commits must stay FULL, even after an error."""
    def synchronous() -> int:
        return int(store.db.execute("PRAGMA synchronous").fetchone()[0])

    assert synchronous() == 2  # FULL
    store.record_batch([Record(d, "e", None, None, None, QUEUED, body=b"{}") for d in "ab"])
    assert len(store.claim(1, [], 60, lambda e, d, b: Prepared(d, None))) == 1
    assert synchronous() == 2

    store.record_batch([Record("c", "e", None, None, None, QUEUED, body=b"{}"),
                        Record("d", "e", None, None, None, QUEUED, body=b"{}")])

    def broken(event: str, delivery: str, body: bytes) -> Prepared:
        if delivery == "c":   # c ends here (ignored); then d breaks the claim: nothing stays
            return Prepared("-", None, IGNORED, "ignored: no installation")
        raise RuntimeError("prepare failed")

    with pytest.raises(RuntimeError):
        store.claim(3, [], 60, broken)   # b is keyed already; c and d need preparing
    assert synchronous() == 2
    assert store.counts() == {RUNNING: 1, QUEUED: 3}  # the failed claim rolled back
    assert store.queued == 4                           # c's ending was not counted either
    assert store.job("c") is not None and store.job("c")["key"] is None


def test_accepted_deliveries_survive_a_stop_before_they_are_indexed(tmp_path: Path,
                                                                    clock: Clock) -> None:
    """accept() is the durable step: a process that dies before index() loses nothing."""
    path = str(tmp_path / "w.db")
    s = Store(path, clock=clock)
    assert s.accept([rec("a"), rec("b", "k2")]) == ["new", "new"]
    assert s.pending == 2 and s.job("a") is None        # not in the tables yet
    assert s.accept([rec("a")]) == ["duplicate"]         # but already known
    assert s.job("a") is not None                        # (that indexed what was pending)
    assert s.accept([rec("c", "k3")]) == ["new"]
    s.close()                                            # as if killed: c never indexed
    s = Store(path, clock=clock)
    assert s.job("c") is not None and s.queued == 3
    jobs = s.claim(5, [], 300)
    assert sorted((j.delivery_id, j.key, j.payload) for j in jobs) == [
        ("a", "k", rec("a").body), ("b", "k2", rec("b").body), ("c", "k3", rec("c").body)]
    s.close()
    s = Store(path, clock=clock)                         # replayed frames are not replayed again
    assert s.counts() == {RUNNING: 3}
    s.close()


def test_replay_stops_at_a_torn_frame_and_skips_known_deliveries(tmp_path: Path,
                                                                 clock: Clock) -> None:
    path = str(tmp_path / "t.db")
    s = Store(path, clock=clock)
    s.accept([rec("a"), rec("b", "k2"), rec("c", "k3")])
    assert s.spool is not None
    segment = s.spool.segment
    end = [frame_end for *_, frame_end in s.spool.scan(segment)][-1]
    s.close()
    seg = tmp_path / "t.db.spool" / f"{segment:08d}.bin"
    data = seg.read_bytes()
    assert data[end:] == bytes(len(data) - end)         # zeros written ahead of the data
    # The last frame's end never reached the disk (a write cut by the crash: no 202) ...
    seg.write_bytes(data[:end - 5] + bytes(len(data) - end + 5))
    s = Store(path, clock=clock)
    assert sorted(r for r in ("a", "b", "c") if s.job(r)) == ["a", "b"]
    s.close()
    # ... and a segment that repeats a known delivery adds nothing.
    (tmp_path / "t.db.spool" / f"{segment + 50:08d}.bin").write_bytes(data)
    s = Store(path, clock=clock)
    assert s.counts() == {QUEUED: 3}                     # c is whole in the copy: indexed once
    s.close()


def test_replay_restores_compact_and_full_metadata(tmp_path: Path) -> None:
    """Intake's records (no key yet) use the compact metadata; both forms replay exactly."""
    path = str(tmp_path / "m.db")
    s = Store(path)
    bare = Record("d-1", "workflow_run", None, None, None, QUEUED, body=b'{"a": 1}')
    full = Record("d-2", "check_run", "created", 7, 9, QUEUED, key="repo:9:sha:x", body=b"{}")
    assert s.accept([bare, full]) == ["new", "new"]
    s.close()
    s = Store(path)
    assert [s.job(d)["key"] for d in ("d-1", "d-2")] == [None, "repo:9:sha:x"]  # type: ignore[index]
    jobs = {j.delivery_id: j for j in s.claim(5, [], 60, lambda e, d, b: Prepared(d, None))}
    assert (jobs["d-1"].event, jobs["d-1"].payload) == ("workflow_run", b'{"a": 1}')
    assert s.known(["d-1", "d-2"]) == {"d-1", "d-2"}
    s.close()


def test_replay_spans_segments_and_prune_keeps_accepted_frames(tmp_path: Path,
                                                               clock: Clock) -> None:
    """Accepted frames in a segment no job points at yet survive a prune and a stop."""
    path = str(tmp_path / "p.db")
    s = Store(path, clock=clock)
    assert s.spool is not None
    s.spool.segment_bytes = 64  # every batch starts a new segment
    for i in range(4):
        assert s.accept([rec(f"a{i}", f"k{i}")]) == ["new"]
    assert len(s.spool.segments()) == 4 and s.pending == 4
    assert s.prune(older_than_days=0) == 0      # indexes first: no accepted frame is lost
    assert s.pending == 0 and len(s.spool.segments()) == 4
    s.accept([rec("b", "kb")])
    s.close()
    s = Store(path, clock=clock)
    assert s.counts() == {QUEUED: 5}
    assert sorted(j.delivery_id for j in s.claim(9, [], 60)) == ["a0", "a1", "a2", "a3", "b"]
    s.close()


def test_a_segment_of_bare_bodies_from_before_frames_replays_nothing(tmp_path: Path) -> None:
    """Spools written before frames held bare bodies; their jobs were committed with FULL."""
    (tmp_path / "l.db.spool").mkdir()
    (tmp_path / "l.db.spool" / "00000001.bin").write_bytes(b'{"action": "completed"}' * 40)
    s = Store(str(tmp_path / "l.db"))
    assert s.counts() == {} and s.replay() == 0
    assert s.spool is not None and s.spool.segment == 2   # never appended to
    s.close()
