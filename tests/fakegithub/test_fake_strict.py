"""Tests of the fake GitHub: invalid bodies and unexpected requests fail the test."""

from __future__ import annotations

import pytest
from gidgethub import BadRequest, GitHubBroken, InvalidField, ValidationError

from tests.fakegithub.client import REPO, token_api

pytestmark = pytest.mark.fake_github(check_responses=True)  # the fake answers on-spec


async def test_invalid_body_is_422_and_recorded(fake_github, session, repo):
    gh = await token_api(fake_github, session)
    sha = repo.branches["main"]
    with pytest.raises(InvalidField) as info:
        await gh.post(f"/repos/{REPO}/check-runs",
                      data={"name": "CI Truth", "head_sha": sha, "conclusion": "greenish"})
    assert info.value.status_code == 422
    assert len(fake_github.invalid_bodies) == 1
    assert "greenish" in fake_github.invalid_bodies[0].reason
    assert repo.check_runs == {}
    fake_github.invalid_bodies.clear()


async def test_unknown_query_parameter_is_invalid(fake_github, session, repo):
    gh = await token_api(fake_github, session)
    with pytest.raises(BadRequest):
        await gh.getitem(f"/repos/{REPO}/issues?craetor=me")
    assert "craetor" in fake_github.invalid_bodies[0].reason
    fake_github.invalid_bodies.clear()


async def test_unimplemented_and_unknown_requests_are_unexpected(fake_github, session, repo):
    gh = await token_api(fake_github, session)
    with pytest.raises(GitHubBroken) as info:
        await gh.getitem(f"/repos/{REPO}/branches")  # in the spec, not implemented
    assert info.value.status_code == 501
    with pytest.raises(BadRequest) as info:
        await gh.getitem("/no/such/thing")
    assert info.value.status_code == 404
    with pytest.raises(BadRequest) as info:
        await gh.getitem("/repos/octo-org/unknown-repo/issues")
    assert info.value.status_code == 404
    assert len(fake_github.unexpected) == 3
    fake_github.unexpected.clear()


async def test_allow_only_restricts_a_test(fake_github, session, repo):
    gh = await token_api(fake_github, session)
    fake_github.allow_only(r"GET /contents/")
    await gh.getitem(f"/repos/{REPO}/contents/README.md")
    with pytest.raises(GitHubBroken):
        await gh.getitem(f"/repos/{REPO}/issues")
    assert "not allowed" in fake_github.unexpected[0].reason
    fake_github.unexpected.clear()


async def test_more_than_50_annotations_is_invalid(fake_github, session, repo):
    gh = await token_api(fake_github, session)
    ann = {"path": "a", "start_line": 1, "end_line": 1, "annotation_level": "notice",
           "message": "m"}
    with pytest.raises(InvalidField):
        await gh.post(f"/repos/{REPO}/check-runs", data={
            "name": "CI Truth", "head_sha": repo.branches["main"],
            "output": {"title": "t", "summary": "s", "annotations": [ann] * 51}})
    assert fake_github.invalid_bodies
    fake_github.invalid_bodies.clear()


async def test_commit_status_description_limit(fake_github, session, repo):
    gh = await token_api(fake_github, session)
    with pytest.raises(ValidationError):
        await gh.post(f"/repos/{REPO}/statuses/{repo.branches['main']}",
                      data={"state": "failure", "description": "x" * 141})
    assert "maximum is 140" in fake_github.invalid_bodies[0].reason
    fake_github.invalid_bodies.clear()


async def test_editing_a_persons_comment_is_flagged(fake_github, session, repo):
    issue = repo.add_issue("by a person")
    c = repo.add_comment(issue["number"], "/truth status", user="alice")
    gh = await token_api(fake_github, session)
    await gh.patch(f"/repos/{REPO}/issues/comments/{c['id']}", data={"body": "hijack"})
    assert "authored by alice" in fake_github.unexpected[0].reason
    fake_github.unexpected.clear()


async def test_expecting_removes_only_the_named_problems(fake_github, session, repo):
    gh = await token_api(fake_github, session)
    with fake_github.expecting("not implement") as caught, pytest.raises(GitHubBroken):
        await gh.getitem(f"/repos/{REPO}/branches")
    assert len(caught) == 1 and not fake_github.unexpected
    with pytest.raises(AssertionError, match="expected problems not seen"), \
            fake_github.expecting("Bad credentials"):
        await gh.getitem(f"/repos/{REPO}")
