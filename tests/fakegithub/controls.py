"""What tests do with the fake: inject faults, restrict and inspect requests, tokens, waiting."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from tests.fakegithub import webhooks
from tests.fakegithub.auth import AppKey, mint_token
from tests.fakegithub.core import Fault, Problem, Recorded
from tests.fakegithub.state import ACTIONS_APP_ID, ACTIONS_LOGIN, Token, World

SECONDARY_MESSAGE = ("You have exceeded a secondary rate limit. Please wait a few minutes before "
                     "you try again. If you reach out to GitHub Support for help, please include "
                     "the request ID {rid}.")


class Controls:
    """Test-facing methods of FakeGitHub (the state they use is set up in its ``__init__``)."""

    world: World
    key: AppKey
    requests: list[Recorded]
    unexpected: list[Problem]
    invalid_bodies: list[Problem]
    faults: list[Fault]
    allowed: list[tuple[str, re.Pattern[str]]] | None
    rate_limit: int
    background: set[asyncio.Task[Any]]

    async def deliver(self, event: str, payload: Any, **kw: Any) -> webhooks.Delivered:
        """Send a signed webhook to ``webhook_url`` and record it for the deliveries API."""
        return await webhooks.deliver(self, event, payload, **kw)  # type: ignore[arg-type]

    async def wait_until(self, predicate: Callable[[], Any], *, timeout: float = 10.0,
                         interval: float = 0.01) -> Any:
        """Poll ``predicate`` (e.g. "the check run is completed") while the servers keep
        answering; returns its first truthy value, raises TimeoutError with the requests seen."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                seen = "\n  ".join(str(r) for r in self.requests[-20:])
                raise TimeoutError(f"condition not reached in {timeout}s; last requests:\n  {seen}")
            await asyncio.sleep(interval)

    async def settle(self) -> None:
        """Wait for background work (redeliveries requested through the API)."""
        while self.background:
            await asyncio.gather(*list(self.background), return_exceptions=True)


    # -- test-facing helpers -------------------------------------------------------------------
    def inject(self, method: str, path: str, status: int | None = 500, *,
               headers: dict[str, str] | None = None, body: Any = None, times: int | None = 1,
               delay: float = 0.0, host: str = "api") -> Fault:
        """Answer the next ``times`` matching requests with ``status`` (None: only delay);
        ``host="blob"`` for the artifact download host."""
        fault = Fault(method.upper(), re.compile(path), status, dict(headers or {}), body, times,
                      delay, host=host)
        self.faults.append(fault)
        return fault

    def inject_secondary_rate_limit(self, method: str, path: str, *, retry_after: int | None = 1,
                                    status: int = 403, times: int | None = 1) -> Fault:
        """GitHub's secondary rate limit answer (403 or 429, optional ``retry-after``)."""
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        return self.inject(method, path, status, headers=headers, times=times,
                           body={"message": SECONDARY_MESSAGE, "documentation_url":
                                 "https://docs.github.com/free-pro-team@latest/rest/overview/"
                                 "rate-limits-for-the-rest-api#about-secondary-rate-limits"})

    def inject_primary_rate_limit(self, method: str, path: str, *, reset_in: int = 1,
                                  times: int | None = 1) -> Fault:
        """GitHub's primary rate limit answer: 403 with ``x-ratelimit-remaining: 0``."""
        headers = {"x-ratelimit-remaining": "0", "x-ratelimit-used": str(self.rate_limit),
                   "x-ratelimit-reset": str(int(time.time()) + reset_in)}
        return self.inject(method, path, 403, headers=headers, times=times, body={
            "message": "API rate limit exceeded for installation ID 1.",
            "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"})

    def corrupt_digest(self, artifact: Any) -> str:
        """Fault: list ``artifact`` with a well-formed sha256 digest that its bytes do not have
        (what a swapped or tampered upload would look like); returns the digest served."""
        wrong = "sha256:" + hashlib.sha256(b"not " + artifact.data).hexdigest()
        artifact.digest = wrong
        return wrong

    def allow_only(self, *rules: str) -> None:
        """Restrict this test to ``"METHOD path-regex"`` rules; anything else is unexpected."""
        self.allowed = []
        for rule in rules:
            method, _, pattern = rule.partition(" ")
            self.allowed.append((method.upper(), re.compile(pattern)))

    def calls(self, method: str | None = None, path: str | None = None,
              host: str = "api") -> list[Recorded]:
        """Recorded requests filtered by method and path regex (``search``)."""
        return [r for r in self.requests if r.host == host
                and (method is None or r.method == method.upper())
                and (path is None or re.search(path, r.path))]

    def problems(self) -> list[Problem]:
        return [*self.unexpected, *self.invalid_bodies]

    @contextlib.contextmanager
    def expecting(self, *reasons: str) -> Iterator[list[Problem]]:
        """Let the block cause problems whose reasons contain each of ``reasons`` (in order of
        the list, at least one each); they are removed, anything else stays and fails."""
        before = (len(self.unexpected), len(self.invalid_bodies))
        caught: list[Problem] = []
        yield caught
        new_unexpected = self.unexpected[before[0]:]
        new_invalid = self.invalid_bodies[before[1]:]
        del self.unexpected[before[0]:]
        del self.invalid_bodies[before[1]:]
        for problem in [*new_unexpected, *new_invalid]:
            if any(r in problem.reason for r in reasons):
                caught.append(problem)
            elif problem in new_unexpected:
                self.unexpected.append(problem)
            else:
                self.invalid_bodies.append(problem)
        missing = [r for r in reasons if not any(r in p.reason for p in caught)]
        assert not missing, f"expected problems not seen: {missing}"

    def app_jwt(self, **kw: Any) -> str:
        """A valid App JWT (tests that call /app endpoints themselves)."""
        return self.key.jwt(self.world.app.id, **kw)

    def installation_token(self, installation_id: int = 1) -> str:
        """Mint a token directly (no request recorded), for tests that need one."""
        return mint_token(self.world, installation_id, {}).token

    def actions_token(self, full_name: str, permissions: dict[str, str] | None = None) -> str:
        """A GITHUB_TOKEN for one repository: acts as ``github-actions[bot]`` (app 15368)."""
        repo = self.world.repo(*full_name.split("/"))
        assert repo is not None, f"seed {full_name} first"
        inst = self.world.installations.get(ACTIONS_APP_ID) or self.world.add_installation(
            ACTIONS_APP_ID, repo.owner, repo_ids=set())
        assert inst.repo_ids is not None
        inst.repo_ids.add(repo.id)
        perms = permissions or {"actions": "read", "checks": "write", "contents": "read",
                                "issues": "write", "metadata": "read",
                                "pull_requests": "write", "statuses": "write"}
        tok = Token("ghs_" + secrets.token_urlsafe(27)[:36], ACTIONS_APP_ID,
                    self.world.now() + timedelta(hours=6), {repo.id}, perms,
                    app_id=ACTIONS_APP_ID, actor=ACTIONS_LOGIN)
        self.world.tokens[tok.token] = tok
        return tok.token

    def revoke_tokens(self, installation_id: int | None = None) -> None:
        for tok in self.world.tokens.values():
            if installation_id in (None, tok.installation_id):
                tok.revoked = True

    def expire_tokens(self, installation_id: int | None = None) -> None:
        for tok in self.world.tokens.values():
            if installation_id in (None, tok.installation_id):
                tok.expires_at = self.world.now()
