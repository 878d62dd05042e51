"""A real `serve` process whose handler sleeps: used by the kill -9 test (run as a script)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.app import logs
from bot.app.ports import AppContext, Delivery, GitHubFor
from bot.app.serve import serve
from bot.app.settings import Settings

JOURNAL = Path(os.environ["SLEEPY_JOURNAL"])
SLEEP = float(os.environ.get("SLEEPY_SECONDS", "2"))


def note(line: str) -> None:
    with JOURNAL.open("a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


async def handle(delivery: Delivery, gh_for: GitHubFor, ctx: AppContext) -> None:
    """Idempotent like the real handlers: the visible effect happens once, at the end."""
    kv = ctx.extras["kv"]
    note(f"start {delivery.id} {os.getpid()}")
    await asyncio.sleep(SLEEP)
    if await kv.get("effects", delivery.id) is None:
        await kv.put("effects", delivery.id, os.getpid())
        note(f"done {delivery.id} {os.getpid()}")


if __name__ == "__main__":
    settings = Settings.from_env(os.environ)
    logs.setup("INFO", secrets=[settings.webhook_secret])
    raise SystemExit(serve(settings, handle))
