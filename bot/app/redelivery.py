"""Redelivery reconciler: ask GitHub to redeliver failed deliveries we never recorded.

GitHub does not retry failed deliveries and keeps them for 3 days; its own sample script
groups deliveries by ``guid`` and redelivers those without a successful attempt.
https://docs.github.com/en/webhooks/using-webhooks/handling-failed-webhook-deliveries
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.app.github import Transport
from bot.app.logs import describe
from bot.app.metrics import Metrics
from bot.app.ratelimit import RateLimited
from bot.app.recorder import KV, Database

log = logging.getLogger(__name__)
WINDOW = 3 * 86400
MAX_TRIES_PER_GUID = 3
MAX_PER_RUN = 100


def _epoch(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


async def reconcile(app: Transport, db: Database, kv: KV, metrics: Metrics, *,
                    now: float) -> int:
    """One pass: returns how many redeliveries were requested."""
    newest: dict[str, int] = {}  # guid → id of its newest failed delivery
    async for item in app.getiter("/app/hook/deliveries?per_page=100&status=failure"):
        if not isinstance(item, dict):
            continue
        delivered = _epoch(item.get("delivered_at"))
        if delivered is None or delivered < now - WINDOW + 300:
            break  # newest first: everything after this is outside the redelivery window
        guid, ident = item.get("guid"), item.get("id")
        if not isinstance(guid, str) or not isinstance(ident, int):
            continue
        if item.get("event") == "ping":  # answered, never recorded: it would come back 3 times
            continue
        status = item.get("status_code")
        if isinstance(status, int) and 200 <= status < 400:
            continue
        newest.setdefault(guid, ident)
    if not newest:
        return 0
    known = await db.run(db.store.known, list(newest))
    requested = 0
    for guid, ident in newest.items():
        if guid in known or requested >= MAX_PER_RUN:
            continue
        tries = int(await kv.get("redelivery", guid) or 0)
        if tries >= MAX_TRIES_PER_GUID:
            continue
        await kv.put("redelivery", guid, tries + 1)
        try:
            await app.post("/app/hook/deliveries/{delivery_id}/attempts",
                           {"delivery_id": ident}, data={})
        except RateLimited as exc:  # GitHub refused to try: no try used, the next pass resumes
            await kv.put("redelivery", guid, tries)
            metrics.redeliveries["rate_limited"] += 1
            log.warning("redelivery paused by a rate limit delivery=%s: %s", guid, describe(exc))
            break
        except Exception as exc:
            metrics.redeliveries["failed"] += 1
            log.warning("redelivery failed delivery=%s: %s", guid, describe(exc))
            continue
        metrics.redeliveries["requested"] += 1
        requested += 1
        log.info("redelivery requested delivery=%s", guid)
    return requested


async def run_periodically(app: Transport, db: Database, kv: KV, metrics: Metrics, *,
                           interval: float, clock: Callable[[], float],
                           retention_days: float) -> None:
    """At startup and every ``interval`` seconds: reconcile, then prune old records and counters."""
    while True:
        try:
            await reconcile(app, db, kv, metrics, now=clock())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("redelivery reconciliation failed: %s", describe(exc))
        with contextlib.suppress(Exception):
            await db.run(db.store.prune, max(retention_days, 3.5))
        with contextlib.suppress(Exception):  # a guid's counter outlives its deliveries by 0.5 d
            await db.run(db.store.kv_prune, "redelivery", WINDOW / 86400 + 0.5)
        if interval <= 0:
            return
        await asyncio.sleep(interval)
