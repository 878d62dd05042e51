"""Static checks of the container image, its health check and the GitHub App manifest.

No Docker engine runs here, so the Dockerfile is checked for its essentials instead of built.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import re
import shlex
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from bot.healthcheck import healthy

ROOT = Path(__file__).resolve().parents[1]


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def exec_form(args: str) -> list[str]:
    """An exec-form (JSON) or shell-form instruction argument as a word list."""
    args = args.strip()
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pat) or fnmatch.fnmatch(p, pat.removeprefix("**/"))
               for p in prefixes):
            ignored = not negate
    return ignored


@pytest.fixture(scope="module")
def docker() -> list[tuple[str, str]]:
    return dockerfile_instructions((ROOT / "Dockerfile").read_text(encoding="utf-8"))


def test_parser_helpers_read_continuations_and_ignore_rules() -> None:
    parsed = dockerfile_instructions("FROM a AS b\n# c\nRUN x \\\n  && y\nUSER 1\n")
    assert parsed == [("FROM", "a AS b"), ("RUN", "x  && y"), ("USER", "1")]
    assert dockerignored("tests/x.py", ["*", "!bot/"])
    assert not dockerignored("bot/cli.py", ["*", "!bot/"])
    assert dockerignored("bot/__pycache__/x.pyc", ["*", "!bot/", "**/__pycache__"])


def test_image_is_multi_stage_on_python_311_slim(docker: list[tuple[str, str]]) -> None:
    froms = [args for word, args in docker if word == "FROM"]
    assert len(froms) >= 2, "build the wheel in a separate stage"
    assert all(f.split()[0] == "python:3.11-slim" for f in froms)


def test_final_stage_runs_serve_as_non_root_with_a_health_check(
        docker: list[tuple[str, str]]) -> None:
    final = final_stage(docker)
    users = [args for word, args in final if word == "USER"]
    assert users, "the final stage must switch to a non-root USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    entry = next((exec_form(a) for w, a in final if w == "ENTRYPOINT"), [])
    cmd = next((exec_form(a) for w, a in final if w == "CMD"), [])
    assert entry + cmd == ["ci-truth", "serve"]
    checks = [args for word, args in final if word == "HEALTHCHECK"]
    assert len(checks) == 1
    probe = exec_form(checks[0].split("CMD", 1)[1])
    assert probe[0] == "python" and "bot.healthcheck" in probe
    assert ("EXPOSE", "8080") in final
    env = " ".join(a for w, a in final if w == "ENV")
    assert "CI_TRUTH_DB=/data/" in env, "the database belongs on the /data volume"


def test_final_stage_installs_only_the_built_wheels(docker: list[tuple[str, str]]) -> None:
    final = final_stage(docker)
    assert not [a for w, a in final if w in {"COPY", "ADD"} and "--from=" not in a], \
        "no sources in the final image"
    installs = [a for w, a in final if w == "RUN" and "pip install" in a]
    assert installs and all("--no-index" in a and "/wheels" in a for a in installs)


def test_every_copied_file_exists_and_reaches_the_build_context(
        docker: list[tuple[str, str]]) -> None:
    patterns = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()
                if ln.strip() and not ln.startswith("#")]
    copies = [exec_form(a) for w, a in docker if w == "COPY" and "--from=" not in a]
    assert copies
    for words in copies:
        for src in words[:-1]:
            assert (ROOT / src).exists(), f"COPY {src}: no such file"
            assert not dockerignored(src, patterns), f"COPY {src} is excluded by .dockerignore"
    # The pyproject the wheel is built from names files that must be in the context too.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    copied = {src for words in copies for src in words[:-1]}
    assert project["readme"] in copied
    assert project["scripts"]["ci-truth"] == "bot.cli:main"


def test_dockerignore_keeps_tests_and_git_out_of_the_context() -> None:
    patterns = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()
                if ln.strip() and not ln.startswith("#")]
    for path in ["tests/conftest.py", ".git/config", "ci-truth.db", "bench/x.py"]:
        assert dockerignored(path, patterns), path
    assert not dockerignored("bot/healthcheck.py", patterns)


@contextlib.asynccontextmanager
async def _serving(healthz: Any) -> AsyncIterator[int]:
    """A loopback server answering GET /healthz with `healthz`; yields its port."""
    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def _probe(port: int) -> bool:
    return await asyncio.get_running_loop().run_in_executor(None, healthy, str(port))


async def test_healthcheck_probes_healthz_on_the_configured_port() -> None:
    seen: list[str] = []

    async def healthz(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response(text="ok")

    async with _serving(healthz) as port:
        assert await _probe(port) is True
        assert seen == ["/healthz"]
    # The same port, now closed: unhealthy, not an exception.
    assert await _probe(port) is False


async def test_healthcheck_fails_on_a_non_200_answer() -> None:
    async def unhealthy(request: web.Request) -> web.Response:
        return web.Response(status=503)

    async with _serving(unhealthy) as port:
        assert await _probe(port) is False


# --- app.yml -----------------------------------------------------------------------------------

NEEDED_PERMISSIONS = {"actions": "read", "checks": "write", "contents": "read",
                      "issues": "write", "pull_requests": "write", "metadata": "read"}
NEEDED_EVENTS = {"workflow_run", "check_run", "check_suite", "issue_comment", "issues",
                 "installation_repositories"}


@pytest.fixture(scope="module")
def manifest() -> dict[str, object]:
    data = yaml.safe_load((ROOT / "app.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_manifest_asks_exactly_the_permissions_and_events_the_app_uses(
        manifest: dict[str, object]) -> None:
    assert manifest["default_permissions"] == NEEDED_PERMISSIONS
    assert set(manifest["default_events"]) == NEEDED_EVENTS  # type: ignore[arg-type]
    assert manifest["public"] is False
    hook = manifest["hook_attributes"]
    assert isinstance(hook, dict) and str(hook["url"]).endswith("/webhook")
    assert str(manifest["redirect_url"]).startswith("https://")
    assert str(manifest["url"]).startswith("https://")


def test_manifest_names_are_real_github_permissions_and_events(
        manifest: dict[str, object], corpus: Path) -> None:
    api = json.loads((corpus / "github-api" / "api.github.com.json").read_text())
    perms = api["components"]["schemas"]["app-permissions"]["properties"]
    for name, level in manifest["default_permissions"].items():  # type: ignore[attr-defined]
        assert name in perms, name
        assert level in perms[name]["enum"], (name, level)
    schema = json.loads((corpus / "webhooks" / "schema"
                         / "octokit-webhooks-schemas-7.6.1.schema.json").read_text())
    events = {k.removesuffix("_event") for k in schema["definitions"] if k.endswith("_event")}
    assert set(manifest["default_events"]) <= events  # type: ignore[arg-type]


def test_deploy_doc_explains_each_permission_event_and_setting(
        manifest: dict[str, object]) -> None:
    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    for event in manifest["default_events"]:  # type: ignore[attr-defined]
        assert f"`{event}`" in doc, event
    for setting in ["GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "GITHUB_PRIVATE_KEY_PATH",
                    "GITHUB_WEBHOOK_SECRET", "GITHUB_API_URL", "CI_TRUTH_DB", "HOST", "PORT"]:
        assert re.search(rf"`{setting}`", doc), setting
    assert "app-manifests/CODE/conversions" in doc
    assert "expected source" in doc


def test_the_deploy_docs_environment_configures_the_app(tmp_path: Path) -> None:
    """The variables docs/deploy.md tells people to set are the ones Settings reads."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from bot.app.settings import Settings, SettingsError
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    (tmp_path / "key.pem").write_text(pem)
    env = {"GITHUB_APP_ID": "123456", "GITHUB_PRIVATE_KEY_PATH": str(tmp_path / "key.pem"),
           "GITHUB_WEBHOOK_SECRET": "s" * 32, "GITHUB_API_URL": "https://ghe.example.com/api/v3",
           "CI_TRUTH_DB": "/data/ci-truth.db", "HOST": "0.0.0.0", "PORT": "8080"}
    s = Settings.from_env(env)
    assert (s.app_id, s.db_path, s.host, s.port) == (123456, "/data/ci-truth.db", "0.0.0.0",
                                                     8080)
    assert s.api_url.startswith("https://ghe.example.com")
    inline = Settings.from_env({**{k: v for k, v in env.items()
                                   if k != "GITHUB_PRIVATE_KEY_PATH"},
                                "GITHUB_PRIVATE_KEY": pem})
    assert inline.private_key.strip() == pem.strip()
    with pytest.raises(SettingsError, match="GITHUB_WEBHOOK_SECRET"):
        Settings.from_env({k: v for k, v in env.items() if k != "GITHUB_WEBHOOK_SECRET"})
    # The image's ENV gives the same database path and listen address the docs describe.
    final = final_stage(dockerfile_instructions((ROOT / "Dockerfile").read_text()))
    image_env = " ".join(a for w, a in final if w == "ENV")
    assert "CI_TRUTH_DB=/data/ci-truth.db" in image_env and "PORT=8080" in image_env


@pytest.mark.slow
def test_the_images_command_serves_and_its_health_check_sees_it(tmp_path: Path) -> None:
    """ENTRYPOINT + CMD (`ci-truth serve`) with the image's env, probed by the HEALTHCHECK."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    docker = dockerfile_instructions((ROOT / "Dockerfile").read_text())
    final = final_stage(docker)
    entry = next(exec_form(a) for w, a in final if w == "ENTRYPOINT")
    cmd = next(exec_form(a) for w, a in final if w == "CMD")
    probe = exec_form(next(a for w, a in final if w == "HEALTHCHECK").split("CMD", 1)[1])
    assert entry == ["ci-truth"] and probe[0] == "python"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GITHUB_APP_ID": "1",
           "GITHUB_PRIVATE_KEY": pem, "GITHUB_WEBHOOK_SECRET": "x" * 32,
           "GITHUB_API_URL": "http://127.0.0.1:9", "CI_TRUTH_APP_SLUG": "ci-truth",
           "CI_TRUTH_REDELIVERY_INTERVAL": "0", "CI_TRUTH_DB": str(tmp_path / "ci-truth.db"),
           "HOST": "127.0.0.1", "PORT": port}
    # `ci-truth` is the console script for bot.cli:main; run it the same way from the tree.
    server = subprocess.Popen([sys.executable, "-P", "-m", "bot", *cmd], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def health() -> int:
        return subprocess.run([sys.executable, *probe[1:]], cwd=tmp_path, env=env,
                              timeout=30, check=False).returncode

    try:
        deadline = time.monotonic() + 30
        while health() != 0:
            assert server.poll() is None, server.communicate()[0].decode(errors="replace")
            assert time.monotonic() < deadline, "serve never became healthy"
            time.sleep(0.2)
        assert (tmp_path / "ci-truth.db").exists()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert server.returncode == 0
    assert health() == 1


def test_the_c_accelerator_is_built_into_the_editable_install() -> None:
    """`pip install -e .` builds bot/core/_fastjunit.c in place (setup.py, optional=True)."""
    import shutil
    import sysconfig

    from bot.core import xmlaccel

    if not xmlaccel.available():
        headers = [Path(sysconfig.get_paths()["include"], "Python.h"),
                   Path("/usr/include/expat.h")]
        if shutil.which("cc") is None or not all(h.exists() for h in headers):
            pytest.skip("the C accelerator could not be built here (no cc, Python.h or "
                        "expat.h): the pure-Python reader is used")
        pytest.fail("cc, Python.h and expat.h are present but bot.core._fastjunit did not "
                    "build: reinstall with `pip install -e .` and read its build_ext warning")
    assert xmlaccel.NATIVE is not None
    built = Path(xmlaccel.NATIVE.__file__ or "")
    assert built.parent == ROOT / "bot" / "core", "imported from the tree, not a copy"
    assert built.name.endswith(sysconfig.get_config_var("EXT_SUFFIX"))
    assert "--no-index" in (ROOT / "Dockerfile").read_text()
    assert "setup.py" in (ROOT / ".dockerignore").read_text()


async def test_healthcheck_ignores_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """A deployment behind an egress proxy sets HTTP(S)_PROXY for the App's GitHub calls; the
    probe of the container's own loopback port must not be sent to that proxy."""
    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def not_a_proxy(request: web.Request) -> web.Response:
        return web.Response(status=502)

    async with _serving(healthz) as port, _serving(not_a_proxy) as proxy_port:
        for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy_port}")
        for name in ("no_proxy", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        assert await _probe(port) is True
