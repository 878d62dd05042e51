"""Settings.from_env: one reader of the environment, every problem at once, secrets hidden."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.app.settings import Settings, SettingsError

SECRET = "a-long-enough-webhook-secret"


def base(pem: str) -> dict[str, str]:
    return {"GITHUB_APP_ID": "12", "GITHUB_PRIVATE_KEY": pem, "GITHUB_WEBHOOK_SECRET": SECRET}


def test_defaults(private_pem: str) -> None:
    s = Settings.from_env(base(private_pem))
    assert (s.app_id, s.api_url, s.db_path, s.port) == (12, "https://api.github.com",
                                                         "./ci-truth.db", 8080)
    assert s.webhook_secret == SECRET.encode()
    assert s.artifact_hosts == ("blob.core.windows.net",)
    assert s.db_sync == "FULL" and s.write_spacing == 1.0


def test_nothing_set_lists_every_problem() -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env({"PORT": "http", "CI_TRUTH_WORKERS": "-1"})
    text = str(err.value)
    for name in ("GITHUB_WEBHOOK_SECRET", "GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "PORT",
                 "CI_TRUTH_WORKERS"):
        assert name in text
    assert len(err.value.problems) == 5


@pytest.mark.parametrize("app_id", ["0", "-3", "12a", "\u00b2", "\u0661\u0662"])
def test_app_id_that_is_not_a_positive_ascii_integer_is_a_settings_error(private_pem: str,
                                                                        app_id: str) -> None:
    """A superscript digit passes str.isdigit() but not int(): a clear error, not a crash."""
    with pytest.raises(SettingsError) as err:
        Settings.from_env(base(private_pem) | {"GITHUB_APP_ID": app_id})
    assert err.value.problems == ["GITHUB_APP_ID must be a positive integer"]


@pytest.mark.parametrize("secret", ["", "short", " " * 20])
def test_empty_or_short_secret_refused(private_pem: str, secret: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env(base(private_pem) | {"GITHUB_WEBHOOK_SECRET": secret})
    assert "GITHUB_WEBHOOK_SECRET" in str(err.value)


def test_secret_that_is_not_utf8_is_a_settings_error(private_pem: str) -> None:
    """os.environ decodes undecodable bytes (a Latin-1 secret) to lone surrogates."""
    secret = os.fsdecode("caf\u00e9-webhook-secret-1234".encode("latin-1"))
    with pytest.raises(SettingsError) as err:
        Settings.from_env(base(private_pem) | {"GITHUB_WEBHOOK_SECRET": secret})
    assert err.value.problems == [
        "GITHUB_WEBHOOK_SECRET is not valid UTF-8 text (GitHub's secret is)"]
    assert "caf" not in str(err.value)


def test_key_from_path(private_pem: str, tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text(private_pem)
    env = base(private_pem)
    del env["GITHUB_PRIVATE_KEY"]
    assert Settings.from_env(env | {"GITHUB_PRIVATE_KEY_PATH": str(key)}).private_key == private_pem
    with pytest.raises(SettingsError, match="cannot read"):
        Settings.from_env(env | {"GITHUB_PRIVATE_KEY_PATH": str(tmp_path / "missing.pem")})


def test_key_with_escaped_newlines(private_pem: str) -> None:
    env = base(private_pem) | {"GITHUB_PRIVATE_KEY": private_pem.strip().replace("\n", "\\n")}
    assert Settings.from_env(env).private_key.startswith("-----BEGIN PRIVATE KEY-----\n")


def test_not_a_pem_refused(private_pem: str) -> None:
    with pytest.raises(SettingsError, match="not PEM"):
        Settings.from_env(base(private_pem) | {"GITHUB_PRIVATE_KEY": "ghp_notakey"})


def test_broken_or_non_rsa_key_refused(private_pem: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    broken = private_pem.replace(private_pem.splitlines()[3], "A" * 64)
    with pytest.raises(SettingsError, match="cannot be loaded"):
        Settings.from_env(base(private_pem) | {"GITHUB_PRIVATE_KEY": broken})
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    with pytest.raises(SettingsError, match="not an RSA key"):
        Settings.from_env(base(private_pem) | {"GITHUB_PRIVATE_KEY": ec_pem})


def test_secrets_not_in_repr(private_pem: str) -> None:
    text = repr(Settings.from_env(base(private_pem)))
    assert SECRET not in text and "PRIVATE KEY" not in text and "app_id=12" in text


@pytest.mark.parametrize(("url", "ok"), [
    ("https://ghe.example.com/api/v3/", True), ("http://127.0.0.1:8123", True),
    ("http://ghe.example.com/api/v3", False), ("https://user:pw@api.github.com", False),
    ("api.github.com", False)])
def test_api_url(private_pem: str, url: str, ok: bool) -> None:
    env = base(private_pem) | {"GITHUB_API_URL": url}
    if ok:
        assert Settings.from_env(env).api_url == url.rstrip("/")
    else:
        with pytest.raises(SettingsError, match="GITHUB_API_URL"):
            Settings.from_env(env)


def test_optional_values(private_pem: str) -> None:
    s = Settings.from_env(base(private_pem) | {
        "CI_TRUTH_ARTIFACT_HOSTS": "blob.core.windows.net, 127.0.0.1",
        "CI_TRUTH_ARTIFACT_ALLOW_LOOPBACK_HTTP": "true", "CI_TRUTH_DB_SYNC": "normal",
        "CI_TRUTH_WRITE_SPACING": "0", "PORT": "8443", "CI_TRUTH_LOG_LEVEL": "debug",
        "CI_TRUTH_SHUTDOWN_GRACE": "25"})
    assert s.artifact_hosts == ("blob.core.windows.net", "127.0.0.1")
    assert s.artifact_allow_loopback_http and s.db_sync == "NORMAL"
    assert (s.write_spacing, s.port, s.log_level) == (0.0, 8443, "DEBUG")
    assert s.shutdown_grace == 25.0


@pytest.mark.parametrize("port", ["0", "65536", "-1"])
def test_port_outside_1_to_65535_is_refused(private_pem: str, port: str) -> None:
    """PORT=0 would listen on a random port: the health check (and GitHub) probe PORT."""
    with pytest.raises(SettingsError) as err:
        Settings.from_env(base(private_pem) | {"PORT": port})
    assert err.value.problems == [f"PORT must be a port number (1-65535), got {port!r}"]


def test_body_cap_cannot_exceed_25_mib(private_pem: str) -> None:
    with pytest.raises(SettingsError, match="25 MiB"):
        Settings.from_env(base(private_pem) | {"CI_TRUTH_MAX_BODY_BYTES": str(26 * 2**20)})


@pytest.mark.parametrize("url", ["https://:hunter2-password@api.github.com",
                                 "https://api.github.com:99999", "https://api.github.com:x"])
def test_api_url_with_a_password_or_a_bad_port_is_refused(private_pem: str, url: str) -> None:
    with pytest.raises(SettingsError, match="GITHUB_API_URL"):
        Settings.from_env(base(private_pem) | {"GITHUB_API_URL": url})


@pytest.mark.parametrize("name", ["CI_TRUTH_JOB_TIMEOUT", "CI_TRUTH_LEASE_SECONDS",
                                  "CI_TRUTH_ARTIFACT_TIMEOUT"])
@pytest.mark.parametrize("value", ["0", "0.0", "-5"])
def test_a_time_limit_of_zero_is_refused(private_pem: str, name: str, value: str) -> None:
    """0 timed every job out at its first await (or expired its lease at once, or turned the
    download timeout off: aiohttp reads 0 as none): a settings error, not a broken service."""
    with pytest.raises(SettingsError) as err:
        Settings.from_env(base(private_pem) | {name: value})
    assert err.value.problems == [f"{name} must be a positive number of seconds, got {value!r}"]


def test_zero_is_still_accepted_where_it_means_none(private_pem: str) -> None:
    s = Settings.from_env(base(private_pem) | {
        "CI_TRUTH_REDELIVERY_INTERVAL": "0", "CI_TRUTH_COMMIT_INTERVAL": "0",
        "CI_TRUTH_SHUTDOWN_GRACE": "0", "CI_TRUTH_JOB_TIMEOUT": "0.5"})
    assert (s.redelivery_interval, s.commit_interval, s.shutdown_grace, s.job_timeout) == \
        (0.0, 0.0, 0.0, 0.5)
