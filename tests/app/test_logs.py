"""Redaction of credentials in log records and exception descriptions."""

from __future__ import annotations

import logging

import aiohttp
import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from bot.app.logs import RedactingFilter, add_secret, describe, redact

JWT = ("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE3MDAwMDAwMDAsImlzcyI6IjEyIn0."
       "c2lnbmF0dXJlLXBhcnQtbG9uZy1lbm91Z2g")


@pytest.mark.parametrize("secret", [
    "ghs_16C7e42F292c6912E7710c838347Ae178B4a",
    "ghs_123456_" + JWT, "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", JWT])
def test_tokens_are_redacted(secret: str) -> None:
    out = redact(f"calling with {secret} failed")
    assert secret not in out and "[REDACTED]" in out and out.startswith("calling with")


def test_headers_and_pem_are_redacted() -> None:
    text = ("{'Authorization': 'token abc.def', 'Cookie': 'session=1'} authorization: Bearer xyz\n"
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY----- tail")
    out = redact(text)
    for leaked in ("abc.def", "session=1", "xyz", "MIIEow"):
        assert leaked not in out
    assert out.endswith("tail")


def test_configured_secret_is_redacted() -> None:
    add_secret(b"my-webhook-secret-value")
    assert "my-webhook-secret-value" not in redact("secret=my-webhook-secret-value")


def test_describe_never_includes_request_headers() -> None:
    info = aiohttp.RequestInfo(URL("https://api.github.com/app"), "GET",
                               CIMultiDictProxy(CIMultiDict(
                                   {"Authorization": "Bearer " + JWT})),
                               URL("https://api.github.com/app"))
    exc = aiohttp.ClientResponseError(info, (), status=401, message="Unauthorized")
    assert JWT in repr(exc)  # the reason this function exists
    text = describe(exc)
    assert JWT not in text and "Bearer" not in text
    assert text.startswith("ClientResponseError: 401, message='Unauthorized'")


def test_signed_blob_urls_lose_their_query() -> None:
    url = "https://x.blob.core.windows.net/a/b.zip?sv=2023&sig=c2VjcmV0%2Bc2ln&se=2030"
    assert redact(f"GET {url} failed") == (
        "GET https://x.blob.core.windows.net/a/b.zip?[REDACTED] failed")


def test_filter_redacts_message_args_and_traceback() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "minted %s", ("ghs_" + "a" * 36,),
                               None)
    try:
        raise RuntimeError("header Authorization: token ghs_" + "b" * 36)
    except RuntimeError:
        import sys
        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    assert "ghs_" not in record.getMessage() and "ghs_" not in (record.exc_text or "")


@pytest.mark.parametrize("at", [985, 990, 995])
def test_describe_redacts_before_it_truncates(at: int) -> None:
    secret = "configured-webhook-secret-0123"
    add_secret(secret)
    text = describe(ValueError("x" * at + secret + " and more"))
    assert len(text) <= len("ValueError: ") + 1000
    assert secret[:4] not in text          # no prefix of the secret survives the cut
