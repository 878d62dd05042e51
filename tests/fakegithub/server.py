"""FakeGitHub: the API server and blob host on loopback, and the request pipeline."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import ssl
import time
import traceback
from typing import Any

from aiohttp import web

from tests.fakegithub import blob
from tests.fakegithub.auth import (
    AppKey,
    AuthError,
    app_key,
    check_app_jwt,
    check_installation_token,
)
from tests.fakegithub.controls import SECONDARY_MESSAGE, Controls
from tests.fakegithub.core import (
    DOCS,
    ApiError,
    Call,
    Fault,
    Problem,
    Recorded,
    Reply,
    Route,
    not_found,
)
from tests.fakegithub.repo import FakeRepo
from tests.fakegithub.routes import ALL_ROUTES
from tests.fakegithub.spec import Operation, Spec, check_response, load_spec
from tests.fakegithub.state import Token, World
from tests.fakegithub.tls import loopback_tls

LEVELS = {"read": 1, "write": 2, "admin": 3}
WRITE_METHODS = ("POST", "PATCH", "PUT")


class FakeGitHub(Controls):
    """The one fake GitHub: state (``world``), recordings, problems and faults, two servers."""

    def __init__(self, world: World | None = None, spec: Spec | None = None, *,
                 check_responses: bool = False, blob_tls: bool = False) -> None:
        self.world = world or World()
        self.check_responses = check_responses  # the fake's own answers vs. the description
        self.tls = loopback_tls() if blob_tls else None
        self.blob_ssl: ssl.SSLContext | None = self.tls.client_context() if self.tls else None
        self.write_latency = 0.0    # seconds each mutating request takes (exposes overlap)
        self.writes_in_flight: dict[int, int] = {}
        self.max_concurrent_writes: dict[int, int] = {}  # installation id -> peak overlap
        self.spec = spec or load_spec()
        self.key: AppKey = app_key()
        self.requests: list[Recorded] = []
        self.unexpected: list[Problem] = []
        self.invalid_bodies: list[Problem] = []
        self.faults: list[Fault] = []
        self.allowed: list[tuple[str, re.Pattern[str]]] | None = None
        self.rate_limit = 5000
        self.rate_used: dict[str, int] = {}   # "installation:<id>", "app", "anonymous"
        self.rate_reset = int(time.time()) + 3600
        self.content_per_minute = 80          # GitHub's content-creation secondary limit
        self.content_times: dict[int, list[float]] = {}
        self.blob_secret = secrets.token_bytes(16)
        self.blob_ttl = 60.0
        self.api_url = ""
        self.blob_url = ""
        self._runners: list[web.AppRunner] = []
        self.webhook_url = ""       # where deliver() and redeliveries POST (the App's /webhook)
        self.webhook_secret = ""
        self.delivery_bodies: dict[int, tuple[str, bytes]] = {}
        self.background: set[asyncio.Task[Any]] = set()
        self._routes: list[Route] = ALL_ROUTES

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> FakeGitHub:
        """Start the API server and the blob host on random loopback ports."""
        api = web.Application(client_max_size=64 * 1024 * 1024)
        api.router.add_route("*", "/{tail:.*}", self._handle)
        self.api_url = await self._serve(api)
        self.blob_url = await self._serve(
            blob.make_app(self), self.tls.server_context() if self.tls else None)
        return self

    async def _serve(self, app: web.Application, tls: ssl.SSLContext | None = None) -> str:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
        await site.start()
        self._runners.append(runner)
        host, port = runner.addresses[0][:2]
        return f"{'https' if tls else 'http'}://{host}:{port}"

    async def stop(self) -> None:
        for task in list(self.background):
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()

    async def __aenter__(self) -> FakeGitHub:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def blob_signature(self, artifact_id: int, expires: int) -> str:
        msg = f"{artifact_id}:{expires}".encode()
        return hmac.new(self.blob_secret, msg, hashlib.sha256).hexdigest()

    # -- pipeline ----------------------------------------------------------------------------
    def record(self, host: str, request: web.Request, body: Any) -> Recorded:
        headers = {k.lower(): v for k, v in request.headers.items()}
        if "authorization" in headers:
            headers["authorization"] = headers["authorization"].split(" ")[0] + " <redacted>"
        rec = Recorded(host, request.method, request.path, dict(request.query), headers, body)
        self.requests.append(rec)
        return rec

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body: Any = None
        body_error = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body, body_error = raw, "Problems parsing JSON"
        rec = self.record("api", request, body)
        try:
            reply = await self._dispatch(request, rec, body, body_error)
        except ApiError as err:
            if err.unexpected:
                self.unexpected.append(Problem(rec, f"{err.status} {err.message}"))
            if err.invalid:
                self.invalid_bodies.append(Problem(rec, err.message if not err.errors
                                                   else f"{err.message}: {err.errors}"))
            reply = Reply(err.status, err.body(), err.headers)
        except Exception:  # a bug in the fake or a request it cannot handle
            self.unexpected.append(Problem(rec, "fake crashed:\n" + traceback.format_exc()))
            reply = Reply(500, {"message": "Server Error", "documentation_url": DOCS})
        return self._respond(request, rec, reply)

    def _respond(self, request: web.Request, rec: Recorded, reply: Reply) -> web.StreamResponse:
        key = rec.rate_key
        rid = f"{secrets.token_hex(2).upper()}:{secrets.token_hex(3).upper()}"
        headers = {"x-github-media-type": "github.v3; format=json",
                   "x-github-api-version-selected": "2022-11-28",
                   "x-github-request-id": rid, "server": "github.com"}
        payload = b""
        if reply.raw is not None:
            payload = reply.raw
        elif reply.data is not None:
            payload = json.dumps(reply.data).encode()
            headers["content-type"] = "application/json; charset=utf-8"
        status = reply.status
        if self.check_responses and rec.operation_id and reply.data is not None:
            problem = check_response(self.spec, self.spec.operations[rec.operation_id], status,
                                     reply.data)
            if problem:
                self.unexpected.append(Problem(rec, "fake answered off-spec: " + problem))
        if request.method == "GET" and status == 200:
            etag = reply.headers.get("etag") or (
                'W/"' + hashlib.sha256(payload).hexdigest()[:40] + '"')
            headers["etag"] = etag
            if etag in request.headers.get("if-none-match", ""):
                status, payload = 304, b""
                headers.pop("content-type", None)
        if status != 304:  # conditional hits do not cost quota
            self.rate_used[key] = self.rate_used.get(key, 0) + 1
        used = self.rate_used.get(key, 0)
        headers.update({"x-ratelimit-limit": str(self.rate_limit),
                        "x-ratelimit-remaining": str(max(0, self.rate_limit - used)),
                        "x-ratelimit-used": str(used), "x-ratelimit-reset": str(self.rate_reset),
                        "x-ratelimit-resource": "core"})
        headers.update(reply.headers)
        if status == 304:
            headers.pop("content-type", None)
        rec.status = status
        return web.Response(status=status, body=payload or None, headers=headers)

    async def _dispatch(self, request: web.Request, rec: Recorded, body: Any,
                        body_error: str | None) -> Reply:
        method, path = request.method, request.path
        fault = next((f for f in self.faults if f.matches(method, path)), None)
        if fault is not None:
            fault.hits += 1
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status is not None:
                data = fault.body
                if data is None:
                    data = {"message": "Server Error" if fault.status >= 500 else "Fault"}
                if fault.status == 502 and fault.body is None:
                    return Reply(502, raw=b"<html><body><h1>502 Bad Gateway</h1></body></html>",
                                 headers={"content-type": "text/html", **fault.headers})
                return Reply(fault.status, data, dict(fault.headers))
        moved = self._moved(request)
        if moved is not None:
            return moved
        by_id = re.fullmatch(r"/repositories/(\d+)(/.*)?", path)
        found = self.world.repo_by_id(int(by_id.group(1))) if by_id else None
        if by_id and found is not None:   # GitHub's id-based alias of /repos/{owner}/{repo}/…
            path = f"/repos/{found.full_name}{by_id.group(2) or ''}"
        matched = self.spec.match(method, path)
        op, _ = matched if matched else (None, {})
        rec.operation_id = op.operation_id if op else None
        route, params = self._route(method, path)
        if route is None:
            if op is not None:
                raise ApiError(501, f"fake GitHub does not implement {op.operation_id}",
                               unexpected=True)
            raise ApiError(404, "Not Found", unexpected=True)
        if self.allowed is not None and not any(
                m in ("*", method) and p.search(path) for m, p in self.allowed):
            raise ApiError(501, "request not allowed by this test", unexpected=True)
        token, repo = self._authenticate(request, route, params)
        rec.rate_key = "app" if route.auth == "jwt" else (
            f"installation:{token.installation_id}" if token else "anonymous")
        if token is not None and not permitted(token, route, repo, params):
            raise ApiError(403, "Resource not accessible by integration", unexpected=True)
        query = dict(request.query)
        if op is not None:
            self._validate(op, method, query, body, body_error)
        self._check_quota(rec, method, route)
        call = Call(self, method, request.path, params, query, body, token, repo, rec)
        if token is None or method not in (*WRITE_METHODS, "DELETE"):
            return await route.handler(call)
        inst = token.installation_id
        self.writes_in_flight[inst] = self.writes_in_flight.get(inst, 0) + 1
        self.max_concurrent_writes[inst] = max(self.max_concurrent_writes.get(inst, 0),
                                               self.writes_in_flight[inst])
        try:
            if self.write_latency:
                await asyncio.sleep(self.write_latency)
            return await route.handler(call)
        finally:
            self.writes_in_flight[inst] -= 1

    def _moved(self, request: web.Request) -> Reply | None:
        """GitHub's answer for a renamed or transferred repository's old name: 301 for GET and
        HEAD, else 307, to the same request on ``/repositories/{id}`` (rename-repository
        fixture); clients follow it, with their credentials, on the API origin."""
        m = re.match(r"/repos/([^/]+)/([^/]+)(/.*)?$", request.path)
        if m is None or self.world.repo(m.group(1), m.group(2)) is not None:
            return None
        repo_id = self.world.moved.get(f"{m.group(1)}/{m.group(2)}".lower())
        if repo_id is None:
            return None
        url = self.api_url + f"/repositories/{repo_id}{m.group(3) or ''}"
        if request.query_string:
            url += "?" + request.query_string
        status, message = ((301, "Moved Permanently") if request.method in ("GET", "HEAD")
                           else (307, "Temporary Redirect"))
        return Reply(status, {"message": message, "url": url,
                              "documentation_url": "https://docs.github.com/v3/#http-redirects"},
                     {"location": url})

    def _authenticate(self, request: web.Request, route: Route,
                      params: dict[str, str]) -> tuple[Token | None, FakeRepo | None]:
        """Like GitHub: credentials first (401), then the repository (404 when unknown or not
        covered by the token, recorded as unexpected)."""
        header = request.headers.get("authorization")
        try:
            if route.auth == "jwt":
                check_app_jwt(self.world, self.key, header)
                return None, None
            if route.auth != "token":
                return None, None
            token = check_installation_token(self.world, header, None)
            if "owner" not in params or "repo" not in params:
                return token, None
            repo = self.world.repo(params["owner"], params["repo"])
            if repo is None:
                raise ApiError(404, "Not Found", unexpected=True)
            return check_installation_token(self.world, header, repo), repo
        except AuthError as err:
            raise ApiError(err.status, str(err), unexpected=err.status == 404) from None

    def _validate(self, op: Operation, method: str, query: dict[str, str], body: Any,
                  body_error: str | None) -> None:
        """Query parameters and request body against the description (422/400, recorded)."""
        problem = self.spec.check_query(op, query)
        if problem:
            raise ApiError(422, problem, invalid=True)
        if method not in WRITE_METHODS:
            return
        if body_error:
            raise ApiError(400, body_error, invalid=True)
        if body is None and op.body_required:
            raise ApiError(422, "Invalid request.\n\nNo body was sent.", invalid=True)
        if body is not None:
            problem = self.spec.check_body(op, body)
            if problem:
                raise ApiError(422, problem, invalid=True)

    def _check_quota(self, rec: Recorded, method: str, route: Route) -> None:
        """Primary quota per installation, and the content-creation secondary limit."""
        if time.time() >= self.rate_reset:
            self.rate_used.clear()
            self.rate_reset = int(time.time()) + 3600
        if self.rate_used.get(rec.rate_key, 0) >= self.rate_limit:
            raise ApiError(403, f"API rate limit exceeded for {rec.rate_key.replace(':', ' ID ')}.",
                           headers={"x-ratelimit-remaining": "0"},
                           doc="https://docs.github.com/rest/overview/rate-limits-for-the-rest-api")
        if method == "POST" and route.template.endswith(("/issues", "/comments")) \
                and rec.rate_key.startswith("installation:"):
            inst = int(rec.rate_key.split(":")[1])
            now = time.monotonic()
            recent = [t for t in self.content_times.get(inst, []) if now - t < 60]
            if len(recent) >= self.content_per_minute:
                raise ApiError(403, SECONDARY_MESSAGE.format(rid="0000:000000"),
                               headers={"retry-after": "60"},
                               doc="https://docs.github.com/rest/overview/rate-limits-for-the-"
                                   "rest-api#about-secondary-rate-limits")
            self.content_times[inst] = [*recent, now]

    def _route(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        best: tuple[Route | None, dict[str, str]] = (None, {})
        for route in self._routes:
            if route.method == method:
                m = route.regex.match(path)
                if m:
                    return route, m.groupdict()
        return best


def permitted(token: Token, route: Route, repo: FakeRepo | None, params: dict[str, str]) -> bool:
    """Whether the token's permissions allow the route, like GitHub's permission table:
    the route's permission at its level, or for issue-comment routes on a pull request's
    issue, Pull requests at the same level (GitHub lists those endpoints under both). A comment
    that does not exist is left to the route, which answers 404."""
    if route.permission is None:
        return True
    name, level = route.permission
    if LEVELS.get(token.permissions.get(name, ""), 0) >= LEVELS[level]:
        return True
    if route.on_pulls is None or repo is None \
            or LEVELS.get(token.permissions.get(route.on_pulls, ""), 0) < LEVELS[level]:
        return False
    number = params.get("issue_number")
    if number is None and params.get("comment_id", "").isdigit():
        comment = repo.comments.get(int(params["comment_id"]))
        if comment is None:
            return True  # GitHub must find a comment to know it is on a PR: 404, not 403
        number = str(comment["issue_number"])
    issue = repo.issues.get(int(number)) if number and number.isdigit() else None
    return bool(issue and issue.get("pull_request"))


__all__ = ["FakeGitHub", "not_found", "permitted"]
