"""GitHub REST access on gidgethub: origin guard, rate limits, write serialisation, ETags, 401s."""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlencode, urlsplit

import aiohttp
import gidgethub
import gidgethub.abc
import gidgethub.aiohttp
from cachetools import LRUCache
from gidgethub import sansio

from bot.app import artifacts
from bot.app.auth import AppJWT, InstallationTokens, TokenKey
from bot.app.logs import redact
from bot.app.metrics import Metrics
from bot.app.ports import Unretryable
from bot.app.ratelimit import Limiter, RateLimited, Sleep, is_rate_limited, rate_limit_wait
from bot.app.scopes import Scope
from bot.app.settings import Settings, origin_of
from bot.core import baselines

log = logging.getLogger(__name__)
USER_AGENT = "ci-truth"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Requests that notify people: GitHub (and Octokit) want these further apart.
_NOTIFYING = re.compile(r"/issues(?:/\d+/comments)?$|/pulls/\d+/(?:comments|reviews)$")
_RETRYABLE_5XX = frozenset({500, 502, 503, 504})
# An error answer that a later job attempt cannot change (permissions, a gone feature, a
# malformed request); 404 is retried (GitHub's replication lag just after a webhook), as are
# 401 (after the transport's fresh credential), 409, 422 (a commit not visible yet) and 5xx.
_FINAL_4XX = frozenset({400, 403, 410, 451})
# Which permission a request path needs (first match), for a 403's reason.
_PERMISSION_OF = [(re.compile(pattern), name) for pattern, name in (
    (r"/check-(?:runs|suites)\b", "checks"), (r"/actions/", "actions"),
    (r"/pulls\b", "pull_requests"), (r"/issues\b", "issues"), (r"/statuses/", "statuses"),
    (r"/(?:contents|git|commits|compare|branches)\b", "contents"))]
_FAILURE = "ci_truth_failure"


class Failure(NamedTuple):
    """Why a GitHub request failed (request, status, GitHub's message) and what may fix it."""

    reason: str
    retry: bool                 # whether a later attempt of the job may succeed
    until: str | None = None    # the installation action after which it may (ports.Unretryable)


def failure(exc: BaseException) -> Failure | None:
    """The Failure the transport attached to a GitHub error answer, or None."""
    found = getattr(exc, _FAILURE, None)
    return found if isinstance(found, Failure) else None


def _classify(method: str, path: str, status: int, message: str, *, installation_id: int,
              scope: Scope | None) -> Failure:
    """The Failure of one error answer: which request, what GitHub said, whether to retry."""
    said = f"GitHub answered HTTP {status} to {method} {path}" + (f": {message}" if message
                                                                  else "")
    if status == 403 and "suspended" in message.lower():
        return Failure(f"installation {installation_id} is suspended ({said})", False,
                       "unsuspend")
    if status == 403 and "not accessible by integration" in message.lower():
        name = next((n for p, n in _PERMISSION_OF if p.search(path)), None)
        level = "read" if method in SAFE_METHODS else "write"
        likely = f"likely {name}: {level}" if name else "see GitHub's documentation of it"
        held = (f"; the token's scope {scope.name!r} has " + ", ".join(
            f"{k}: {v}" for k, v in scope.permissions)) if scope is not None else ""
        return Failure(f"{said} - the App's token lacks a permission this request needs "
                       f"({likely}{held})", False)
    if status == 404:
        return Failure(f"{said} (deleted, or not visible to the installation's token)", True)
    return Failure(said, status not in _FINAL_4XX)


class OriginError(ValueError):
    """A URL outside GITHUB_API_URL's origin: credentials are never sent there."""


class Transport(gidgethub.aiohttp.GitHubAPI):
    """gidgethub's aiohttp adapter, with credentials added per request and policy hooks."""

    def __init__(self, session: aiohttp.ClientSession, *, settings: Settings, metrics: Metrics,
                 credentials: Callable[[], Awaitable[str]],
                 unauthorized: Callable[[Mapping[str, str]], None],
                 installation_id: int, sleep: Sleep, clock: Callable[[], float],
                 cache: LRUCache[str, Any] | None = None, limiter: Limiter | None = None,
                 scope: Scope | None = None) -> None:
        super().__init__(session, USER_AGENT, cache=cache, base_url=settings.api_url)
        self.settings = settings
        self.metrics = metrics
        self.installation_id = installation_id
        self.scope = scope
        self.limiter = limiter or Limiter(spacing=settings.write_spacing, sleep=sleep,
                                          clock=clock)
        self._credentials = credentials
        self._unauthorized = unauthorized
        self._sleep = sleep
        self._clock = clock
        self._origin = origin_of(settings.api_url)

    def __repr__(self) -> str:
        return f"Transport(installation_id={self.installation_id})"

    async def sleep(self, seconds: float) -> None:
        await self._sleep(seconds)

    async def _request(self, method: str, url: str, headers: Mapping[str, str],
                       body: bytes = b"") -> tuple[int, Mapping[str, str], bytes]:
        if origin_of(url) != self._origin:  # pagination links included: same origin only
            raise OriginError(f"refusing to send credentials to {urlsplit(url).netloc}")
        headers = {**headers, "authorization": await self._credentials()}

        async def send() -> tuple[int, Mapping[str, str], bytes]:
            try:
                result = await super(Transport, self)._request(method, url, headers, body)
            except Exception:
                self.metrics.github_call("error")
                raise
            status, resp_headers, _ = result
            self.metrics.github_call(status)
            remaining = resp_headers.get("x-ratelimit-remaining")
            if remaining is not None and remaining.isdigit():
                self.metrics.rate_limit(self.installation_id, int(remaining))
            return result

        if method in SAFE_METHODS or url.endswith("/access_tokens"):  # minting creates no content
            return await send()
        spacing = self.limiter.spacing
        if method == "POST" and _NOTIFYING.search(urlsplit(url).path):
            spacing *= 3
        result: tuple[int, Mapping[str, str], bytes] = await self.limiter.write(send, spacing)
        return result

    async def _make_request(self, method: str, url: str,
                            url_vars: Mapping[str, Any] | None, data: Any, accept: str,
                            jwt: str | None = None, oauth_token: str | None = None,
                            content_type: str = gidgethub.abc.JSON_CONTENT_TYPE,
                            extra_headers: dict[str, str] | None = None,
                            ) -> tuple[bytes, str | None, int]:
        """gidgethub's request, an error answer carrying its Failure (``failure(exc)``)."""
        try:
            return await super()._make_request(
                method, url, url_vars, data, accept, jwt=jwt, oauth_token=oauth_token,
                content_type=content_type, extra_headers=extra_headers)
        except gidgethub.HTTPException as exc:
            path = urlsplit(sansio.format_url(url, url_vars, base_url=self.base_url)).path
            root = urlsplit(self.settings.api_url).path.rstrip("/")
            path = path[len(root):] if root and path.startswith(root + "/") else path
            message = " ".join(str(exc).split())[:300]
            setattr(exc, _FAILURE, _classify(
                method, redact(path), int(exc.status_code), redact(message),
                installation_id=self.installation_id, scope=self.scope))
            raise

    async def manage_rate_limit(self, *, method: str, url: str) -> None:
        await self.limiter.wait(self.settings.in_job_wait)

    async def handle_rate_limit_error(self, *, method: str, url: str,
                                      exception: gidgethub.HTTPException, attempt: int) -> bool:
        """Decide whether gidgethub retries: rate limits, a first 401, idempotent 5xx."""
        return await self.should_retry(method=method, status=exception.status_code,
                                       headers=exception.headers, message=str(exception),
                                       attempt=attempt)

    async def should_retry(self, *, method: str, status: int, headers: Mapping[str, str],
                           message: str, attempt: int) -> bool:
        """The retry policy for one error answer (also the artifact download's): True after
        waiting or evicting as needed; RateLimited when the wait is for the job queue."""
        if status == 401 and attempt == 1:
            self._unauthorized(headers)
            return True
        if is_rate_limited(status, headers, message):
            wait = rate_limit_wait(headers, attempt, now=self._clock())
            too_long = wait > self.settings.in_job_wait
            what = f"GitHub rate limit (HTTP {status})"
            self.limiter.block_for(wait, what)  # the installation's other jobs wait too
            if attempt > self.settings.rate_limit_retries or too_long:
                raise RateLimited(self._clock() + wait, f"{what}; retry in {wait:.0f} s",
                                  what=what)
            log.warning("rate limited installation=%s status=%s wait=%.0fs attempt=%s",
                        self.installation_id, status, wait, attempt)
            return True
        if (status in _RETRYABLE_5XX and method != "POST"
                and attempt <= self.settings.rate_limit_retries):
            await self._sleep(min(30.0, 2.0 ** (attempt - 1)) * random.uniform(0.5, 1.0))  # noqa: S311
            return True
        return False


class InstallationClient:
    """ports.GitHub for one repository of an installation and one task scope: relative URLs
    only, params, artifact download. (The Action uses it with its own token: no id, no scope.)"""

    def __init__(self, transport: Transport, session: aiohttp.ClientSession,
                 credentials: Callable[[], Awaitable[str]], *, repository_id: int | None = None,
                 scope: Scope | None = None) -> None:
        self.transport = transport
        self.installation_id = transport.installation_id
        self.repository_id = repository_id
        self.scope = scope
        self._session = session
        self._credentials = credentials

    def __repr__(self) -> str:
        return (f"InstallationClient(installation_id={self.installation_id}, "
                f"repository_id={self.repository_id}, "
                f"scope={self.scope.name if self.scope else None})")

    def _url(self, url: str, params: Mapping[str, Any] | None) -> str:
        if "://" in url or url.startswith("//"):
            if origin_of(url) != self.transport._origin:
                raise OriginError(f"refusing to send credentials to {urlsplit(url).netloc}")
        elif not url.startswith("/"):
            raise OriginError("API paths must start with '/'")
        if params:
            url += ("&" if "?" in url else "?") + urlencode(
                {k: v for k, v in params.items() if v is not None}, doseq=True)
        return url

    async def getitem(self, url: str, url_vars: Mapping[str, Any] | None = None, *,
                      params: Mapping[str, Any] | None = None) -> Any:
        return await self.transport.getitem(self._url(url, params), dict(url_vars or {}))

    async def getiter(self, url: str, url_vars: Mapping[str, Any] | None = None, *,
                      params: Mapping[str, Any] | None = None,
                      iterable_key: str | None = None) -> AsyncIterator[Any]:
        async for item in self.transport.getiter(self._url(url, params), dict(url_vars or {}),
                                                 iterable_key=iterable_key or "items"):
            yield item

    async def post(self, url: str, url_vars: Mapping[str, Any] | None = None, *,
                   data: Any) -> Any:
        return await self.transport.post(self._url(url, None), dict(url_vars or {}), data=data)

    async def patch(self, url: str, url_vars: Mapping[str, Any] | None = None, *,
                    data: Any) -> Any:
        return await self.transport.patch(self._url(url, None), dict(url_vars or {}), data=data)

    async def put(self, url: str, url_vars: Mapping[str, Any] | None = None, *,
                  data: Any = None) -> Any:
        return await self.transport.put(self._url(url, None), dict(url_vars or {}),
                                        data=b"" if data is None else data)

    async def delete(self, url: str, url_vars: Mapping[str, Any] | None = None) -> None:
        await self.transport.delete(self._url(url, None), dict(url_vars or {}))

    async def download_artifact(self, owner: str, repo: str, artifact_id: int, *,
                                max_bytes: int) -> bytes:
        """Bytes of an artifact (see bot.app.artifacts); ArtifactError with a reason."""
        settings = self.transport.settings
        url = (f"{settings.api_url}/repos/{_seg(owner)}/{_seg(repo)}"
               f"/actions/artifacts/{int(artifact_id)}/zip")
        attempt = 0
        while True:  # the API request gets the transport's policy: rate limits, a first 401
            attempt += 1
            await self.transport.limiter.wait(settings.in_job_wait)
            try:
                return await artifacts.download_artifact(
                    self._session, url, authorization=await self._credentials(),
                    max_bytes=max_bytes, allowed_hosts=settings.artifact_hosts,
                    allow_loopback_http=settings.artifact_allow_loopback_http,
                    timeout=settings.artifact_timeout, user_agent=USER_AGENT)
            except artifacts.ArtifactRefused as exc:
                if not await self.transport.should_retry(
                        method="GET", status=exc.status, headers=exc.headers,
                        message=exc.message or str(exc), attempt=attempt):
                    raise


def _refusal(key: TokenKey, status: int, message: str) -> Unretryable | None:
    """Why GitHub will not mint this token again soon, or None (a retry may help).

    Rate limits never get here (the transport waits or raises RateLimited); a 404 is an
    uninstalled App, a 403 a suspended installation, a 422 a repository no longer selected
    (or a permission not accepted). The worker queues the job again on the installation's
    ``unsuspend`` or ``new_permissions_accepted`` (``until``); a redelivery does too.
    """
    inst, said = key.installation_id, f"GitHub: {message}" if message else "GitHub"
    if status == 404:
        return Unretryable(f"installation {inst} no longer exists: the App was uninstalled "
                           f"({said}, HTTP 404)")
    if status == 403:
        return Unretryable(f"installation {inst} is suspended or refused a token ({said}, "
                           "HTTP 403)", until="unsuspend")
    if status == 422:
        return Unretryable(f"installation {inst} no longer covers repository "
                           f"{key.repository_id}, or has not accepted a permission this task "
                           f"needs ({said}, HTTP 422)", until="new_permissions_accepted")
    return None


def _seg(value: str) -> str:
    if not value or "/" in value or value in (".", "..") or not value.isprintable():
        raise OriginError(f"invalid owner or repository name {value[:60]!r}")
    return value


class _PerInstallation:
    """What stays per installation whatever the token's scope: GitHub's rate limits are per
    installation, so the pacing/write lock and the ETag cache are shared by every scope."""

    def __init__(self, settings: Settings, sleep: Sleep, clock: Callable[[], float]) -> None:
        self.limiter = Limiter(spacing=settings.write_spacing, sleep=sleep, clock=clock)
        self.cache: LRUCache[str, Any] = LRUCache(maxsize=500)


class GitHubClients:
    """The App's GitHub access: an App-JWT client, installation clients and the token cache.

    Calling it (``await clients(installation_id, repository_id=..., scope=...)``) is the
    handlers' ``gh_for``: the client's token covers that one repository with the scope's
    permissions (bot.app.scopes), minted on first use and cached per (installation,
    repository, permissions).
    """

    def __init__(self, session: aiohttp.ClientSession, settings: Settings, metrics: Metrics, *,
                 sleep: Sleep = asyncio.sleep, clock: Callable[[], float] = time.time) -> None:
        self.session = session
        self.settings = settings
        self.metrics = metrics
        self._sleep = sleep
        self._clock = clock
        self.jwt = AppJWT(settings.app_id, settings.private_key, clock=clock)
        self.tokens = InstallationTokens(self._mint, clock=clock)
        self.app = Transport(session, settings=settings, metrics=metrics,
                             credentials=self._app_auth, unauthorized=self.jwt.reset,
                             installation_id=0, sleep=sleep, clock=clock)
        self._installations: LRUCache[int, _PerInstallation] = LRUCache(maxsize=1000)

    def __repr__(self) -> str:
        return f"GitHubClients(api_url={self.settings.api_url!r})"

    async def _app_auth(self) -> str:
        return f"Bearer {self.jwt.get()}"

    async def _mint(self, key: TokenKey) -> Mapping[str, Any]:
        """POST /app/installations/{id}/access_tokens down-scoped to one repository and the
        task's permissions (GitHub answers 422 if either exceeds the installation's grant)."""
        body = {"repository_ids": [key.repository_id], "permissions": dict(key.permissions)}
        try:
            data = await self.app.post("/app/installations/{installation_id}/access_tokens",
                                       {"installation_id": key.installation_id}, data=body)
        except gidgethub.HTTPException as exc:
            refused = _refusal(key, exc.status_code, str(exc))
            if refused is None:
                raise
            raise refused from None
        if not isinstance(data, Mapping):
            raise ValueError("unexpected token response")
        return data

    async def __call__(self, installation_id: int, *, repository_id: int,
                       scope: Scope) -> InstallationClient:
        if not isinstance(repository_id, int) or isinstance(repository_id, bool) \
                or repository_id <= 0:
            raise ValueError("a repository id is needed to mint a down-scoped token")
        shared = self._installations.get(installation_id)
        if shared is None:
            shared = self._installations[installation_id] = _PerInstallation(
                self.settings, self._sleep, self._clock)
        key = TokenKey(installation_id, repository_id, scope.permissions)

        async def credentials() -> str:
            return f"token {await self.tokens.get(key)}"

        transport = Transport(
            self.session, settings=self.settings, metrics=self.metrics,
            credentials=credentials,
            unauthorized=lambda _headers: self.tokens.evict(installation_id),
            installation_id=installation_id, sleep=self._sleep, clock=self._clock,
            cache=shared.cache, limiter=shared.limiter, scope=scope)
        return InstallationClient(transport, self.session, credentials,
                                  repository_id=repository_id, scope=scope)

    def evict(self, installation_id: int) -> None:
        """Forget the installation's tokens (every scope), ETag cache and rate state."""
        self.tokens.evict(installation_id)
        self._installations.pop(installation_id, None)

    async def app_slug(self) -> str:
        """The App's slug from GET /app (the bot login is ``<slug>[bot]``)."""
        if self.settings.app_slug:
            return self.settings.app_slug
        data = await self.app.getitem("/app")
        slug = data.get("slug") if isinstance(data, Mapping) else None
        if not isinstance(slug, str) or not slug:
            raise ValueError("GET /app returned no slug")
        return slug


async def compare(gh: Any, owner: str, repo: str, base: str, head: str) -> Any:
    """GitHub's compare of `base...head` in one request (status, ahead/behind, merge base);
    HTTPException as GitHub answers. The plan's ancestry checks and the baseline's merge base."""
    return await gh.getitem("/repos/{owner}/{repo}/compare/{basehead}",
                            {"owner": owner, "repo": repo, "basehead": f"{base}...{head}"},
                            params={"per_page": 1})


async def merge_base(gh: Any, owner: str, repo: str, branch: str, head: str) -> str | None:
    """The merge base of `branch` and `head`, None when GitHub finds none (404, 422)."""
    try:
        data = await compare(gh, owner, repo, branch, head)
    except gidgethub.HTTPException as exc:
        if exc.status_code in (404, 422):
            return None
        raise
    return baselines.merge_base(data)
