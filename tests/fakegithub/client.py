"""gidgethub clients pointed at the fake (for tests of the fake and of code that takes a client)."""

from __future__ import annotations

import aiohttp
from gidgethub.aiohttp import GitHubAPI
from gidgethub.apps import get_installation_access_token

from tests.fakegithub.server import FakeGitHub

REPO = "octo-org/octo-repo"


def api(fake: FakeGitHub, session: aiohttp.ClientSession, token: str | None = None,
        **kw: object) -> GitHubAPI:
    """A GitHubAPI on the fake's URL, optionally with a token (``jwt=`` per call for /app)."""
    return GitHubAPI(session, "ci-truth-tests", oauth_token=token, base_url=fake.api_url,
                     **kw)  # type: ignore[arg-type]


async def token_api(fake: FakeGitHub, session: aiohttp.ClientSession,
                    installation_id: int = 1) -> GitHubAPI:
    """A GitHubAPI with a freshly minted installation token (minted through the API)."""
    app = api(fake, session)
    tok = await get_installation_access_token(app, installation_id=installation_id,
                                              app_id=str(fake.world.app.id),
                                              private_key=fake.key.private_pem)
    return api(fake, session, tok["token"])
