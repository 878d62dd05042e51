"""Webhook intake throughput: the real /webhook (durable recording) vs a no-op aiohttp POST route.

Runs wrk (Debian package `wrk`) with 64 connections against each server in turn, the same
10 KB signed body (a real check_suite payload plus an installation), a unique
X-GitHub-Delivery per request. The App's handler blocks forever, so workers claim only a
few jobs and the figure is intake alone. Usage:

    python bench/intake_bench.py [--duration 10] [--connections 64] [--sync FULL|NORMAL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET = "bench-webhook-secret-0123456789"
CORPUS = Path(os.environ.get("CI_TRUTH_SHARED", ROOT.parent / "shared")) / "corpus"

LUA = r"""
local n = 0
wrk.method = "POST"
wrk.body = io.open("%(body)s", "rb"):read("*a")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-GitHub-Event"] = "check_suite"
wrk.headers["X-Hub-Signature-256"] = "%(sig)s"
request = function()
  n = n + 1
  wrk.headers["X-GitHub-Delivery"] = string.format("%%s-%%d-%%d", "%(run)s", math.random(1e9), n)
  return wrk.format(nil, "/webhook")
end
"""


def _serve_noop(port: int) -> None:
    from aiohttp import web

    async def noop(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=202)

    app = web.Application(client_max_size=25 * 2**20)
    app.router.add_post("/webhook", noop)
    app.router.add_get("/healthz", lambda _r: _ok())
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


async def _ok() -> object:
    from aiohttp import web
    return web.Response(text="ok")


def _serve_app(port: int) -> None:
    from bot.app.serve import serve
    from bot.app.settings import Settings

    async def blocked(*_args: object) -> None:
        await asyncio.Event().wait()

    settings = Settings.from_env(os.environ | {"PORT": str(port), "HOST": "127.0.0.1"})
    raise SystemExit(serve(settings, blocked))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(400):
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server did not start")


def _run(mode: str, args: argparse.Namespace, env: dict[str, str], lua: Path) -> dict[str, float]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", mode, "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_healthy(port, proc)
        out = subprocess.run(["wrk", "-t2", f"-c{args.connections}", f"-d{args.duration}s",
                              "--latency", "-s", str(lua), f"http://127.0.0.1:{port}"],
                             capture_output=True, text=True, check=True).stdout
    finally:
        proc.terminate()
        proc.wait(30)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else -1,
            "non_2xx": float(non2xx.group(1)) if non2xx else 0.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--sync", default="FULL", choices=["FULL", "NORMAL"])
    parser.add_argument("--serve", choices=["noop", "app"])
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    if args.serve == "noop":
        _serve_noop(args.port)
        return 0
    if args.serve == "app":
        _serve_app(args.port)
        return 0
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from bot.app.intake import signature_for

    payload = json.loads((CORPUS / "webhooks" / "check_suite.completed.json").read_text())
    payload["installation"] = {"id": 1}
    body = json.dumps(payload, indent=1).encode()
    with tempfile.TemporaryDirectory() as tmp:
        body_file, lua = Path(tmp, "body.json"), Path(tmp, "post.lua")
        body_file.write_bytes(body)
        lua.write_text(LUA % {"body": body_file, "sig": signature_for(SECRET.encode(), body),
                              "run": os.urandom(4).hex()})
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode()
        env = {**os.environ, "GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": key,
               "GITHUB_WEBHOOK_SECRET": SECRET, "GITHUB_API_URL": "http://127.0.0.1:9",
               "CI_TRUTH_APP_SLUG": "bench", "CI_TRUTH_DB": str(Path(tmp, "bench.db")),
               "CI_TRUTH_MAX_QUEUE": "100000000", "CI_TRUTH_REDELIVERY_INTERVAL": "0",
               "CI_TRUTH_DB_SYNC": args.sync, "CI_TRUTH_LOG_LEVEL": "WARNING"}
        noop = _run("noop", args, env, lua)
        app = _run("app", args, env, lua)
    print(f"body {len(body)} bytes, {args.connections} connections, {args.duration} s, "
          f"synchronous={args.sync}")
    print(f"{'route':<40} {'req/s':>9} {'p99 ms':>8} {'non-2xx':>8}")
    for name, r in (("no-op POST (reads the body)", noop),
                    ("/webhook (verify, parse, durable record)", app)):
        print(f"{name:<40} {r['rps']:>9.0f} {r['p99_ms']:>8.1f} {r['non_2xx']:>8.0f}")
    print(f"ratio {app['rps'] / noop['rps']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
