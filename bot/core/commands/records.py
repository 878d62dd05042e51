"""Records commands leave behind: accepted test drops (check run) and waivers (phase issue).

Both are a visible sentence plus a hidden marker carrying base64url JSON. They are only
read from places only ci-truth can write: the CI Truth check run's output (check runs are
writable by their app alone) and comments whose author is ci-truth (author identity AND
marker, never a marker alone). Untrusted text inside is escaped where shown and encoded
where hidden, so no argument can close a comment or forge a marker.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from bot.core.commands.text import code

DROP_MARK = "ci-truth:accepted-drop"
WAIVER_MARK = "ci-truth:waiver"
# room for the largest record: 600 argument characters of 12 JSON bytes each (astral
# characters are escaped as surrogate pairs), base64 adds a third
_BLOCK = re.compile(r"<!-- (ci-truth:[a-z-]+) v1 ([A-Za-z0-9_-]{1,16000}={0,2}) -->")


@dataclass(frozen=True)
class AcceptedDrop:
    """A maintainer accepted a test-count drop for one head SHA (lapses when the head moves)."""

    head_sha: str
    user: str
    user_id: int
    reason: str
    at: str                 # ISO 8601 UTC


@dataclass(frozen=True)
class WaiverRecord:
    """A maintainer accepted a phase criterion as met without evidence (not evidence)."""

    phase: str
    criterion: str
    user: str
    user_id: int
    reason: str
    at: str


def _encode(mark: str, data: Mapping[str, Any]) -> str:
    raw = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return f"<!-- {mark} v1 {base64.urlsafe_b64encode(raw).decode()} -->"


def _decode(text: str, mark: str) -> list[dict[str, Any]]:
    out = []
    for m in _BLOCK.finditer(text):
        if m.group(1) != mark:
            continue
        try:
            doc = json.loads(base64.urlsafe_b64decode(m.group(2)))
        except (binascii.Error, ValueError):
            continue
        if isinstance(doc, dict):
            out.append(doc)
    return out


def _fields(doc: Mapping[str, Any], names: dict[str, type]) -> dict[str, Any] | None:
    got = {k: doc.get(k) for k in names}
    return got if all(isinstance(got[k], t) for k, t in names.items()) else None


def drop_block(rec: AcceptedDrop) -> str:
    """Markdown for the check run output: a visible sentence and the hidden record."""
    return (f"{_encode(DROP_MARK, asdict(rec))}\n"
            f"**Test-count drop accepted** for `{rec.head_sha[:12]}` by {code(rec.user)} "
            f"at {rec.at}: {code(rec.reason)}. It lapses when the pull request's head moves.")


def find_accepted_drop(text: str, head_sha: str) -> AcceptedDrop | None:
    """The last drop acceptance recorded in check-run text for exactly this head SHA."""
    names = {"head_sha": str, "user": str, "user_id": int, "reason": str, "at": str}
    found = None
    for doc in _decode(text, DROP_MARK):
        got = _fields(doc, names)
        if got is not None and got["head_sha"] == head_sha:
            found = AcceptedDrop(**got)
    return found


def waiver_block(rec: WaiverRecord) -> str:
    """Markdown for the waiver reply in a phase issue: visible, and readable back."""
    return (f"{_encode(WAIVER_MARK, asdict(rec))}\n"
            f"**Waiver**: criterion {code(rec.criterion)} of phase {code(rec.phase)} is "
            f"accepted as met **without evidence** by {code(rec.user)} at {rec.at}. "
            f"Reason: {code(rec.reason)}. It shows as waived, never as measured; "
            "delete this comment to withdraw it.")


def is_ours(item: Mapping[str, Any], *, app_id: int, slug: str) -> bool:
    """Whether a comment or issue was written by ci-truth (author identity, not markers)."""
    via = item.get("performed_via_github_app")
    if isinstance(via, Mapping) and via.get("id") == app_id:
        return True
    user = item.get("user")
    return (isinstance(user, Mapping) and user.get("login") == f"{slug}[bot]"
            and user.get("type") == "Bot")


def waivers_from_comments(comments: Iterable[Mapping[str, Any]], *, app_id: int,
                          slug: str) -> list[WaiverRecord]:
    """Waivers recorded in a phase issue's comments; only ci-truth's own comments count."""
    names = {"phase": str, "criterion": str, "user": str, "user_id": int, "reason": str,
             "at": str}
    out: dict[tuple[str, str], WaiverRecord] = {}
    for c in comments:
        body = c.get("body")
        if not isinstance(body, str) or not is_ours(c, app_id=app_id, slug=slug):
            continue
        for doc in _decode(body, WAIVER_MARK):
            got = _fields(doc, names)
            if got is not None:
                out[(got["phase"], got["criterion"])] = WaiverRecord(**got)
    return list(out.values())
