"""App JWT claims and the installation-token cache (TTL, single mint, eviction)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.app.auth import AppJWT, InstallationTokens, app_jwt


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


class Minter:
    def __init__(self, clock: list[float], lifetime: float = 3600) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.calls: list[int] = []

    async def __call__(self, installation_id: int) -> Mapping[str, Any]:
        self.calls.append(installation_id)
        await asyncio.sleep(0.01)  # concurrent misses overlap here
        n = len(self.calls)
        return {"token": f"ghs_{installation_id}_{n}",
                "expires_at": _iso(self.clock[0] + self.lifetime)}


async def test_concurrent_misses_mint_once_per_installation() -> None:
    clock = [1_700_000_000.0]
    mint = Minter(clock)
    tokens = InstallationTokens(mint, clock=lambda: clock[0])
    got = await asyncio.gather(*(tokens.get(i) for i in (1, 1, 1, 2, 2, 1)))
    assert sorted(mint.calls) == [1, 2]
    assert len(set(got[:3])) == 1 and got[0] != got[3]


async def test_token_expires_five_minutes_early_and_evicts() -> None:
    clock = [1_700_000_000.0]
    mint = Minter(clock)
    tokens = InstallationTokens(mint, clock=lambda: clock[0])
    first = await tokens.get(7)
    clock[0] += 3600 - 301
    assert await tokens.get(7) == first
    clock[0] += 2
    second = await tokens.get(7)
    assert second != first and len(mint.calls) == 2
    tokens.evict(7)
    assert not tokens.cached(7)
    assert await tokens.get(7) not in (first, second)


async def test_short_lived_token_is_used_but_not_cached() -> None:
    clock = [1_700_000_000.0]
    mint = Minter(clock, lifetime=120)
    tokens = InstallationTokens(mint, clock=lambda: clock[0])
    await tokens.get(1)
    await tokens.get(1)
    assert len(mint.calls) == 2


async def test_bad_token_response_raises() -> None:
    async def mint(_i: int) -> Mapping[str, Any]:
        return {"expires_at": "2030-01-01T00:00:00Z"}

    with pytest.raises(ValueError, match="no token"):
        await InstallationTokens(mint).get(1)
