"""App JWT claims and the installation-token cache (TTL, single mint, eviction)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.app import scopes
from bot.app.auth import AppJWT, InstallationTokens, TokenKey, app_jwt


def test_jwt_claims(rsa_key: rsa.RSAPrivateKey, private_pem: str) -> None:
    token = app_jwt(4242, private_pem, now=1_700_000_000.9)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(token, rsa_key.public_key(), algorithms=["RS256"],
                        options={"verify_exp": False, "verify_iat": False})
    assert claims == {"iat": 1_700_000_000 - 60, "exp": 1_700_000_000 - 60 + 540, "iss": "4242"}
    assert claims["exp"] - 1_700_000_000 <= 600


def test_app_jwt_is_reused_then_refreshed(private_pem: str) -> None:
    now = [1_700_000_000.0]
    cache = AppJWT(1, private_pem, clock=lambda: now[0])
    first = cache.get()
    now[0] += 200
    assert cache.get() == first
    now[0] += 200
    assert cache.get() != first
    assert "BEGIN" not in repr(cache)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


JUDGE = scopes.JUDGE.permissions
PLAN = scopes.PLAN.permissions


def key(installation: int, repo: int = 100, perms: tuple[tuple[str, str], ...] = JUDGE
        ) -> TokenKey:
    return TokenKey(installation, repo, perms)


class Minter:
    def __init__(self, clock: list[float], lifetime: float = 3600) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.calls: list[TokenKey] = []

    async def __call__(self, k: TokenKey) -> Mapping[str, Any]:
        self.calls.append(k)
        n = len(self.calls)
        await asyncio.sleep(0.01)  # concurrent misses overlap here
        return {"token": f"ghs_{k.installation_id}_{k.repository_id}_{n}",
                "expires_at": _iso(self.clock[0] + self.lifetime)}


async def test_concurrent_misses_mint_once_per_key() -> None:
    clock = [1_700_000_000.0]
    mint = Minter(clock)
    tokens = InstallationTokens(mint, clock=lambda: clock[0])
    wanted = [key(1)] * 8 + [key(1, 200)] * 3 + [key(1, 100, PLAN)] * 3 + [key(2)] * 2
    got = await asyncio.gather(*(tokens.get(k) for k in wanted))
    assert sorted(mint.calls) == sorted({key(1), key(1, 200), key(1, 100, PLAN), key(2)})
    assert len(set(got[:8])) == 1                     # one key, one token
    assert len({got[0], got[8], got[11], got[14]}) == 4   # every key its own token
    assert await tokens.get(key(1)) == got[0] and len(mint.calls) == 4   # cached


async def test_token_expires_five_minutes_early() -> None:
    clock = [1_700_000_000.0]
    mint = Minter(clock)
    tokens = InstallationTokens(mint, clock=lambda: clock[0])
    first = await tokens.get(key(7))
    clock[0] += 3600 - 301
    assert await tokens.get(key(7)) == first
    clock[0] += 2
    second = await tokens.get(key(7))
    assert second != first and len(mint.calls) == 2


async def test_evict_forgets_every_scope_and_repository_of_the_installation() -> None:
    clock = [1_700_000_000.0]
    mint = Minter(clock)
    tokens = InstallationTokens(mint, clock=lambda: clock[0])
    mine = [key(7), key(7, 200), key(7, 100, PLAN)]
    before = [await tokens.get(k) for k in [*mine, key(8)]]
    assert sorted(tokens.keys(7)) == sorted(mine)
    tokens.evict(7)
    assert tokens.keys(7) == [] and not any(tokens.cached(k) for k in mine)
    assert tokens.cached(key(8))                        # other installations keep theirs
    after = [await tokens.get(k) for k in mine]
    assert not set(after) & set(before) and len(mint.calls) == 7


async def test_short_lived_token_is_used_but_not_cached() -> None:
    clock = [1_700_000_000.0]
    mint = Minter(clock, lifetime=120)
    tokens = InstallationTokens(mint, clock=lambda: clock[0])
    await tokens.get(key(1))
    await tokens.get(key(1))
    assert len(mint.calls) == 2


async def test_bad_token_response_raises() -> None:
    async def mint(_k: TokenKey) -> Mapping[str, Any]:
        return {"expires_at": "2030-01-01T00:00:00Z"}

    with pytest.raises(ValueError, match="no token"):
        await InstallationTokens(mint).get(key(1))
