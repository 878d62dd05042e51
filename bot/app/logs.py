"""Logging for the App: a redaction filter for credentials, and the process's log setup."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

_PATTERNS = [
    # PEM blocks (private keys): everything between the armour lines.
    re.compile(r"-----BEGIN[A-Z ]*PRIVATE KEY-----.*?(-----END[A-Z ]*PRIVATE KEY-----|$)",
               re.DOTALL),
    # Authorization / Cookie headers in any rendering (dict repr, HTTP text, key=value).
    re.compile(r"(?i)(['\"]?(?:proxy-)?authorization|['\"]?(?:set-)?cookie)(['\"]?\s*[:=]\s*)"
               r"(['\"]?)[^'\"\n,}]*"),
    # GitHub tokens: classic prefixes and fine-grained PATs, any length (ghs_APPID_JWT too).
    re.compile(r"\b(?:gh[opusr]_|github_pat_)[A-Za-z0-9_.\-]+"),
    # JWTs (App JWTs, and the JWT part of stateless installation tokens).
    re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]*)?"),
    # "token X" / "Bearer X" credentials outside a header rendering.
    re.compile(r"(?i)\b(bearer|token)\s+[A-Za-z0-9_.\-]{20,}"),
    # Query strings of URLs: artifact blob URLs carry a SAS signature there.
    re.compile(r"(https?://[^\s?#'\"]+)\?[^\s#'\"]*"),
]
REDACTED = "[REDACTED]"
_extra_secrets: list[str] = []


def add_secret(value: str | bytes) -> None:
    """Also redact this literal value (the webhook secret) wherever it appears."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    if len(text) >= 8 and text not in _extra_secrets:
        _extra_secrets.append(text)


def redact(text: str) -> str:
    """``text`` with every credential-looking substring replaced by [REDACTED]."""
    for secret in _extra_secrets:
        text = text.replace(secret, REDACTED)
    text = _PATTERNS[0].sub(REDACTED, text)
    text = _PATTERNS[1].sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{REDACTED}", text)
    text = _PATTERNS[2].sub(REDACTED, text)
    text = _PATTERNS[3].sub(REDACTED, text)
    text = _PATTERNS[4].sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _PATTERNS[5].sub(lambda m: f"{m.group(1)}?{REDACTED}", text)


def describe(exc: BaseException) -> str:
    """A redacted one-line description of an exception: class name and str(), never repr().

    aiohttp's ClientResponseError repr includes request_info (the request headers, so the
    Authorization header); its str() names status, message and URL, whose query is redacted.
    """
    # Redact before the cut (a secret across it would survive in part), on a bounded prefix.
    text = redact(str(exc)[:4000].replace("\n", " "))[:1000]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class RedactingFilter(logging.Filter):
    """Rewrites each record's message and traceback text with credentials redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not hide the record
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def setup(level: str = "INFO", *, secrets: Iterable[str | bytes] = ()) -> None:
    """Log to stderr through the redaction filter; aiohttp's per-request access log stays off."""
    for secret in secrets:
        add_secret(secret)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
