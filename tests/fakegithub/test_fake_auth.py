"""Tests of the fake GitHub: App JWTs, installation and workflow tokens, quotas."""

from __future__ import annotations

import time

import pytest
from gidgethub import BadRequest, RateLimitExceeded
from gidgethub.apps import get_installation_access_token

from tests.fakegithub.client import REPO, api, token_api

pytestmark = pytest.mark.fake_github(check_responses=True)  # the fake answers on-spec


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


DENIED = "403 Resource not accessible by integration"


async def _scoped(fake_github, session, **body):
    app = api(fake_github, session)
    tok = await app.post("/app/installations/1/access_tokens", jwt=fake_github.app_jwt(),
                         data=body)
    return tok, api(fake_github, session, tok["token"])


async def test_token_minted_by_repository_id_remembers_repositories_and_permissions(
        fake_github, session, repo):
    other = fake_github.world.add_repo("octo-org/second")
    tok, gh = await _scoped(fake_github, session, repository_ids=[repo.id],
                            permissions={"checks": "write", "contents": "read"})
    assert tok["repository_selection"] == "selected"
    assert [r["id"] for r in tok["repositories"]] == [repo.id]
    assert tok["permissions"] == {"metadata": "read", "checks": "write", "contents": "read"}
    assert (await gh.getitem(f"/repos/{REPO}"))["id"] == repo.id     # metadata: implied
    assert (await gh.getitem(f"/repos/{REPO}/contents/.github/ci-truth.yml"))["type"] == "file"
    # another repository of the same installation: GitHub's 404, as if it did not exist
    with fake_github.expecting("404 Not Found"), pytest.raises(BadRequest) as info:
        await gh.getitem(f"/repos/{other.full_name}/contents/README.md")
    assert info.value.status_code == 404 and str(info.value) == "Not Found"
    with fake_github.expecting(DENIED), pytest.raises(BadRequest) as info:  # no Issues
        await gh.post(f"/repos/{REPO}/issues", data={"title": "x"})
    assert info.value.status_code == 403
    assert str(info.value) == "Resource not accessible by integration"
    assert repo.issues == {}


async def test_scoped_token_beyond_the_installations_grant_is_refused(fake_github, session, repo):
    stranger = fake_github.world.add_repo("someone-else/repo", installation=None)
    app = api(fake_github, session)
    for body, message in (
            ({"repository_ids": [stranger.id]}, "not accessible to the parent installation"),
            ({"repository_ids": [repo.id], "permissions": {"contents": "write"}},
             "permissions requested are not granted")):
        with fake_github.expecting(message), pytest.raises(BadRequest) as info:
            await app.post("/app/installations/1/access_tokens",
                           jwt=fake_github.app_jwt(), data=body)
        assert info.value.status_code == 422 and message in str(info.value)
    assert not fake_github.world.tokens


async def test_pull_requests_permission_comments_on_pull_requests_only(fake_github, session, repo):
    pr = repo.add_pull(head_ref="feature")
    issue = repo.add_issue("A plain issue")
    _tok, gh = await _scoped(fake_github, session, repository_ids=[repo.id],
                             permissions={"pull_requests": "write"})
    made = await gh.post(f"/repos/{REPO}/issues/{pr['number']}/comments", data={"body": "hi"})
    edited = await gh.patch(f"/repos/{REPO}/issues/comments/{made['id']}",
                            data={"body": "hello"})
    assert edited["body"] == "hello"
    listed = [c async for c in gh.getiter(f"/repos/{REPO}/issues/{pr['number']}/comments")]
    assert [c["id"] for c in listed] == [made["id"]]
    with fake_github.expecting(DENIED), pytest.raises(BadRequest) as info:
        await gh.post(f"/repos/{REPO}/issues/{issue['number']}/comments",
                      data={"body": "hi"})
    assert info.value.status_code == 403
    _tok, reader = await _scoped(fake_github, session, repository_ids=[repo.id],
                                 permissions={"pull_requests": "read"})
    # read does not write, even on a PR
    with fake_github.expecting(DENIED), pytest.raises(BadRequest):
        await reader.post(f"/repos/{REPO}/issues/{pr['number']}/comments",
                          data={"body": "hi"})
    assert [c["body"] for c in repo.comments.values()] == ["hello"]
