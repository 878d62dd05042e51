"""The sticky pull-request comment: body with a hidden marker, digest, and finding our own."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from bot.core.checkrun import title
from bot.core.model import Conclusion, MeasuredState, Verdict
from bot.core.textfit import fit

MARKER = "<!-- ci-truth:pr-comment -->"
MAX_BODY = 60_000          # characters and UTF-8 bytes (GitHub: 65,536 chars; Renovate: 60,000)
_DIGEST_RE = re.compile(r"<!-- ci-truth:digest ([0-9a-f]{16}) -->")
_ICON = {Conclusion.SUCCESS: "✅", Conclusion.FAILURE: "❌", Conclusion.NEUTRAL: "⚠️"}


def digest(state: MeasuredState, verdict: Verdict, check_url: str = "") -> str:
    """Changes exactly when the verdict, its rules, the counts or the linked check run change."""
    counts = state.totals.to_json()
    counts.pop("duration", None)
    rules = sorted({r.rule for r in verdict.reasons})
    key: dict[str, Any] = {"c": verdict.conclusion.value, "t": counts, "r": rules}
    if check_url:          # a new head's check run: the comment must link that one
        key["u"] = check_url
    raw = json.dumps(key, sort_keys=True).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def body(state: MeasuredState, verdict: Verdict, *, check_url: str = "") -> str:
    """The comment: verdict, counts, one line per rule, a link to the check run, the markers.

    Only numbers, rule ids and the check run's own URL are shown: untrusted text (test names,
    messages) stays in the check run, so the comment cannot be used for mention spam.
    """
    t = state.totals
    rules = sorted({r.rule for r in verdict.reasons if r.conclusion is not Conclusion.SUCCESS})
    lines = [MARKER, f"<!-- ci-truth:digest {digest(state, verdict, check_url)} -->",
             f"### {_ICON[verdict.conclusion]} CI Truth: {verdict.conclusion.value}", "",
             _escape_title(title(state, verdict)), "",
             f"{t.tests:,} tests · {t.passed:,} passed · {t.failed:,} failed · "
             f"{t.errors:,} errors · {t.skipped:,} skipped"]
    if rules:
        lines += ["", "Rules: " + ", ".join(f"`{r}`" for r in rules)]
    if check_url.startswith("https://"):
        lines += ["", f"[Details in the CI Truth check run]({check_url})"]
    return fit("\n".join(lines), MAX_BODY)


def digest_of(text: str | None) -> str | None:
    """The digest a comment body of ours carries, or None."""
    m = _DIGEST_RE.search(text or "")
    return m.group(1) if m else None


def is_ours(comment: Mapping[str, Any], bot_login: str, app_id: int | None = None) -> bool:
    """Authored by our App (login `<slug>[bot]` with type Bot, or via our app id) AND marked."""
    user = comment.get("user")
    by_login = (isinstance(user, Mapping) and user.get("login") == bot_login
                and user.get("type") == "Bot")
    via = comment.get("performed_via_github_app")
    by_app = (app_id is not None and isinstance(via, Mapping) and via.get("id") == app_id
              and isinstance(user, Mapping) and user.get("type") == "Bot")
    return (by_login or by_app) and MARKER in str(comment.get("body") or "")


def _escape_title(text: str) -> str:
    """Titles are built from counts and rule leads; keep them inert anyway."""
    return re.sub(r"[<>&@#`]", lambda m: {"<": "&lt;", ">": "&gt;", "&": "&amp;"}.get(
        m.group(0), "\\" + m.group(0) if m.group(0) != "@" else "@\u200b"), text)
