"""Filesystem adapter: paths (files, directories, .zip, .gz) → core Sources, read lazily.

Directory rule: walked recursively in sorted order without following symlinked directories;
only report-like names are read (archive.REPORT_NAME: *.xml, *.trx, *.junit-xml, *.junit,
each optionally .gz); zips inside directories are not opened. A path given explicitly is
always read, whatever its name: its first bytes decide zip, gzip or XML. A pipe
(`/dev/stdin`, `<(...)`) is opened once and streamed; a piped zip is first copied to a
temporary file (zips are read from their end), within limits.max_total_bytes.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from typing import IO, TYPE_CHECKING, BinaryIO

from bot.core.archive import CHUNK, REPORT_NAME, ArchiveStats, iter_gzip, iter_zip, sniff
from bot.core.limits import DEFAULT_LIMITS, InputRefused, Limits
from bot.core.model import Source
from bot.core.xmlstream import size

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


class _Budget:
    """Bytes read across every source of one evaluation (limits.max_total_bytes)."""

    def __init__(self, limits: Limits) -> None:
        self.left = limits.max_total_bytes
        self.cap = limits.max_total_bytes

    def take(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.left -= len(chunk)
            if self.left < 0:
                raise InputRefused(f"refused: all reports together exceed the {size(self.cap)} "
                                   f"cap (limits.max_total_bytes)")
            yield chunk


def shown(path: str) -> str:
    """A path as writable text: bytes that are not UTF-8 (os.walk's surrogates) as ``\\xNN``.

    Escaped, not replaced by U+FFFD: two names differing only in such a byte stay two paths
    (the engine reads each path once, so a shared label would drop the second report).
    """
    return os.fsencode(path).decode("utf-8", errors="backslashreplace")


def _file_chunks(path: str, name: str) -> Iterator[bytes]:
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk
    except OSError as exc:
        raise InputRefused(f"could not read {name}: {exc.strerror or exc}") from exc


def _gzip_chunks(path: str, name: str, limits: Limits) -> Iterator[bytes]:
    try:
        with open(path, "rb") as fh:
            yield from iter_gzip(fh, name=name, limits=limits)
    except OSError as exc:
        raise InputRefused(f"could not read {name}: {exc.strerror or exc}") from exc


class _Unread(io.RawIOBase):
    """A stream that cannot seek back (a pipe) with the bytes already read from it in front."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        super().__init__()
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self.head[:len(view)] or self.rest.read(len(view))
        self.head = self.head[len(data):]
        view[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self.rest.close()
        super().close()


def _stream_chunks(stream: BinaryIO, name: str, limits: Limits, gzipped: bool
                   ) -> Iterator[bytes]:
    try:
        with stream:
            if gzipped:
                yield from iter_gzip(stream, name=name, limits=limits)
            else:
                while chunk := stream.read(CHUNK):
                    yield chunk
    except OSError as exc:
        raise InputRefused(f"could not read {name}: {exc.strerror or exc}") from exc


def _spool(stream: BinaryIO, name: str, limits: Limits) -> BinaryIO:
    """A piped zip copied to a temporary file (zip readers seek), within max_total_bytes."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - returned open, closed with the zip
    copied = 0
    try:
        with stream:
            while chunk := stream.read(CHUNK):
                copied += len(chunk)
                if copied > limits.max_total_bytes:
                    raise InputRefused(f"refused: {name} is larger than the "
                                       f"{size(limits.max_total_bytes)} cap "
                                       f"(limits.max_total_bytes)")
                spool.write(chunk)
    except OSError as exc:
        spool.close()
        raise InputRefused(f"could not read {name}: {exc.strerror or exc}") from exc
    except InputRefused:
        spool.close()
        raise
    spool.seek(0)
    return spool


def _zip_sources(fileobj: BinaryIO, name: str, limits: Limits, budget: _Budget,
                 stats: ArchiveStats | None) -> Iterator[Source]:
    """A zip's members as Sources, their bytes charged to the evaluation's budget."""
    for member in iter_zip(fileobj, name=name, limits=limits, stats=stats):
        chunks = None if member.chunks is None else budget.take(iter(member.chunks))
        yield Source(member.name, chunks=chunks, error=member.error)


def _one_stream(path: str, name: str, limits: Limits, budget: _Budget,
                stats: ArchiveStats | None) -> Iterator[Source]:
    """A pipe or device, opened once: its first bytes decide the kind and are read again."""
    try:
        raw = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the chunks' reader
        head = b""
        while len(head) < 8 and (more := raw.read(8 - len(head))):
            head += more
    except OSError as exc:
        yield Source(name, error=f"could not read {name}: {exc.strerror or exc}")
        return
    stream = io.BufferedReader(_Unread(head, raw), CHUNK)
    kind = sniff(head)
    if kind == "zip":
        try:
            spool = _spool(stream, name, limits)
        except InputRefused as exc:
            yield Source(name, error=str(exc))
            return
        yield from _zip_sources(spool, name, limits, budget, stats)
    else:
        yield Source(name, chunks=budget.take(_stream_chunks(stream, name, limits,
                                                             kind == "gzip")))


def _one_file(path: str, limits: Limits, budget: _Budget,
              stats: ArchiveStats | None) -> Iterator[Source]:
    name = shown(path)
    try:
        seekable = stat.S_ISREG(os.stat(path).st_mode)
    except OSError as exc:
        yield Source(name, error=f"could not read {name}: {exc.strerror or exc}")
        return
    if not seekable:   # `<(cat r.xml)`, `/dev/stdin` on a pipe: a second open starts mid-way
        yield from _one_stream(path, name, limits, budget, stats)
        return
    try:
        with open(path, "rb") as fh:
            kind = sniff(fh.read(8))
    except OSError as exc:
        yield Source(name, error=f"could not read {name}: {exc.strerror or exc}")
        return
    if kind == "zip":
        try:
            fh = open(path, "rb")  # noqa: SIM115 - stays open while members are read lazily
        except OSError as exc:
            yield Source(name, error=f"could not read {name}: {exc.strerror or exc}")
            return
        yield from _zip_sources(fh, name, limits, budget, stats)
    elif kind == "gzip":
        yield Source(name, chunks=budget.take(_gzip_chunks(path, name, limits)))
    else:
        yield Source(name, chunks=budget.take(_file_chunks(path, name)))


def _walk(root: str) -> Iterator[str]:
    for top, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if REPORT_NAME.search(name):
                full = os.path.join(top, name)
                if os.path.isfile(full):
                    yield full


def iter_sources(paths: Sequence[str], limits: Limits = DEFAULT_LIMITS, *,
                 stats: ArchiveStats | None = None) -> Iterator[Source]:
    """One Source per report found under `paths`; a missing path is a Source with an error.

    Nothing is read until a Source's chunks are iterated (1 MiB at a time); zip members
    are checked against the caps on the archive's directory before any is decompressed.
    """
    budget = _Budget(limits)
    seen: set[str] = set()  # real paths: `./reports` and `reports/a.xml` name one file once

    def first_time(file: str) -> bool:
        key = os.path.realpath(file)
        if key in seen:
            return False
        seen.add(key)
        return True

    for path in paths:
        if os.path.isdir(path):
            for file in _walk(path):  # an empty directory yields nothing: no-evidence
                if first_time(file):
                    yield from _one_file(file, limits, budget, stats)
        elif os.path.exists(path):
            if first_time(path):
                yield from _one_file(path, limits, budget, stats)
        else:
            yield Source(shown(path), error=f"no such file or directory: {shown(path)}")
