"""Pytest plugin: the ``fake_github`` fixture (both servers up, problems fail the test)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.fakegithub.server import FakeGitHub
from tests.fakegithub.spec import load_spec


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fake_github(**options): options for the fake_github fixture "
        "(check_responses=True, blob_tls=True); see tests/fakegithub/README.md")


@pytest_asyncio.fixture
async def fake_github(request: pytest.FixtureRequest) -> AsyncIterator[FakeGitHub]:
    """A started FakeGitHub with App ``ci-truth`` and installation 1 (no repositories yet).

    At teardown the test fails if any request was unexpected or had an invalid body; a test
    that provokes such requests on purpose asserts on them and clears the lists.
    """
    marker = request.node.get_closest_marker("fake_github")
    options: dict[str, Any] = dict(marker.kwargs) if marker else {}
    fake = FakeGitHub(spec=load_spec(), **options)
    fake.world.add_installation(1, "octo-org", repo_ids=set())
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
    problems = [str(p) for p in fake.problems()]
    if problems:
        pytest.fail("fake GitHub saw requests nobody expected or invalid bodies:\n  "
                    + "\n  ".join(problems), pytrace=False)
