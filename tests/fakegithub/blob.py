"""The blob host artifact downloads redirect to: short-lived signed URLs, no Authorization."""

from __future__ import annotations

import asyncio
import hmac
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiohttp import web

from tests.fakegithub.core import Problem

if TYPE_CHECKING:
    from tests.fakegithub.repo import Artifact
    from tests.fakegithub.server import FakeGitHub

AZURE_ERROR = ('<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{msg}\n'
               'RequestId:00000000-0000-0000-0000-000000000000\nTime:{time}</Message></Error>')


def _azure(status: int, code: str, msg: str) -> web.Response:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
    body = AZURE_ERROR.format(code=code, msg=msg, time=now).encode()
    return web.Response(status=status, body=body,
                        content_type="application/xml", headers={"x-ms-error-code": code})


def signed_url(fake: FakeGitHub, artifact: Artifact) -> str:
    """A URL on the blob host valid for ``fake.blob_ttl`` seconds."""
    expires = int(time.time() + fake.blob_ttl)
    sig = fake.blob_signature(artifact.id, expires)
    return (f"{fake.blob_url}/actions-results/{artifact.id}/{artifact.name}.zip"
            f"?se={expires}&sig={sig}&sp=r&sv=2021-12-02")


def make_app(fake: FakeGitHub) -> web.Application:
    """The blob host application; every request is recorded with host ``blob``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        rec = fake.record("blob", request, None)
        fault = next((f for f in fake.faults if f.matches(request.method, request.path, "blob")),
                     None)
        resp = None
        if fault is not None:
            fault.hits += 1
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status is not None:
                body = fault.body if isinstance(fault.body, bytes) else b"fault"
                resp = web.Response(status=fault.status, body=body, headers=fault.headers)
        resp = resp or _serve(fake, request)
        rec.status = resp.status
        if "authorization" in rec.headers or "cookie" in rec.headers:
            fake.unexpected.append(Problem(rec, "credentials sent to the blob host"))
        return resp

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def _serve(fake: FakeGitHub, request: web.Request) -> web.Response:
    if request.headers.get("authorization"):
        return _azure(400, "InvalidAuthenticationInfo",
                      "Authentication information is not given in the correct format. "
                      "Check the value of Authorization header.")
    parts = request.path.strip("/").split("/")
    if request.method != "GET" or len(parts) != 3 or parts[0] != "actions-results":
        return _azure(400, "InvalidUri", "The requested URI does not represent any resource "
                      "on the server.")
    try:
        art_id, expires = int(parts[1]), int(request.query.get("se", "0"))
    except ValueError:
        return _azure(400, "InvalidQueryParameterValue", "Value for one of the query parameters "
                      "specified in the request URI is invalid.")
    good = hmac.compare_digest(request.query.get("sig", ""), fake.blob_signature(art_id, expires))
    if not good:
        return _azure(403, "AuthenticationFailed", "Server failed to authenticate the request. "
                      "Make sure the value of Authorization header is formed correctly including "
                      "the signature.")
    if expires < time.time():
        return _azure(403, "AuthenticationFailed", "Signed expiry time has to be after signed "
                      "start time")
    art = next((a for r in fake.world.repos.values() for a in r.artifacts.values()
                if a.id == art_id), None)
    if art is None:
        return _azure(404, "BlobNotFound", "The specified blob does not exist.")
    kind = "application/zip" if art.data.startswith(b"PK") else "application/octet-stream"
    return web.Response(body=art.data, headers={
        "content-type": kind, "x-ms-blob-type": "BlockBlob",
        "content-disposition": f'attachment; filename="{art.name}.zip"'})
