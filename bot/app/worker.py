"""The job loop: claim due jobs (one per key), run the handler, retry with backoff, fail."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bot.app.github import failure
from bot.app.intake import IntakeError, installation_id, parse_payload
from bot.app.logs import describe
from bot.app.metrics import Metrics
from bot.app.ports import AppContext, Delivery, GitHubFor, Handler, Unretryable
from bot.app.ratelimit import RateLimited
from bot.app.recorder import Database
from bot.app.settings import Settings
from bot.app.store import FAILED, IGNORED, Job, Prepared

log = logging.getLogger(__name__)
EVICTING_ACTIONS = frozenset({"deleted", "suspend", "new_permissions_accepted"})
# A job that failed until one of these ``installation`` actions (Unretryable.until) says so
# in its reason; that action's delivery queues the installation's such jobs again.
AWAITING = {"unsuspend": "queued again when the installation is unsuspended",
            "new_permissions_accepted": "queued again when the installation accepts new"
                                        " permissions"}
# Waiting for a rate limit uses up no attempt; a job still limited this long after its first
# wait (GitHub's 3-day delivery window: its news is stale by then) fails instead.
RATE_LIMIT_PATIENCE = 3 * 86400.0


def job_key(event: str, payload: Mapping[str, Any], delivery_id: str) -> str:
    """Jobs with equal keys never run concurrently: same repo + head SHA, or repo + issue."""
    repo = payload.get("repository")
    repo_id = repo.get("id") if isinstance(repo, Mapping) else None
    if event in ("installation", "installation_repositories", "github_app_authorization"):
        inst = payload.get("installation")
        return f"installation:{inst.get('id') if isinstance(inst, Mapping) else delivery_id}"
    for name in ("workflow_run", "check_suite", "check_run", "workflow_job"):
        obj = payload.get(name)
        if isinstance(obj, Mapping) and isinstance(obj.get("head_sha"), str):
            return f"repo:{repo_id}:sha:{obj['head_sha']}"
    for name in ("issue", "pull_request"):
        obj = payload.get(name)
        if isinstance(obj, Mapping) and isinstance(obj.get("number"), int):
            return f"repo:{repo_id}:issue:{obj['number']}"
    return f"repo:{repo_id}" if repo_id is not None else f"delivery:{delivery_id}"


def prepare(event: str, delivery_id: str, body: bytes) -> Prepared:
    """Parse a job's payload once (the intake does not): its key, or why it ends here."""
    try:
        data = parse_payload(body)
    except IntakeError as exc:
        reason = exc.reason.replace("body", "payload")
        return Prepared(f"delivery:{delivery_id}", None, FAILED, reason)
    action = data.get("action") if isinstance(data.get("action"), str) else None
    repo = data.get("repository")
    repo_id = repo.get("id") if isinstance(repo, Mapping) else None
    repo_id = repo_id if isinstance(repo_id, int) else None
    inst = installation_id(data)
    if inst is None:  # not an App delivery we can act on
        return Prepared(f"delivery:{delivery_id}", None, IGNORED, "ignored: no installation",
                        action, None, repo_id)
    return Prepared(job_key(event, data, delivery_id), data, None, None, action, inst, repo_id)


def backoff(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Delay before retry number ``attempt`` (1-based): exponential, capped, jittered (½–1×)."""
    delay = min(cap, base * 2 ** (attempt - 1))
    return float(delay * (rng or random).uniform(0.5, 1.0))


class Worker:
    """N concurrent jobs from the durable queue; jobs with the same key run one at a time."""

    def __init__(self, db: Database, handler: Handler, gh_for: GitHubFor,
                 context: Callable[[], Awaitable[AppContext]], settings: Settings,
                 metrics: Metrics, *, evict: Callable[[int], None] = lambda _id: None,
                 clock: Callable[[], float] = time.time, rng: random.Random | None = None) -> None:
        self.db = db
        self.handler = handler
        self.gh_for = gh_for
        self.context = context
        self.settings = settings
        self.metrics = metrics
        self.evict = evict
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self.running: dict[int, tuple[Job, asyncio.Task[None]]] = {}
        self._ids: dict[int, str] = {}  # job id → "action=… installation=… repository=…" for logs
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._beat_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the scheduler and the lease heartbeat."""
        loop = asyncio.get_running_loop()
        self._loop_task = loop.create_task(self._schedule(), name="worker-scheduler")
        self._beat_task = loop.create_task(self._heartbeat(), name="worker-heartbeat")

    def notify(self) -> None:
        """A job was queued: look for work now, if a slot is free.

        With every slot busy the scheduler wakes when a job ends (and claims then), so a
        flood of deliveries does not wake it once per delivery for nothing.
        """
        if len(self.running) < self.settings.workers:
            self._wake.set()

    @property
    def alive(self) -> bool:
        """Whether the scheduler is running."""
        return self._loop_task is not None and not self._loop_task.done()

    async def stop(self, grace: float | None = None) -> None:
        """Stop claiming; give running jobs ``grace`` seconds (CI_TRUTH_SHUTDOWN_GRACE), then
        cancel and requeue them."""
        grace = self.settings.shutdown_grace if grace is None else grace
        self._stopping = True
        self._wake.set()
        for task in (self._loop_task, self._beat_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        tasks = [t for _, t in self.running.values()]
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _schedule(self) -> None:
        while not self._stopping:
            free = self.settings.workers - len(self.running)
            jobs: list[Job] = []
            if free > 0:
                busy = [job.key for job, _ in self.running.values()]
                try:
                    jobs = await self.db.run(self.db.store.claim, free, busy,
                                             self.settings.lease_seconds, prepare)
                except Exception as exc:
                    log.error("claiming jobs failed: %s", describe(exc))
            for job in jobs:
                task = asyncio.get_running_loop().create_task(self._run(job), name=f"job-{job.id}")
                self.running[job.id] = (job, task)
            if jobs and len(self.running) < self.settings.workers:
                continue  # more may be due
            self._wake.clear()
            timeout = 1.0
            if len(self.running) < self.settings.workers:
                try:  # a store error here must not end the scheduler (no job would run again)
                    due = await self.db.run(self.db.store.next_due)
                except Exception as exc:
                    log.error("reading the next due job failed: %s", describe(exc))
                    due = None
                if due is not None:
                    timeout = min(timeout, max(0.0, due - self.clock()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):  # no task per wait, unlike wait_for
                    await self._wake.wait()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(max(0.05, self.settings.lease_seconds / 3))
            if self.running:
                try:
                    await self.db.run(self.db.store.heartbeat, list(self.running),
                                      self.settings.lease_seconds)
                except Exception as exc:
                    log.error("lease heartbeat failed: %s", describe(exc))

    async def _run(self, job: Job) -> None:
        store = self.db.store
        try:
            try:
                await self._call(job)
            except asyncio.CancelledError:
                self._ids.pop(job.id, None)
                await asyncio.shield(self.db.run(store.retry, job.id, self.clock(),
                                                 "interrupted by shutdown"))
                raise
            except Exception as exc:
                await self._failed(job, exc)
            else:
                await self.db.run(store.done, job.id)
                self.metrics.job("done")
                log.info("job done delivery=%s event=%s attempt=%s%s", job.delivery_id,
                         job.event, job.attempts, self._ids.pop(job.id, ""))
        except Exception as exc:  # saving the outcome failed: the store refused (locked, full)
            self._ids.pop(job.id, None)
            log.error("saving the outcome of job %s failed (delivery=%s event=%s attempt=%s): %s;"
                      " it stays running until its lease expires (or the next start), then"
                      " runs again", job.id, job.delivery_id, job.event, job.attempts,
                      describe(exc))
        finally:
            self.running.pop(job.id, None)
            self._wake.set()

    async def _call(self, job: Job) -> None:
        payload = job.data if job.data is not None else json.loads(job.payload)
        delivery = Delivery(id=job.delivery_id, event=job.event, payload=payload)
        inst = delivery.installation_id
        repo = payload.get("repository") if isinstance(payload, Mapping) else None
        self._ids[job.id] = (f" action={delivery.action} installation={inst} repository="
                             f"{repo.get('id') if isinstance(repo, Mapping) else None}")
        removed = job.event == "installation_repositories" and delivery.action == "removed"
        if inst and (removed or (job.event == "installation"
                                 and delivery.action in EVICTING_ACTIONS)):
            self.evict(inst)   # cached tokens of a removed repository answer 404 until expiry
        ctx = await self.context()
        limit = asyncio.timeout(self.settings.job_timeout)
        try:
            async with limit:
                await self.handler(delivery, self.gh_for, ctx)
        except TimeoutError:
            if not limit.expired():
                raise
            raise TimeoutError("the job ran longer than CI_TRUTH_JOB_TIMEOUT "  # say which limit
                               f"({self.settings.job_timeout:g} s)") from None
        added = job.event == "installation_repositories" and delivery.action == "added"
        if inst and (added or (job.event == "installation" and delivery.action in AWAITING)):
            since = self.clock() - self.settings.retention_days * 86400
            repos = _added_repositories(payload) if added else None  # a 422: re-added
            n = await self.db.run(self.db.store.requeue_failed, inst,
                                  AWAITING["new_permissions_accepted" if added
                                           else str(delivery.action)], since, repos)
            if n:
                log.info("installation %s %s: %d failed job(s) queued again", inst,
                         f"{job.event}.{delivery.action}", n)

    async def _failed(self, job: Job, exc: Exception) -> None:
        reason = describe(exc)
        ids = self._ids.pop(job.id, "")
        found = failure(exc)  # a GitHub error answer: which request, and GitHub's message
        if isinstance(exc, json.JSONDecodeError):
            reason, final = "payload is not valid JSON", True
        elif isinstance(exc, Unretryable):
            reason, final = f"{exc} ({_not_retried(exc.until)})", True
        elif found is not None and not found.retry:
            reason, final = f"{found.reason} ({_not_retried(found.until)})", True
        elif isinstance(exc, RateLimited):
            since = self.clock() if job.waiting_since is None else job.waiting_since
            final = exc.retry_at - since > RATE_LIMIT_PATIENCE
            if final:
                reason = (f"{exc.what}: lasts more than {RATE_LIMIT_PATIENCE / 86400:g} days"
                          " after the job first waited for it (not retried)")
        else:
            reason = found.reason if found is not None else reason
            final = job.attempts >= self.settings.max_attempts
            reason += f" (attempt {job.attempts} of {self.settings.max_attempts})"
        if final:
            await self.db.run(self.db.store.fail, job.id, reason)
            self.metrics.job("failed")
            log.error("job failed delivery=%s event=%s attempts=%s%s: %s", job.delivery_id,
                      job.event, job.attempts, ids, reason)
            return
        at = self.clock() + backoff(job.attempts, base=self.settings.backoff_base,
                                    cap=self.settings.backoff_cap, rng=self.rng)
        if isinstance(exc, RateLimited):  # waits for the reset, using up no attempt
            at = max(at, exc.retry_at)
        save = self.db.store.wait if isinstance(exc, RateLimited) else self.db.store.retry
        await self.db.run(save, job.id, at, reason)
        self.metrics.job("retried")
        log.warning("job retry delivery=%s event=%s attempt=%s%s in %.1fs: %s", job.delivery_id,
                    job.event, job.attempts, ids, at - self.clock(), reason)


def _not_retried(until: str | None) -> str:
    if until not in AWAITING:
        return "not retried"
    readded = " or the repository is added to it again" if until == "new_permissions_accepted" \
        else ""
    return f"not retried; {AWAITING[until]}{readded}"


def _added_repositories(payload: Mapping[str, Any]) -> list[int]:
    """The ids in an ``installation_repositories`` delivery's ``repositories_added``."""
    added = payload.get("repositories_added")
    return [r["id"] for r in added if isinstance(r, Mapping) and isinstance(r.get("id"), int)
            and not isinstance(r["id"], bool)] if isinstance(added, list) else []
