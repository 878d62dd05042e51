"""A real serve process killed with SIGKILL mid-job resumes the job after restart, once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bot.app.store import DONE, Store

from .conftest import SECRET, signed

SCRIPT = Path(__file__).with_name("serve_sleepy.py")
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, str(SCRIPT)], env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{env['PORT']}/healthz"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("server did not become healthy:\n" + log.read_text())


def _post(port: int, payload: dict[str, object], delivery: str) -> int:
    kw = signed(payload, delivery=delivery)
    req = urllib.request.Request(f"http://127.0.0.1:{port}/webhook", data=kw["data"],
                                 headers=kw["headers"], method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        return int(resp.status)


def _wait_for(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def test_kill_9_mid_job_then_restart_completes_once(tmp_path: Path, private_pem: str) -> None:
    journal, log = tmp_path / "journal.txt", tmp_path / "server.log"
    journal.touch()
    port = _free_port()
    env = {**os.environ, "GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": private_pem,
           "GITHUB_WEBHOOK_SECRET": SECRET, "GITHUB_API_URL": "http://127.0.0.1:9",
           "CI_TRUTH_APP_SLUG": "sleepy", "CI_TRUTH_DB": str(tmp_path / "db.sqlite"),
           "HOST": "127.0.0.1", "PORT": str(port), "SLEEPY_JOURNAL": str(journal),
           "SLEEPY_SECONDS": "1.5", "CI_TRUTH_REDELIVERY_INTERVAL": "0"}
    payload = {"action": "completed", "installation": {"id": 3}, "repository": {"id": 8},
               "workflow_run": {"id": 1, "head_sha": "a" * 40}}
    first = _start(env, log)
    try:
        assert _post(port, payload, "kill-me") == 202
        assert _post(port, {**payload, "workflow_run": {"id": 2, "head_sha": "b" * 40}},
                     "other") == 202
        _wait_for(lambda: journal.read_text().count("start") == 2, 10)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert "done" not in journal.read_text()  # killed mid-job

    second = _start(env, log)
    try:
        assert _post(port, payload, "kill-me") == 202  # GitHub redelivers: still one job
        _wait_for(lambda: journal.read_text().count("done") == 2, 15)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(20) == 0, log.read_text()

    lines = journal.read_text().split("\n")
    assert sum(1 for line in lines if line.startswith("done kill-me")) == 1
    assert sum(1 for line in lines if line.startswith("start kill-me")) == 2
    store = Store(str(tmp_path / "db.sqlite"))
    try:
        job = store.job("kill-me")
        assert job is not None and job["state"] == DONE and job["attempts"] == 2
        assert store.counts() == {DONE: 2}
    finally:
        store.close()
    assert "resuming 2 job(s)" in log.read_text()
    assert json.dumps(payload) not in log.read_text()  # payloads are never logged


def test_sigterm_mid_job_stops_cleanly_within_dockers_default_stop_timeout(
        tmp_path: Path, private_pem: str) -> None:
    """`docker stop` sends SIGKILL 10 s after SIGTERM: the clean stop must be over by then."""
    journal, log = tmp_path / "journal.txt", tmp_path / "server.log"
    journal.touch()
    port = _free_port()
    env = {**os.environ, "GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": private_pem,
           "GITHUB_WEBHOOK_SECRET": SECRET, "GITHUB_API_URL": "http://127.0.0.1:9",
           "CI_TRUTH_APP_SLUG": "sleepy", "CI_TRUTH_DB": str(tmp_path / "db.sqlite"),
           "HOST": "127.0.0.1", "PORT": str(port), "SLEEPY_JOURNAL": str(journal),
           "SLEEPY_SECONDS": "60", "CI_TRUTH_REDELIVERY_INTERVAL": "0"}
    payload: dict[str, object] = {"action": "completed", "installation": {"id": 3},
                                  "repository": {"id": 8},
                                  "workflow_run": {"id": 1, "head_sha": "a" * 40}}
    proc = _start(env, log)
    try:
        assert _post(port, payload, "long-job") == 202
        _wait_for(lambda: "start long-job" in journal.read_text(), 10)
        stopped_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, log.read_text()
        assert time.monotonic() - stopped_at < 9, log.read_text()  # SIGKILL came at 10 s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    store = Store(str(tmp_path / "db.sqlite"))
    try:
        job = store.job("long-job")
        assert job is not None and job["state"] == "queued"
        assert job["last_error"] == "interrupted by shutdown"
    finally:
        store.close()
