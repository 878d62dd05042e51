"""The GitHub client, auth and artifact download against the shared fake GitHub (loopback)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import aiohttp
import gidgethub
import pytest

from bot.app import scopes
from bot.app.artifacts import check_location
from bot.app.github import Failure, GitHubClients, InstallationClient, OriginError, failure
from bot.app.metrics import Metrics
from bot.app.ports import ArtifactError
from bot.app.ratelimit import RateLimited
from bot.app.scopes import Scope
from bot.app.settings import Settings
from tests.fakegithub.seed import seed_workflow_run
from tests.fakegithub.server import FakeGitHub

REPO = "/repos/{owner}/{repo}"
OCTO = {"owner": "octo-org", "repo": "octo-repo"}


class Sleeps:
    """An injectable sleep: records how long the client wanted to wait, waits no real time."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def app_settings(settings: Settings, fake_github: FakeGitHub) -> Settings:
    blob_host = fake_github.blob_url.split("//")[1].split(":")[0]
    return replace(settings, api_url=fake_github.api_url, app_id=fake_github.world.app.id,
                   private_key=fake_github.key.private_pem, app_slug=None, write_spacing=0.0,
                   artifact_hosts=(blob_host,), artifact_allow_loopback_http=True)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as s:
        yield s


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_clients(session: aiohttp.ClientSession, app_settings: Settings,
                 sleeps: Sleeps) -> Callable[..., GitHubClients]:
    def make(**changes: Any) -> GitHubClients:
        return GitHubClients(session, replace(app_settings, **changes), Metrics(), sleep=sleeps)
    return make


@pytest.fixture
def clients(make_clients: Callable[..., GitHubClients]) -> GitHubClients:
    return make_clients()


def _repo(fake: FakeGitHub) -> int:
    return fake.world.add_repo("octo-org/octo-repo").id


def _for(clients: GitHubClients, repo_id: int, installation_id: int = 1,
         scope: Scope = scopes.JUDGE) -> Awaitable[InstallationClient]:
    """The handlers' ``gh_for`` call: one repository, one task scope."""
    return clients(installation_id, repository_id=repo_id, scope=scope)


async def test_app_jwt_is_accepted_and_slug_read(clients: GitHubClients,
                                                 fake_github: FakeGitHub) -> None:
    assert await clients.app_slug() == fake_github.world.app.slug
    (call,) = fake_github.calls("GET", r"^/app$")
    assert call.status == 200 and call.auth_scheme == "Bearer"


@pytest.mark.parametrize("skew", [150.0, -900.0])
async def test_a_host_clock_off_by_minutes_is_corrected_from_githubs_date_header(
        session: aiohttp.ClientSession, app_settings: Settings, sleeps: Sleeps,
        fake_github: FakeGitHub, skew: float) -> None:
    """GitHub rejects a JWT whose iat is ahead of its clock, or whose exp is behind it; its
    401 carries a Date header, so the App re-signs against GitHub's clock and retries."""
    clients = GitHubClients(session, app_settings, Metrics(), sleep=sleeps,
                            clock=lambda: time.time() + skew)
    assert await clients.app_slug() == fake_github.world.app.slug
    assert [c.status for c in fake_github.calls("GET", r"^/app$")] == [401, 200]
    gh = await _for(clients, _repo(fake_github))
    assert (await gh.getitem(REPO, OCTO))["name"] == "octo-repo"
    assert [c.status for c in fake_github.calls("POST", r"/access_tokens$")] == [201]


async def test_concurrent_requests_mint_one_token(clients: GitHubClients,
                                                  fake_github: FakeGitHub) -> None:
    rid = _repo(fake_github)
    gh = await _for(clients, rid)
    repos = await asyncio.gather(*(gh.getitem(REPO, OCTO) for _ in range(6)))
    assert {r["full_name"] for r in repos} == {"octo-org/octo-repo"}
    assert len(fake_github.calls("POST", r"/access_tokens$")) == 1
    assert {c.auth_scheme for c in fake_github.calls("GET", r"^/repos/")} == {"token"}
    assert clients.metrics.github_calls["200"] >= 6


async def test_revoked_token_is_evicted_and_the_request_retried_once(
        clients: GitHubClients, fake_github: FakeGitHub) -> None:
    rid = _repo(fake_github)
    gh = await _for(clients, rid)
    await gh.getitem(REPO, OCTO)
    fake_github.revoke_tokens(1)
    assert (await gh.getitem(REPO, OCTO))["name"] == "octo-repo"
    assert [c.status for c in fake_github.calls("GET", r"^/repos/")] == [200, 401, 304]
    assert len(fake_github.calls("POST", r"/access_tokens$")) == 2


async def test_installation_deleted_evicts_token(clients: GitHubClients,
                                                 fake_github: FakeGitHub) -> None:
    rid = _repo(fake_github)
    await (await _for(clients, rid)).getitem(REPO, OCTO)
    assert len(clients.tokens.keys(1)) == 1
    clients.evict(1)
    assert clients.tokens.keys(1) == []
    await (await _for(clients, rid)).getitem(REPO, OCTO)
    assert len(fake_github.calls("POST", r"/access_tokens$")) == 2


async def test_secondary_rate_limit_waits_retry_after_then_succeeds(
        clients: GitHubClients, fake_github: FakeGitHub, sleeps: Sleeps) -> None:
    rid = _repo(fake_github)
    sha = fake_github.world.repo("octo-org", "octo-repo").branches["main"]  # type: ignore[union-attr]
    fake_github.inject_secondary_rate_limit("POST", r"/check-runs$", retry_after=7)
    gh = await _for(clients, rid)
    made = await gh.post(REPO + "/check-runs", OCTO, data={"name": "CI Truth", "head_sha": sha,
                                                          "status": "in_progress"})
    assert made["name"] == "CI Truth"
    assert [c.status for c in fake_github.calls("POST", r"/check-runs$")] == [403, 201]
    assert any(6.9 <= w <= 7.0 for w in sleeps.waits)


async def test_429_with_retry_after(clients: GitHubClients, fake_github: FakeGitHub,
                                    sleeps: Sleeps) -> None:
    rid = _repo(fake_github)
    fake_github.inject("GET", r"^/repos/octo-org/octo-repo$", 429, headers={"retry-after": "3"})
    assert (await (await _for(clients, rid)).getitem(REPO, OCTO))["name"] == "octo-repo"
    assert any(2.9 <= w <= 3.0 for w in sleeps.waits)


async def test_retry_after_as_an_http_date_is_honoured(clients: GitHubClients,
                                                      fake_github: FakeGitHub,
                                                      sleeps: Sleeps) -> None:
    """RFC 9110 allows ``retry-after: <HTTP-date>``: wait until then, not a guessed minute."""
    from email.utils import formatdate

    rid = _repo(fake_github)
    gh = await _for(clients, rid)
    fake_github.inject("GET", r"^/repos/octo-org/octo-repo$", 429,
                       headers={"retry-after": formatdate(time.time() + 120, usegmt=True)})
    assert (await gh.getitem(REPO, OCTO))["name"] == "octo-repo"
    assert any(110 <= w <= 121 for w in sleeps.waits) and not any(
        50 <= w <= 100 for w in sleeps.waits)
    fake_github.inject("GET", r"^/repos/octo-org/octo-repo$", 429,
                       headers={"retry-after": formatdate(time.time() + 7200, usegmt=True)})
    with pytest.raises(RateLimited) as err:                 # too long: back to the queue
        await gh.getitem(REPO, OCTO)
    assert err.value.retry_at >= time.time() + 7100
    assert [c.status for c in fake_github.calls("GET", r"^/repos/")][-1:] == [429]


async def test_primary_rate_limit_waits_until_reset(clients: GitHubClients,
                                                    fake_github: FakeGitHub,
                                                    sleeps: Sleeps) -> None:
    rid = _repo(fake_github)
    fake_github.inject_primary_rate_limit("GET", r"^/repos/octo-org/octo-repo$", reset_in=30)
    await (await _for(clients, rid)).getitem(REPO, OCTO)
    assert any(20 <= w <= 32 for w in sleeps.waits)


async def test_secondary_limit_without_retry_after_waits_a_minute_then_gives_up(
        make_clients: Callable[..., GitHubClients], fake_github: FakeGitHub,
        sleeps: Sleeps) -> None:
    rid = _repo(fake_github)
    fake_github.inject_secondary_rate_limit("GET", r"^/repos/", retry_after=None, times=None)
    gh = await _for(make_clients(rate_limit_retries=2), rid)
    with pytest.raises(RateLimited) as err:
        await gh.getitem(REPO, OCTO)
    assert err.value.retry_at > time.time() + 60
    assert len(fake_github.calls("GET", r"^/repos/")) == 3
    assert sum(1 for w in sleeps.waits if w >= 60) == 2
    fake_github.faults.clear()


async def test_long_reset_is_handed_back_to_the_queue(clients: GitHubClients,
                                                      fake_github: FakeGitHub) -> None:
    rid = _repo(fake_github)
    fake_github.inject_primary_rate_limit("GET", r"^/repos/", reset_in=3600)
    with pytest.raises(RateLimited) as err:
        await (await _for(clients, rid)).getitem(REPO, OCTO)
    assert err.value.retry_at >= time.time() + 3500


async def test_a_long_rate_limit_holds_the_installations_other_jobs_without_requests(
        clients: GitHubClients, fake_github: FakeGitHub, sleeps: Sleeps) -> None:
    """Rate limited for an hour: the installation's next jobs go back to the queue until the
    reset without sending a request (GitHub may ban an integration that keeps asking)."""
    rid = _repo(fake_github)
    fake_github.inject_primary_rate_limit("GET", r"^/repos/", reset_in=3600)
    with pytest.raises(RateLimited):
        await (await _for(clients, rid)).getitem(REPO, OCTO)
    for scope in (scopes.JUDGE, scopes.PLAN):                 # other jobs, other tokens
        with pytest.raises(RateLimited) as err:
            await (await _for(clients, rid, scope=scope)).getitem(REPO, OCTO)
        assert err.value.retry_at >= time.time() + 3500
        assert err.value.what == "GitHub rate limit (HTTP 403)"
    assert len(fake_github.calls("GET", r"^/repos/")) == 1 and not sleeps.waits


async def test_idempotent_5xx_retried_but_post_is_not(clients: GitHubClients,
                                                      fake_github: FakeGitHub) -> None:
    rid = _repo(fake_github)
    gh = await _for(clients, rid, scope=scopes.PLAN)
    fake_github.inject("GET", r"^/repos/octo-org/octo-repo$", 502)
    assert (await gh.getitem(REPO, OCTO))["name"] == "octo-repo"
    fake_github.inject("POST", r"/issues$", 502)
    import gidgethub
    with pytest.raises(gidgethub.GitHubBroken):
        await gh.post(REPO + "/issues", OCTO, data={"title": "x"})
    assert len(fake_github.calls("POST", r"/issues$")) == 1


async def test_writes_are_serialised_and_spaced_per_installation(
        make_clients: Callable[..., GitHubClients], fake_github: FakeGitHub,
        sleeps: Sleeps) -> None:
    rid = _repo(fake_github)
    fake_github.write_latency = 0.02
    gh = await _for(make_clients(write_spacing=1.0), rid, scope=scopes.PLAN)
    await asyncio.gather(*(gh.post(REPO + "/issues", OCTO, data={"title": f"t{i}"})
                           for i in range(4)))
    assert fake_github.max_concurrent_writes[1] == 1
    spacing = [w for w in sleeps.waits if w > 0.5]
    assert len(spacing) == 3 and all(w <= 3.0 for w in spacing)  # issue creation: 3 s apart


async def test_etag_cache_is_per_installation(clients: GitHubClients,
                                              fake_github: FakeGitHub) -> None:
    rid = _repo(fake_github)
    fake_github.world.add_installation(2, "octo-org", repo_ids=None)
    one, two = await _for(clients, rid), await _for(clients, rid, 2)
    await one.getitem(REPO, OCTO)
    await one.getitem(REPO, OCTO)
    await two.getitem(REPO, OCTO)
    calls = fake_github.calls("GET", r"^/repos/octo-org/octo-repo$")
    assert [("if-none-match" in c.headers, c.status) for c in calls] == [
        (False, 200), (True, 304), (False, 200)]


async def test_credentials_only_to_the_api_origin(clients: GitHubClients,
                                                  fake_github: FakeGitHub) -> None:
    gh = await _for(clients, 1)
    for url in ("https://evil.example/repos/a/b", "//evil.example/x",
                fake_github.blob_url + "/x", "repos/a/b"):
        with pytest.raises(OriginError):
            await gh.getitem(url)
    with pytest.raises(OriginError):
        await gh.download_artifact("octo-org/../x", "repo", 1, max_bytes=10)
    assert fake_github.requests == []


async def test_params_are_encoded(clients: GitHubClients, fake_github: FakeGitHub) -> None:
    rid = _repo(fake_github)
    gh = await _for(clients, rid, scope=scopes.PLAN)
    got = [i async for i in gh.getiter(REPO + "/issues", OCTO,
                                       params={"state": "all", "creator": "ci-truth[bot]"})]
    assert got == []
    (call,) = fake_github.calls("GET", r"/issues$")
    assert call.query == {"state": "all", "creator": "ci-truth[bot]"}


async def test_an_error_answer_names_its_request_and_stays_githubs_exception(
        clients: GitHubClients, fake_github: FakeGitHub) -> None:
    rid = _repo(fake_github)
    gh = await _for(clients, rid, scope=scopes.PLAN)
    fake_github.inject("GET", r"/issues$", 410,
                       body={"message": "Issues are disabled for this repo"})
    with pytest.raises(gidgethub.BadRequest) as raised:   # handlers still see GitHub's status
        [i async for i in gh.getiter(REPO + "/issues", OCTO, params={"creator": "x[bot]"})]
    assert raised.value.status_code == 410
    found = failure(raised.value)
    assert found == Failure("GitHub answered HTTP 410 to GET /repos/octo-org/octo-repo/issues:"
                            " Issues are disabled for this repo", retry=False)


async def test_artifact_download_follows_302_without_credentials(
        clients: GitHubClients, fake_github: FakeGitHub) -> None:
    seeded = seed_workflow_run(fake_github.world, reports={"junit.xml": b"<testsuite/>"})
    (art,) = seeded.artifacts
    owner, name = seeded.repo.owner, seeded.repo.name
    gh = await _for(clients, seeded.repo.id)
    data = await gh.download_artifact(owner, name, art.id, max_bytes=1 << 20)
    assert data[:4] == b"PK\x03\x04"
    (api,) = fake_github.calls("GET", r"/zip$")
    assert api.status == 302 and api.auth_scheme == "token"
    (blob,) = fake_github.calls(host="blob")
    assert blob.status == 200 and "authorization" not in blob.headers
    assert "cookie" not in blob.headers


async def test_artifact_download_of_a_moved_repository_follows_the_api_redirect(
        clients: GitHubClients, fake_github: FakeGitHub) -> None:
    seeded = seed_workflow_run(fake_github.world, reports={"junit.xml": b"<testsuite/>"})
    (art,) = seeded.artifacts
    owner, name = seeded.repo.owner, seeded.repo.name
    fake_github.world.move_repo(seeded.repo, "new-owner/new-name")   # the payload's names
    gh = await _for(clients, seeded.repo.id)
    data = await gh.download_artifact(owner, name, art.id, max_bytes=1 << 20)
    assert data[:4] == b"PK\x03\x04"
    moved, api = fake_github.calls("GET", r"/zip$")
    assert (moved.status, moved.auth_scheme) == (301, "token")
    assert api.path == f"/repositories/{seeded.repo.id}/actions/artifacts/{art.id}/zip"
    assert (api.status, api.auth_scheme) == (302, "token")             # same origin: token
    (blob,) = fake_github.calls(host="blob")
    assert blob.status == 200 and "authorization" not in blob.headers


async def test_api_redirects_keep_credentials_on_the_api_origin(
        clients: GitHubClients, fake_github: FakeGitHub) -> None:
    seeded = seed_workflow_run(fake_github.world, reports={"junit.xml": b"<testsuite/>"})
    (art,) = seeded.artifacts
    o, r = seeded.repo.owner, seeded.repo.name
    gh = await _for(clients, seeded.repo.id)
    zip_path = rf"/actions/artifacts/{art.id}/zip$"
    fake_github.inject("GET", zip_path, 301, times=None, headers={
        "location": f"/repositories/{seeded.repo.id}/actions/artifacts/{art.id}/zip"})
    with pytest.raises(ArtifactError, match="redirected more than 3 times on the API"):
        await gh.download_artifact(o, r, art.id, max_bytes=1 << 20)
    fake_github.faults.clear()
    elsewhere = fake_github.api_url.replace("127.0.0.1", "localhost") + "/steal"
    fake_github.inject("GET", zip_path, 301, headers={"location": elsewhere})
    with pytest.raises(ArtifactError, match="not an allowed artifact host"):
        await gh.download_artifact(o, r, art.id, max_bytes=1 << 20)
    assert len(fake_github.calls("GET", r"/zip$")) == 5          # 4 on the API, then 1
    # Ordinary calls: aiohttp follows, and drops the token when the origin changes.
    fake_github.inject("GET", r"^/repos/[^/]+/[^/]+$", 301,
                       headers={"location": fake_github.blob_url + "/actions-results/x"})
    with pytest.raises(gidgethub.BadRequest) as refused:
        await gh.getitem(REPO, {"owner": o, "repo": r})
    assert refused.value.status_code == 400        # the blob host's InvalidUri, not its 401
    (blob,) = fake_github.calls(host="blob")
    assert "authorization" not in blob.headers


async def test_artifact_failures_have_reasons(make_clients: Callable[..., GitHubClients],
                                              fake_github: FakeGitHub) -> None:
    seeded = seed_workflow_run(fake_github.world, reports={"junit.xml": b"<testsuite/>"})
    art = seeded.artifacts[0]
    o, r, rid = seeded.repo.owner, seeded.repo.name, seeded.repo.id
    gh = await _for(make_clients(), rid)
    with pytest.raises(ArtifactError, match="cap"):
        await gh.download_artifact(o, r, art.id, max_bytes=10)
    strict = await _for(make_clients(artifact_hosts=("blob.core.windows.net",)), rid)
    with pytest.raises(ArtifactError, match="not an allowed artifact host"):
        await strict.download_artifact(o, r, art.id, max_bytes=1 << 20)
    https_only = await _for(make_clients(artifact_allow_loopback_http=False), rid)
    with pytest.raises(ArtifactError, match="not https"):
        await https_only.download_artifact(o, r, art.id, max_bytes=1 << 20)
    expired = seeded.repo.add_artifact(seeded.run, "old", b"PK\x03\x04", expired=True)
    with pytest.raises(ArtifactError, match="expired"):
        await gh.download_artifact(o, r, expired.id, max_bytes=1 << 20)
    assert len(fake_github.calls(host="blob")) == 1  # only the capped download reached it


@pytest.mark.parametrize(("location", "refused"), [
    ("https://productionresultssa1.blob.core.windows.net/a.zip?sig=x", None),
    ("https://blob.core.windows.net/a.zip", None),
    ("https://user:pw@x.blob.core.windows.net/a.zip", "credentials"),
    ("https://x.blob.core.windows.net@evil.example/a.zip", "credentials"),
    ("https://evilblob.core.windows.net/a.zip", "not an allowed artifact host"),
    ("https://x.blob.core.windows.net.evil.example/a.zip", "not an allowed artifact host"),
    ("http://x.blob.core.windows.net/a.zip", "not https"),
    ("http://127.0.0.1:9/a.zip", "not https"),          # loopback http only when enabled
    ("ftp://x.blob.core.windows.net/a.zip", "not https"),
    ("//x.blob.core.windows.net/a.zip", "not https"),
    ("https:///a.zip", "no host"),
])
def test_artifact_redirect_targets_are_checked(location: str, refused: str | None) -> None:
    hosts = ("blob.core.windows.net",)
    if refused is None:
        assert check_location(location, allowed_hosts=hosts) == location
    else:
        with pytest.raises(ArtifactError, match=refused):
            check_location(location, allowed_hosts=hosts)
    assert check_location("http://127.0.0.1:9/a.zip", allowed_hosts=("127.0.0.1",),
                          allow_loopback_http=True)


async def test_artifact_answers_that_are_not_a_download_are_refused_with_reasons(
        make_clients: Callable[..., GitHubClients], fake_github: FakeGitHub) -> None:
    seeded = seed_workflow_run(fake_github.world, reports={"junit.xml": b"<testsuite/>"})
    art = seeded.artifacts[0]
    o, r = seeded.repo.owner, seeded.repo.name
    gh = await _for(make_clients(artifact_timeout=0.5), seeded.repo.id)
    zip_path = rf"/actions/artifacts/{art.id}/zip$"
    userinfo = fake_github.blob_url.replace("://", "://ci:secret@") + "/a.zip"
    for status, headers, reason in [
            (302, {"location": userinfo}, "credentials in the URL"),
            (302, {}, "redirect has no Location"),
            (403, {}, "not allowed to download the artifact .HTTP 403; the App needs Actions"),
            (500, {}, "answered HTTP 500")]:
        fake_github.inject("GET", zip_path, status, headers=headers)
        with pytest.raises(ArtifactError, match=reason):
            await gh.download_artifact(o, r, art.id, max_bytes=1 << 20)
    fake_github.inject("GET", r"\.zip$", 503, host="blob")
    with pytest.raises(ArtifactError, match="artifact storage answered HTTP 503"):
        await gh.download_artifact(o, r, art.id, max_bytes=1 << 20)
    fake_github.inject("GET", r"\.zip$", None, delay=2.0, host="blob")
    with pytest.raises(ArtifactError, match=r"timed out after 0\.5 s"):
        await gh.download_artifact(o, r, art.id, max_bytes=1 << 20)
    assert await gh.download_artifact(o, r, art.id, max_bytes=1 << 20)  # the faults are spent
    assert not [c for c in fake_github.calls(host="blob") if "authorization" in c.headers]


async def test_one_key_mints_once_across_clients_and_the_body_is_scoped(
        clients: GitHubClients, fake_github: FakeGitHub) -> None:
    rid = _repo(fake_github)
    many = [await _for(clients, rid) for _ in range(5)]       # separate gh_for calls
    await asyncio.gather(*(gh.getitem(REPO, OCTO) for gh in many for _ in range(3)))
    (mint,) = fake_github.calls("POST", r"/access_tokens$")
    assert mint.body == {"repository_ids": [rid], "permissions": scopes.JUDGE.body()}
    (token,) = fake_github.world.tokens.values()
    assert token.repo_ids == {rid}
    assert token.permissions == {"metadata": "read", **scopes.JUDGE.body()}


async def test_scopes_share_the_installations_etag_cache_and_write_lock(
        make_clients: Callable[..., GitHubClients], fake_github: FakeGitHub) -> None:
    rid = _repo(fake_github)
    clients = make_clients()
    judge, plan = await _for(clients, rid), await _for(clients, rid, scope=scopes.PLAN)
    await judge.getitem(REPO, OCTO)
    await plan.getitem(REPO, OCTO)            # another token, same installation: conditional
    calls = fake_github.calls("GET", r"^/repos/octo-org/octo-repo$")
    assert [("if-none-match" in c.headers, c.status) for c in calls] == [
        (False, 200), (True, 304)]
    assert len(fake_github.calls("POST", r"/access_tokens$")) == 2
    fake_github.write_latency = 0.02
    sha = fake_github.world.repo("octo-org", "octo-repo").branches["main"]  # type: ignore[union-attr]
    await asyncio.gather(
        *(plan.post(REPO + "/issues", OCTO, data={"title": f"t{i}"}) for i in range(2)),
        *(judge.post(REPO + "/check-runs", OCTO, data={"name": f"c{i}", "head_sha": sha,
                                                       "status": "in_progress"})
          for i in range(2)))
    assert fake_github.max_concurrent_writes[1] == 1


async def test_a_401_evicts_every_scope_of_the_installation(
        clients: GitHubClients, fake_github: FakeGitHub) -> None:
    rid = _repo(fake_github)
    judge, plan = await _for(clients, rid), await _for(clients, rid, scope=scopes.PLAN)
    await judge.getitem(REPO, OCTO)
    await plan.getitem(REPO + "/issues", OCTO)
    assert len(clients.tokens.keys(1)) == 2
    fake_github.revoke_tokens(1)
    assert (await judge.getitem(REPO, OCTO))["name"] == "octo-repo"   # 401, evict, retry
    (left,) = clients.tokens.keys(1)
    assert left.permissions == scopes.JUDGE.permissions       # the PLAN token went too
    assert len(fake_github.calls("POST", r"/access_tokens$")) == 3


async def test_a_client_needs_a_repository_id(clients: GitHubClients,
                                             fake_github: FakeGitHub) -> None:
    for bad in (0, -1, True):
        with pytest.raises(ValueError, match="repository id"):
            await clients(1, repository_id=bad, scope=scopes.JUDGE)
    assert fake_github.requests == []


@pytest.mark.parametrize("status", [403, 429])
async def test_a_rate_limited_artifact_download_waits_and_retries(
        clients: GitHubClients, fake_github: FakeGitHub, sleeps: Sleeps, status: int) -> None:
    seeded = seed_workflow_run(fake_github.world, reports={"junit.xml": b"<testsuite/>"})
    (art,) = seeded.artifacts
    gh = await _for(clients, seeded.repo.id)
    fake_github.inject_secondary_rate_limit("GET", rf"/actions/artifacts/{art.id}/zip$",
                                            retry_after=7, status=status)
    data = await gh.download_artifact(seeded.repo.owner, seeded.repo.name, art.id,
                                      max_bytes=1 << 20)
    assert data[:4] == b"PK\x03\x04"          # not "not allowed … needs Actions: read"
    assert [c.status for c in fake_github.calls("GET", r"/zip$")] == [status, 302]
    assert any(6.9 <= w <= 7.0 for w in sleeps.waits)


async def test_a_long_rate_limit_on_an_artifact_download_is_handed_back_to_the_queue(
        clients: GitHubClients, fake_github: FakeGitHub) -> None:
    seeded = seed_workflow_run(fake_github.world, reports={"junit.xml": b"<testsuite/>"})
    (art,) = seeded.artifacts
    gh = await _for(clients, seeded.repo.id)
    fake_github.inject_primary_rate_limit("GET", r"/zip$", reset_in=3600)
    with pytest.raises(RateLimited):
        await gh.download_artifact(seeded.repo.owner, seeded.repo.name, art.id,
                                   max_bytes=1 << 20)


async def test_a_revoked_token_on_an_artifact_download_is_evicted_and_retried(
        clients: GitHubClients, fake_github: FakeGitHub) -> None:
    seeded = seed_workflow_run(fake_github.world, reports={"junit.xml": b"<testsuite/>"})
    (art,) = seeded.artifacts
    gh = await _for(clients, seeded.repo.id)
    await gh.getitem(REPO, {"owner": seeded.repo.owner, "repo": seeded.repo.name})
    fake_github.revoke_tokens(1)
    data = await gh.download_artifact(seeded.repo.owner, seeded.repo.name, art.id,
                                      max_bytes=1 << 20)
    assert data[:4] == b"PK\x03\x04"
    assert [c.status for c in fake_github.calls("GET", r"/zip$")] == [401, 302]
    assert len(fake_github.calls("POST", r"/access_tokens$")) == 2


async def test_a_rate_limit_wait_longer_than_half_the_job_timeout_goes_back_to_the_queue(
        make_clients: Callable[..., GitHubClients], fake_github: FakeGitHub,
        sleeps: Sleeps) -> None:
    """Waiting 700 s inside a job that times out at 600 s ends as a timeout, which uses up an
    attempt; handed back to the queue the wait costs none (docs/app.md)."""
    clients = make_clients(job_timeout=600.0, rate_limit_max_wait=900.0)
    assert clients.settings.in_job_wait == 300.0
    gh = await _for(clients, _repo(fake_github))
    fake_github.inject("GET", r"^/repos/octo-org/octo-repo$", 429,
                       headers={"retry-after": "400"})
    with pytest.raises(RateLimited) as err:
        await gh.getitem(REPO, OCTO)
    assert err.value.retry_at >= time.time() + 390
    assert not [w for w in sleeps.waits if w >= 300]             # it did not sit through it
