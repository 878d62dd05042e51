"""The seams between the App's infrastructure and its handlers (typing only, no behaviour)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from bot.app.scopes import Scope


class GitHub(Protocol):
    """An installation-scoped GitHub REST client (gidgethub-shaped).

    Implementations handle auth, rate limits, write serialisation and conditional GETs;
    handlers only say what to read and write. URLs are relative to the API root and built
    from ids (``/repos/{owner}/{repo}/check-runs``), never taken from payloads.
    """

    installation_id: int

    async def getitem(self, url: str, url_vars: Mapping[str, Any] | None = None, *,
                      params: Mapping[str, Any] | None = None) -> Any: ...

    def getiter(self, url: str, url_vars: Mapping[str, Any] | None = None, *,
                params: Mapping[str, Any] | None = None,
                iterable_key: str | None = None) -> AsyncIterator[Any]: ...

    async def post(self, url: str, url_vars: Mapping[str, Any] | None = None, *,
                   data: Any) -> Any: ...

    async def patch(self, url: str, url_vars: Mapping[str, Any] | None = None, *,
                    data: Any) -> Any: ...

    async def put(self, url: str, url_vars: Mapping[str, Any] | None = None, *,
                  data: Any = None) -> Any: ...

    async def delete(self, url: str, url_vars: Mapping[str, Any] | None = None) -> None: ...

    async def download_artifact(self, owner: str, repo: str, artifact_id: int, *,
                                max_bytes: int) -> bytes:
        """Bytes of an artifact (zip or bare file); raises ArtifactError with a reason."""
        ...


class ArtifactError(Exception):
    """An artifact could not be fetched safely; str() is a reason a person can act on."""


class Unretryable(Exception):
    """Retrying cannot help (the installation is gone or suspended, the repository left it):
    the worker fails the job at once, with str() as its reason. ``until``: the
    ``installation`` webhook action after which it may succeed (the worker queues it again)."""

    def __init__(self, reason: str, *, until: str | None = None) -> None:
        super().__init__(reason)
        self.until = until


@dataclass(frozen=True)
class Delivery:
    """A verified, durably recorded webhook delivery."""

    id: str
    event: str
    payload: Mapping[str, Any]

    @property
    def action(self) -> str | None:
        value = self.payload.get("action")
        return value if isinstance(value, str) else None

    @property
    def installation_id(self) -> int | None:
        inst = self.payload.get("installation")
        if isinstance(inst, Mapping) and isinstance(inst.get("id"), int):
            return int(inst["id"])
        return None


@dataclass
class AppContext:
    """What handlers may know about the running App besides the client."""

    app_id: int
    app_slug: str                 # bot login is f"{app_slug}[bot]"
    clock: Callable[[], datetime]  # timezone-aware UTC now
    evict_installation: Callable[[int], None] = lambda _id: None
    extras: dict[str, Any] = field(default_factory=dict)


class GitHubFor(Protocol):
    """Returns the client for one repository of an installation, for one task.

    The token behind it covers only ``repository_id`` with ``scope``'s permissions
    (bot.app.scopes; minted on first use and cached behind it); rate limits, write
    serialisation and the ETag cache stay per installation.
    """

    def __call__(self, installation_id: int, *, repository_id: int,
                 scope: Scope) -> Awaitable[GitHub]: ...

Handler = Callable[[Delivery, GitHubFor, AppContext], Awaitable[None]]
"""``async def handle(delivery, gh_for, ctx)``: the worker calls it for every job."""
