"""The fake answers like GitHub where the App branches on the answer."""

from __future__ import annotations

import pytest

from bot.app import judging
from bot.app.judging import Repo
from tests.fakegithub.client import REPO, token_api

pytestmark = pytest.mark.fake_github(check_responses=True)

BIG = "# padding\n" * 120_000 + "gate: {}\n"     # ~1.2 MB, a valid config otherwise


async def test_contents_over_1_mb_have_no_inline_content(fake_github, session, repo):
    repo.commit({".github/ci-truth.yml": BIG})
    gh = await token_api(fake_github, session)
    doc = await gh.getitem(f"/repos/{REPO}/contents/.github/ci-truth.yml")
    assert doc["type"] == "file" and doc["size"] == len(BIG)
    assert doc["encoding"] == "none" and doc["content"] == ""
    raw = await gh.getitem(f"/repos/{REPO}/contents/.github/ci-truth.yml",
                           accept="application/vnd.github.raw")
    assert len(raw) == len(BIG)


async def test_app_reports_an_oversized_config(fake_github, session, repo):
    repo.commit({".github/ci-truth.yml": BIG})
    gh = await token_api(fake_github, session)
    info = Repo.of(await gh.getitem(f"/repos/{REPO}"))
    config, error = await judging.load_config(gh, info)
    assert config is judging.DEFAULT_CONFIG and error and "over 1 MB" in error
