"""Signature verification and header checks (pure functions), with GitHub's test vector."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from bot.app.intake import (
    IntakeError,
    Verifier,
    check_body,
    check_headers,
    installation_id,
    parse_payload,
    signature_for,
    verify_signature,
)


@pytest.fixture
def vector(corpus: Path) -> dict[str, str]:
    data = json.loads((corpus / "webhooks" / "signature-test-vector.json").read_text())
    assert isinstance(data, dict)
    return data


def test_github_test_vector(vector: dict[str, str]) -> None:
    secret, body = vector["secret"].encode(), vector["payload"].encode()
    assert signature_for(secret, body) == vector["expected"]
    assert verify_signature(secret, body, vector["expected"])


def test_tampered_body_or_secret_fails(vector: dict[str, str]) -> None:
    secret, body = vector["secret"].encode(), vector["payload"].encode()
    assert not verify_signature(secret, body + b" ", vector["expected"])
    assert not verify_signature(b"another secret entirely", body, vector["expected"])


@pytest.mark.parametrize("header", [
    None, "", "sha256=", "sha256=00",
    "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1é",
    "sha256=７５７107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    "sha256=\udcff",
])
def test_malformed_signatures_are_invalid_not_errors(vector: dict[str, str],
                                                     header: str | None) -> None:
    assert verify_signature(vector["secret"].encode(), vector["payload"].encode(), header) is False


def test_sha1_signature_is_never_accepted(vector: dict[str, str]) -> None:
    secret, body = vector["secret"].encode(), vector["payload"].encode()
    sha1 = "sha1=" + hmac.new(secret, body, hashlib.sha1).hexdigest()
    assert not verify_signature(secret, body, sha1)


def test_empty_secret_never_verifies() -> None:
    assert not verify_signature(b"", b"{}", signature_for(b"", b"{}"))


def test_check_headers_accepts_github_headers() -> None:
    env = check_headers({"Content-Type": "application/json; charset=utf-8",
                         "X-GitHub-Event": "workflow_run", "X-GitHub-Delivery": "abc-1",
                         "X-GitHub-Hook-ID": "7"})
    assert (env.event, env.delivery_id, env.hook_id) == ("workflow_run", "abc-1", "7")


@pytest.mark.parametrize(("headers", "status"), [
    ({"X-GitHub-Event": "push", "X-GitHub-Delivery": "1"}, 415),
    ({"Content-Type": "application/x-www-form-urlencoded", "X-GitHub-Event": "push",
      "X-GitHub-Delivery": "1"}, 415),
    ({"Content-Type": "application/json", "X-GitHub-Delivery": "1"}, 400),
    ({"Content-Type": "application/json", "X-GitHub-Event": "push"}, 400),
    ({"Content-Type": "application/json", "X-GitHub-Event": "push",
      "X-GitHub-Delivery": "x" * 500}, 400),
    ({"Content-Type": "application/json", "X-GitHub-Event": "pu\x01sh",
      "X-GitHub-Delivery": "1"}, 400),
])
def test_check_headers_refusals(headers: dict[str, str], status: int) -> None:
    with pytest.raises(IntakeError) as err:
        check_headers(headers)
    assert err.value.status == status


@pytest.mark.parametrize("body", [b"", b"{", b"[1, 2]", b"null", b"\xff\xfe", b"[" * 100_000])
def test_parse_payload_refuses_non_objects(body: bytes) -> None:
    with pytest.raises(IntakeError) as err:
        parse_payload(body)
    assert err.value.status == 400


def test_installation_id(corpus: Path) -> None:
    with_inst = json.loads((corpus / "webhooks" / "pull_request.opened.json").read_bytes())
    without = json.loads((corpus / "webhooks" / "workflow_run.completed.json").read_bytes())
    assert isinstance(installation_id(with_inst), int)
    assert installation_id(without) is None
    assert installation_id({"installation": {"id": True}}) is None
    assert installation_id({"installation": {"id": "12"}}) is None


@pytest.mark.parametrize(("body", "ok"), [
    (b'{"a": 1}', True), (b'  \n{"a": 1}\n', True), (b"{}", True),
    (b"", False), (b"[]", False), (b'"x"', False), (b"{", False), (b"\xef\xbb\xbf{}", False)])
def test_check_body_framing(body: bytes, ok: bool) -> None:
    if ok:
        check_body(body)
    else:
        with pytest.raises(IntakeError):
            check_body(body)


@pytest.mark.parametrize("size", [0, 1, 2046, 2047, 2048, 4094, 4095, 10_142, 70_000])
def test_verifier_hashes_in_pieces_exactly_like_one_shot_hmac(corpus: Path, size: int) -> None:
    """Verifier feeds hashlib pieces under 2 KiB (it keeps the GIL); the MAC must not change."""
    real = (corpus / "webhooks" / "workflow_run.completed.json").read_bytes()
    body = (real * (size // len(real) + 1))[:size]
    secret = b"It's a Secret to Everybody"
    verifier = Verifier(secret)
    header = "sha256=" + hmac.digest(secret, body, "sha256").hex()
    assert verifier.verify(body, header) and verifier.verify(body, header.upper())
    assert not verifier.verify(body + b" ", header)
    assert not Verifier(b"").verify(body, signature_for(b"", body))
