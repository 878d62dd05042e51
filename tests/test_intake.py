"""Filesystem intake: files, directories, zips and gzips become lazy Sources."""

from __future__ import annotations

import gzip
import os
import shutil
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.core.archive import ArchiveStats
from bot.core.junit import parse_report
from bot.core.limits import Limits
from bot.core.model import FileReport, Source
from bot.intake import iter_sources
from tests.core.readers import EXAMPLES, GENERATED


def _parse(source: Source) -> FileReport:
    assert source.chunks is not None, source.error
    return parse_report(source.chunks, path=source.path, sink=lambda _: None)


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    (root / "shard-1" / "nested").mkdir(parents=True)
    (root / "shard-2").mkdir()
    shutil.copy(EXAMPLES / "sharded" / "shard-1.xml", root / "shard-1" / "nested" / "TEST-a.xml")
    shutil.copy(EXAMPLES / "sharded" / "shard-2.xml", root / "shard-2" / "report.junit-xml")
    (root / "shard-2" / "report.xml.gz").write_bytes(
        gzip.compress((GENERATED / "pytest-failures.xml").read_bytes()))
    (root / "shard-2" / "coverage.json").write_text("{}")
    (root / "shard-2" / "notes.txt").write_text("<testsuite><testcase/></testsuite>")
    return root


def test_directory_is_walked_recursively_for_report_names_only(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    sources = list(iter_sources([str(root)]))
    names = [Path(s.path).relative_to(root).as_posix() for s in sources]
    assert names == ["shard-1/nested/TEST-a.xml", "shard-2/report.junit-xml",
                     "shard-2/report.xml.gz"]
    tests = [_parse(s).counts.tests for s in sources]
    assert tests == [7, 0, 7]


def test_explicit_file_is_read_whatever_its_name(tmp_path: Path) -> None:
    odd = tmp_path / "results.log"
    shutil.copy(EXAMPLES / "healthy" / "pytest-report.xml", odd)
    [source] = iter_sources([str(odd)])
    assert _parse(source).counts.passed == 7


def test_zip_members_become_sources(tmp_path: Path) -> None:
    artifact = tmp_path / "artifact.zip"
    with zipfile.ZipFile(artifact, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(EXAMPLES / "healthy" / "pytest-report.xml", "unit/pytest.xml")
        zf.write(GENERATED / "node-test-junit.xml", "node.xml")
        zf.writestr("../evil.xml", "<testsuite/>")
        zf.writestr("README.md", "hi")
    stats = ArchiveStats()
    sources = list(iter_sources([str(artifact)], stats=stats))
    assert [s.path for s in sources] == [f"{artifact}!unit/pytest.xml", f"{artifact}!node.xml",
                                         f"{artifact}!../evil.xml"]
    assert [_parse(s).counts.tests for s in sources[:2]] == [7, 5]
    assert sources[2].error is not None and "climbs out" in sources[2].error
    assert stats.skipped == 1


def test_gzip_by_content(tmp_path: Path) -> None:
    packed = tmp_path / "report.bin"
    packed.write_bytes(gzip.compress((GENERATED / "pytest-failures.xml").read_bytes()))
    [source] = iter_sources([str(packed)])
    assert _parse(source).counts.failed == 3


def test_missing_path_is_a_source_with_an_error(tmp_path: Path) -> None:
    [source] = iter_sources([str(tmp_path / "nope.xml")])
    assert source.chunks is None
    assert source.error == f"no such file or directory: {tmp_path / 'nope.xml'}"


def test_empty_directory_yields_nothing(tmp_path: Path) -> None:
    assert list(iter_sources([str(tmp_path)])) == []


def test_reading_is_lazy(tmp_path: Path) -> None:
    report = tmp_path / "r.xml"
    shutil.copy(EXAMPLES / "healthy" / "pytest-report.xml", report)
    [source] = iter_sources([str(report)])
    report.unlink()  # the Source exists, nothing was read yet
    result = _parse(source)
    assert result.error is not None and result.error.startswith("could not read")


def test_total_cap_across_sources(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    sources = list(iter_sources([str(root)], Limits(max_total_bytes=1000)))
    errors = [_parse(s).error for s in sources]
    assert errors[0] is None
    assert errors[-1] is not None and "all reports together exceed" in errors[-1]


def test_a_report_named_twice_is_read_once_however_the_path_is_spelled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # docs/verdict-rules.md: "A report path given twice (`check reports/ reports/a.xml`) is
    # read once" -- also when the directory is given as `./reports`, absolutely, or as `.`.
    from bot.core.engine import measure

    (tmp_path / "reports").mkdir()
    shutil.copy(EXAMPLES / "healthy" / "pytest-report.xml", tmp_path / "reports" / "a.xml")
    monkeypatch.chdir(tmp_path)
    for paths in (["reports/", "reports/a.xml"], ["./reports", "reports/a.xml"],
                  [str(tmp_path / "reports"), "reports/a.xml"], [".", "reports/a.xml"],
                  ["reports", "reports//a.xml"]):
        state = measure(iter_sources(paths))
        assert (len(state.files), state.totals.tests) == (1, 7), paths


@pytest.fixture
def piped() -> Iterator[Callable[[bytes], str]]:
    """Pipes a writer fills once, as `ci-truth check <(cat r.xml)` reads them: no seeking back."""
    ends: list[int] = []

    def make(data: bytes) -> str:
        read_end, write_end = os.pipe()
        ends.append(read_end)

        def feed() -> None:
            with open(write_end, "wb") as fh:
                fh.write(data)
        threading.Thread(target=feed, daemon=True).start()
        return f"/dev/fd/{read_end}"
    yield make
    for end in ends:
        os.close(end)


@pytest.mark.skipif(not os.path.isdir("/dev/fd"), reason="needs /dev/fd")
@pytest.mark.parametrize("kind", ["xml", "gzip", "zip"])
def test_a_report_read_from_a_pipe_keeps_its_first_bytes(
        tmp_path: Path, piped: Callable[[bytes], str], kind: str) -> None:
    report = (GENERATED / "pytest-failures.xml").read_bytes()
    if kind == "gzip":
        data = gzip.compress(report)
    elif kind == "zip":
        artifact = tmp_path / "artifact.zip"
        with zipfile.ZipFile(artifact, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("reports/pytest.xml", report)
        data = artifact.read_bytes()
    else:
        data = report
    path = piped(data)
    [source] = iter_sources([path])
    assert source.path == (f"{path}!reports/pytest.xml" if kind == "zip" else path)
    result = _parse(source)
    assert (result.error, result.counts.tests, result.counts.failed) == (None, 7, 3)


@pytest.mark.skipif(not os.path.isdir("/dev/fd"), reason="needs /dev/fd")
def test_a_piped_zip_is_held_to_the_total_cap(
        tmp_path: Path, piped: Callable[[bytes], str]) -> None:
    artifact = tmp_path / "artifact.zip"
    with zipfile.ZipFile(artifact, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.write(GENERATED / "pytest-failures.xml", "reports/pytest.xml")
    path = piped(artifact.read_bytes())
    [source] = iter_sources([path], Limits(max_total_bytes=1000))
    assert source.chunks is None and source.error is not None
    assert "limits.max_total_bytes" in source.error
