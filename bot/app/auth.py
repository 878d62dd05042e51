"""App authentication: the App JWT (RS256) and the cache of down-scoped installation tokens."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import jwt
from cachetools import TLRUCache

from bot.app.ratelimit import http_date

JWT_BACKDATE = 60      # GitHub: set iat 60 s in the past against clock drift
JWT_LIFETIME = 540     # exp = iat + 540 = now + 480: well under GitHub's 10-minute ceiling
TOKEN_MARGIN = 300     # refresh installation tokens 5 minutes before expires_at


def app_jwt(app_id: int, private_key: str, *, now: float) -> str:
    """A GitHub App JWT: RS256, iat = now - 60, exp = iat + 540, iss = the app id."""
    iat = int(now) - JWT_BACKDATE
    return jwt.encode({"iat": iat, "exp": iat + JWT_LIFETIME, "iss": str(app_id)},
                      private_key, algorithm="RS256")


class AppJWT:
    """Caches the App JWT for a few minutes (well inside its lifetime), signed on GitHub's
    clock once a 401 has told it (``offset``: GitHub's time minus ours, from its Date header)."""

    def __init__(self, app_id: int, private_key: str, *,
                 clock: Callable[[], float] = time.time, reuse_for: float = 300.0) -> None:
        self._app_id = app_id
        self._key = private_key
        self._clock = clock
        self._reuse_for = reuse_for
        self._value: tuple[str, float] | None = None
        self.offset = 0.0

    def __repr__(self) -> str:
        return f"AppJWT(app_id={self._app_id})"

    def get(self) -> str:
        """A JWT valid for at least four more minutes."""
        now = self._clock() + self.offset
        if self._value is None or now >= self._value[1]:
            self._value = (app_jwt(self._app_id, self._key, now=now), now + self._reuse_for)
        return self._value[0]

    def reset(self, headers: Mapping[str, str] | None = None) -> None:
        """Forget the cached JWT (after a 401), adopting GitHub's clock from the 401's Date."""
        self._value = None
        date = http_date((headers or {}).get("date", ""))
        if date is not None:
            self.offset = date - self._clock()


@dataclass(frozen=True)
class Token:
    """An installation access token and its expiry (epoch seconds)."""

    value: str = field(repr=False)
    expires_at: float


def parse_expires_at(text: Any) -> float:
    """``expires_at`` ("2016-07-11T22:14:10Z") as epoch seconds; ValueError if unreadable."""
    if not isinstance(text, str):
        raise ValueError("expires_at missing from the token response")
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class TokenKey(NamedTuple):
    """One cached token: an installation, one repository of it, and a task's permissions."""

    installation_id: int
    repository_id: int
    permissions: tuple[tuple[str, str], ...]


Mint = Callable[[TokenKey], Awaitable[Mapping[str, Any]]]


class InstallationTokens:
    """Down-scoped installation tokens cached per TokenKey until ``expires_at`` minus a margin.

    One asyncio.Lock per key (held weakly, so idle keys cost nothing), so concurrent misses
    mint a single token. ``evict(installation_id)`` forgets every token of the installation.
    Tokens are not validated by shape: ``ghs_APPID_JWT`` tokens are longer than 40 characters.
    """

    def __init__(self, mint: Mint, *, clock: Callable[[], float] = time.time,
                 margin: float = TOKEN_MARGIN, maxsize: int = 10_000) -> None:
        self._mint = mint
        self._clock = clock
        self._margin = margin
        self._cache: TLRUCache[TokenKey, Token] = TLRUCache(
            maxsize, ttu=lambda _k, tok, _now: tok.expires_at - self._margin, timer=clock)
        self._locks: weakref.WeakValueDictionary[TokenKey, asyncio.Lock] = (
            weakref.WeakValueDictionary())
        self.minted = 0

    def __repr__(self) -> str:
        return f"InstallationTokens(cached={len(self._cache)})"

    async def get(self, key: TokenKey) -> str:
        """A valid token for the key, minting one on a miss."""
        tok = self._cache.get(key)
        if tok is not None:
            return tok.value
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            tok = self._cache.get(key)
            if tok is not None:
                return tok.value
            data = await self._mint(key)
            self.minted += 1
            value = data.get("token")
            if not isinstance(value, str) or not value:
                raise ValueError("the token response carries no token")
            tok = Token(value, parse_expires_at(data.get("expires_at")))
            if tok.expires_at - self._margin > self._clock():
                self._cache[key] = tok
            return tok.value

    def evict(self, installation_id: int) -> None:
        """Forget every token of the installation, whatever its repository or scope (after a
        401, or when the installation is deleted, suspended or its permissions change)."""
        for key in [k for k in list(self._cache.keys()) if k.installation_id == installation_id]:
            self._cache.pop(key, None)

    def cached(self, key: TokenKey) -> bool:
        """Whether a usable token is cached for the key (for tests and metrics)."""
        return self._cache.get(key) is not None

    def keys(self, installation_id: int) -> list[TokenKey]:
        """The keys with a usable token for the installation (for tests and metrics)."""
        return [k for k in list(self._cache.keys())
                if k.installation_id == installation_id and self.cached(k)]
