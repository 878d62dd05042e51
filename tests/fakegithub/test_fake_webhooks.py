"""Tests of the fake GitHub: webhook deliveries, corpus payload seeding, waiting."""

from __future__ import annotations

import io
import zipfile

import pytest

from tests.fakegithub import add_delivery, seed_workflow_run, zip_reports
from tests.fakegithub.client import REPO, api, token_api

pytestmark = pytest.mark.fake_github(check_responses=True)  # the fake answers on-spec


def test_signature_matches_githubs_published_vector(corpus):
    import json

    from tests.fakegithub.webhooks import sign
    vector = json.loads((corpus / "webhooks" / "signature-test-vector.json").read_text())
    assert sign(vector["payload"].encode(), vector["secret"]) == vector["expected"]


async def test_deliver_and_redeliver_through_the_deliveries_api(fake_github, session):
    from aiohttp import web

    from tests.fakegithub.webhooks import sign
    seen: list[tuple[str, str]] = []

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        assert request.headers["X-Hub-Signature-256"] == sign(body, "s3cret")
        seen.append((request.headers["X-GitHub-Delivery"], request.headers["X-GitHub-Event"]))
        return web.Response(status=503 if len(seen) == 1 else 202)

    app = web.Application()
    app.router.add_post("/webhook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        fake_github.webhook_url = f"http://{host}:{port}/webhook"
        fake_github.webhook_secret = "s3cret"
        seeded = seed_workflow_run(fake_github.world)
        first = await fake_github.deliver("workflow_run", seeded.payload)
        assert first.status == 503 and first.record["status"] != "OK"
        gh = api(fake_github, session)
        jwt = fake_github.app_jwt()
        failed = await gh.getitem("/app/hook/deliveries?status=failure", jwt=jwt)
        assert [d["guid"] for d in failed] == [first.record["guid"]]
        await gh.post(f"/app/hook/deliveries/{failed[0]['id']}/attempts", jwt=jwt, data={})
        await fake_github.settle()
    finally:
        await runner.cleanup()
    assert [g for g, _ in seen] == [first.record["guid"]] * 2
    ok = await gh.getitem("/app/hook/deliveries?status=success", jwt=jwt)
    assert ok[0]["redelivery"] is True and ok[0]["guid"] == first.record["guid"]


async def test_hook_deliveries_cursor_and_redelivery(fake_github, session):
    for n in range(5):
        add_delivery(fake_github.world, "workflow_run", action="completed",
                     status_code=200 if n % 2 else 503)
    gh = api(fake_github, session)
    jwt = fake_github.app_jwt()
    failed = [d async for d in gh.getiter("/app/hook/deliveries?status=failure&per_page=2",
                                          jwt=jwt)]
    assert len(failed) == 3 and all(d["status"] != "OK" for d in failed)
    await gh.post(f"/app/hook/deliveries/{failed[0]['id']}/attempts", jwt=jwt, data={})
    assert fake_github.world.redeliveries == [failed[0]["id"]]


async def test_seeded_pr_comment_matches_its_payload(fake_github, session):
    from tests.fakegithub import seed_issue_comment
    seeded = seed_issue_comment(fake_github.world, body="/truth recheck", user="alice",
                                pull_request=True, permission="write")
    p = seeded.payload
    assert p["issue"]["pull_request"] and p["installation"]["id"] == 1
    gh = await token_api(fake_github, session)
    full = seeded.repo.full_name
    got = await gh.getitem(f"/repos/{full}/issues/comments/{p['comment']['id']}")
    assert got["body"] == "/truth recheck" and got["user"]["login"] == "alice"
    perm = await gh.getitem(f"/repos/{full}/collaborators/alice/permission")
    assert perm["permission"] == "write"
    pr = await gh.getitem(f"/repos/{full}/pulls/{p['issue']['number']}")
    assert pr["state"] == "open"


async def test_requested_action_payload_points_at_our_check_run(fake_github, session, repo):
    from tests.fakegithub import requested_action_payload
    gh = await token_api(fake_github, session)
    cr = await gh.post(f"/repos/{REPO}/check-runs", data={
        "name": "CI Truth", "head_sha": repo.branches["main"], "conclusion": "failure",
        "output": {"title": "t", "summary": "s"},
        "actions": [{"label": "Recheck", "description": "Read the evidence again",
                     "identifier": "recheck"}]})
    payload = requested_action_payload(fake_github.world, repo, repo.check_runs[cr["id"]],
                                       sender="alice")
    assert payload["check_run"]["app"]["id"] == fake_github.world.app.id
    assert payload["requested_action"]["identifier"] == "recheck"
    assert payload["repository"]["full_name"] == REPO
    assert cr["actions"][0]["identifier"] == "recheck"


async def test_wait_until_returns_once_the_world_changes(fake_github, session, repo):
    import asyncio
    gh = await token_api(fake_github, session)

    async def later() -> None:
        await asyncio.sleep(0.05)
        await gh.post(f"/repos/{REPO}/check-runs", data={
            "name": "CI Truth", "head_sha": repo.branches["main"], "conclusion": "neutral",
            "output": {"title": "t", "summary": "s"}})

    task = asyncio.create_task(later())
    done = await fake_github.wait_until(
        lambda: [c for c in repo.check_runs.values() if c["status"] == "completed"])
    await task
    assert done[0]["conclusion"] == "neutral"
    with pytest.raises(TimeoutError):
        await fake_github.wait_until(lambda: False, timeout=0.05)


def test_zip_reports_unpacks_the_gzipped_corpus_report(corpus):
    big = corpus / "large" / "numpy-pytest.full.junit.xml.gz"
    data = zip_reports({"numpy/junit.xml": big})
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        head = zf.open("numpy/junit.xml").read(200)
    assert head.lstrip().startswith(b"<?xml") or head.lstrip().startswith(b"<testsuites")


@pytest.mark.slow
def test_fixture_fails_a_test_that_made_an_unexpected_request(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    (tmp_path / "test_inner.py").write_text(
        "import aiohttp\n\n"
        "async def test_stray(fake_github):\n"
        "    async with aiohttp.ClientSession() as s:\n"
        "        async with s.get(fake_github.api_url + '/definitely/not/github') as r:\n"
        "            assert r.status == 404\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.fakegithub.plugin",
         "-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function",
         "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path / "test_inner.py")],
        cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True,
        timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "requests nobody expected" in proc.stdout
    assert "/definitely/not/github" in proc.stdout


async def test_fake_and_an_app_under_aiohttp_client_share_the_loop(fake_github, aiohttp_client,
                                                                  session):
    """The pattern App tests use: the App in aiohttp_client, GitHub in fake_github."""
    from aiohttp import web
    seeded = seed_workflow_run(fake_github.world)

    async def webhook(request: web.Request) -> web.Response:
        payload = await request.json()
        gh = await token_api(fake_github, session, payload["installation"]["id"])
        full = payload["repository"]["full_name"]
        await gh.post(f"/repos/{full}/check-runs", data={
            "name": "CI Truth", "head_sha": payload["workflow_run"]["head_sha"],
            "status": "in_progress"})
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    client = await aiohttp_client(app)
    fake_github.webhook_url = str(client.make_url("/webhook"))
    fake_github.webhook_secret = "s3cret"
    delivered = await fake_github.deliver("workflow_run", seeded.payload)
    assert delivered.status == 202
    [cr] = seeded.repo.check_runs.values()
    assert cr["status"] == "in_progress" and cr["head_sha"] == seeded.run["head_sha"]
