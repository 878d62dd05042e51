"""Zip and gzip reading, capped before and while decompressing; the report-name rule; sniff."""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Literal

from bot.core.limits import DEFAULT_LIMITS, InputRefused, Limits
from bot.core.xmlstream import size

CHUNK = 1 << 20
RATIO_FLOOR = 1 << 20  # ratios are only judged once this many bytes are (to be) produced
# Report-like names: what a directory walk or a zip member must be called to be read.
REPORT_NAME = re.compile(r"\.(xml|trx|junit-xml|junit)(\.gz)?$", re.IGNORECASE)
NESTED = re.compile(r"\.(zip|jar|war|ear|tar|tgz|gz|bz2|xz|7z|rar|zst)$", re.IGNORECASE)
_XML_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


@dataclass
class Member:
    """One zip member: its chunks when readable, else the reason it was refused."""

    name: str
    chunks: Iterable[bytes] | None
    error: str | None = None


@dataclass
class ArchiveStats:
    """What an archive held besides its reports (skipped members are not an error)."""

    members: int = 0
    skipped: int = 0
    skipped_names: list[str] = field(default_factory=list)


def sniff(head: bytes) -> Literal["zip", "gzip", "xml", "unknown"]:
    """The container kind from a file's first bytes."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(_XML_BOMS) or head.lstrip().startswith(b"<") or head.startswith(b"\x00<"):
        return "xml"
    return "unknown"


def bad_name(name: str) -> str | None:
    """Why a member name is unsafe (traversal, absolute, backslash, NUL), or None."""
    if "\x00" in name:
        return "its name contains a NUL byte"
    if "\\" in name:
        return "its name contains a backslash"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "its name is an absolute path"
    if ".." in name.split("/"):
        return "its name climbs out of the archive ('..')"
    return None


def iter_zip(fileobj: BinaryIO, *, name: str, limits: Limits = DEFAULT_LIMITS,
             stats: ArchiveStats | None = None) -> Iterator[Member]:
    """Members of a zip (report-like names only), every cap checked on the central directory
    before a byte is decompressed; a refusal of the whole archive is one Member with an error."""
    stats = stats if stats is not None else ArchiveStats()
    try:
        zf = zipfile.ZipFile(fileobj)
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        yield Member(name, None, f"not a readable zip archive: {exc}")
        return
    stats.members = len(infos)
    if len(infos) > limits.max_zip_members:
        yield Member(name, None, f"refused: the zip has {len(infos):,} members, more than the "
                                 f"limit of {limits.max_zip_members:,} (limits.max_zip_members)")
        return
    wanted = []
    for info in infos:
        if info.is_dir():
            continue
        problem = bad_name(info.filename)
        if problem is None and not REPORT_NAME.search(info.filename):
            stats.skipped += 1
            if len(stats.skipped_names) < 20:
                stats.skipped_names.append(info.filename)
            continue
        wanted.append((info, problem))
    declared = sum(info.file_size for info, problem in wanted if problem is None)
    if declared > limits.max_total_bytes:
        yield Member(name, None, f"refused: the zip's reports would decompress to "
                                 f"{size(declared)}, more than the {size(limits.max_total_bytes)} "
                                 f"cap (limits.max_total_bytes)")
        return
    seen: dict[str, int] = {}
    for info, problem in wanted:
        label = f"{name}!{info.filename}"
        seen[label] = copies = seen.get(label, 0) + 1
        if copies > 1:  # a repeated member name: a distinct path, or the engine reads it once
            label += f" (duplicate {copies})"
        reason = f"refused zip member: {problem}" if problem else _member_problem(info, limits)
        if reason:
            yield Member(label, None, reason)
        else:
            yield Member(label, _read_member(zf, info, limits))


def _member_problem(info: zipfile.ZipInfo, limits: Limits) -> str | None:
    if info.flag_bits & 0x1:
        return "refused zip member: it is encrypted"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return (f"refused zip member: compression method {info.compress_type} is not "
                f"supported (only stored and deflate)")
    if NESTED.search(info.filename):
        return "refused zip member: it is a nested archive (archives inside archives are not read)"
    if info.file_size > limits.max_member_bytes:
        return (f"refused zip member: it would decompress to {size(info.file_size)}, more than "
                f"the {size(limits.max_member_bytes)} cap (limits.max_member_bytes)")
    if info.file_size > RATIO_FLOOR and info.file_size > info.compress_size * limits.max_zip_ratio:
        ratio = info.file_size / max(info.compress_size, 1)
        return (f"refused zip member: it expands {ratio:,.0f}× (limit {limits.max_zip_ratio:g}×, "
                f"limits.max_zip_ratio), the shape of a zip bomb")
    return None


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> Iterator[bytes]:
    """Bounded chunks of one member, counting the bytes really produced."""
    cap = min(info.file_size, limits.max_member_bytes)
    produced = 0
    try:
        with zf.open(info) as stream:
            first = True
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    return
                if first and sniff(chunk[:4]) in ("zip", "gzip"):
                    raise InputRefused("refused zip member: it is a nested archive (archives "
                                       "inside archives are not read)")
                first = False
                produced += len(chunk)
                if produced > cap:
                    raise InputRefused(f"refused zip member: it produced more than its declared "
                                       f"{size(cap)}")
                yield chunk
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError) as exc:
        raise InputRefused(f"corrupt zip member: {exc}") from exc


def iter_gzip(fileobj: BinaryIO, *, name: str, limits: Limits = DEFAULT_LIMITS) -> Iterator[bytes]:
    """Decompressed chunks of a gzip stream (multi-member allowed), capped in size and ratio.

    Raises InputRefused (a readable reason) on a cap, a bomb-like ratio or corrupt data.
    """
    cap = limits.max_file_bytes
    decomp = zlib.decompressobj(wbits=31)
    read = produced = 0
    pending = False  # bytes fed to a gzip member that has not ended yet
    try:
        while True:
            data = fileobj.read(CHUNK)
            if not data:
                break
            read += len(data)
            while data:
                pending = True
                out = decomp.decompress(data, CHUNK)
                data = decomp.unconsumed_tail
                if decomp.eof:
                    pending = False
                    rest = decomp.unused_data
                    decomp = zlib.decompressobj(wbits=31)
                    data = rest if rest.strip(b"\x00") else b""  # trailing NUL padding is fine
                produced += len(out)
                consumed = read - len(data)  # input really used, not merely read: a bomb's
                if produced > cap:            # whole 1 MiB read would allow 200 MiB out
                    raise InputRefused(f"refused: {name} decompresses to more than the "
                                       f"{size(cap)} cap (limits.max_file_bytes)")
                if produced > RATIO_FLOOR and produced > consumed * limits.max_zip_ratio:
                    raise InputRefused(f"refused: {name} expands more than "
                                       f"{limits.max_zip_ratio:g}× (limits.max_zip_ratio), "
                                       f"the shape of a gzip bomb")
                if out:
                    yield out
    except zlib.error as exc:
        raise InputRefused(f"corrupt gzip data in {name}: {exc}") from exc
    if read == 0:
        raise InputRefused(f"{name} is an empty gzip file (0 bytes)")
    if pending:
        raise InputRefused(f"truncated gzip: {name} ends before its compressed data does")
