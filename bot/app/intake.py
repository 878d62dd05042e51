"""Webhook intake checks: signature, required headers, content type, JSON (pure, over bytes)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = b"sha256="
_PIECE = 2047  # hashlib releases the GIL for updates of 2048 bytes or more
_MAX_HEADER = 200  # GitHub's ids and event names are short; longer values are not GitHub's


class IntakeError(Exception):
    """A request that must be refused; ``status`` is the HTTP answer, str() a log-safe reason."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Envelope:
    """The verified headers of one delivery (the body stays bytes until a worker needs it)."""

    delivery_id: str
    event: str
    hook_id: str | None = None


def signature_for(secret: bytes, body: bytes) -> str:
    """The X-Hub-Signature-256 value GitHub sends for ``body``."""
    return "sha256=" + hmac.digest(secret, body, "sha256").hex()


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """True only for a well-formed ``sha256=<hex>`` HMAC of the raw body.

    Compared in constant time on bytes; a header that is not ASCII is simply invalid (no
    TypeError), and the legacy SHA-1 header is never consulted.
    https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
    """
    return Verifier(secret).verify(body, header)


class Verifier:
    """``verify_signature`` for one secret, for many bodies on one thread.

    The keyed HMAC state is computed once and copied per body, and the body is hashed in
    pieces under 2 KiB, which hashlib hashes without releasing the GIL: on the database
    thread, releasing it for each 10 KB body meant waiting for the busy event loop to hand
    it back, once per delivery (the same number of instructions as ``hmac.digest``).
    """

    __slots__ = ("_keyed",)

    def __init__(self, secret: bytes) -> None:
        self._keyed = hmac.new(secret, digestmod=hashlib.sha256) if secret else None

    def verify(self, body: bytes, header: str | None) -> bool:
        """True only for a well-formed ``sha256=<hex>`` HMAC of ``body`` with our secret."""
        if self._keyed is None or header is None:
            return False
        try:
            given = header.strip().encode("ascii")
        except UnicodeEncodeError:
            return False
        mac = self._keyed.copy()
        view = memoryview(body)
        for start in range(0, len(view), _PIECE):
            mac.update(view[start:start + _PIECE])
        expected = _PREFIX + mac.hexdigest().encode("ascii")
        return hmac.compare_digest(given.lower(), expected)


def check_headers(headers: Mapping[str, str]) -> Envelope:
    """Require GitHub's event and delivery headers and a JSON content type."""
    ctype = headers.get("Content-Type", "")
    if ctype.split(";", 1)[0].strip().lower() != "application/json":
        raise IntakeError(415, "content type is not application/json")
    event = headers.get("X-GitHub-Event", "").strip()
    delivery = headers.get("X-GitHub-Delivery", "").strip()
    missing = [name for name, value in (("X-GitHub-Event", event),
                                        ("X-GitHub-Delivery", delivery)) if not value]
    if missing:
        raise IntakeError(400, "missing header " + ", ".join(missing))
    for name, value in (("X-GitHub-Event", event), ("X-GitHub-Delivery", delivery)):
        if len(value) > _MAX_HEADER or not value.isascii() or not value.isprintable():
            raise IntakeError(400, f"malformed header {name}")
    hook = headers.get("X-GitHub-Hook-ID")
    return Envelope(delivery_id=delivery, event=event, hook_id=hook[:_MAX_HEADER] if hook else None)


def check_body(body: bytes) -> None:
    """Cheap framing check at intake: the body must look like one JSON object.

    The full parse happens once, in the worker (it costs about 3× the HMAC of a 10 KB body;
    see docs/app.md). A signed body that passes this but is not JSON fails its job.
    """
    start = body[:64].lstrip()[:1]
    end = body[-64:].rstrip()[-1:]
    if start != b"{" or end != b"}":
        raise IntakeError(400, "body is not a JSON object")


def parse_payload(body: bytes) -> dict[str, Any]:
    """The JSON object in a delivery body; IntakeError(400) for anything else."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise IntakeError(400, "body is not valid JSON") from None
    if not isinstance(data, dict):
        raise IntakeError(400, "body is not a JSON object")
    return data


def installation_id(payload: Mapping[str, Any]) -> int | None:
    """``installation.id`` of a payload, if it is an integer."""
    inst = payload.get("installation")
    if isinstance(inst, Mapping):
        value = inst.get("id")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None
