"""The App's settings: the only place that reads environment variables."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

MIN_SECRET_LENGTH = 16
DEFAULT_ARTIFACT_HOSTS = ("blob.core.windows.net",)
MAX_BODY_CEILING = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB


class SettingsError(ValueError):
    """Every problem found in the environment, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid settings:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class Settings:
    """Validated configuration for `ci-truth serve`; secrets never appear in repr()."""

    app_id: int
    private_key: str = field(repr=False)
    webhook_secret: bytes = field(repr=False)
    api_url: str = "https://api.github.com"
    db_path: str = "./ci-truth.db"
    host: str = "0.0.0.0"  # noqa: S104 - a service listens on all interfaces by default
    port: int = 8080
    app_slug: str | None = None          # bot login "<slug>[bot]"; from GET /app if unset
    workers: int = 4
    max_queue: int = 10_000              # queued jobs beyond this → 503
    max_body_bytes: int = MAX_BODY_CEILING
    max_attempts: int = 5
    backoff_base: float = 2.0
    backoff_cap: float = 600.0
    lease_seconds: float = 300.0
    job_timeout: float = 600.0
    db_sync: str = "FULL"                # FULL: a 202 survives power loss (see docs/app.md)
    commit_interval: float = 0.0         # extra group-commit wait; batches form during a commit
    write_spacing: float = 1.0           # seconds between mutating requests per installation
    rate_limit_retries: int = 3
    rate_limit_max_wait: float = 900.0   # longer waits are handed back to the job queue
    artifact_hosts: tuple[str, ...] = DEFAULT_ARTIFACT_HOSTS
    artifact_allow_loopback_http: bool = False
    artifact_timeout: float = 60.0
    redelivery_interval: float = 600.0   # 0 disables the periodic reconciler
    retention_days: float = 7.0
    shutdown_grace: float = 5.0          # running jobs' time at a stop (docs/deploy.md)
    log_level: str = "INFO"

    @property
    def in_job_wait(self) -> float:
        """The longest rate-limit wait a job sits through: CI_TRUTH_RATE_LIMIT_MAX_WAIT, but at
        most half of CI_TRUTH_JOB_TIMEOUT, so a wait never ends as a timeout (an attempt used
        up); a longer one goes back to the queue, which costs no attempt."""
        return min(self.rate_limit_max_wait, self.job_timeout / 2)

    @property
    def api_origin(self) -> tuple[str, str, int]:
        """(scheme, host, port) of GITHUB_API_URL: the only place credentials go."""
        return origin_of(self.api_url)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from an environment mapping; raise SettingsError listing all problems."""
        problems: list[str] = []
        values: dict[str, Any] = {}
        env = {k: v for k, v in environ.items() if v != ""}  # empty means unset

        secret = env.get("GITHUB_WEBHOOK_SECRET")
        if secret is None:
            problems.append("GITHUB_WEBHOOK_SECRET is required (the webhook secret set on the App)")
        elif len(secret) < MIN_SECRET_LENGTH or not secret.strip():
            problems.append(f"GITHUB_WEBHOOK_SECRET is too short: use at least "
                            f"{MIN_SECRET_LENGTH} random characters")
        elif not _encodes(secret):  # os.environ keeps undecodable bytes as lone surrogates
            problems.append("GITHUB_WEBHOOK_SECRET is not valid UTF-8 text (GitHub's secret is)")
        else:
            values["webhook_secret"] = secret.encode("utf-8")

        app_id = env.get("GITHUB_APP_ID")
        if app_id is None:
            problems.append("GITHUB_APP_ID is required (the App's numeric id)")
        elif not (app_id.isascii() and app_id.isdigit()) or int(app_id) <= 0:  # int("²") raises
            problems.append("GITHUB_APP_ID must be a positive integer")
        else:
            values["app_id"] = int(app_id)

        values["private_key"] = _private_key(env, problems)
        _optional(env, values, problems)
        if problems:
            raise SettingsError(problems)
        return cls(**values)


def origin_of(url: str) -> tuple[str, str, int]:
    """The (scheme, lower-case host, port) triple of an absolute http(s) URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def is_loopback(host: str) -> bool:
    """True for localhost and loopback IP literals."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _valid_port(parts: SplitResult) -> bool:
    try:
        parts.port  # noqa: B018 - raises ValueError unless absent or 0-65535
    except ValueError:
        return False
    return True


def _private_key(env: Mapping[str, str], problems: list[str]) -> str:
    inline, path = env.get("GITHUB_PRIVATE_KEY"), env.get("GITHUB_PRIVATE_KEY_PATH")
    if inline and path:
        problems.append("set GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH, not both")
        return ""
    text = inline
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"GITHUB_PRIVATE_KEY_PATH: cannot read {path}: {type(exc).__name__}")
            return ""
    if not text:
        problems.append("GITHUB_PRIVATE_KEY (PEM text) or GITHUB_PRIVATE_KEY_PATH is required")
        return ""
    text = text.replace("\\n", "\n") if "\\n" in text and "\n" not in text.strip() else text
    if "-----BEGIN" not in text or "PRIVATE KEY-----" not in text:
        problems.append("the private key is not PEM text "
                        "(expected -----BEGIN ... PRIVATE KEY-----)")
        return ""
    try:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        problems.append("the private key cannot be loaded (a GitHub App key is an "
                        "unencrypted RSA PEM)")
        return ""
    if not isinstance(key, rsa.RSAPrivateKey):
        problems.append("the private key is not an RSA key (GitHub App JWTs are RS256)")
        return ""
    return text


def _parse(env: Mapping[str, str], name: str, conv: Callable[[str], Any],
           problems: list[str], what: str) -> Any:
    raw = env.get(name)
    if raw is None:
        return None
    try:
        return conv(raw)
    except ValueError:
        problems.append(f"{name} must be {what}, got {raw[:40]!r}")
        return None


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError(raw)
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0 or value == float("inf"):
        raise ValueError(raw)
    return value


def _positive_float(raw: str) -> float:
    value = _non_negative_float(raw)
    if value == 0:
        raise ValueError(raw)
    return value


def _bool(raw: str) -> bool:
    low = raw.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _port(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 65535:  # 0 would listen on a random port no one (health check) knows
        raise ValueError(raw)
    return value


_INTS = {"CI_TRUTH_WORKERS": "workers", "CI_TRUTH_MAX_QUEUE": "max_queue",
         "CI_TRUTH_MAX_BODY_BYTES": "max_body_bytes", "CI_TRUTH_MAX_ATTEMPTS": "max_attempts",
         "CI_TRUTH_RATE_LIMIT_RETRIES": "rate_limit_retries"}
# Time limits: 0 would time every job (or lease, or download) out at once; aiohttp even reads
# a 0 timeout as none at all.
_DURATIONS = {"CI_TRUTH_LEASE_SECONDS": "lease_seconds", "CI_TRUTH_JOB_TIMEOUT": "job_timeout",
              "CI_TRUTH_ARTIFACT_TIMEOUT": "artifact_timeout"}
_FLOATS = {"CI_TRUTH_BACKOFF_BASE": "backoff_base", "CI_TRUTH_BACKOFF_CAP": "backoff_cap",
           "CI_TRUTH_COMMIT_INTERVAL": "commit_interval",
           "CI_TRUTH_WRITE_SPACING": "write_spacing",
           "CI_TRUTH_RATE_LIMIT_MAX_WAIT": "rate_limit_max_wait",
           "CI_TRUTH_REDELIVERY_INTERVAL": "redelivery_interval",
           "CI_TRUTH_RETENTION_DAYS": "retention_days",
           "CI_TRUTH_SHUTDOWN_GRACE": "shutdown_grace"}


def _optional(env: Mapping[str, str], values: dict[str, Any], problems: list[str]) -> None:
    api = env.get("GITHUB_API_URL")
    if api is not None:
        parts = urlsplit(api)
        if parts.scheme not in ("https", "http") or not parts.hostname or "@" in parts.netloc:
            problems.append("GITHUB_API_URL must be an absolute http(s) URL without credentials")
        elif not _valid_port(parts):
            problems.append("GITHUB_API_URL has an invalid port")
        elif parts.scheme == "http" and not is_loopback(parts.hostname):
            problems.append("GITHUB_API_URL must use https (http is accepted for loopback only)")
        else:
            values["api_url"] = api.rstrip("/")
    for name, key in (("CI_TRUTH_DB", "db_path"), ("HOST", "host"),
                      ("CI_TRUTH_APP_SLUG", "app_slug")):
        if name in env:
            values[key] = env[name]
    port = _parse(env, "PORT", _port, problems, "a port number (1-65535)")
    if port is not None:
        values["port"] = port
    for name, key in _INTS.items():
        value = _parse(env, name, _positive_int, problems, "a positive integer")
        if value is not None:
            values[key] = value
    for name, key in _DURATIONS.items():
        value = _parse(env, name, _positive_float, problems, "a positive number of seconds")
        if value is not None:
            values[key] = value
    for name, key in _FLOATS.items():
        value = _parse(env, name, _non_negative_float, problems, "a non-negative number")
        if value is not None:
            values[key] = value
    if values.get("max_body_bytes", 0) > MAX_BODY_CEILING:
        problems.append(f"CI_TRUTH_MAX_BODY_BYTES must be at most {MAX_BODY_CEILING} (25 MiB)")
    sync = env.get("CI_TRUTH_DB_SYNC")
    if sync is not None:
        if sync.upper() not in ("FULL", "NORMAL"):
            problems.append("CI_TRUTH_DB_SYNC must be FULL or NORMAL")
        else:
            values["db_sync"] = sync.upper()
    hosts = env.get("CI_TRUTH_ARTIFACT_HOSTS")
    if hosts is not None:
        parsed = tuple(h.strip().lower().lstrip(".") for h in hosts.split(",") if h.strip())
        if not parsed:
            problems.append("CI_TRUTH_ARTIFACT_HOSTS must list at least one host suffix")
        values["artifact_hosts"] = parsed
    loop_http = _parse(env, "CI_TRUTH_ARTIFACT_ALLOW_LOOPBACK_HTTP", _bool, problems,
                       "true or false")
    if loop_http is not None:
        values["artifact_allow_loopback_http"] = loop_http
    level = env.get("CI_TRUTH_LOG_LEVEL")
    if level is not None:
        if level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            problems.append("CI_TRUTH_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
        else:
            values["log_level"] = level.upper()
