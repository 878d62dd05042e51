"""Fixtures for the App's infrastructure tests: a throwaway RSA key, settings, signed posts."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.app.intake import signature_for
from bot.app.settings import Settings

SECRET = "test-webhook-secret-0123456789"


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    """A fresh 2048-bit key (never a committed one)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def private_pem(rsa_key: rsa.RSAPrivateKey) -> str:
    return rsa_key.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()


@pytest.fixture
def settings(tmp_path: Path, private_pem: str) -> Settings:
    """Settings for an App whose GitHub is a closed loopback port (no request leaves the host)."""
    env = {"GITHUB_APP_ID": "4242", "GITHUB_PRIVATE_KEY": private_pem,
           "GITHUB_WEBHOOK_SECRET": SECRET, "GITHUB_API_URL": "http://127.0.0.1:9",
           "CI_TRUTH_DB": str(tmp_path / "app.db"), "CI_TRUTH_APP_SLUG": "ci-truth-test",
           "CI_TRUTH_WRITE_SPACING": "0", "CI_TRUTH_COMMIT_INTERVAL": "0",
           "CI_TRUTH_BACKOFF_BASE": "0.01", "CI_TRUTH_REDELIVERY_INTERVAL": "0",
           "CI_TRUTH_DB_SYNC": "NORMAL"}
    return Settings.from_env(env)


@pytest.fixture
def with_settings(settings: Settings) -> Callable[..., Settings]:
    """Settings with some fields changed."""
    return lambda **changes: replace(settings, **changes)


def signed(payload: Any, *, event: str = "workflow_run", delivery: str = "d-1",
           secret: str = SECRET, body: bytes | None = None) -> dict[str, Any]:
    """Keyword arguments for client.post(...) of a correctly signed delivery."""
    raw = body if body is not None else json.dumps(payload).encode()
    return {"data": raw, "headers": {
        "Content-Type": "application/json", "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery, "User-Agent": "GitHub-Hookshot/test",
        "X-Hub-Signature-256": signature_for(secret.encode(), raw)}}


def load_webhook(corpus: Path, name: str) -> dict[str, Any]:
    """A real webhook payload from the corpus."""
    data = json.loads((corpus / "webhooks" / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data
