"""Shared pieces for the handler tests: the real infra client on the fake GitHub, reports, calls."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio

from bot.app.github import GitHubClients
from bot.app.handlers import handle
from bot.app.metrics import Metrics
from bot.app.ports import AppContext, Delivery
from bot.app.settings import Settings
from tests.conftest import CORPUS, ROOT
from tests.fakegithub.server import FakeGitHub

JUNIT = CORPUS / "junit"
PUTRA = JUNIT / "publish-unit-test-result-action/python/test/files/junit-xml"
ZERO_TESTS = PUTRA / "no-cases.xml"                                   # tests="0", no testcase
HEALTHY = PUTRA / "pytest/junit.gloo.elastic.spark.torch.xml"         # 22 passing testcases
SMALL = PUTRA / "pytest/junit.mpi.integration.xml"                    # 3 passing testcases
FAILING = JUNIT / "action-junit-report/test_results/xunit/report.xml"  # 4 testcases, 1 failure
PYTEST_ZERO = ROOT / "examples/zero-tests/pytest-report.xml"         # pytest, 0 collected
PYTEST_MASKED = ROOT / "examples/masked-failures/pytest-report.xml"   # pytest, failing tests
PYTEST_MANY = ROOT / "tests/data/generated/pytest-many-failures.xml"  # 120 failures, file+line
COVERAGE_PY = ROOT / "tests/data/plan/fixed/coverage.xml"             # coverage.py XML
MAVEN = ROOT / "tests/data/build-outputs/target"                       # real Maven target/
SECRET = "handler-tests-webhook-secret-0123456789"


@dataclass
class Env:
    """The fake GitHub, the real GitHub client for it and the handler context."""

    fake: FakeGitHub
    clients: GitHubClients
    ctx: AppContext
    evicted: list[int]

    async def deliver(self, payload: dict[str, Any], event: str = "workflow_run",
                      delivery_id: str = "d-1") -> None:
        # Through JSON, as the worker hands it over (the payload is what GitHub signed).
        body = json.loads(json.dumps(payload))
        await handle(Delivery(delivery_id, event, body), self.clients, self.ctx)

    def api_calls(self, since: int = 0) -> list[str]:
        """'METHOD path' of API requests after index `since` (token minting excluded)."""
        return [f"{r.method} {r.path}" for r in self.fake.requests[since:]
                if r.host == "api" and not r.path.startswith("/app/")]

    def check_runs(self, repo: Any) -> list[dict[str, Any]]:
        return [c for c in repo.check_runs.values() if c["name"] == "CI Truth"]


def settings_for(fake: FakeGitHub, tmp: Path) -> Settings:
    return Settings.from_env({
        "GITHUB_APP_ID": str(fake.world.app.id), "GITHUB_PRIVATE_KEY": fake.key.private_pem,
        "GITHUB_WEBHOOK_SECRET": SECRET, "GITHUB_API_URL": fake.api_url,
        "CI_TRUTH_DB": str(tmp / "app.db"), "CI_TRUTH_APP_SLUG": fake.world.app.slug,
        "CI_TRUTH_WRITE_SPACING": "0", "CI_TRUTH_ARTIFACT_HOSTS": "127.0.0.1",
        "CI_TRUTH_ARTIFACT_ALLOW_LOOPBACK_HTTP": "true", "CI_TRUTH_REDELIVERY_INTERVAL": "0",
        "CI_TRUTH_BACKOFF_BASE": "0.01", "CI_TRUTH_DB_SYNC": "NORMAL",
        "CI_TRUTH_COMMIT_INTERVAL": "0"})


@pytest_asyncio.fixture(name="env")
async def env_fixture(fake_github: FakeGitHub, tmp_path: Path) -> AsyncIterator[Env]:
    settings = settings_for(fake_github, tmp_path)
    evicted: list[int] = []
    async with aiohttp.ClientSession() as session:
        clients = GitHubClients(session, settings, Metrics())

        def evict(inst: int) -> None:
            evicted.append(inst)
            clients.evict(inst)

        ctx = AppContext(app_id=fake_github.world.app.id, app_slug=fake_github.world.app.slug,
                         clock=lambda: datetime.now(UTC), evict_installation=evict)
        yield Env(fake_github, clients, ctx, evicted)
