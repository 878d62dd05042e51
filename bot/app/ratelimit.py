"""GitHub rate limits: recognising them, how long to wait, and per-installation pacing."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

Sleep = Callable[[float], Awaitable[None]]


class RateLimited(Exception):
    """GitHub asked us to wait longer than we wait inside a job; retry the job at ``retry_at``."""

    def __init__(self, retry_at: float, reason: str, *, what: str = "GitHub rate limit") -> None:
        self.retry_at = retry_at
        self.what = what        # the limit, without the "retry in" (for a final reason)
        super().__init__(reason)


class Limiter:
    """Per-installation pacing: a shared 'blocked until' time and serialised, spaced writes."""

    def __init__(self, *, spacing: float, sleep: Sleep, clock: Callable[[], float]) -> None:
        self.spacing = spacing
        self.blocked_until = 0.0
        self.blocked_by = "GitHub rate limit"
        self._sleep = sleep
        self._clock = clock
        self._write_lock = asyncio.Lock()
        self._last_write = float("-inf")

    async def wait(self, max_wait: float = math.inf) -> None:
        """Sleep while a rate limit blocks this installation (again if it was extended);
        RateLimited, sending nothing, if the block lasts longer than ``max_wait``."""
        slept_for = None
        while (until := self.blocked_until) != slept_for and until > self._clock():
            if until - self._clock() > max_wait:
                raise RateLimited(until, f"{self.blocked_by}; retry in "
                                  f"{until - self._clock():.0f} s", what=self.blocked_by)
            slept_for = until
            await self._sleep(until - self._clock())

    def block_for(self, seconds: float, what: str = "GitHub rate limit") -> None:
        """Hold every request of this installation for ``seconds`` (``what`` limit)."""
        if self._clock() + seconds > self.blocked_until:
            self.blocked_until, self.blocked_by = self._clock() + seconds, what

    async def write(self, send: Callable[[], Awaitable[Any]], spacing: float) -> Any:
        """Run a mutating request alone, at least ``spacing`` seconds after the previous one."""
        async with self._write_lock:
            delay = self._last_write + spacing - self._clock()
            if delay > 0:
                await self._sleep(delay)
            try:
                return await send()
            finally:
                self._last_write = self._clock()


def is_rate_limited(status: int, headers: Mapping[str, str], message: str) -> bool:
    """429, or 403 that is a primary (remaining 0) or secondary rate limit."""
    if status == 429:
        return True
    return status == 403 and ("retry-after" in headers
                              or headers.get("x-ratelimit-remaining") == "0"
                              or "rate limit" in message.lower())


def http_date(text: str) -> float | None:
    """An HTTP-date header value (``Date``, ``Retry-After``) as epoch seconds, or None when
    unreadable; always GMT, even if it omits it."""
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return when.replace(tzinfo=when.tzinfo or UTC).timestamp()


def rate_limit_wait(headers: Mapping[str, str], attempt: int, *, now: float) -> float:
    """GitHub's order: retry-after (seconds or HTTP-date), else the reset time, else ≥ 60 s."""
    retry_after = headers.get("retry-after", "").strip()
    if retry_after.isdigit():
        return float(retry_after)
    when = http_date(retry_after)        # RFC 9110 also allows an HTTP-date
    if when is not None:
        return max(0.0, when - now)
    reset = headers.get("x-ratelimit-reset", "")
    if headers.get("x-ratelimit-remaining") == "0" and reset.isdigit():
        return max(1.0, float(reset) - now + 1)
    return float(60.0 * 2 ** (attempt - 1) * random.uniform(1.0, 1.25))  # noqa: S311
