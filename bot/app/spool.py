"""Append-only segment files holding webhook bodies; the SQLite job rows point into them.

Writing a 10 KB body into SQLite costs about ten times the metadata row (overflow pages,
WAL frames); one ``os.write`` of a whole batch plus one fsync is nearly free, which is
what lets intake keep up with a no-op route (docs/app.md). A body is written (and, with
FULL durability, fsynced) before the transaction that references it commits, so a
committed job never points at missing bytes; bytes orphaned by a crash are harmless.
"""

from __future__ import annotations

import os
from pathlib import Path

SEGMENT_BYTES = 64 * 1024 * 1024


class Spool:
    """Segments ``<n>.bin`` in one directory; a new segment per process start and per 64 MiB."""

    def __init__(self, directory: str, *, fsync: bool = True,
                 segment_bytes: int = SEGMENT_BYTES) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(mode=0o700, exist_ok=True)
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        existing = self.segments()
        self.segment = (max(existing) + 1) if existing else 1
        self._fd = -1
        self._offset = 0
        self._open(self.segment)

    def _path(self, segment: int) -> Path:
        return self.dir / f"{segment:08d}.bin"

    def _open(self, segment: int) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self.segment = segment
        self._fd = os.open(self._path(segment), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._offset = os.fstat(self._fd).st_size

    def segments(self) -> set[int]:
        """Segment numbers present on disk."""
        return {int(p.stem) for p in self.dir.glob("*.bin") if p.stem.isdigit()}

    def append(self, bodies: list[bytes]) -> list[tuple[int, int, int]]:
        """Write bodies (one write, one fsync); returns (segment, offset, length) for each."""
        if not bodies:
            return []
        if self._offset >= self.segment_bytes:
            self._open(self.segment + 1)
        refs: list[tuple[int, int, int]] = []
        offset = self._offset
        for body in bodies:
            refs.append((self.segment, offset, len(body)))
            offset += len(body)
        data = memoryview(b"".join(bodies))
        while data:
            written = os.write(self._fd, data)
            data = data[written:]
        if self.fsync:
            os.fdatasync(self._fd)  # data and the size needed to read it back
        self._offset = offset
        return refs

    def read(self, segment: int, offset: int, length: int) -> bytes:
        """The body at a reference; OSError/ValueError if the bytes are gone or short."""
        fd = os.open(self._path(segment), os.O_RDONLY)
        try:
            data = os.pread(fd, length, offset)
        finally:
            os.close(fd)
        if len(data) != length:
            raise ValueError(f"spool segment {segment} is truncated")
        return data

    def remove_except(self, live: set[int]) -> int:
        """Delete segments no job references (never the current one); returns how many."""
        removed = 0
        for segment in self.segments() - live - {self.segment}:
            self._path(segment).unlink(missing_ok=True)
            removed += 1
        return removed

    def close(self) -> None:
        """Close the current segment."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
