"""Checks endpoints: create/update/get check runs, list by ref, annotations (appended per PATCH)."""

from __future__ import annotations

from typing import Any

from tests.fakegithub.core import ApiError, Call, Reply, Routes, not_found, validation_failed
from tests.fakegithub.repo import FakeRepo, iso
from tests.fakegithub.routes import render

routes = Routes()
WRITE = ("checks", "write")
READ = ("checks", "read")
KB64 = 64 * 1024


def _limits(body: dict[str, Any]) -> None:
    """Limits GitHub documents only in descriptions (the schema does not carry them)."""
    for a in (body.get("output") or {}).get("annotations") or []:
        if len(a["message"].encode()) > KB64:
            raise validation_failed("CheckRun", "message", message="message is too long")
        if len(a.get("title") or "") > 255:
            raise validation_failed("CheckRun", "title", message="title is too long")
        if len((a.get("raw_details") or "").encode()) > KB64:
            raise validation_failed("CheckRun", "raw_details", message="raw_details is too long")
    for act in body.get("actions") or []:
        for key, cap in (("label", 20), ("description", 40), ("identifier", 20)):
            if len(act.get(key, "")) > cap:
                raise validation_failed("CheckRun", f"actions.{key}",
                                        message=f"{key} is too long (maximum is {cap} characters)")
    if body.get("status") == "completed" and "conclusion" not in body:
        raise ApiError(422, "Invalid request.\n\n\"conclusion\" is required when \"status\" is "
                       "\"completed\".", invalid=True)


def _apply(call: Call, cr: dict[str, Any], body: dict[str, Any]) -> None:
    now = iso(call.world.now())
    for key in ("name", "details_url", "external_id", "started_at", "actions"):
        if key in body:
            cr[key] = body[key]
    if "status" in body:
        cr["status"] = body["status"]
        if body["status"] == "in_progress" and not cr.get("started_at"):
            cr["started_at"] = now
    if body.get("conclusion") is not None or body.get("completed_at"):
        cr["conclusion"] = body.get("conclusion", cr.get("conclusion"))
        cr["status"] = "completed"
        cr["completed_at"] = body.get("completed_at") or now
    out = body.get("output")
    if out is not None:
        for key in ("title", "summary", "text"):
            if key in out:
                cr["output"][key] = out[key]
        anns = out.get("annotations") or []
        call.repo.annotations.setdefault(cr["id"], []).extend(anns)


def _render(call: Call, r: FakeRepo, cr: dict[str, Any]) -> dict[str, Any]:
    url = call.url(f"/repos/{r.full_name}/check-runs/{cr['id']}")
    app = render.app(call, cr["app_id"])
    return {"id": cr["id"], "node_id": f"CR_{cr['id']}", "head_sha": cr["head_sha"],
            "external_id": cr.get("external_id", ""), "url": url,
            "html_url": f"https://github.com/{r.full_name}/runs/{cr['id']}",
            "details_url": cr.get("details_url") or render.app(call)["external_url"],
            "status": cr["status"], "conclusion": cr.get("conclusion"),
            "started_at": cr.get("started_at"), "completed_at": cr.get("completed_at"),
            "output": {"title": cr["output"].get("title"), "summary": cr["output"].get("summary"),
                       "text": cr["output"].get("text"),
                       "annotations_count": len(r.annotations.get(cr["id"], [])),
                       "annotations_url": url + "/annotations"},
            "name": cr["name"], "check_suite": {"id": cr["check_suite_id"]}, "app": app,
            "pull_requests": [], "actions": cr.get("actions", [])}


def add_check_run(repo: FakeRepo, name: str, head_sha: str, *, app_id: int,
                  status: str = "completed",
                  conclusion: str | None = "success") -> dict[str, Any]:
    """Seed a check run (e.g. one posted by another app with our name)."""
    cid = repo.world.new_id()
    cr = {"id": cid, "name": name, "head_sha": head_sha, "status": status,
          "conclusion": conclusion, "app_id": app_id,
          "check_suite_id": repo.world.new_id(), "output": {}, "started_at": iso(repo.world.now()),
          "completed_at": iso(repo.world.now()) if status == "completed" else None}
    repo.check_runs[cid] = cr
    return cr


@routes.post("/repos/{owner}/{repo}/check-runs", perm=WRITE)
async def create(call: Call) -> Reply:
    body = call.body
    _limits(body)
    commit = call.repo.resolve(body["head_sha"])
    if commit is None or len(body["head_sha"]) != 40:
        raise ApiError(422, f"No commit found for SHA: {body['head_sha']}")
    sha = commit.sha
    cr = add_check_run(call.repo, body["name"], sha, app_id=call.app_id,
                       status="queued", conclusion=None)
    cr["started_at"] = body.get("started_at") or iso(call.world.now())
    cr["completed_at"] = None
    _apply(call, cr, body)
    return Reply(201, _render(call, call.repo, cr))


def _check_run(call: Call) -> dict[str, Any]:
    cr = call.repo.check_runs.get(call.int_param("check_run_id"))
    if cr is None:
        raise not_found()
    return cr


@routes.patch("/repos/{owner}/{repo}/check-runs/{check_run_id}", perm=WRITE)
async def update(call: Call) -> Reply:
    cr = _check_run(call)
    if cr["app_id"] != call.app_id:
        raise ApiError(403, f"Invalid app_id `{call.app_id}` - check run can only be "
                       "modified by its creator.", unexpected=True)
    _limits(call.body)
    _apply(call, cr, call.body)
    return Reply(200, _render(call, call.repo, cr))


@routes.get("/repos/{owner}/{repo}/check-runs/{check_run_id}", perm=READ)
async def get(call: Call) -> Reply:
    return Reply(200, _render(call, call.repo, _check_run(call)))


@routes.get("/repos/{owner}/{repo}/check-runs/{check_run_id}/annotations", perm=READ)
async def list_annotations(call: Call) -> Reply:
    cr = _check_run(call)
    blob = f"https://github.com/{call.repo.full_name}/blob/{cr['head_sha']}/"
    items = [{"path": a["path"], "start_line": a["start_line"], "end_line": a["end_line"],
              "start_column": a.get("start_column"), "end_column": a.get("end_column"),
              "annotation_level": a["annotation_level"], "title": a.get("title", ""),
              "message": a["message"], "raw_details": a.get("raw_details", ""),
              "blob_href": blob + a["path"]}
             for a in call.repo.annotations.get(cr["id"], [])]
    return call.paginate(items)


@routes.get("/repos/{owner}/{repo}/commits/{ref}/check-runs", perm=READ)
async def list_for_ref(call: Call) -> Reply:
    commit = call.repo.resolve(call.params["ref"])
    if commit is None:
        raise ApiError(422, f"No commit found for SHA: {call.params['ref']}")
    q = call.query
    runs = [c for c in call.repo.check_runs.values() if c["head_sha"] == commit.sha]
    if "check_name" in q:
        runs = [c for c in runs if c["name"] == q["check_name"]]
    if "app_id" in q:
        runs = [c for c in runs if str(c["app_id"]) == q["app_id"]]
    if "status" in q:
        runs = [c for c in runs if c["status"] == q["status"]]
    runs.sort(key=lambda c: -c["id"])
    if q.get("filter", "latest") == "latest":
        seen: set[tuple[str, int]] = set()
        latest = []
        for c in runs:
            if (c["name"], c["app_id"]) not in seen:
                seen.add((c["name"], c["app_id"]))
                latest.append(c)
        runs = latest
    return call.paginate([_render(call, call.repo, c) for c in runs], "check_runs")
