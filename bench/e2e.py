"""Webhook → completed check run for the numpy report (48k tests), through the real App server.

The fake GitHub (tests/fakegithub, API + blob host on loopback, OpenAPI-validated) runs in this
process and serves the corpus numpy report zipped as the run's artifact; the App runs as
`python -m bot.app.serve` in its own process with the shipped settings (durable SQLite, FULL
sync, 1 s write spacing per installation) except loopback artifact hosts. Scenario (as
tests/app/test_e2e_app.py's steady-state test): run 1 (cold caches) is timed, then run 2 on a
new head of an open PR gets `requested` then `completed`; the completed delivery is timed and
every API request it caused is counted and listed. Targets (issue 3): < 3 s webhook → completed
check run; ≤ 8 REST calls per completed workflow run in steady state.

    python bench/e2e.py [--runs 3] [--write-spacing 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
from _common import NUMPY_GZ, ROOT, machine, median, verdict

TARGET_SECONDS, TARGET_CALLS = 3.0, 8
SECRET = "bench-e2e-webhook-secret-0123456789"


def _start_app(fake: Any, tmp: Path, spacing: float) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GITHUB_APP_ID": str(fake.world.app.id),
           "GITHUB_PRIVATE_KEY": fake.key.private_pem, "GITHUB_WEBHOOK_SECRET": SECRET,
           "GITHUB_API_URL": fake.api_url, "CI_TRUTH_DB": str(tmp / "app.db"),
           "HOST": "127.0.0.1", "PORT": str(port), "CI_TRUTH_ARTIFACT_HOSTS": "127.0.0.1",
           "CI_TRUTH_ARTIFACT_ALLOW_LOOPBACK_HTTP": "true", "CI_TRUTH_REDELIVERY_INTERVAL": "0",
           "CI_TRUTH_WRITE_SPACING": str(spacing), "CI_TRUTH_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "bot.app.serve"], cwd=ROOT, env=env,
                            stderr=open(tmp / "app.log", "wb"))  # noqa: SIM115
    return proc, f"http://127.0.0.1:{port}"


async def _healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"the App exited with {proc.returncode}")
        try:
            await asyncio.to_thread(urllib.request.urlopen, f"{url}/healthz", timeout=1)
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise SystemExit("the App did not start")


async def _deliver(session: aiohttp.ClientSession, url: str, payload: dict[str, Any],
                   n: int) -> None:
    from bot.app.intake import signature_for

    raw = json.dumps(payload).encode()
    async with session.post(f"{url}/webhook", data=raw, headers={
            "Content-Type": "application/json", "X-GitHub-Event": "workflow_run",
            "X-GitHub-Delivery": f"bench-e2e-{n}-{os.urandom(4).hex()}",
            "User-Agent": "GitHub-Hookshot/bench",
            "X-Hub-Signature-256": signature_for(SECRET.encode(), raw)}) as resp:
        if resp.status not in (200, 202):
            raise SystemExit(f"webhook answered {resp.status}: {await resp.text()}")


async def _idle(url: str) -> None:
    """Wait until the App's queue is empty (its /metrics queue depth)."""
    for _ in range(1200):
        with await asyncio.to_thread(urllib.request.urlopen, f"{url}/metrics", timeout=5) as r:
            if "\nci_truth_queue_depth 0\n" in r.read().decode():
                return
        await asyncio.sleep(0.05)
    raise SystemExit("the App's queue did not drain")


def _completed(repo: Any, sha: str) -> dict[str, Any] | None:
    for c in repo.check_runs.values():
        if c["name"] == "CI Truth" and c["head_sha"] == sha and c["status"] == "completed":
            return dict(c)
    return None


async def scenario(fake: Any, url: str, report: bytes, i: int,
                   spacing: float) -> dict[str, Any]:
    """One cold run then one steady-state run on a new PR head; timings and calls."""
    from tests.fakegithub.seed import load_payload, seed_workflow_run

    world = fake.world
    base = 1000 * (i + 1)
    sha1, sha2 = f"{i + 1:02x}" * 20, f"{i + 101:02x}" * 20
    out: dict[str, Any] = {}
    async with aiohttp.ClientSession() as session:
        payload = load_payload("workflow_run.completed")
        payload["workflow_run"].update(name="CI", event="pull_request", head_sha=sha1,
                                       id=payload["workflow_run"]["id"] + base)
        first = seed_workflow_run(world, payload, reports={"junit.xml": report})
        if i == 0:
            first.repo.commit({".github/ci-truth.yml": "evidence:\n  workflows:\n"
                               "    - name: CI\n"}, branch=first.repo.default_branch)
        pr = first.repo.add_pull(head_ref=f"feature-{i}", head_sha=sha1)
        start = time.perf_counter()
        await _deliver(session, url, first.payload, 1)
        cr = await fake.wait_until(lambda: _completed(first.repo, sha1), timeout=120)
        out["cold_s"] = time.perf_counter() - start
        second = load_payload("workflow_run.completed")
        second["workflow_run"].update(name="CI", event="pull_request", head_sha=sha2,
                                      id=first.run["id"] + 1)
        seeded = seed_workflow_run(world, second, reports={"junit.xml": report})
        pr["head_sha"] = sha2
        requested = dict(seeded.payload, action="requested")
        requested["workflow_run"] = dict(seeded.payload["workflow_run"], status="queued",
                                         conclusion=None)
        await _idle(url)
        await _deliver(session, url, requested, 2)
        await asyncio.sleep(0.2)
        await _idle(url)  # the requested delivery is handled before the timed one, and a
        await asyncio.sleep(spacing)  # real run lasts longer than the write spacing
        start, mark = time.perf_counter(), len(fake.requests)
        await _deliver(session, url, seeded.payload, 3)
        cr = await fake.wait_until(lambda: _completed(seeded.repo, sha2), timeout=120)
        out["warm_s"] = time.perf_counter() - start
        await _idle(url)  # requests after completion (the PR comment) still count
        out["calls"] = [f"{r.method} {r.path}" for r in fake.requests[mark:] if r.host == "api"]
        out["blob"] = len([r for r in fake.requests[mark:] if r.host == "blob"])
        out["title"] = cr["output"]["title"]
    return out


async def main_async(args: argparse.Namespace) -> int:
    import gzip

    from tests.fakegithub.server import FakeGitHub

    started = machine()
    report = gzip.decompress(NUMPY_GZ.read_bytes())
    results = []
    with tempfile.TemporaryDirectory(prefix="ci-truth-bench-") as tmp:
        async with FakeGitHub() as fake:
            fake.world.add_installation(1, "octo-org", repo_ids=set())
            proc, url = _start_app(fake, Path(tmp), args.write_spacing)
            try:
                await _healthy(url, proc)
                for i in range(args.runs):
                    results.append(await scenario(fake, url, report, i, args.write_spacing))
            finally:
                proc.terminate()
                proc.wait(30)
            problems = [str(p) for p in fake.problems()]
    print(f"e2e.py — {started}")
    print(f"numpy report {len(report):,} bytes, 48,021 tests, zipped as the artifact; "
          f"write spacing {args.write_spacing} s; {args.runs} runs")
    cold, warm = [r["cold_s"] for r in results], [r["warm_s"] for r in results]
    print(f"  check title: {results[-1]['title']}")
    print(f"  new PR, first run (caches cold only in scenario 1): median {median(cold):.2f} s "
          f"({', '.join(f'{x:.2f}' for x in cold)})")
    ok_time = median(warm) < TARGET_SECONDS
    print(f"  steady state, webhook → completed check run: median {median(warm):.2f} s "
          f"({', '.join(f'{x:.2f}' for x in warm)}) target < {TARGET_SECONDS:g} s "
          f"{verdict(ok_time)}")
    calls = results[-1]["calls"]
    ok_calls = all(len(r["calls"]) <= TARGET_CALLS for r in results)
    print(f"  REST calls per completed run (steady state): "
          f"{', '.join(str(len(r['calls'])) for r in results)} target ≤ {TARGET_CALLS} "
          f"{verdict(ok_calls)}; blob-host downloads: {results[-1]['blob']}")
    for call in calls:
        print(f"    {call}")
    if problems:
        print("  fake GitHub problems (unexpected requests / invalid bodies):", *problems,
              sep="\n    ")
    return 0 if (ok_time and ok_calls and not problems) or not args.strict else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write-spacing", type=float, default=1.0,
                        help="CI_TRUTH_WRITE_SPACING (shipped default 1.0 s)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
