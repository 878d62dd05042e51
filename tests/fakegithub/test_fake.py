"""Tests of the fake GitHub itself, driven through gidgethub like the App will be."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from gidgethub import BadRequest, GitHubBroken, InvalidField, RateLimitExceeded, ValidationError
from gidgethub.aiohttp import GitHubAPI
from gidgethub.apps import get_installation_access_token

from tests.fakegithub import FakeGitHub, FakeRepo, add_delivery, seed_workflow_run

REPO = "octo-org/octo-repo"
pytestmark = pytest.mark.fake_github(check_responses=True)  # the fake answers on-spec


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def repo(fake_github: FakeGitHub) -> FakeRepo:
    return fake_github.world.add_repo(REPO, files={".github/ci-truth.yml": "gate: {}\n"})


def api(fake: FakeGitHub, session: aiohttp.ClientSession, token: str | None = None,
        **kw: object) -> GitHubAPI:
    return GitHubAPI(session, "ci-truth-tests", oauth_token=token, base_url=fake.api_url,
                     **kw)  # type: ignore[arg-type]


async def token_api(fake: FakeGitHub, session: aiohttp.ClientSession) -> GitHubAPI:
    app = api(fake, session)
    tok = await get_installation_access_token(app, installation_id=1, app_id=str(fake.world.app.id),
                                              private_key=fake.key.private_pem)
    return api(fake, session, tok["token"])


# -- auth -----------------------------------------------------------------------------------
async def test_app_jwt_and_installation_token(fake_github, session, repo):
    gh = api(fake_github, session)
    app = await gh.getitem("/app", jwt=fake_github.app_jwt())
    assert app["slug"] == "ci-truth"
    tok = await get_installation_access_token(gh, installation_id=1,
                                              app_id=str(fake_github.world.app.id),
                                              private_key=fake_github.key.private_pem)
    assert tok["token"].startswith("ghs_")
    assert tok["expires_at"].endswith("Z")
    inst = api(fake_github, session, tok["token"])
    content = await inst.getitem(f"/repos/{REPO}/contents/.github/ci-truth.yml")
    assert content["encoding"] == "base64"
    assert len(fake_github.calls("POST", r"/access_tokens$")) == 1


@pytest.mark.parametrize(("claims", "message"), [
    ({"iat_delta": 120}, "'Issued at' claim"),
    ({"exp_delta": -10}, "'Expiration time' claim ('exp') must be a numeric"),
    ({"life": 900}, "too far in the future"),
])
async def test_bad_jwt_rejected_with_githubs_message(fake_github, session, claims, message):
    now = time.time()
    iat = now + claims.get("iat_delta", -60)
    exp = iat + claims.get("life", 540) if "exp_delta" not in claims else now + claims["exp_delta"]
    bad = fake_github.key.jwt(fake_github.world.app.id, iat=iat, exp=exp)
    with pytest.raises(BadRequest) as info:
        await api(fake_github, session).getitem("/app", jwt=bad)
    assert info.value.status_code == 401
    assert message in str(info.value)


async def test_client_id_is_a_valid_issuer_and_a_foreign_key_is_not(fake_github, session):
    gh = api(fake_github, session)
    assert (await gh.getitem("/app", jwt=fake_github.key.jwt(fake_github.world.app.client_id)))
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    import jwt as pyjwt
    forged = pyjwt.encode({"iat": int(time.time()) - 60, "exp": int(time.time()) + 300,
                           "iss": str(fake_github.world.app.id)}, other, algorithm="RS256")
    with pytest.raises(BadRequest) as info:
        await gh.getitem("/app", jwt=forged)
    assert info.value.status_code == 401


async def test_revoked_expired_and_missing_tokens_get_401(fake_github, session, repo):
    gh = await token_api(fake_github, session)
    await gh.getitem(f"/repos/{REPO}")
    fake_github.revoke_tokens()
    with pytest.raises(BadRequest) as info:
        await gh.getitem(f"/repos/{REPO}")
    assert info.value.status_code == 401 and "Bad credentials" in str(info.value)
    gh = await token_api(fake_github, session)
    fake_github.expire_tokens()
    with pytest.raises(BadRequest):
        await gh.getitem(f"/repos/{REPO}")
    with pytest.raises(BadRequest) as info:
        await api(fake_github, session).getitem(f"/repos/{REPO}")
    assert info.value.status_code == 401


async def test_token_for_another_installation_cannot_read_repo(fake_github, session, repo):
    fake_github.world.add_repo("other-org/private", installation=2, private=True)
    gh = await token_api(fake_github, session)
    with pytest.raises(BadRequest) as info:
        await gh.getitem("/repos/other-org/private")
    assert info.value.status_code == 404
    assert [str(p.reason) for p in fake_github.unexpected] == ["404 Not Found"]
    fake_github.unexpected.clear()


async def test_down_scoped_token_only_covers_its_repositories(fake_github, session, repo):
    fake_github.world.add_repo("octo-org/second")
    app = api(fake_github, session)
    tok = await app.post("/app/installations/1/access_tokens", jwt=fake_github.app_jwt(),
                         data={"repositories": ["octo-repo"], "permissions": {"checks": "write"}})
    assert [r["full_name"] for r in tok["repositories"]] == [REPO]
    gh = api(fake_github, session, tok["token"])
    with pytest.raises(BadRequest) as info:
        await gh.getitem("/repos/octo-org/second/issues")
    assert info.value.status_code == 404
    with pytest.raises(BadRequest) as info:  # permission not in the token
        await gh.getitem(f"/repos/{REPO}/issues")
    assert info.value.status_code == 403
    assert len(fake_github.unexpected) == 2
    fake_github.unexpected.clear()


# -- validation and strictness ----------------------------------------------------------------
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


# -- check runs -----------------------------------------------------------------------------
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


# -- artifacts ------------------------------------------------------------------------------
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


# -- HTTP behaviour: pagination, ETags, rate-limit headers --------------------------------------
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


# -- faults ---------------------------------------------------------------------------------
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


# -- issues, comments, permissions, deliveries --------------------------------------------------
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


async def test_editing_a_persons_comment_is_flagged(fake_github, session, repo):
    issue = repo.add_issue("by a person")
    c = repo.add_comment(issue["number"], "/truth status", user="alice")
    gh = await token_api(fake_github, session)
    await gh.patch(f"/repos/{REPO}/issues/comments/{c['id']}", data={"body": "hijack"})
    assert "authored by alice" in fake_github.unexpected[0].reason
    fake_github.unexpected.clear()


async def test_collaborator_permission(fake_github, session, repo):
    repo.set_permission("maint", "write", "maintain")
    gh = await token_api(fake_github, session)
    p = await gh.getitem(f"/repos/{REPO}/collaborators/maint/permission")
    assert (p["permission"], p["role_name"]) == ("write", "maintain")
    p = await gh.getitem(f"/repos/{REPO}/collaborators/stranger/permission")
    assert p["permission"] == "read"


async def test_hook_deliveries_cursor_and_redelivery(fake_github, session):
    for n in range(5):
        add_delivery(fake_github.world, "workflow_run", action="completed",
                     status_code=200 if n % 2 else 503)
    gh = api(fake_github, session)
    jwt = fake_github.app_jwt()
    failed = [d async for d in gh.getiter("/app/hook/deliveries?status=failure&per_page=2",
                                          jwt=jwt)]
    assert len(failed) == 3 and all(d["status"] != "OK" for d in failed)
    await gh.post(f"/app/hook/deliveries/{failed[0]['id']}/attempts", jwt=jwt, data={})
    assert fake_github.world.redeliveries == [failed[0]["id"]]


# -- every route: in the description, answering on-spec -----------------------------------------
def test_every_route_is_an_operation_of_the_description():
    from tests.fakegithub.routes import ALL_ROUTES
    from tests.fakegithub.spec import load_spec
    spec = load_spec()
    for route in ALL_ROUTES:
        sample = route.template.replace("{path}", "a/b.yml")
        for name in ("owner", "repo", "username", "name", "ref", "archive_format"):
            sample = sample.replace("{" + name + "}", "zip" if name == "archive_format" else "x")
        import re
        sample = re.sub(r"\{[^}]+\}", "1", sample)
        matched = spec.match(route.method, sample)
        assert matched is not None, route.template
        assert matched[0].template == route.template, (route.template, matched[0].template)


async def test_read_routes_answer_with_githubs_shapes(fake_github, session):
    """Seeds one of everything and reads it back; check_responses flags any off-spec answer."""
    seeded = seed_workflow_run(fake_github.world, reports={"junit.xml": "<testsuite/>"},
                               jobs=[{"name": "test", "conclusion": "success",
                                      "steps": [("Set up job", "success"),
                                                ("Run tests", "failure")]}])
    r = seeded.repo
    full, run = r.full_name, seeded.run
    sha = r.commit({"docs/DEPLOYMENT.md": "# deploy\n"}, branch="feature")
    fork = fake_github.world.add_repo("mallory/octo-repo", installation=None, fork_of=r)
    pr = r.add_pull(head_ref="feature", head_sha=sha)
    r.add_pull(head_ref="evil", head_repo=fork)
    issue = r.add_issue("tracked", labels=["P0"])
    c = r.add_comment(issue["number"], "hello", user="alice")
    r.set_permission("alice", "admin")
    add_delivery(fake_github.world, "workflow_run", action="completed", status_code=502)
    gh = await token_api(fake_github, session)
    jwt = fake_github.app_jwt()
    cr = await gh.post(f"/repos/{full}/check-runs", data={"name": "CI Truth", "head_sha": sha})
    reads = [
        f"/repos/{full}", f"/repos/{full}/contents/docs?ref=feature",
        f"/repos/{full}/contents/docs/DEPLOYMENT.md?ref=feature",
        f"/repos/{full}/git/trees/feature?recursive=1", f"/repos/{full}/git/trees/{sha}",
        f"/repos/{full}/pulls/{pr['number']}", f"/repos/{full}/pulls?state=all",
        f"/repos/{full}/pulls?head=mallory:evil", f"/repos/{full}/commits/{sha}/pulls",
        f"/repos/{full}/collaborators/alice/permission",
        f"/repos/{full}/actions/runs?branch={run['head_branch']}&status=completed",
        f"/repos/{full}/actions/runs/{run['id']}",
        f"/repos/{full}/actions/runs/{run['id']}/attempts/1",
        f"/repos/{full}/actions/runs/{run['id']}/jobs?filter=all",
        f"/repos/{full}/actions/runs/{run['id']}/attempts/1/jobs",
        f"/repos/{full}/actions/runs/{run['id']}/artifacts?name=test-results",
        f"/repos/{full}/actions/artifacts/{seeded.artifacts[0].id}",
        f"/repos/{full}/check-runs/{cr['id']}", f"/repos/{full}/check-runs/{cr['id']}/annotations",
        f"/repos/{full}/commits/{sha}/check-runs?filter=all&status=queued",
        f"/repos/{full}/issues?state=all", f"/repos/{full}/issues/{issue['number']}",
        f"/repos/{full}/issues/{issue['number']}/comments", f"/repos/{full}/issues/comments",
        f"/repos/{full}/issues/comments/{c['id']}",
        f"/repos/{full}/issues/comments/{c['id']}/reactions", f"/repos/{full}/labels",
        f"/repos/{full}/labels/P0",
    ]
    for url in reads:
        assert await gh.getitem(url) is not None, url
    jobs = (await gh.getitem(f"/repos/{full}/actions/runs/{run['id']}/jobs"))["jobs"]
    assert [s["conclusion"] for s in jobs[0]["steps"]] == ["success", "failure"]
    fork_pr = (await gh.getitem(f"/repos/{full}/pulls?head=mallory:evil"))[0]
    assert fork_pr["head"]["repo"]["full_name"] == "mallory/octo-repo"
    app = api(fake_github, session)
    for url in ["/app", "/app/installations", "/app/installations/1",
                f"/repos/{full}/installation", "/app/hook/deliveries"]:
        assert await app.getitem(url, jwt=jwt) is not None, url
    delivery = (await app.getitem("/app/hook/deliveries", jwt=jwt))[0]
    assert (await app.getitem(f"/app/hook/deliveries/{delivery['id']}", jwt=jwt))["guid"]
    await gh.post(f"/repos/{full}/statuses/{sha}", data={"state": "success", "context": "x"})
    await gh.post(f"/repos/{full}/labels", data={"name": "status: ready", "color": "0e8a16"})
    await gh.put(f"/repos/{full}/issues/{issue['number']}/labels", data={"labels": ["a"]})
    await gh.post(f"/repos/{full}/issues/{issue['number']}/labels", data={"labels": ["b"]})
    await gh.delete(f"/repos/{full}/issues/{issue['number']}/labels/a")
    await gh.put(f"/repos/{full}/issues/{issue['number']}/lock", data={"lock_reason": "spam"})
    await gh.delete(f"/repos/{full}/issues/{issue['number']}/lock")
    await gh.delete(f"/repos/{full}/issues/{issue['number']}/labels")
    assert r.issues[issue["number"]]["labels"] == []


# -- webhooks -------------------------------------------------------------------------------
def test_signature_matches_githubs_published_vector(corpus):
    import json

    from tests.fakegithub.webhooks import sign
    vector = json.loads((corpus / "webhooks" / "signature-test-vector.json").read_text())
    assert sign(vector["payload"].encode(), vector["secret"]) == vector["expected"]


async def test_deliver_and_redeliver_through_the_deliveries_api(fake_github, session):
    from aiohttp import web

    from tests.fakegithub.webhooks import sign
    seen: list[tuple[str, str]] = []

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        assert request.headers["X-Hub-Signature-256"] == sign(body, "s3cret")
        seen.append((request.headers["X-GitHub-Delivery"], request.headers["X-GitHub-Event"]))
        return web.Response(status=503 if len(seen) == 1 else 202)

    app = web.Application()
    app.router.add_post("/webhook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        fake_github.webhook_url = f"http://{host}:{port}/webhook"
        fake_github.webhook_secret = "s3cret"
        seeded = seed_workflow_run(fake_github.world)
        first = await fake_github.deliver("workflow_run", seeded.payload)
        assert first.status == 503 and first.record["status"] != "OK"
        gh = api(fake_github, session)
        jwt = fake_github.app_jwt()
        failed = await gh.getitem("/app/hook/deliveries?status=failure", jwt=jwt)
        assert [d["guid"] for d in failed] == [first.record["guid"]]
        await gh.post(f"/app/hook/deliveries/{failed[0]['id']}/attempts", jwt=jwt, data={})
        await fake_github.settle()
    finally:
        await runner.cleanup()
    assert [g for g, _ in seen] == [first.record["guid"]] * 2
    ok = await gh.getitem("/app/hook/deliveries?status=success", jwt=jwt)
    assert ok[0]["redelivery"] is True and ok[0]["guid"] == first.record["guid"]


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


async def test_overlapping_writes_of_an_installation_are_measured(fake_github, session, repo):
    import asyncio
    fake_github.write_latency = 0.02
    gh = await token_api(fake_github, session)
    sha = repo.branches["main"]
    await asyncio.gather(*(gh.post(f"/repos/{REPO}/check-runs",
                                   data={"name": f"c{n}", "head_sha": sha}) for n in range(3)))
    assert fake_github.max_concurrent_writes[1] == 3


async def test_github_token_of_a_workflow_acts_as_github_actions(fake_github, session, repo):
    gh = api(fake_github, session, fake_github.actions_token(REPO))
    cr = await gh.post(f"/repos/{REPO}/check-runs",
                       data={"name": "CI Truth", "head_sha": repo.branches["main"],
                             "conclusion": "success", "output": {"title": "t", "summary": "s"}})
    assert cr["app"]["slug"] == "github-actions" and cr["app"]["id"] == 15368
    issue = await gh.post(f"/repos/{REPO}/issues", data={"title": "Phase 1"})
    assert issue["user"]["login"] == "github-actions[bot]"
    mine = await gh.getitem("/installation/repositories")
    assert [r["full_name"] for r in mine["repositories"]] == [REPO]
    app_gh = await token_api(fake_github, session)
    with pytest.raises(BadRequest) as info:  # the App cannot edit the workflow's check run
        await app_gh.patch(f"/repos/{REPO}/check-runs/{cr['id']}", data={"status": "completed",
                                                                        "conclusion": "failure"})
    assert info.value.status_code == 403
    fake_github.unexpected.clear()


async def test_quota_is_per_installation_and_enforced(fake_github, session, repo):
    fake_github.rate_limit = 3
    gh = await token_api(fake_github, session)
    for _ in range(3):
        await gh.getitem(f"/repos/{REPO}")
    assert gh.rate_limit is not None and gh.rate_limit.remaining == 0
    gh = await token_api(fake_github, session)  # a new token does not reset the quota
    with pytest.raises(RateLimitExceeded):
        await gh.getitem(f"/repos/{REPO}")


async def test_content_creation_secondary_limit(fake_github, session, repo):
    fake_github.content_per_minute = 2
    gh = await token_api(fake_github, session)
    for n in range(2):
        await gh.post(f"/repos/{REPO}/issues", data={"title": f"t{n}"})
    with pytest.raises(BadRequest) as info:
        await gh.post(f"/repos/{REPO}/issues", data={"title": "t3"})
    assert info.value.status_code == 403 and info.value.headers["retry-after"] == "60"
    assert len(repo.issues) == 2


async def test_commit_status_description_limit(fake_github, session, repo):
    gh = await token_api(fake_github, session)
    with pytest.raises(ValidationError):
        await gh.post(f"/repos/{REPO}/statuses/{repo.branches['main']}",
                      data={"state": "failure", "description": "x" * 141})
    assert "maximum is 140" in fake_github.invalid_bodies[0].reason
    fake_github.invalid_bodies.clear()


async def test_seeded_pr_comment_matches_its_payload(fake_github, session):
    from tests.fakegithub import seed_issue_comment
    seeded = seed_issue_comment(fake_github.world, body="/truth recheck", user="alice",
                                pull_request=True, permission="write")
    p = seeded.payload
    assert p["issue"]["pull_request"] and p["installation"]["id"] == 1
    gh = await token_api(fake_github, session)
    full = seeded.repo.full_name
    got = await gh.getitem(f"/repos/{full}/issues/comments/{p['comment']['id']}")
    assert got["body"] == "/truth recheck" and got["user"]["login"] == "alice"
    perm = await gh.getitem(f"/repos/{full}/collaborators/alice/permission")
    assert perm["permission"] == "write"
    pr = await gh.getitem(f"/repos/{full}/pulls/{p['issue']['number']}")
    assert pr["state"] == "open"


async def test_requested_action_payload_points_at_our_check_run(fake_github, session, repo):
    from tests.fakegithub import requested_action_payload
    gh = await token_api(fake_github, session)
    cr = await gh.post(f"/repos/{REPO}/check-runs", data={
        "name": "CI Truth", "head_sha": repo.branches["main"], "conclusion": "failure",
        "output": {"title": "t", "summary": "s"},
        "actions": [{"label": "Recheck", "description": "Read the evidence again",
                     "identifier": "recheck"}]})
    payload = requested_action_payload(fake_github.world, repo, repo.check_runs[cr["id"]],
                                       sender="alice")
    assert payload["check_run"]["app"]["id"] == fake_github.world.app.id
    assert payload["requested_action"]["identifier"] == "recheck"
    assert payload["repository"]["full_name"] == REPO
    assert cr["actions"][0]["identifier"] == "recheck"


async def test_wait_until_returns_once_the_world_changes(fake_github, session, repo):
    import asyncio
    gh = await token_api(fake_github, session)

    async def later() -> None:
        await asyncio.sleep(0.05)
        await gh.post(f"/repos/{REPO}/check-runs", data={
            "name": "CI Truth", "head_sha": repo.branches["main"], "conclusion": "neutral",
            "output": {"title": "t", "summary": "s"}})

    task = asyncio.create_task(later())
    done = await fake_github.wait_until(
        lambda: [c for c in repo.check_runs.values() if c["status"] == "completed"])
    await task
    assert done[0]["conclusion"] == "neutral"
    with pytest.raises(TimeoutError):
        await fake_github.wait_until(lambda: False, timeout=0.05)


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
