"""Fixtures for the fake's own tests: an aiohttp session and a seeded repository."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from tests.fakegithub import FakeGitHub, FakeRepo
from tests.fakegithub.client import REPO


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def repo(fake_github: FakeGitHub) -> FakeRepo:
    """``octo-org/octo-repo`` on installation 1, with a config file on the default branch."""
    return fake_github.world.add_repo(REPO, files={".github/ci-truth.yml": "gate: {}\n"})
