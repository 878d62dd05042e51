"""Webhook intake throughput and p99: the real create_app /webhook vs a no-op aiohttp POST route.

Runs wrk (Debian package `wrk`) with 64 connections on loopback against each server in turn,
alternating, --runs times: ~10 KB signed bodies (the corpus check_suite.completed payload plus
an installation) and a unique X-GitHub-Delivery per request (thread id + counter, so dedupe
never short-circuits). The App is the real `bot.app.serve.serve` → `create_app` with durable
SQLite recording (synchronous=FULL by default, as shipped); its handler blocks forever.

``--keys N`` cycles N bodies that differ only in their head SHA, hence in their job key. With
one key (the default, the worst case) only one job runs and the free workers keep claiming:
each new delivery is parsed once, on the database thread, to learn its key, then parked.
With as many keys as workers or more, the workers fill up with blocked jobs and stop claiming,
as they do when a real flood arrives while they are busy. ``--workers 1`` leaves no free slot
once the one job runs: the figure is intake alone.
Target (issue 3): App req/s ≥ 0.5× the no-op route's, ratio of medians. Usage:

    python bench/intake.py [--runs 3] [--duration 10] [--connections 64] [--sync FULL|NORMAL]
                           [--workers 4] [--keys 1] [--breakdown] [--py-spy PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import CORPUS, machine, median, spread, verdict

SECRET = "bench-webhook-secret-0123456789"
TARGET = 0.5

LUA = r"""
local threads, n = 0, 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
local bodies, sigs = {}, {}
for line in io.lines("%(index)s") do
  local path, sig = line:match("^(%%S+) (%%S+)$")
  bodies[#bodies + 1] = io.open(path, "rb"):read("*a")
  sigs[#sigs + 1] = sig
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-GitHub-Event"] = "check_suite"
wrk.headers["User-Agent"] = "GitHub-Hookshot/bench"
request = function()
  n = n + 1
  local i = (n %% #bodies) + 1
  wrk.headers["X-GitHub-Delivery"] = string.format("%(run)s-%%d-%%d", id, n)
  wrk.headers["X-Hub-Signature-256"] = sigs[i]
  return wrk.format(nil, "/webhook", nil, bodies[i])
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


def _serve_verify(port: int) -> None:
    """Informative: the App's own intake checks (signature, headers, framing) without recording."""
    from aiohttp import web

    from bot.app import intake

    secret = os.environ["GITHUB_WEBHOOK_SECRET"].encode()

    async def verify(request: web.Request) -> web.Response:
        body = await request.read()
        if not intake.verify_signature(secret, body, request.headers.get(intake.SIGNATURE_HEADER)):
            return web.Response(status=401)
        intake.check_headers(request.headers)
        intake.check_body(body)
        return web.Response(status=202, text="queued")

    app = web.Application(client_max_size=25 * 2**20)
    app.router.add_post("/webhook", verify)
    app.router.add_get("/healthz", lambda _r: _ok())
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


_FWD = struct.Struct("<IIHHH")  # sequence, body, event, delivery and signature lengths
_ANS = struct.Struct("<IH")      # sequence, HTTP status


def _split_child(sock: socket.socket, spool_dir: str) -> None:
    """The intake process of the split experiment: verify, frame, fsync, answer."""
    from bot.app import intake
    from bot.app.spool import Spool

    verifier = intake.Verifier(os.environ["GITHUB_WEBHOOK_SECRET"].encode())
    spool = Spool(spool_dir)  # fsync per batch, as synchronous=FULL
    rest = b""
    while data := sock.recv(1 << 20):
        buf = rest + data if rest else data
        view, pos, bodies, metas, answers = memoryview(buf), 0, [], [], []
        while len(buf) - pos >= _FWD.size:
            seq, size, ev, dl, sig = _FWD.unpack_from(buf, pos)
            at, end = pos + _FWD.size, pos + _FWD.size + ev + dl + sig + size
            if end > len(buf):
                break
            signature = buf[at + ev + dl:at + ev + dl + sig].decode("ascii", "replace")
            body = view[at + ev + dl + sig:end]
            if verifier.verify(body, signature):
                bodies.append(body)
                metas.append(buf[at:at + ev] + b"\x1f" + buf[at + ev:at + ev + dl])
                answers.append(_ANS.pack(seq, 202))
            else:
                answers.append(_ANS.pack(seq, 401))
            pos = end
        rest = buf[pos:]
        spool.append(bodies, metas)
        sock.sendall(b"".join(answers))


def _serve_split(port: int) -> None:
    """Informative: intake split over two processes, the App's remaining lever (docs §4).

    The HTTP process forwards event, delivery id, signature and body over a socketpair to a
    child that verifies the HMAC, appends the frames to a spool and fsyncs once per batch
    before answering; the 202 waits for that answer, as the App's does. Stripped on purpose:
    no dedupe, no SQLite index, no metrics, no workers. An upper bound for the design.
    """
    import multiprocessing

    from aiohttp import web

    from bot.app import intake

    here, there = socket.socketpair()
    child = multiprocessing.get_context("fork").Process(
        target=_split_child, args=(there, os.environ["CI_TRUTH_DB"] + ".split"), daemon=True)
    child.start()
    there.close()

    class Link(asyncio.Protocol):
        """The HTTP process's end of the socketpair: requests out, answers by sequence in."""

        def __init__(self) -> None:
            self.waiting: dict[int, asyncio.Future[int]] = {}
            self.seq, self.rest = 0, b""

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            buf = self.rest + data
            whole = len(buf) // _ANS.size * _ANS.size
            for seq, status in _ANS.iter_unpack(buf[:whole]):
                fut = self.waiting.pop(seq)
                if not fut.done():
                    fut.set_result(status)
            self.rest = buf[whole:]

        def send(self, parts: list[bytes], body: bytes) -> asyncio.Future[int]:
            self.seq += 1
            fut = self.waiting[self.seq] = asyncio.get_running_loop().create_future()
            self.transport.write(b"".join([_FWD.pack(self.seq, len(body), *map(len, parts)),
                                           *parts, body]))
            return fut

    link = Link()

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        parts = [request.headers.get(name, "").encode("ascii", "replace") for name in
                 ("X-GitHub-Event", "X-GitHub-Delivery", intake.SIGNATURE_HEADER)]
        status = await link.send(parts, body)
        return web.Response(status=status, text="queued" if status == 202 else None)

    async def start(_app: web.Application) -> None:
        await asyncio.get_running_loop().create_unix_connection(lambda: link, sock=here)

    app = web.Application(client_max_size=25 * 2**20)
    app.on_startup.append(start)
    app.router.add_post("/webhook", forward)
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
    out = os.environ.get("BENCH_PROFILE")
    if not out:
        raise SystemExit(serve(settings, blocked))
    import cProfile  # the event-loop thread only; _threads() splits CPU between threads

    profile = cProfile.Profile()
    profile.runcall(serve, settings, blocked)
    profile.dump_stats(out)


def _threads(pid: int) -> dict[str, float]:
    """CPU seconds per thread of a process, from /proc (the main thread runs the event loop)."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        stat = (task / "stat").read_text()
        name = "event loop" if task.name == str(pid) else f"thread {task.name}"
        fields = stat[stat.rindex(")") + 2:].split()
        found[name] = found.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return found


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


def _queued(port: int) -> float:
    """Deliveries the App says it recorded as new (duplicates would be counted apart)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as resp:
        text = resp.read().decode()
    found = re.findall(r'ci_truth_deliveries_total\{[^}]*outcome="(\w+)"[^}]*\} (\d+)', text)
    dupes = sum(int(n) for o, n in found if o == "duplicate")
    if dupes:
        raise SystemExit(f"{dupes} deliveries were duplicates: the Lua ids are not unique")
    return float(sum(int(n) for o, n in found if o == "queued"))


def _run(mode: str, args: argparse.Namespace, env: dict[str, str], lua: Path,
         db: Path) -> dict[str, float]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", mode, "--port", str(port)],
                            env={**env, "CI_TRUTH_DB": str(db)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _wait_healthy(port, proc)
        before = _threads(proc.pid)
        spy = None
        if args.py_spy and mode == "app":  # sampling profiler: no cProfile distortion
            spy = subprocess.Popen([args.py_spy, "record", "-p", str(proc.pid), "-r", "250",
                                    "-d", str(args.duration), "-f", "raw", "-o", args.spy_out],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out = subprocess.run(["wrk", "-t2", f"-c{args.connections}", f"-d{args.duration}s",
                              "--timeout", "10s", "--latency", "-s", str(lua),
                              f"http://127.0.0.1:{port}"],
                             capture_output=True, text=True, check=True).stdout
        if spy is not None:
            spy.wait(60)
        recorded = _queued(port) if mode == "app" else -1.0
        cpu = {k: v - before.get(k, 0.0) for k, v in _threads(proc.pid).items()}
    finally:
        proc.terminate()
        proc.wait(30)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    return {"rps": rps, "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else -1,
            "non_2xx": float(non2xx.group(1)) if non2xx else 0.0, "recorded": recorded,
            "requests": float(total.group(1)) if total else -1.0,
            "loop_cpu": cpu.pop("event loop", 0.0), "other_cpu": sum(cpu.values())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--sync", default="FULL", choices=["FULL", "NORMAL"])
    parser.add_argument("--workers", type=int, default=4,
                        help="CI_TRUTH_WORKERS (4 as shipped; 1: no claims during the run)")
    parser.add_argument("--keys", type=int, default=1,
                        help="distinct bodies (head SHAs, so job keys), cycled; 1: one key, "
                             "the worst case for free workers")
    parser.add_argument("--serve", choices=["noop", "app", "verify", "split"])
    parser.add_argument("--breakdown", action="store_true",
                        help="also run 'verify' (HMAC + header checks, no recording) and 'split'"
                             " (a stripped two-process intake; both informative)")
    parser.add_argument("--port", type=int)
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    parser.add_argument("--profile", metavar="FILE",
                        help="cProfile the App's event-loop thread into FILE; print CPU by thread")
    parser.add_argument("--py-spy", metavar="PY_SPY",
                        help="path of a py-spy binary: sample the App during its runs")
    parser.add_argument("--spy-out", default="intake.spy.txt",
                        help="where py-spy writes collapsed stacks (--py-spy)")
    args = parser.parse_args()
    if args.serve == "noop":
        _serve_noop(args.port)
        return 0
    if args.serve == "app":
        _serve_app(args.port)
        return 0
    if args.serve == "verify":
        _serve_verify(args.port)
        return 0
    if args.serve == "split":
        _serve_split(args.port)
        return 0
    started = machine()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from bot.app.intake import signature_for

    payload = json.loads((CORPUS / "webhooks" / "check_suite.completed.json").read_text())
    payload["installation"] = {"id": 1}
    bodies = []
    for k in range(max(1, args.keys)):  # same size; only the head SHA (the job key) differs
        payload["check_suite"]["head_sha"] = f"{k:040x}"
        bodies.append(json.dumps(payload, indent=1).encode())
    body = bodies[0]
    with tempfile.TemporaryDirectory() as tmp:
        index, lua = Path(tmp, "bodies.txt"), Path(tmp, "post.lua")
        lines = []
        for k, data in enumerate(bodies):
            Path(tmp, f"body{k}.json").write_bytes(data)
            lines.append(f"{Path(tmp, f'body{k}.json')} {signature_for(SECRET.encode(), data)}")
        index.write_text("\n".join(lines) + "\n")
        lua.write_text(LUA % {"index": index, "run": os.urandom(4).hex()})
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode()
        env = {**os.environ, "GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": key,
               "GITHUB_WEBHOOK_SECRET": SECRET, "GITHUB_API_URL": "http://127.0.0.1:9",
               "CI_TRUTH_APP_SLUG": "bench",
               "CI_TRUTH_MAX_QUEUE": "100000000", "CI_TRUTH_REDELIVERY_INTERVAL": "0",
               "CI_TRUTH_DB_SYNC": args.sync,
               "CI_TRUTH_WORKERS": str(args.workers), "CI_TRUTH_LOG_LEVEL": "WARNING",
               "BENCH_PROFILE": str(Path(args.profile).resolve()) if args.profile else ""}
        runs: dict[str, list[dict[str, float]]] = {"noop": [], "app": []}
        if args.breakdown:
            runs["verify"] = []
            runs["split"] = []
        for i in range(args.runs):
            for mode in runs:
                runs[mode].append(_run(mode, args, env, lua, Path(tmp, f"bench{i}.db")))
    print(f"intake.py — {started}")
    print(f"body {len(body):,} bytes, {args.connections} connections, {args.duration} s each, "
          f"{args.runs} runs alternating, synchronous={args.sync}, workers={args.workers}, "
          f"keys={args.keys}")
    print(f"  {'route':<44} {'req/s':>7} {'min–max':>13} {'p99 ms':>7} {'min–max':>11} "
          f"{'non-2xx':>7}")
    for mode, name in (("noop", "no-op aiohttp POST (reads the body, 202)"),
                       ("verify", "HMAC + header checks, no record (informative)"),
                       ("split", "two processes, stripped (informative)"),
                       ("app", "create_app /webhook (verify, durable record)")):
        if mode not in runs:
            continue
        rps = [r["rps"] for r in runs[mode]]
        p99 = [r["p99_ms"] for r in runs[mode]]
        print(f"  {name:<44} {median(rps):>7.0f} {min(rps):>6.0f}–{max(rps):<6.0f} "
              f"{median(p99):>7.1f} {spread(p99):>11} "
              f"{sum(r['non_2xx'] for r in runs[mode]):>7.0f}")
    for mode in runs:
        loop = median([r["loop_cpu"] / r["requests"] * 1e6 for r in runs[mode]])
        other = median([r["other_cpu"] / r["requests"] * 1e6 for r in runs[mode]])
        print(f"  CPU per request, {mode}: event loop {loop:.0f} µs, other threads "
              f"{other:.0f} µs (wall load incl. wrk; a profiled run is slower)")
    for r in runs["app"]:
        if r["recorded"] < r["requests"] - args.connections - r["non_2xx"]:
            print(f"  warning: wrk counted {r['requests']:.0f} requests, App queued "
                  f"{r['recorded']:.0f}")
    if "verify" in runs:
        part = median([r["rps"] for r in runs["verify"]]) / median([r["rps"] for r in runs["noop"]])
        print(f"  (informative) verify / no-op: {part:.2f}×")
    if "split" in runs:
        part = median([r["rps"] for r in runs["split"]]) / median([r["rps"] for r in runs["noop"]])
        print(f"  (informative) split / no-op: {part:.2f}× (no dedupe, index or metrics)")
    ratio = median([r["rps"] for r in runs["app"]]) / median([r["rps"] for r in runs["noop"]])
    ok = ratio >= TARGET and not sum(r["non_2xx"] for r in runs["app"])
    print(f"  App / no-op: {ratio:.2f}× (target ≥ {TARGET}×, no non-2xx) {verdict(ok)}")
    recorded = ", ".join(f"{r['recorded']:.0f}" for r in runs["app"])
    print(f"  App deliveries recorded (queued, unique) per run: {recorded}")
    return 1 if not ok and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
