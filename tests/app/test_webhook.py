"""POST /webhook through the real aiohttp app on loopback: bad input, durable intake, dedupe."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app.ports import AppContext, Delivery, GitHubFor
from bot.app.server import DB, create_app
from bot.app.settings import Settings
from bot.app.store import Store

from .conftest import SECRET, load_webhook, signed

Client = TestClient[Any, Any]


class Recording:
    """A handler that remembers what it was given."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.contexts: list[AppContext] = []
        self.seen = asyncio.Event()

    async def __call__(self, delivery: Delivery, gh_for: GitHubFor, ctx: AppContext) -> None:
        self.deliveries.append(delivery)
        self.contexts.append(ctx)
        self.seen.set()


@pytest.fixture
def handler() -> Recording:
    return Recording()


@pytest.fixture
async def client(aiohttp_client: Callable[..., Awaitable[Client]], settings: Settings,
                 handler: Recording) -> Client:
    return await aiohttp_client(create_app(settings, handler=handler))


@pytest.fixture
def run_payload(corpus: Path) -> dict[str, Any]:
    """The corpus workflow_run.completed, adapted: App deliveries carry an installation."""
    payload = load_webhook(corpus, "workflow_run.completed.json")
    payload["installation"] = {"id": 77, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNzc="}
    return payload


async def test_valid_delivery_is_recorded_then_handled(client: Client, handler: Recording,
                                                       run_payload: dict[str, Any]) -> None:
    resp = await client.post("/webhook", **signed(run_payload, delivery="g-1"))
    assert resp.status == 202
    # Durable before the 202 (its spool frame fsynced); the job row may follow a moment later.
    assert client.app[DB].store.known(["g-1"]) == {"g-1"}
    await asyncio.wait_for(handler.seen.wait(), 5)
    job = client.app[DB].store.job("g-1")
    assert job is not None and job["key"].endswith(run_payload["workflow_run"]["head_sha"])
    d = handler.deliveries[0]
    assert (d.id, d.event, d.action, d.installation_id) == ("g-1", "workflow_run", "completed", 77)
    assert d.payload == run_payload
    assert handler.contexts[0].app_slug == "ci-truth-test"
    assert "kv" in handler.contexts[0].extras


async def test_a_job_whose_every_attempt_killed_the_process_fails_at_restart(
        aiohttp_client: Callable[..., Awaitable[Client]], with_settings: Callable[..., Settings],
        handler: Recording, run_payload: dict[str, Any]) -> None:
    """The interrupted attempt counts: at the last one the job ends instead of running forever."""
    from bot.app.store import FAILED, QUEUED, Record

    settings = with_settings(max_attempts=2)
    body = json.dumps(run_payload).encode()
    store = Store(settings.db_path)
    store.record_batch([Record("poison", "workflow_run", None, None, None, QUEUED, "k1", body)])
    store.claim(5, [], 0)                          # attempt 1 ... its lease runs out at once
    store.record_batch([Record("fine", "workflow_run", None, None, None, QUEUED, "k2", body)])
    assert {j.delivery_id: j.attempts for j in store.claim(5, [], 300)} == {"poison": 2,
                                                                            "fine": 1}
    store.close()                                   # killed mid-attempt: both stay "running"
    client = await aiohttp_client(create_app(settings, handler=handler))
    await asyncio.wait_for(handler.seen.wait(), 5)
    db = client.app[DB]
    poison = await db.run(db.store.job, "poison")
    assert poison is not None and poison["state"] == FAILED and poison["attempts"] == 2
    assert "last allowed attempt" in str(poison["last_error"])
    assert [d.id for d in handler.deliveries] == ["fine"]


async def test_duplicate_delivery_is_a_no_op(client: Client, handler: Recording,
                                             run_payload: dict[str, Any]) -> None:
    answers = [await client.post("/webhook", **signed(run_payload, delivery="dup"))
               for _ in range(3)]
    assert [r.status for r in answers] == [202, 202, 202]
    assert [await r.text() for r in answers] == ["queued", "duplicate", "duplicate"]
    await asyncio.wait_for(handler.seen.wait(), 5)
    await asyncio.sleep(0.2)
    assert len(handler.deliveries) == 1


@pytest.mark.parametrize("signature", [
    None, "sha256=" + "0" * 64, "sha256=zz", "sha256=ünïcode", "sha1=abc"])
async def test_bad_signatures_get_401_without_detail(client: Client, handler: Recording,
                                                     run_payload: dict[str, Any],
                                                     signature: str | None) -> None:
    kwargs = signed(run_payload, delivery="forged")
    if signature is None:
        del kwargs["headers"]["X-Hub-Signature-256"]
    else:
        kwargs["headers"]["X-Hub-Signature-256"] = signature
    resp = await client.post("/webhook", **kwargs)
    assert resp.status == 401
    assert await resp.read() == b""
    assert client.app[DB].store.known(["forged"]) == set()  # not even accepted


async def test_non_ascii_signature_bytes_get_401(client: Client,
                                                 run_payload: dict[str, Any]) -> None:
    kwargs = signed(run_payload)
    good = kwargs["headers"]["X-Hub-Signature-256"]
    # Latin-1 bytes on the wire: aiohttp decodes them to non-ASCII text.
    kwargs["headers"]["X-Hub-Signature-256"] = good[:-1] + "\xe9"
    assert (await client.post("/webhook", **kwargs)).status == 401


async def test_signed_with_another_secret_or_sha1_only(client: Client,
                                                       run_payload: dict[str, Any]) -> None:
    other = signed(run_payload, secret=SECRET + "x")
    assert (await client.post("/webhook", **other)).status == 401
    sha1_only = signed(run_payload)
    sig = sha1_only["headers"].pop("X-Hub-Signature-256")
    sha1_only["headers"]["X-Hub-Signature"] = "sha1=" + sig[7:47]
    assert (await client.post("/webhook", **sha1_only)).status == 401


async def test_wrong_content_type_is_415(client: Client, run_payload: dict[str, Any]) -> None:
    kwargs = signed(run_payload)
    kwargs["headers"]["Content-Type"] = "application/x-www-form-urlencoded"
    assert (await client.post("/webhook", **kwargs)).status == 415


@pytest.mark.parametrize("missing", ["X-GitHub-Event", "X-GitHub-Delivery"])
async def test_missing_headers_are_400(client: Client, run_payload: dict[str, Any],
                                       missing: str) -> None:
    kwargs = signed(run_payload)
    del kwargs["headers"][missing]
    resp = await client.post("/webhook", **kwargs)
    assert resp.status == 400
    assert missing in await resp.text()


@pytest.mark.parametrize("body", [b"{not json", b"[]", b"\xff\xfe{}", b"", b"null"])
async def test_malformed_json_is_400(client: Client, body: bytes) -> None:
    resp = await client.post("/webhook", **signed(None, body=body, delivery="bad-json"))
    assert resp.status == 400
    assert client.app[DB].store.known(["bad-json"]) == set()


async def test_signed_but_malformed_json_fails_its_job_without_the_handler(
        client: Client, handler: Recording) -> None:
    resp = await client.post("/webhook", **signed(None, body=b'{"installation": }',
                                                  delivery="sneaky"))
    assert resp.status == 202  # intake checks framing only; the worker parses (docs/app.md)
    store: Store = client.app[DB].store
    for _ in range(100):
        job = store.job("sneaky")
        if job is not None and job["state"] == "failed":
            break
        await asyncio.sleep(0.02)
    assert job is not None and job["state"] == "failed"
    assert job["last_error"] == "payload is not valid JSON" and job["attempts"] == 0
    assert handler.deliveries == []


async def test_oversized_body_is_413(aiohttp_client: Callable[..., Awaitable[Client]],
                                     with_settings: Callable[..., Settings],
                                     handler: Recording) -> None:
    client = await aiohttp_client(create_app(with_settings(max_body_bytes=4096),
                                             handler=handler))
    body = json.dumps({"installation": {"id": 1}, "pad": "x" * 5000}).encode()
    assert (await client.post("/webhook", **signed(None, body=body))).status == 413


async def test_payload_without_installation_is_recorded_as_ignored(
        client: Client, handler: Recording, corpus: Path) -> None:
    payload = load_webhook(corpus, "workflow_run.completed.json")  # real: no installation
    resp = await client.post("/webhook", **signed(payload, delivery="no-inst"))
    assert resp.status == 202
    store: Store = client.app[DB].store
    assert store.known(["no-inst"]) == {"no-inst"}
    for _ in range(100):
        job = store.job("no-inst")
        if job is not None and job["state"] == "ignored":
            break
        await asyncio.sleep(0.02)
    assert job is not None and job["state"] == "ignored"
    assert job["last_error"] == "ignored: no installation"
    assert handler.deliveries == [] and store.queued == 0


async def test_ping_is_answered(client: Client, corpus: Path) -> None:
    resp = await client.post("/webhook", **signed(load_webhook(corpus, "ping.json"),
                                                  event="ping"))
    assert resp.status == 200
    assert (await resp.json())["ok"] is True


async def test_queue_full_is_503(aiohttp_client: Callable[..., Awaitable[Client]],
                                 with_settings: Callable[..., Settings],
                                 run_payload: dict[str, Any]) -> None:
    release = asyncio.Event()

    async def slow(delivery: Delivery, gh_for: GitHubFor, ctx: AppContext) -> None:
        await release.wait()

    client = await aiohttp_client(create_app(with_settings(max_queue=1), handler=slow))
    assert (await client.post("/webhook", **signed(run_payload, delivery="a"))).status == 202
    assert (await client.post("/webhook", **signed(run_payload, delivery="b"))).status == 503
    release.set()


async def test_forged_requests_get_401_whatever_else_is_wrong(
        aiohttp_client: Callable[..., Awaitable[Client]], with_settings: Callable[..., Settings],
        corpus: Path, run_payload: dict[str, Any]) -> None:
    """Headers, framing, ping and a full queue are only answered once the signature holds."""
    release = asyncio.Event()

    async def slow(delivery: Delivery, gh_for: GitHubFor, ctx: AppContext) -> None:
        await release.wait()

    client = await aiohttp_client(create_app(with_settings(max_queue=1), handler=slow))
    forged = [signed(run_payload, secret="not-the-secret", delivery="f-1"),
              signed(load_webhook(corpus, "ping.json"), event="ping", secret="wrong"),
              signed(None, body=b"[]", secret="wrong", delivery="f-2")]
    forged[0]["headers"]["Content-Type"] = "text/plain"
    no_event = signed(run_payload, secret="wrong", delivery="f-3")
    del no_event["headers"]["X-GitHub-Event"]
    for kwargs in [*forged, no_event]:
        resp = await client.post("/webhook", **kwargs)
        assert (resp.status, await resp.read()) == (401, b"")
    assert (await client.post("/webhook", **signed(run_payload, delivery="a"))).status == 202
    full = await client.post("/webhook", **signed(run_payload, delivery="b", secret="wrong"))
    assert full.status == 401  # a forger does not learn that the queue is full
    assert (await client.post("/webhook", **signed(run_payload, delivery="b"))).status == 503
    store = client.app[DB].store
    assert store.known(["f-1", "f-2", "f-3", "b"]) == set()
    release.set()


async def test_one_batch_records_the_signed_and_refuses_the_forged(
        client: Client, run_payload: dict[str, Any]) -> None:
    """Verification happens per delivery inside the group commit."""
    requests = [signed(run_payload, delivery=f"m-{i}",
                       secret=SECRET if i % 2 == 0 else SECRET + "x") for i in range(8)]
    answers = await asyncio.gather(*(client.post("/webhook", **kw) for kw in requests))
    assert [r.status for r in answers] == [202, 401] * 4
    db = client.app[DB]  # read on the database thread, which indexes accepted work first
    assert [await db.run(db.store.job, f"m-{i}") is not None for i in range(8)] == \
        [True, False] * 4


async def test_healthz_and_metrics(client: Client, handler: Recording,
                                   run_payload: dict[str, Any]) -> None:
    assert (await client.get("/healthz")).status == 200
    await client.post("/webhook", **signed(run_payload, delivery="m-1"))
    await client.post("/webhook", **signed(run_payload, delivery="m-1"))
    await client.post("/webhook", data=b"{}", headers={"Content-Type": "application/json"})
    await asyncio.wait_for(handler.seen.wait(), 5)
    for _ in range(50):
        text = await (await client.get("/metrics")).text()
        if 'ci_truth_jobs_total{outcome="done"} 1' in text:
            break
        await asyncio.sleep(0.05)
    assert 'ci_truth_deliveries_total{event="workflow_run",outcome="queued"} 1' in text
    assert 'ci_truth_deliveries_total{event="workflow_run",outcome="duplicate"} 1' in text
    assert 'ci_truth_deliveries_total{event="unknown",outcome="unauthorized"} 1' in text
    assert 'ci_truth_jobs_total{outcome="done"} 1' in text
    assert "ci_truth_queue_depth 0" in text
    assert "# TYPE ci_truth_github_requests_total counter" in text


def test_metrics_render_large_counts_exactly() -> None:
    """A busy App passes a million deliveries: every digit of a count must reach Prometheus."""
    from bot.app.metrics import Metrics

    m = Metrics()
    for _ in range(3):
        m.delivery("workflow_run", "queued")
    m.deliveries[("workflow_run", "queued")] += 1_234_564
    m.github_calls["200"] = 10_000_001
    text = m.render(queue_depth=1_000_001, job_states={"done": 2_345_678})
    assert 'ci_truth_deliveries_total{event="workflow_run",outcome="queued"} 1234567\n' in text
    assert 'ci_truth_github_requests_total{status="200"} 10000001\n' in text
    assert "ci_truth_queue_depth 1000001\n" in text
    assert 'ci_truth_jobs{state="done"} 2345678\n' in text


async def test_a_forged_request_gets_401_even_when_the_store_fails(
        client: Client, run_payload: dict[str, Any]) -> None:
    """A batch that cannot be recorded answers 503 to its signed deliveries only: a forged
    request in the same batch is still a 401 (and its unverified event is not counted)."""
    import threading

    db = client.app[DB]
    real_accept = db.store.accept
    gate = threading.Event()
    calls: list[int] = []

    def accept(records: Any) -> list[str]:
        calls.append(len(records))
        if len(calls) == 1:
            gate.wait(5)  # the first batch is slow: the next two requests queue behind it
            return real_accept(records)
        raise OSError("disk full")

    db.store.accept = accept  # type: ignore[method-assign]
    first = asyncio.ensure_future(client.post("/webhook", **signed(run_payload, delivery="a")))
    while not calls:
        await asyncio.sleep(0.01)
    forged = signed(run_payload, delivery="f", secret="wrong")
    forged["headers"]["X-GitHub-Event"] = "forged-event"
    later = [asyncio.ensure_future(client.post("/webhook", **kw))
             for kw in (signed(run_payload, delivery="b"), forged)]
    while db._queue.qsize() < 2:
        await asyncio.sleep(0.01)
    gate.set()
    assert (await first).status == 202
    good, bad = await asyncio.gather(*later)
    assert calls == [1, 1]  # b alone reached the store; f never did
    assert good.status == 503
    assert (bad.status, await bad.read()) == (401, b"")
    text = await (await client.get("/metrics")).text()
    assert "forged-event" not in text
