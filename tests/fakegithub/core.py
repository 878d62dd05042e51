"""Shared pieces of the fake: recorded requests, problems, faults, API errors, route tables."""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    from tests.fakegithub.repo import FakeRepo
    from tests.fakegithub.server import FakeGitHub
    from tests.fakegithub.state import Token

DOCS = "https://docs.github.com/rest"


@dataclass
class Recorded:
    """One request as the fake received it (the Authorization value is reduced to its scheme)."""

    host: str                  # "api" or "blob"
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int | None = None
    operation_id: str | None = None
    rate_key: str = "anonymous"  # whose quota the request used ("installation:1", "app")

    @property
    def auth_scheme(self) -> str | None:
        value = self.headers.get("authorization")
        return value.split(" ")[0] if value else None

    def __str__(self) -> str:
        q = f"?{urlencode(self.query)}" if self.query else ""
        return f"{self.host} {self.method} {self.path}{q} -> {self.status}"


@dataclass
class Problem:
    """A request that makes the test fail at teardown, and why."""

    request: Recorded
    reason: str

    def __str__(self) -> str:
        return f"{self.request}: {self.reason}"


@dataclass
class Fault:
    """An injected answer (or delay) for requests matching ``method`` and ``path`` (regex)."""

    method: str
    path: re.Pattern[str]
    status: int | None
    headers: dict[str, str]
    body: Any
    times: int | None      # None: forever
    delay: float
    hits: int = 0
    host: str = "api"      # or "blob": faults of the artifact download host

    def matches(self, method: str, path: str, host: str = "api") -> bool:
        live = self.times is None or self.hits < self.times
        return live and host == self.host and self.method in ("*", method) \
            and bool(self.path.search(path))


class ApiError(Exception):
    """An error answer in GitHub's shape."""

    def __init__(self, status: int, message: str, *, errors: list[Any] | None = None,
                 headers: Mapping[str, str] | None = None, unexpected: bool = False,
                 invalid: bool = False, doc: str = DOCS) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = dict(headers or {})
        self.unexpected = unexpected
        self.invalid = invalid
        self.doc = doc

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            data["errors"] = self.errors
        data["documentation_url"] = self.doc
        data["status"] = str(self.status)
        return data


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def validation_failed(resource: str, field_name: str, code: str = "invalid",
                      message: str | None = None) -> ApiError:
    """GitHub's real 422 "Validation Failed" shape (api-fixtures/errors)."""
    err: dict[str, Any] = {"resource": resource, "code": code, "field": field_name}
    if message:
        err = {"resource": resource, "code": "custom", "field": field_name, "message": message}
    return ApiError(422, "Validation Failed", errors=[err], invalid=True)


@dataclass
class Reply:
    status: int = 200
    data: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


@dataclass
class Call:
    """What a route handler gets: the fake, the parsed request and the resolved repository."""

    fake: FakeGitHub
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    token: Token | None
    repo_: FakeRepo | None
    record: Recorded

    @property
    def accept(self) -> str:
        """The request's Accept header (media types such as ``application/vnd.github.raw``)."""
        return self.record.headers.get("accept", "")

    @property
    def world(self) -> Any:
        return self.fake.world

    @property
    def repo(self) -> FakeRepo:
        assert self.repo_ is not None
        return self.repo_

    @property
    def actor(self) -> str:
        """The login acting: ``<slug>[bot]``, or ``github-actions[bot]`` for a GITHUB_TOKEN."""
        if self.token is not None and self.token.actor:
            return self.token.actor
        return str(self.fake.world.app.bot_login)

    @property
    def app_id(self) -> int:
        """The app the credential belongs to (check runs are owned by it)."""
        if self.token is not None and self.token.app_id is not None:
            return self.token.app_id
        return int(self.fake.world.app.id)

    def int_param(self, name: str) -> int:
        try:
            return int(self.params[name])
        except ValueError:
            raise not_found() from None

    def url(self, path: str) -> str:
        return self.fake.api_url + path

    def paginate(self, items: list[Any], key: str | None = None) -> Reply:
        """One page (``per_page``/``page``) with a GitHub ``Link`` header."""
        per_page = max(1, min(100, int(self.query.get("per_page", 30))))
        page = max(1, int(self.query.get("page", 1)))
        last = max(1, math.ceil(len(items) / per_page))
        chunk = items[(page - 1) * per_page: page * per_page]

        def link(n: int) -> str:
            q = dict(self.query, page=str(n))
            return f"<{self.fake.api_url}{self.path}?{urlencode(q)}>"

        rels = []
        if page < last:
            rels += [f'{link(page + 1)}; rel="next"', f'{link(last)}; rel="last"']
        if page > 1:
            rels += [f'{link(1)}; rel="first"', f'{link(page - 1)}; rel="prev"']
        headers = {"link": ", ".join(rels)} if rels else {}
        data = chunk if key is None else {"total_count": len(items), key: chunk}
        return Reply(200, data, headers)


Handler = Callable[[Call], Awaitable[Reply]]


@dataclass
class Route:
    method: str
    template: str
    regex: re.Pattern[str]
    handler: Handler
    auth: str              # "jwt", "token" or "none"
    permission: tuple[str, str] | None
    on_pulls: str | None = None   # on a PR's issue, this permission (same level) also does


class Routes:
    """A route table filled with decorators: ``@routes.get("/repos/{owner}/{repo}/...")``."""

    def __init__(self) -> None:
        self.items: list[Route] = []

    def add(self, method: str, template: str, *, auth: str | None = None,
            perm: tuple[str, str] | None = None,
            on_pulls: str | None = None) -> Callable[[Handler], Handler]:
        parts = []
        for seg in template.strip("/").split("/"):
            m = re.fullmatch(r"\{([^}]+)\}", seg)
            if m:
                parts.append(f"(?P<{m.group(1)}>.+)" if m.group(1) == "path"
                             else f"(?P<{m.group(1)}>[^/]+)")
            else:
                parts.append(re.escape(seg))
        regex = re.compile("^/" + "/".join(parts) + "$")
        kind = auth or ("jwt" if template.startswith("/app") else "token")

        def deco(fn: Handler) -> Handler:
            self.items.append(Route(method, template, regex, fn, kind, perm, on_pulls))
            return fn
        return deco

    def get(self, template: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.add("GET", template, **kw)

    def post(self, template: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.add("POST", template, **kw)

    def patch(self, template: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.add("PATCH", template, **kw)

    def put(self, template: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.add("PUT", template, **kw)

    def delete(self, template: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.add("DELETE", template, **kw)
