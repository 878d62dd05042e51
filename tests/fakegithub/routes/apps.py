"""App endpoints (JWT): the app, installations, installation tokens, webhook deliveries."""

from __future__ import annotations

from urllib.parse import urlencode

from tests.fakegithub import webhooks
from tests.fakegithub.auth import AuthError, covers, mint_token
from tests.fakegithub.core import ApiError, Call, Reply, Routes, not_found
from tests.fakegithub.repo import iso
from tests.fakegithub.routes import render

routes = Routes()


@routes.get("/app")
async def get_app(call: Call) -> Reply:
    return Reply(200, render.app(call))


def _installation(call: Call, inst_id: int) -> dict[str, object]:
    inst = call.world.installations.get(inst_id)
    if inst is None:
        raise not_found()
    account = {**render.user(call, inst.account), "name": inst.account, "slug": inst.account,
               "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}
    return {"id": inst.id, "account": account,  # the description wants user AND enterprise
            "repository_selection": "all" if inst.repo_ids is None else "selected",
            "access_tokens_url": call.url(f"/app/installations/{inst.id}/access_tokens"),
            "repositories_url": call.url("/installation/repositories"),
            "html_url": f"https://github.com/settings/installations/{inst.id}",
            "app_id": call.world.app.id, "app_slug": call.world.app.slug,
            "target_id": call.world.user(inst.account)["id"], "target_type": "Organization",
            "permissions": inst.permissions, "events": render.app(call)["events"],
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "single_file_name": None, "suspended_at": iso(call.world.now()) if inst.suspended
            else None, "suspended_by": None}


@routes.get("/app/installations")
async def list_installations(call: Call) -> Reply:
    return call.paginate([_installation(call, i) for i in sorted(call.world.installations)])


@routes.get("/app/installations/{installation_id}")
async def get_installation(call: Call) -> Reply:
    return Reply(200, _installation(call, call.int_param("installation_id")))


@routes.get("/repos/{owner}/{repo}/installation", auth="jwt")
async def repo_installation(call: Call) -> Reply:
    r = call.world.repo(call.params["owner"], call.params["repo"])
    for inst in call.world.installations.values():
        if r is not None and ((inst.repo_ids is None and inst.account == r.owner)
                              or (inst.repo_ids is not None and r.id in inst.repo_ids)):
            return Reply(200, _installation(call, inst.id))
    raise not_found()


@routes.post("/app/installations/{installation_id}/access_tokens")
async def create_token(call: Call) -> Reply:
    inst_id = call.int_param("installation_id")
    inst = call.world.installations.get(inst_id)
    if inst is None:
        raise not_found()
    if inst.suspended:
        raise ApiError(403, "This installation has been suspended")
    try:
        tok = mint_token(call.world, inst_id, call.body or {})
    except AuthError as err:
        raise ApiError(err.status, str(err), invalid=True) from None
    data: dict[str, object] = {
        "token": tok.token, "expires_at": iso(tok.expires_at), "permissions": tok.permissions,
        "repository_selection": "all" if tok.repo_ids is None else "selected"}
    if tok.repo_ids is not None:
        repos = [call.world.repo_by_id(i) for i in sorted(tok.repo_ids)]
        data["repositories"] = [render.repo(call, r) for r in repos if r is not None]
    return Reply(201, data)


@routes.get("/app/hook/deliveries")
async def list_deliveries(call: Call) -> Reply:
    items = list(reversed(call.world.deliveries))  # newest first
    status = call.query.get("status")
    if status == "success":
        items = [d for d in items if 200 <= d["status_code"] < 400]
    elif status == "failure":
        items = [d for d in items if not 200 <= d["status_code"] < 400]
    per_page = max(1, min(100, int(call.query.get("per_page", 30))))
    cursor = call.query.get("cursor")
    start = 0
    if cursor:
        try:
            start = int(cursor.removeprefix("v1_"))
        except ValueError:
            raise ApiError(422, "Invalid cursor", invalid=True) from None
    page = items[start:start + per_page]
    headers = {}
    if start + per_page < len(items):
        q = {k: v for k, v in call.query.items() if k != "cursor"}
        q["cursor"] = f"v1_{start + per_page}"
        headers["link"] = f'<{call.url(call.path)}?{urlencode(q)}>; rel="next"'
    return Reply(200, page, headers)


def _delivery(call: Call) -> dict[str, object]:
    did = call.int_param("delivery_id")
    rec = next((d for d in call.world.deliveries if d["id"] == did), None)
    if rec is None:
        raise not_found()
    return rec


@routes.get("/app/hook/deliveries/{delivery_id}")
async def get_delivery(call: Call) -> Reply:
    rec = _delivery(call)
    return Reply(200, {**rec, "url": "", "request": {"headers": {}, "payload": {}},
                       "response": {"headers": {}, "payload": ""}})


@routes.post("/app/hook/deliveries/{delivery_id}/attempts")
async def redeliver(call: Call) -> Reply:
    rec = _delivery(call)
    call.world.redeliveries.append(rec["id"])
    webhooks.redeliver(call.fake, rec)
    return Reply(202, {})


@routes.get("/installation/repositories")
async def installation_repositories(call: Call) -> Reply:
    tok = call.token
    assert tok is not None
    inst = call.world.installations[tok.installation_id]
    repos = [r for r in call.world.repos.values() if covers(call.world, tok, r)]
    out = call.paginate([render.repo(call, r) for r in sorted(repos, key=lambda r: r.id)],
                        "repositories")
    out.data["repository_selection"] = "all" if inst.repo_ids is None else "selected"
    return out
