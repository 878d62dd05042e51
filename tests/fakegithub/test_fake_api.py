"""Tests of the fake GitHub: checks, artifacts and the blob host, HTTP behaviour, faults, issues."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import aiohttp
import pytest
from gidgethub import BadRequest, GitHubBroken, RateLimitExceeded, ValidationError

from tests.fakegithub import seed_workflow_run
from tests.fakegithub.client import REPO, api, token_api

pytestmark = pytest.mark.fake_github(check_responses=True)  # the fake answers on-spec


async def test_check_run_lifecycle_and_annotations(fake_github, session, repo):
    gh = await token_api(fake_github, session)
    sha = repo.branches["main"]
    cr = await gh.post(f"/repos/{REPO}/check-runs",
                       data={"name": "CI Truth", "head_sha": sha, "status": "in_progress"})
    assert cr["status"] == "in_progress" and cr["app"]["id"] == fake_github.world.app.id
    ann = {"path": "tests/test_x.py", "start_line": 3, "end_line": 3,
           "annotation_level": "failure", "message": "boom"}
    for _ in range(2):
        await gh.patch(f"/repos/{REPO}/check-runs/{cr['id']}", data={
            "output": {"title": "t", "summary": "s", "annotations": [ann] * 50}})
    done = await gh.patch(f"/repos/{REPO}/check-runs/{cr['id']}",
                          data={"conclusion": "failure", "output": {"title": "0 tests",
                                                                    "summary": "none ran"}})
    assert done["status"] == "completed" and done["output"]["annotations_count"] == 100
    listed = await gh.getitem(f"/repos/{REPO}/commits/main/check-runs?check_name=CI+Truth")
    assert listed["total_count"] == 1 and listed["check_runs"][0]["conclusion"] == "failure"
    anns = [a async for a in gh.getiter(f"/repos/{REPO}/check-runs/{cr['id']}/annotations")]
    assert len(anns) == 100
    assert len(fake_github.calls("POST", r"/check-runs$")) == 1


async def test_a_moved_repository_redirects_its_old_name_to_its_id(fake_github, session, repo):
    gh = await token_api(fake_github, session)
    fake_github.world.move_repo(repo, "new-owner/new-name")
    auth = {"Authorization": f"token {gh.oauth_token}"}
    moved = f"{fake_github.api_url}/repositories/{repo.id}"
    for method, status in (("GET", 301), ("POST", 307)):
        async with session.request(method, f"{fake_github.api_url}/repos/{REPO}/issues?x=1",
                                   headers=auth, allow_redirects=False, json={}) as resp:
            assert resp.status == status                     # as in the rename-repository fixture
            assert resp.headers["location"] == f"{moved}/issues?x=1"
            assert (await resp.json())["url"] == f"{moved}/issues?x=1"
    assert (await gh.getitem(f"/repos/{REPO}"))["full_name"] == "new-owner/new-name"  # followed
    issue = await gh.post(f"/repos/{REPO}/issues", data={"title": "t"})  # 307 keeps the body
    assert repo.issues[issue["number"]]["title"] == "t"


async def test_artifact_302_to_blob_host_without_authorization(fake_github, session, corpus):
    seeded = seed_workflow_run(fake_github.world, reports={"junit.xml": "<testsuite tests='0'/>"})
    gh = await token_api(fake_github, session)
    run = seeded.run
    arts = await gh.getitem(f"/repos/{seeded.repo.full_name}/actions/runs/{run['id']}/artifacts")
    assert arts["total_count"] == 1
    url = fake_github.api_url + (
        f"/repos/{seeded.repo.full_name}/actions/artifacts/{arts['artifacts'][0]['id']}/zip")
    auth = {"Authorization": f"token {gh.oauth_token}"}
    async with session.get(url, headers=auth, allow_redirects=False) as resp:
        assert resp.status == 302
        location = resp.headers["location"]
    assert location.startswith(fake_github.blob_url)
    async with session.get(location, headers=auth) as resp:  # the mistake the App must not make
        assert resp.status == 400
        assert "InvalidAuthenticationInfo" in await resp.text()
    assert "credentials sent to the blob host" in fake_github.unexpected[0].reason
    fake_github.unexpected.clear()
    async with session.get(location) as resp:
        assert resp.status == 200
        data = await resp.read()
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["junit.xml"]
    assert all(r.auth_scheme is None for r in fake_github.calls(host="blob")[1:])


async def test_expired_artifact_is_410(fake_github, session):
    seeded = seed_workflow_run(fake_github.world)
    art = seeded.repo.add_artifact(seeded.run, "old", b"PK", expired=True)
    gh = await token_api(fake_github, session)
    with pytest.raises(BadRequest) as info:
        await gh.getitem(f"/repos/{seeded.repo.full_name}/actions/artifacts/{art.id}/zip")
    assert info.value.status_code == 410


async def test_stale_blob_url_is_refused(fake_github, session):
    seeded = seed_workflow_run(fake_github.world, raw_artifacts={"r": b"<testsuite/>"})
    fake_github.blob_ttl = -1  # the URL is already past its expiry when handed out
    gh = await token_api(fake_github, session)
    url = (f"{fake_github.api_url}/repos/{seeded.repo.full_name}/actions/artifacts/"
           f"{seeded.artifacts[0].id}/zip")
    async with session.get(url, headers={"Authorization": f"token {gh.oauth_token}"},
                           allow_redirects=False) as resp:
        location = resp.headers["location"]
    async with session.get(location) as resp:
        assert resp.status == 403 and "AuthenticationFailed" in await resp.text()
    async with session.get(location.replace("sig=", "sig=0")) as resp:
        assert resp.status == 403


@pytest.mark.fake_github(blob_tls=True)
async def test_blob_host_over_https_with_the_fakes_ca(fake_github, session):
    seeded = seed_workflow_run(fake_github.world, raw_artifacts={"report": b"<testsuite/>"})
    gh = await token_api(fake_github, session)
    url = (f"{fake_github.api_url}/repos/{seeded.repo.full_name}/actions/artifacts/"
           f"{seeded.artifacts[0].id}/zip")
    async with session.get(url, headers={"Authorization": f"token {gh.oauth_token}"},
                           allow_redirects=False) as resp:
        location = resp.headers["location"]
    assert location.startswith("https://127.0.0.1:")
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        async with session.get(location):
            pass
    async with session.get(location, ssl=fake_github.blob_ssl) as resp:
        assert await resp.read() == b"<testsuite/>"


async def test_pagination_with_link_headers(fake_github, session, repo):
    for n in range(7):
        repo.add_issue(f"issue {n}")
    gh = await token_api(fake_github, session)
    titles = [i["title"] async for i in gh.getiter(f"/repos/{REPO}/issues?per_page=3")]
    assert len(titles) == 7 and len(set(titles)) == 7
    assert len(fake_github.calls("GET", r"/issues$")) == 3


async def test_etag_gives_304_and_cached_data(fake_github, session, repo):
    cache: dict = {}
    gh = await token_api(fake_github, session)
    gh = api(fake_github, session, gh.oauth_token, cache=cache)
    first = await gh.getitem(f"/repos/{REPO}/contents/README.md")
    again = await gh.getitem(f"/repos/{REPO}/contents/README.md")
    assert first == again
    assert [r.status for r in fake_github.calls("GET", "README")] == [200, 304]
    assert gh.rate_limit is not None and gh.rate_limit.limit == 5000


async def test_fault_injection(fake_github, session, repo):
    gh = await token_api(fake_github, session)
    path = f"/repos/{REPO}"
    fake_github.inject("GET", rf"^{path}$", 502)
    with pytest.raises(GitHubBroken):
        await gh.getitem(path)
    fake_github.inject_secondary_rate_limit("GET", rf"^{path}$", retry_after=7)
    with pytest.raises(BadRequest) as info:
        await gh.getitem(path)
    assert info.value.status_code == 403 and info.value.headers["retry-after"] == "7"
    assert "secondary rate limit" in str(info.value)
    fake_github.inject_primary_rate_limit("GET", rf"^{path}$")
    with pytest.raises(RateLimitExceeded):
        await gh.getitem(path)
    fake_github.inject("GET", rf"^{path}$", 429, headers={"retry-after": "1"}, times=2)
    for _ in range(2):
        with pytest.raises(BadRequest):
            await gh.getitem(path)
    fake_github.inject("GET", rf"^{path}$", None, delay=0.05)
    assert (await gh.getitem(path))["full_name"] == REPO


async def test_content_creation_secondary_limit(fake_github, session, repo):
    fake_github.content_per_minute = 2
    gh = await token_api(fake_github, session)
    for n in range(2):
        await gh.post(f"/repos/{REPO}/issues", data={"title": f"t{n}"})
    with pytest.raises(BadRequest) as info:
        await gh.post(f"/repos/{REPO}/issues", data={"title": "t3"})
    assert info.value.status_code == 403 and info.value.headers["retry-after"] == "60"
    assert len(repo.issues) == 2


async def test_overlapping_writes_of_an_installation_are_measured(fake_github, session, repo):
    import asyncio
    fake_github.write_latency = 0.02
    gh = await token_api(fake_github, session)
    sha = repo.branches["main"]
    await asyncio.gather(*(gh.post(f"/repos/{REPO}/check-runs",
                                   data={"name": f"c{n}", "head_sha": sha}) for n in range(3)))
    assert fake_github.max_concurrent_writes[1] == 3


async def test_label_names_ignore_case_like_github(fake_github, session, repo):
    # GitHub keeps one label per case-insensitive name and attaches the existing spelling
    gh = await token_api(fake_github, session)
    repo.ensure_label("Priority: P0")
    issue = await gh.post(f"/repos/{REPO}/issues", data={
        "title": "t", "labels": ["priority: P0", "PRIORITY: p0", "new"]})
    assert [x["name"] for x in issue["labels"]] == ["Priority: P0", "new"]
    with pytest.raises(BadRequest) as info:
        await gh.post(f"/repos/{REPO}/labels", data={"name": "NEW", "color": "ededed"})
    assert info.value.status_code == 422 and "already_exists" in str(info.value.errors)
    got = await gh.getitem(f"/repos/{REPO}/labels/priority:%20p0")
    assert got["name"] == "Priority: P0"
    assert sorted(repo.labels) == ["Priority: P0", "new"]


async def test_issue_and_comment_flow(fake_github, session, repo):
    gh = await token_api(fake_github, session)
    issue = await gh.post(f"/repos/{REPO}/issues", data={"title": "Phase 1", "body": "x",
                                                         "labels": ["ci-truth"]})
    assert issue["user"]["login"] == "ci-truth[bot]" and issue["user"]["type"] == "Bot"
    mine = await gh.getitem(f"/repos/{REPO}/issues?creator=ci-truth%5Bbot%5D&labels=ci-truth")
    assert [i["number"] for i in mine] == [issue["number"]]
    c = await gh.post(f"/repos/{REPO}/issues/{issue['number']}/comments", data={"body": "hi"})
    await gh.patch(f"/repos/{REPO}/issues/comments/{c['id']}", data={"body": "edited"})
    await gh.post(f"/repos/{REPO}/issues/comments/{c['id']}/reactions", data={"content": "eyes"},
                  accept="application/vnd.github+json")
    closed = await gh.patch(f"/repos/{REPO}/issues/{issue['number']}",
                            data={"state": "closed", "state_reason": "completed"})
    assert closed["state"] == "closed" and closed["closed_at"]
    locked = repo.add_issue("heated", locked=True)
    with pytest.raises(BadRequest) as info:
        await gh.post(f"/repos/{REPO}/issues/{locked['number']}/comments", data={"body": "x"})
    assert info.value.status_code == 403 and "locked" in str(info.value)
    with pytest.raises(ValidationError):
        await gh.post(f"/repos/{REPO}/issues", data={"title": "t", "body": "x" * 70000})
    fake_github.invalid_bodies.clear()


async def test_issue_closed_by_a_person_shows_who(fake_github, session, repo):
    issue = repo.add_issue("Phase 1", user="ci-truth[bot]")
    repo.close_issue(issue["number"], by="alice")
    gh = await token_api(fake_github, session)
    got = await gh.getitem(f"/repos/{REPO}/issues/{issue['number']}")
    assert got["state"] == "closed" and got["closed_by"]["login"] == "alice"
    again = await gh.patch(f"/repos/{REPO}/issues/{issue['number']}",
                           data={"state": "open"})
    assert again["state_reason"] == "reopened" and again["closed_by"] is None


async def test_collaborator_permission(fake_github, session, repo):
    repo.set_permission("maint", "write", "maintain")
    gh = await token_api(fake_github, session)
    p = await gh.getitem(f"/repos/{REPO}/collaborators/maint/permission")
    assert (p["permission"], p["role_name"]) == ("write", "maintain")
    p = await gh.getitem(f"/repos/{REPO}/collaborators/stranger/permission")
    assert p["permission"] == "read"


async def test_raw_contents_with_etag(fake_github, session, repo):
    gh = await token_api(fake_github, session)
    raw = "application/vnd.github.raw+json"
    text = await gh.getitem(f"/repos/{REPO}/contents/.github/ci-truth.yml", accept=raw)
    assert text == "gate: {}\n"
    first = fake_github.calls("GET", "ci-truth.yml")[0]
    url = f"{fake_github.api_url}/repos/{REPO}/contents/.github/ci-truth.yml"
    etag = None
    async with session.get(url, headers={"Authorization": f"token {gh.oauth_token}",
                                         "Accept": raw}) as resp:
        etag = resp.headers["etag"]
    async with session.get(url, headers={"Authorization": f"token {gh.oauth_token}",
                                         "Accept": raw, "If-None-Match": etag}) as resp:
        assert resp.status == 304 and await resp.read() == b""
    assert first.status == 200


async def test_blob_host_faults(fake_github, session):
    seeded = seed_workflow_run(fake_github.world, raw_artifacts={"r": b"<testsuite/>"})
    fake_github.inject("GET", r"^/actions-results/", 500, host="blob")
    fake_github.inject("GET", r"^/actions-results/", 200, host="blob",
                       body=b"PK\x03\x04truncated")
    gh = await token_api(fake_github, session)
    url = (f"{fake_github.api_url}/repos/{seeded.repo.full_name}/actions/artifacts/"
           f"{seeded.artifacts[0].id}/zip")
    seen = []
    for _ in range(3):
        async with session.get(url, headers={"Authorization": f"token {gh.oauth_token}"},
                               allow_redirects=False) as resp:
            location = resp.headers["location"]
        async with session.get(location) as resp:
            seen.append((resp.status, await resp.read()))
    assert seen == [(500, b"fault"), (200, b"PK\x03\x04truncated"), (200, b"<testsuite/>")]


async def test_artifact_digest_is_served_and_can_be_corrupted(fake_github, session):
    import hashlib
    seeded = seed_workflow_run(fake_github.world, reports={"junit.xml": "<testsuite tests='1'/>"})
    art = seeded.artifacts[0]
    v3 = seeded.repo.add_artifact(seeded.run, "legacy", b"<testsuite/>", digest=None)
    gh = await token_api(fake_github, session)
    url = f"/repos/{seeded.repo.full_name}/actions/runs/{seeded.run['id']}/artifacts"

    async def listed():
        return {a["name"]: a["digest"] for a in (await gh.getitem(url))["artifacts"]}

    good = "sha256:" + hashlib.sha256(art.data).hexdigest()
    assert await listed() == {art.name: good, v3.name: None}
    wrong = fake_github.corrupt_digest(art)
    assert wrong != good and wrong.startswith("sha256:") and len(wrong) == 7 + 64
    assert await listed() == {art.name: wrong, v3.name: None}
    one = await gh.getitem(f"/repos/{seeded.repo.full_name}/actions/artifacts/{art.id}")
    assert one["digest"] == wrong


async def test_compare_answers_from_the_commit_graph(fake_github, session, repo):
    # main: c0 - c1 - c2; feature forks from c1 (c3); an orphan history (a rewrite) has c4
    gh = await token_api(fake_github, session)
    c0 = repo.branches["main"]
    c1 = repo.commit({"a.txt": "1\n"})
    c2 = repo.commit({"a.txt": "1\n2\n", "b.txt": "b\n"})
    repo.branches["feature"] = c1
    c3 = repo.commit({"c.txt": "c\n"}, branch="feature")
    c4 = repo.commit({"x": "x"}, branch="feature")
    repo.commits[c4].parents = []

    async def compare(base: str, head: str, query: str = "") -> Any:
        return await gh.getitem(f"/repos/{REPO}/compare/{base}...{head}{query}")

    ahead = await compare(c0, c2)
    assert (ahead["status"], ahead["ahead_by"], ahead["behind_by"]) == ("ahead", 2, 0)
    assert [c["sha"] for c in ahead["commits"]] == [c1, c2]        # oldest first
    assert ahead["merge_base_commit"]["sha"] == c0 and ahead["base_commit"]["sha"] == c0
    assert [(f["filename"], f["status"]) for f in ahead["files"]] == [
        ("a.txt", "added"), ("b.txt", "added")]
    behind = await compare(c2, c0, "?per_page=1")
    assert (behind["status"], behind["ahead_by"], behind["behind_by"]) == ("behind", 0, 2)
    assert behind["commits"] == [] and behind["total_commits"] == 0
    same = await compare(c2, "main")
    assert (same["status"], same["ahead_by"], same["behind_by"]) == ("identical", 0, 0)
    apart = await compare(c2, c3)
    assert (apart["status"], apart["ahead_by"], apart["behind_by"]) == ("diverged", 1, 1)
    assert apart["merge_base_commit"]["sha"] == c1
    for base, head in ((c2, "f" * 40), ("f" * 40, c2)):
        with pytest.raises(BadRequest) as info:
            await compare(base, head)
        assert info.value.status_code == 404
    with pytest.raises(BadRequest) as info:
        await compare(c2, c4)
    assert info.value.status_code == 404 and "No common ancestor" in str(info.value)
    assert fake_github.unexpected == []
    # what nobody asks for is refused: another repository's ref, a two-dot range
    for spec in (f"{c0}...mallory:main", f"{c0}..{c2}"):
        with fake_github.expecting("does not compare"), pytest.raises(GitHubBroken):
            await gh.getitem(f"/repos/{REPO}/compare/{spec}")
