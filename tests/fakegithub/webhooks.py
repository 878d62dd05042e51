"""Webhook deliveries as GitHub sends them: signed POSTs, listed by the deliveries API."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

from tests.fakegithub.state import add_delivery

if TYPE_CHECKING:
    from tests.fakegithub.server import FakeGitHub

TIMEOUT = 10.0  # GitHub gives up after 10 s and records the delivery as failed


def sign(body: bytes, secret: str) -> str:
    """``X-Hub-Signature-256`` for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Delivered:
    """One delivery attempt: the record the deliveries API lists and the App's answer."""

    record: dict[str, Any]
    status: int          # 0 when the App did not answer in time or refused the connection
    body: bytes


def headers_for(fake: FakeGitHub, event: str, guid: str, body: bytes,
                secret: str) -> dict[str, str]:
    """The headers GitHub sends with an App webhook."""
    sha1 = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/fake0001",
            "X-GitHub-Event": event, "X-GitHub-Delivery": guid,
            "X-GitHub-Hook-ID": "424242001", "X-Hub-Signature": f"sha1={sha1}",
            "X-Hub-Signature-256": sign(body, secret),
            "X-GitHub-Hook-Installation-Target-Type": "integration",
            "X-GitHub-Hook-Installation-Target-ID": str(fake.world.app.id)}


async def post(fake: FakeGitHub, event: str, body: bytes, guid: str, *,
               redelivery: bool = False, headers: Mapping[str, str] | None = None) -> Delivered:
    """POST ``body`` to ``fake.webhook_url`` and record the attempt like GitHub does."""
    assert fake.webhook_url and fake.webhook_secret, "set fake.webhook_url and webhook_secret"
    payload = json.loads(body)
    sent = {**headers_for(fake, event, guid, body, fake.webhook_secret), **(headers or {})}
    status, answer = 0, b""
    try:
        async with aiohttp.ClientSession() as session, session.post(
                fake.webhook_url, data=body, headers=sent,
                timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as resp:
            status, answer = resp.status, await resp.read()
    except (TimeoutError, aiohttp.ClientError):
        status = 0
    inst = payload.get("installation") or {}
    repo = payload.get("repository") or {}
    rec = add_delivery(fake.world, event, action=payload.get("action"), status_code=status,
                       guid=guid, installation_id=inst.get("id"),
                       repository_id=repo.get("id"), redelivery=redelivery)
    fake.delivery_bodies[rec["id"]] = (event, body)
    return Delivered(rec, status, answer)


async def deliver(fake: FakeGitHub, event: str, payload: Mapping[str, Any] | bytes, *,
                  guid: str | None = None, headers: Mapping[str, str] | None = None) -> Delivered:
    """Deliver one event to the App (a new ``X-GitHub-Delivery`` unless ``guid`` is given)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return await post(fake, event, body, guid or str(uuid.uuid4()), headers=headers)


def redeliver(fake: FakeGitHub, record: Mapping[str, Any]) -> None:
    """Redeliver a recorded delivery in the background (same guid), as the attempts API does."""
    stored = fake.delivery_bodies.get(int(record["id"]))
    if stored is None or not fake.webhook_url:
        add_delivery(fake.world, str(record["event"]), action=record["action"],
                     guid=str(record["guid"]), redelivery=True,
                     installation_id=record["installation_id"],
                     repository_id=record["repository_id"])
        return
    event, body = stored
    task = asyncio.get_running_loop().create_task(
        post(fake, event, body, str(record["guid"]), redelivery=True))
    fake.background.add(task)
    task.add_done_callback(fake.background.discard)
