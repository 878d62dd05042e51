"""The fake's in-memory world: the App, installations, tokens, repositories and their objects."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakegithub.repo import FakeRepo, iso

ACTIONS_APP_ID = 15368          # the GitHub Actions app (GITHUB_TOKEN)
ACTIONS_LOGIN = "github-actions[bot]"


@dataclass
class App:
    """The one GitHub App the fake knows (its private key lives in ``auth.AppKey``)."""

    id: int = 424242
    slug: str = "ci-truth"
    name: str = "CI Truth"
    client_id: str = "Iv23liFakeClientId0001"
    owner: str = "ci-truth-org"

    @property
    def bot_login(self) -> str:
        return f"{self.slug}[bot]"


@dataclass
class Installation:
    """An installation of the App; ``repo_ids`` None means all repositories of the account."""

    id: int
    account: str
    repo_ids: set[int] | None = None
    permissions: dict[str, str] = field(default_factory=lambda: {
        "actions": "read", "checks": "write", "contents": "read", "issues": "write",
        "metadata": "read", "pull_requests": "write", "statuses": "write"})
    suspended: bool = False


@dataclass
class Token:
    """An installation access token minted by the fake."""

    token: str
    installation_id: int
    expires_at: datetime
    repo_ids: set[int] | None
    permissions: dict[str, str]
    revoked: bool = False
    app_id: int | None = None     # None: the fake App; ACTIONS_APP_ID for a GITHUB_TOKEN
    actor: str | None = None      # None: ``<slug>[bot]``


@dataclass
class World:
    """Everything the fake knows; tests seed it, routes read and change it."""

    app: App = field(default_factory=App)
    installations: dict[int, Installation] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    repos: dict[str, FakeRepo] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    moved: dict[str, int] = field(default_factory=dict)  # old "owner/name" (lower) -> repo id
    redeliveries: list[int] = field(default_factory=list)
    clock_offset: timedelta = timedelta(0)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1_000_001))

    def now(self) -> datetime:
        """The fake's clock (real time plus ``clock_offset``, movable by tests)."""
        return datetime.now(UTC) + self.clock_offset

    def new_id(self) -> int:
        return next(self.ids)

    def app_of(self, login: str) -> int | None:
        """The app id behind a bot login (ours or GitHub Actions), None for people."""
        if login == self.app.bot_login:
            return self.app.id
        return ACTIONS_APP_ID if login == ACTIONS_LOGIN else None

    def user(self, login: str) -> dict[str, Any]:
        """The user object for ``login`` (created on first use; ``x[bot]`` is a Bot)."""
        if login not in self.users:
            uid = self.new_id()
            self.users[login] = {"login": login, "id": uid, "node_id": f"U_{uid}",
                                 "type": "Bot" if login.endswith("[bot]") else "User",
                                 "site_admin": False}
        return self.users[login]

    def add_repo(self, full_name: str, *, default_branch: str = "main", private: bool = False,
                 installation: int | None = 1, fork_of: FakeRepo | None = None,
                 repo_id: int | None = None,
                 files: dict[str, bytes | str | None] | None = None) -> FakeRepo:
        """A repository with an initial commit, covered by ``installation`` (None: none)."""
        owner, name = full_name.split("/")
        repo = FakeRepo(self, repo_id or self.new_id(), owner, name, default_branch, private,
                        fork_of)
        self.repos[full_name.lower()] = repo
        self.user(owner)
        repo.commit({"README.md": f"# {name}\n", **(files or {})}, message="Initial commit")
        if installation is not None:
            inst = self.installations.get(installation) or self.add_installation(
                installation, owner, repo_ids=set())
            if inst.repo_ids is not None:
                inst.repo_ids.add(repo.id)
        return repo

    def add_installation(self, installation_id: int, account: str, *,
                         repo_ids: set[int] | None = None) -> Installation:
        inst = Installation(installation_id, account, repo_ids)
        self.installations[installation_id] = inst
        return inst

    def move_repo(self, repo: FakeRepo, full_name: str) -> None:
        """Rename or transfer ``repo``; like GitHub, its old name then answers API calls with
        301 (GET, HEAD) or 307 to ``/repositories/{id}/…`` (see ``FakeGitHub._moved``)."""
        old = repo.full_name
        self.moved[old.lower()] = repo.id
        del self.repos[old.lower()]
        repo.owner, repo.name = full_name.split("/")
        self.repos[full_name.lower()] = repo
        for other in self.repos.values():   # runs and pulls name their head repository
            for obj in [*other.runs.values(), *other.pulls.values()]:
                if str(obj.get("_head_repo", "")).lower() == old.lower():
                    obj["_head_repo"] = full_name
        self.moved.pop(full_name.lower(), None)
        self.user(repo.owner)

    def repo(self, owner: str, name: str) -> FakeRepo | None:
        return self.repos.get(f"{owner}/{name}".lower())

    def repo_by_id(self, repo_id: int) -> FakeRepo | None:
        return next((r for r in self.repos.values() if r.id == repo_id), None)


def add_delivery(world: World, event: str, *, action: str | None = None, status_code: int = 200,
                 guid: str | None = None, installation_id: int | None = 1,
                 repository_id: int | None = None, redelivery: bool = False) -> dict[str, Any]:
    """A webhook delivery record as ``GET /app/hook/deliveries`` lists it (newest last here)."""
    did = world.new_id()
    status = "OK" if 200 <= status_code < 300 else f"Invalid HTTP Response: {status_code}"
    if status_code == 0:
        status = "timed out"
    rec = {"id": did, "guid": guid or f"{did:08x}-0000-11ee-8000-000000000000",
           "delivered_at": iso(world.now()), "redelivery": redelivery, "duration": 0.27,
           "status": status, "status_code": status_code, "event": event, "action": action,
           "installation_id": installation_id, "repository_id": repository_id,
           "throttled_at": None}
    world.deliveries.append(rec)
    return rec
