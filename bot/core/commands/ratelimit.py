"""Command rate limiting: token buckets per user and per PR/issue, time passed in.

A command is allowed when both its user's and its thread's bucket hold a token. The
first refusal after an allowed command gets one polite answer (WARN); further refusals
get silence (SILENT) until a command is allowed again. Memory is bounded: the least
recently used keys are dropped past ``max_keys`` (a dropped key starts full again).
A command seen again (a retried job, a redelivered webhook) gets its first decision back
without spending anything, so a repeat neither costs a token nor uses up the warning.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from enum import StrEnum


class Decision(StrEnum):
    ALLOW = "allow"
    WARN = "warn"        # refused: answer politely once
    SILENT = "silent"    # refused again: say nothing


@dataclass(frozen=True)
class Bucket:
    capacity: float      # burst size
    per_second: float    # refill rate


@dataclass
class _State:
    tokens: float
    at: float
    warned: bool = False


USER = Bucket(capacity=6, per_second=1 / 60)       # 6 at once, then one a minute
THREAD = Bucket(capacity=12, per_second=1 / 30)    # 12 at once, then one every 30 s


class RateLimiter:
    """Two-level token buckets; ``check(user, thread, now)`` with ``now`` in seconds."""

    def __init__(self, user: Bucket = USER, thread: Bucket = THREAD,
                 *, max_keys: int = 10_000) -> None:
        self._spec = {"user": user, "thread": thread}
        self._states: OrderedDict[tuple[str, Hashable], _State] = OrderedDict()
        self._decided: OrderedDict[Hashable, Decision] = OrderedDict()
        self._max_keys = max_keys

    def _state(self, kind: str, key: Hashable, now: float) -> _State:
        spec = self._spec[kind]
        st = self._states.get((kind, key))
        if st is None:
            st = _State(tokens=spec.capacity, at=now)
            self._states[(kind, key)] = st
            while len(self._states) > self._max_keys:
                self._states.popitem(last=False)
        else:
            self._states.move_to_end((kind, key))
            elapsed = max(0.0, now - st.at)
            st.tokens = min(spec.capacity, st.tokens + elapsed * spec.per_second)
            st.at = max(st.at, now)
        return st

    def check(self, user: Hashable, thread: Hashable, now: float,
              *, event: Hashable | None = None) -> Decision:
        """Take one token from both buckets, or say how to refuse; once per ``event``."""
        if event is not None and event in self._decided:
            self._decided.move_to_end(event)
            return self._decided[event]
        decision = self._decide(user, thread, now)
        if event is not None:
            self._decided[event] = decision
            while len(self._decided) > self._max_keys:
                self._decided.popitem(last=False)
        return decision

    def _decide(self, user: Hashable, thread: Hashable, now: float) -> Decision:
        u = self._state("user", user, now)
        t = self._state("thread", thread, now)
        if u.tokens >= 1 and t.tokens >= 1:
            u.tokens -= 1
            t.tokens -= 1
            u.warned = t.warned = False
            return Decision.ALLOW
        empty = [s for s in (u, t) if s.tokens < 1]
        if any(s.warned for s in empty):
            return Decision.SILENT
        for s in empty:
            s.warned = True
        return Decision.WARN

    def __len__(self) -> int:
        return len(self._states)
