"""The JUnit reader tests run twice: with the C accelerator (when built) and pure Python."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.core import xmlaccel

READERS = ["native", "pure"] if xmlaccel.available() else ["pure"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if module.startswith("test_junit") and module != "test_junit_native":
        metafunc.parametrize("reader", READERS, indirect=True)


@pytest.fixture(autouse=True)
def reader(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """In test_junit*.py, parse_report's default reader is each implementation in turn."""
    choice = getattr(request, "param", None)
    if choice is None:
        yield None
        return
    before = xmlaccel.enabled()
    xmlaccel.use(choice == "native")
    try:
        yield choice
    finally:
        xmlaccel.use(before)
