"""The fake answers like GitHub where the App branches on the answer."""

from __future__ import annotations

import pytest

from tests.fakegithub.client import REPO, token_api

pytestmark = pytest.mark.fake_github(check_responses=True)


async def test_issue_list_omits_closed_by(fake_github, session, repo):
    issue = repo.add_issue("Phase 1", user="ci-truth[bot]")
    repo.close_issue(issue["number"], by="alice")
    gh = await token_api(fake_github, session)
    [listed] = [i async for i in gh.getiter(f"/repos/{REPO}/issues?state=all")]
    assert listed["state"] == "closed" and "closed_by" not in listed
    one = await gh.getitem(f"/repos/{REPO}/issues/{issue['number']}")
    assert one["closed_by"]["login"] == "alice"
