"""App authentication: the App JWT (RS256) and the per-installation access-token cache."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jwt
from cachetools import TLRUCache

JWT_BACKDATE = 60      # GitHub: set iat 60 s in the past against clock drift
JWT_LIFETIME = 540     # exp = iat + 540 = now + 480: well under GitHub's 10-minute ceiling
TOKEN_MARGIN = 300     # refresh installation tokens 5 minutes before expires_at


def app_jwt(app_id: int, private_key: str, *, now: float) -> str:
    """A GitHub App JWT: RS256, iat = now - 60, exp = iat + 540, iss = the app id."""
    iat = int(now) - JWT_BACKDATE
    return jwt.encode({"iat": iat, "exp": iat + JWT_LIFETIME, "iss": str(app_id)},
                      private_key, algorithm="RS256")


class AppJWT:
    """Caches the App JWT for a few minutes (well inside its lifetime)."""

    def __init__(self, app_id: int, private_key: str, *,
                 clock: Callable[[], float] = time.time, reuse_for: float = 300.0) -> None:
        self._app_id = app_id
        self._key = private_key
        self._clock = clock
        self._reuse_for = reuse_for
        self._value: tuple[str, float] | None = None

    def __repr__(self) -> str:
        return f"AppJWT(app_id={self._app_id})"

    def get(self) -> str:
        """A JWT valid for at least four more minutes."""
        now = self._clock()
        if self._value is None or now >= self._value[1]:
            self._value = (app_jwt(self._app_id, self._key, now=now), now + self._reuse_for)
        return self._value[0]

    def reset(self) -> None:
        """Forget the cached JWT (after a 401)."""
        self._value = None


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


Mint = Callable[[int], Awaitable[Mapping[str, Any]]]


class InstallationTokens:
    """Installation tokens cached per installation until ``expires_at`` minus a margin.

    One asyncio.Lock per installation, so concurrent misses mint a single token.
    Tokens are not validated by shape: ``ghs_APPID_JWT`` tokens are longer than 40 characters.
    """

    def __init__(self, mint: Mint, *, clock: Callable[[], float] = time.time,
                 margin: float = TOKEN_MARGIN, maxsize: int = 10_000) -> None:
        self._mint = mint
        self._clock = clock
        self._margin = margin
        self._cache: TLRUCache[int, Token] = TLRUCache(
            maxsize, ttu=lambda _k, tok, _now: tok.expires_at - self._margin, timer=clock)
        self._locks: dict[int, asyncio.Lock] = {}
        self.minted = 0

    def __repr__(self) -> str:
        return f"InstallationTokens(cached={len(self._cache)})"

    async def get(self, installation_id: int) -> str:
        """A valid token for the installation, minting one on a miss."""
        tok = self._cache.get(installation_id)
        if tok is not None:
            return tok.value
        lock = self._locks.setdefault(installation_id, asyncio.Lock())
        async with lock:
            tok = self._cache.get(installation_id)
            if tok is not None:
                return tok.value
            data = await self._mint(installation_id)
            self.minted += 1
            value = data.get("token")
            if not isinstance(value, str) or not value:
                raise ValueError("the token response carries no token")
            tok = Token(value, parse_expires_at(data.get("expires_at")))
            if tok.expires_at - self._margin > self._clock():
                self._cache[installation_id] = tok
            return tok.value

    def evict(self, installation_id: int) -> None:
        """Forget the installation's token (after a 401, or when it is deleted/suspended)."""
        self._cache.pop(installation_id, None)

    def cached(self, installation_id: int) -> bool:
        """Whether a usable token is cached (for tests and metrics)."""
        return self._cache.get(installation_id) is not None
