"""Append-only segment files of framed webhook records: the intake's write-ahead log.

Writing a 10 KB body into SQLite costs about ten times the metadata row (overflow pages,
WAL frames); one ``os.write`` of a whole batch plus one fsync is nearly free, which is
what lets intake keep up with a no-op route (docs/app.md). Each record is a frame: a
header (magic, lengths, CRC-32), the delivery's metadata and its body. Once a batch's
frames are fsynced the delivery is durable, even before SQLite indexes it: at start-up the
store replays frames past what it indexed (``scan``), and a torn frame (a crash in the
middle of a write, never acknowledged) ends the replay of its segment.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

SEGMENT_BYTES = 64 * 1024 * 1024
MAGIC = b"CTJ1"
_HEAD = struct.Struct("<4sIII")  # magic, metadata length, body length, CRC-32 of both
HEAD_BYTES = _HEAD.size
_MAX_META = 1 << 16
_IOV_MAX = 1024    # buffers per writev (Linux's IOV_MAX)
_ZERO_MIN, _ZERO_MAX = 256 * 1024, 4 * 1024 * 1024
_ZEROS = bytes(1024 * 1024)
_CRC_PIECE = 5 * 1024  # zlib releases the GIL above 5 KiB; a hand-off per body costs more


def _crc(meta: bytes, body: bytes) -> int:
    crc = zlib.crc32(meta)
    view = memoryview(body)
    for start in range(0, len(view), _CRC_PIECE):
        crc = zlib.crc32(view[start:start + _CRC_PIECE], crc)
    return crc


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
        self._zeroed = 0  # bytes of the segment already written (zeros past the data)
        self._open(self.segment)

    def _path(self, segment: int) -> Path:
        return self.dir / f"{segment:08d}.bin"

    def _open(self, segment: int) -> None:
        """Start a new segment (never one that exists: frames are only added to our own)."""
        if self._fd >= 0:
            os.close(self._fd)
        while True:
            try:
                fd = os.open(self._path(segment), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
                break
            except FileExistsError:
                segment += 1
        self.segment, self._fd, self._offset, self._zeroed = segment, fd, 0, 0

    def _reserve(self, end: int) -> None:
        """Zeros ahead of the data, so that a batch's fdatasync flushes data blocks only.

        Appending grows the file, and then every fdatasync must also commit the new size
        and extents to the filesystem journal; overwriting blocks already written does not.
        The zeros are written (and synced) in steps doubling from 256 KiB to 4 MiB, so the
        extra syncs are a few per segment. A replay stops at the zeros: they are no frame.
        """
        if end <= self._zeroed:
            return
        step = min(_ZERO_MAX, max(_ZERO_MIN, self._zeroed))
        target = max(end, self._zeroed + step)
        at = self._zeroed
        while at < target:
            n = min(len(_ZEROS), target - at)
            at += os.pwrite(self._fd, _ZEROS[:n], at)
        if self.fsync:
            os.fdatasync(self._fd)
        self._zeroed = at

    def segments(self) -> set[int]:
        """Segment numbers present on disk."""
        return {int(p.stem) for p in self.dir.glob("*.bin") if p.stem.isdigit()}

    def append(self, bodies: list[bytes],
               metas: list[bytes] | None = None) -> list[tuple[int, int, int]]:
        """Write framed records (one pwritev, one fsync); (segment, offset, length) of each body.

        ``metas`` (default empty) are what a replay needs besides the body, opaque here.
        """
        if not bodies:
            return []
        if self._offset >= self.segment_bytes:
            self._open(self.segment + 1)
        metas = metas if metas is not None else [b""] * len(bodies)
        refs: list[tuple[int, int, int]] = []
        parts: list[bytes] = []
        offset = self._offset
        for meta, body in zip(metas, bodies, strict=True):
            if len(meta) > _MAX_META:  # scan() would take it for garbage: refuse it here
                raise ValueError(f"spool metadata over {_MAX_META} bytes")
            parts += (_HEAD.pack(MAGIC, len(meta), len(body), _crc(meta, body)), meta, body)
            offset += HEAD_BYTES + len(meta)
            refs.append((self.segment, offset, len(body)))
            offset += len(body)
        self._reserve(offset)
        self._write(parts, self._offset)
        if self.fsync:
            os.fdatasync(self._fd)  # data and the size needed to read it back
        self._offset = offset
        return refs

    def _write(self, parts: list[bytes], at: int) -> None:
        """All of ``parts``, in order from offset ``at``, in as few system calls as allowed."""
        for start in range(0, len(parts), _IOV_MAX):
            chunk = parts[start:start + _IOV_MAX]
            size = sum(map(len, chunk))
            written = os.pwritev(self._fd, chunk, at)  # no copy into one buffer first
            if written < size:  # short write (rare on files): the rest, plainly
                rest = memoryview(b"".join(chunk))[written:]
                while rest:
                    n = os.pwrite(self._fd, rest, at + written)
                    written += n
                    rest = rest[n:]
            at += size

    def scan(self, segment: int, start: int = 0) -> Iterator[tuple[bytes, int, int, int]]:
        """Whole frames from ``start``: (metadata, body offset, body length, frame end).

        Stops at the end of the segment or at the first frame that is torn, corrupt or not
        a frame at all (a segment written before frames existed holds bare bodies).
        """
        with open(self._path(segment), "rb") as f:
            f.seek(start)
            offset = start
            while True:
                head = f.read(HEAD_BYTES)
                if len(head) < HEAD_BYTES:
                    return
                magic, meta_len, body_len, crc = _HEAD.unpack(head)
                if magic != MAGIC or meta_len > _MAX_META:
                    return
                meta = f.read(meta_len)
                body = f.read(body_len)
                if len(meta) != meta_len or len(body) != body_len:
                    return
                if _crc(meta, body) != crc:
                    return
                body_at = offset + HEAD_BYTES + meta_len
                offset = body_at + body_len
                yield meta, body_at, body_len, offset

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
