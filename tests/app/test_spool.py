"""Spool segments: references round-trip, new segment per start, unused segments removed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app.spool import Spool
from bot.app.store import FAILED, LOST, QUEUED, Record, Store
from bot.app.worker import prepare


def test_append_read_and_segments(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "s"), segment_bytes=10)
    refs = spool.append([b"hello", b"", b"world!"])
    assert [spool.read(*r) for r in refs] == [b"hello", b"", b"world!"]
    (later,) = spool.append([b"next"])  # the segment passed 10 bytes: a new one
    assert later[0] == refs[0][0] + 1
    spool.close()
    again = Spool(str(tmp_path / "s"))
    assert again.segment == later[0] + 1  # never appends to a segment of a previous run
    assert again.read(*refs[2]) == b"world!"
    assert again.remove_except({later[0]}) == 1
    with pytest.raises(OSError):
        again.read(*refs[0])
    again.close()


def test_missing_spool_bytes_fail_the_job_with_a_reason(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite")
    store = Store(path)
    store.record_batch([Record("d", "push", None, None, None, QUEUED, body=b'{"x": 1}')])
    store.close()
    for seg in (tmp_path / "db.sqlite.spool").glob("*.bin"):
        seg.write_bytes(b"")  # lost or truncated storage
    store = Store(path)
    assert store.claim(1, [], 60, prepare) == []
    row = store.job("d")
    assert row is not None and row["state"] == FAILED
    assert row["last_error"] == LOST
    store.close()


def test_frames_scan_back_and_oversized_metadata_is_refused(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "f"))
    refs = spool.append([b'{"a": 1}', b""], [b"d-1\x1fpush", b"d-2\x1fping"])
    frames = list(spool.scan(spool.segment))
    assert [(m, off, n) for m, off, n, _ in frames] == [
        (b"d-1\x1fpush", *refs[0][1:]), (b"d-2\x1fping", *refs[1][1:])]
    with pytest.raises(ValueError, match="metadata"):
        spool.append([b"{}"], [b"x" * (1 << 17)])
    assert len(list(spool.scan(spool.segment))) == 2  # nothing was written
    spool.close()
