"""Zip and gzip readers: caps checked before decompressing, hostile names and members refused."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
from pathlib import Path

import pytest

from bot.core.archive import ArchiveStats, Member, iter_gzip, iter_zip, sniff
from bot.core.junit import parse_report
from bot.core.limits import DEFAULT_LIMITS, InputRefused, Limits
from tests.core.readers import EXAMPLES, GENERATED

HEALTHY = (EXAMPLES / "healthy" / "pytest-report.xml").read_bytes()
FAILING = (GENERATED / "pytest-failures.xml").read_bytes()


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    buf.seek(0)
    return buf


def _members(buf: io.BytesIO, limits: Limits = DEFAULT_LIMITS, stats: ArchiveStats | None = None
             ) -> list[Member]:
    return list(iter_zip(buf, name="artifact.zip", limits=limits, stats=stats))


def _drain(member: Member) -> bytes:
    assert member.chunks is not None, member.error
    return b"".join(member.chunks)


def test_reports_are_read_and_other_members_skipped_but_counted() -> None:
    stats = ArchiveStats()
    buf = _zip({"reports/unit.xml": HEALTHY, "reports/it.junit-xml": FAILING,
                "coverage.json": b"{}", "logs/run.txt": b"hello", "dir/": b""})
    members = _members(buf, stats=stats)
    assert [m.name for m in members] == ["artifact.zip!reports/unit.xml",
                                         "artifact.zip!reports/it.junit-xml"]
    assert _drain(members[0]) == HEALTHY and _drain(members[1]) == FAILING
    assert (stats.members, stats.skipped) == (5, 2)
    assert stats.skipped_names == ["coverage.json", "logs/run.txt"]


def test_member_chunks_feed_the_parser() -> None:
    [member] = _members(_zip({"TEST-x.xml": FAILING}))
    assert member.chunks is not None
    report = parse_report(member.chunks, path=member.name, sink=lambda _: None)
    assert report.counts.failed == 3 and report.error is None


@pytest.mark.parametrize("name, reason", [
    ("../../etc/cron.d/x.xml", "climbs out of the archive"),
    ("/abs/report.xml", "absolute path"),
    ("C:/reports/report.xml", "absolute path"),
    ("reports\\report.xml", "backslash"),
])
def test_hostile_names_are_refused(name: str, reason: str) -> None:
    [member] = _members(_zip({name: HEALTHY}))
    assert member.chunks is None and member.error is not None
    assert member.error.startswith("refused zip member") and reason in member.error


def test_encrypted_member_refused_before_reading() -> None:
    out = bytearray(_zip({"report.xml": HEALTHY}).getvalue())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # flag bit 0
        at = out.index(signature) + offset
        struct.pack_into("<H", out, at, struct.unpack_from("<H", out, at)[0] | 0x1)
    [member] = _members(io.BytesIO(bytes(out)))
    assert member.error == "refused zip member: it is encrypted"


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_other_compression_methods_refused(method: int) -> None:
    [member] = _members(_zip({"report.xml": HEALTHY}, method))
    assert member.error is not None and "only stored and deflate" in member.error


def test_stored_members_are_read() -> None:
    [member] = _members(_zip({"report.xml": HEALTHY}, zipfile.ZIP_STORED))
    assert _drain(member) == HEALTHY


def test_nested_archives_refused_by_name_and_by_content() -> None:
    inner = _zip({"report.xml": HEALTHY}).getvalue()
    by_name, by_content = _members(_zip({"inner.xml.gz": gzip.compress(HEALTHY),
                                         "sneaky.xml": inner}))
    assert by_name.error is not None and "nested archive" in by_name.error
    assert by_content.chunks is not None
    with pytest.raises(InputRefused, match="nested archive"):
        b"".join(by_content.chunks)


def test_too_many_members_refused_whole() -> None:
    buf = _zip({f"r{i}.xml": HEALTHY for i in range(12)})
    [member] = _members(buf, Limits(max_zip_members=10))
    assert member.name == "artifact.zip" and member.chunks is None
    assert member.error is not None and "12 members, more than the limit of 10" in member.error


def test_zip_bomb_refused_from_the_directory_alone() -> None:
    buf = _zip({"bomb.xml": b"<" + b"\0" * (64 << 20)})
    [member] = _members(buf)
    assert member.error is not None and "zip bomb" in member.error


def test_member_and_total_caps() -> None:
    [member] = _members(_zip({"a.xml": HEALTHY}), Limits(max_member_bytes=100))
    assert member.error is not None and "more than the 100 bytes cap" in member.error
    [member] = _members(_zip({"a.xml": HEALTHY, "b.xml": HEALTHY}),
                        Limits(max_total_bytes=1000))
    assert member.error is not None and "limits.max_total_bytes" in member.error


def _patch_sizes(data: bytes, new_size: int) -> bytes:
    """Make a one-member zip lie about its uncompressed size (local and central headers)."""
    out = bytearray(data)
    local = out.index(b"PK\x03\x04")
    struct.pack_into("<I", out, local + 22, new_size)
    central = out.index(b"PK\x01\x02")
    struct.pack_into("<I", out, central + 24, new_size)
    return bytes(out)


def test_lying_size_header_is_caught_while_reading() -> None:
    buf = io.BytesIO(_patch_sizes(_zip({"report.xml": FAILING}).getvalue(), 100))
    [member] = _members(buf)
    assert member.chunks is not None
    with pytest.raises(InputRefused):
        b"".join(member.chunks)
    report = parse_report(_members(io.BytesIO(buf.getvalue()))[0].chunks or [], path="x",
                          sink=lambda _: None)
    assert report.error is not None


@pytest.mark.parametrize("data", [b"", b"PK\x03\x04 this is not a zip", b"garbage" * 10])
def test_not_a_zip(data: bytes) -> None:
    [member] = _members(io.BytesIO(data))
    assert member.error is not None and member.error.startswith("not a readable zip archive")


def test_gzip_round_trip_and_multi_member() -> None:
    data = gzip.compress(HEALTHY) + gzip.compress(FAILING)
    assert b"".join(iter_gzip(io.BytesIO(data), name="r.xml.gz")) == HEALTHY + FAILING


@pytest.mark.parametrize("data, message", [
    (gzip.compress(FAILING)[:-20], "truncated gzip"),
    (b"", "empty gzip file"),
    (b"\x1f\x8b\x08garbage-garbage", "corrupt gzip data"),
])
def test_bad_gzip(data: bytes, message: str) -> None:
    with pytest.raises(InputRefused, match=message):
        b"".join(iter_gzip(io.BytesIO(data), name="r.xml.gz"))


def test_gzip_bomb_and_cap() -> None:
    bomb = gzip.compress(b"\0" * (64 << 20))
    with pytest.raises(InputRefused, match="gzip bomb"):
        b"".join(iter_gzip(io.BytesIO(bomb), name="b.gz"))
    with pytest.raises(InputRefused, match="more than the 1000 bytes cap"):
        b"".join(iter_gzip(io.BytesIO(gzip.compress(FAILING)), name="r.gz",
                           limits=Limits(max_file_bytes=1000)))


def test_gzip_bomb_ratio_counts_input_used_not_read() -> None:
    """The whole (small) bomb is read at once; the ratio must use what inflate consumed, or
    200× the read size is produced (and parsed) before the refusal."""
    bomb = gzip.compress(b"\0" * (64 << 20))
    out = 0
    with pytest.raises(InputRefused, match="gzip bomb"):
        for chunk in iter_gzip(io.BytesIO(bomb), name="b.gz"):
            out += len(chunk)
    assert out <= 2 << 20


def test_numpy_report_through_gzip(corpus: Path) -> None:
    path = corpus / "large" / "numpy-pytest.full.junit.xml.gz"
    with path.open("rb") as fh:
        report = parse_report(iter_gzip(fh, name=str(path)), path=str(path), sink=lambda _: None)
    c = report.counts
    assert report.error is None and report.mismatches == []
    assert (c.tests, c.failed, c.errors, c.skipped, c.flaky) == (48_021, 2, 39, 426, 0)


@pytest.mark.parametrize("head, kind", [
    (b"PK\x03\x04rest", "zip"), (b"PK\x05\x06", "zip"), (b"\x1f\x8b\x08", "gzip"),
    (b"<?xml", "xml"), (b"\xef\xbb\xbf<?xml", "xml"), (b"\xff\xfe<\x00", "xml"),
    (b"  \n<testsuite", "xml"), (b"hello", "unknown"), (b"", "unknown"),
])
def test_sniff(head: bytes, kind: str) -> None:
    assert sniff(head) == kind


def test_members_with_one_name_are_all_read() -> None:
    # A zip may hold one name twice (`zip` or zipfile appending each shard's junit.xml):
    # both got the label "artifact.zip!junit.xml", and the engine, which reads a path
    # once, dropped the second: its failures vanished and the verdict was a pass.
    from bot.core.engine import evaluate
    from bot.core.model import Source

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("junit.xml", HEALTHY)
        zf.writestr("junit.xml", FAILING)
    members = _members(io.BytesIO(buf.getvalue()))
    assert [m.name for m in members] == ["artifact.zip!junit.xml",
                                         "artifact.zip!junit.xml (duplicate 2)"]
    assert _drain(members[1]) == FAILING
    members = _members(io.BytesIO(buf.getvalue()))
    result = evaluate([Source(m.name, chunks=m.chunks, error=m.error) for m in members])
    assert result.state.totals.failed == 3 and result.verdict.conclusion == "failure"
