"""Issues endpoints: issues, comments, reactions, labels, locks (with GitHub's size limits)."""

from __future__ import annotations

from typing import Any

from tests.fakegithub.core import ApiError, Call, Problem, Reply, Routes, not_found
from tests.fakegithub.repo import iso
from tests.fakegithub.routes import render

routes = Routes()
READ = ("issues", "read")
WRITE = ("issues", "write")
PULLS = "pull_requests"   # GitHub's permission table lists the comment endpoints under both
MAX_BODY = 65536


def _too_long(resource: str, field_name: str, cap: int) -> ApiError:
    return ApiError(422, "Validation Failed", invalid=True, errors=[{
        "resource": resource, "code": "custom", "field": field_name,
        "message": f"{field_name} is too long (maximum is {cap} characters)"}])


def _check_text(resource: str, body: dict[str, Any]) -> None:
    if len(body.get("body") or "") > MAX_BODY:
        raise _too_long(resource, "body", MAX_BODY)
    if len(body.get("title") or "") > 256:
        raise _too_long(resource, "title", 256)


def _foreign(call: Call, author: str, what: str) -> None:
    """The App changed something a person wrote: allowed by GitHub, a bug for ci-truth."""
    if author != call.actor:
        call.fake.unexpected.append(Problem(call.record, f"edited {what} authored by {author}"))


def _issue(call: Call) -> dict[str, Any]:
    issue = call.repo.issues.get(call.int_param("issue_number"))
    if issue is None:
        raise not_found()
    return issue


@routes.get("/repos/{owner}/{repo}/issues", perm=READ)
async def list_issues(call: Call) -> Reply:
    q = call.query
    state = q.get("state", "open")
    items = list(call.repo.issues.values())
    if state != "all":
        items = [i for i in items if i["state"] == state]
    if "creator" in q:
        items = [i for i in items if i["user"].lower() == q["creator"].lower()]
    if q.get("labels"):
        want = {x.strip().casefold() for x in q["labels"].split(",")}
        items = [i for i in items if want <= {n.casefold() for n in i["labels"]}]
    if "since" in q:
        items = [i for i in items if i["updated_at"] >= q["since"]]
    key = "updated_at" if q.get("sort") == "updated" else "number"
    items.sort(key=lambda i: i[key], reverse=q.get("direction", "desc") == "desc")
    # GitHub's list omits `closed_by` (api-fixtures/paginate-issues); only GET one issue has it.
    return call.paginate([{k: v for k, v in render.issue(call, call.repo, i).items()
                           if k != "closed_by"} for i in items])


@routes.post("/repos/{owner}/{repo}/issues", perm=WRITE)
async def create_issue(call: Call) -> Reply:
    body = call.body
    _check_text("Issue", body)
    labels = [lab if isinstance(lab, str) else lab["name"] for lab in body.get("labels") or []]
    issue = call.repo.add_issue(str(body["title"]), body.get("body") or "", user=call.actor,
                                labels=labels)
    return Reply(201, render.issue(call, call.repo, issue))


@routes.get("/repos/{owner}/{repo}/issues/{issue_number}", perm=READ)
async def get_issue(call: Call) -> Reply:
    return Reply(200, render.issue(call, call.repo, _issue(call)))


@routes.patch("/repos/{owner}/{repo}/issues/{issue_number}", perm=WRITE)
async def update_issue(call: Call) -> Reply:
    issue, body = _issue(call), call.body
    _check_text("Issue", body)
    _foreign(call, issue["user"], f"issue #{issue['number']}")
    for key in ("title", "body"):
        if key in body:
            issue[key] = body[key]
    if "labels" in body:
        issue["labels"] = call.repo.label_names(
            lab if isinstance(lab, str) else lab["name"] for lab in body["labels"])
    if "state" in body and body["state"] != issue["state"]:
        issue["state"] = body["state"]
        closed = body["state"] == "closed"
        issue["closed_at"] = iso(call.world.now()) if closed else None
        issue["closed_by"] = call.actor if closed else None
        issue["state_reason"] = body.get("state_reason") or ("completed" if closed
                                                             else "reopened")
    elif "state_reason" in body:
        issue["state_reason"] = body["state_reason"]
    issue["updated_at"] = iso(call.world.now())
    return Reply(200, render.issue(call, call.repo, issue))


@routes.put("/repos/{owner}/{repo}/issues/{issue_number}/lock", perm=WRITE)
async def lock(call: Call) -> Reply:
    issue = _issue(call)
    issue["locked"] = True
    issue["active_lock_reason"] = (call.body or {}).get("lock_reason")
    return Reply(204)


@routes.delete("/repos/{owner}/{repo}/issues/{issue_number}/lock", perm=WRITE)
async def unlock(call: Call) -> Reply:
    issue = _issue(call)
    issue["locked"], issue["active_lock_reason"] = False, None
    return Reply(204)


# -- comments -------------------------------------------------------------------------------
def _comment(call: Call) -> dict[str, Any]:
    c = call.repo.comments.get(call.int_param("comment_id"))
    if c is None:
        raise not_found()
    return c


@routes.get("/repos/{owner}/{repo}/issues/{issue_number}/comments", perm=READ, on_pulls=PULLS)
async def list_comments(call: Call) -> Reply:
    number = _issue(call)["number"]
    items = [c for c in call.repo.comments.values() if c["issue_number"] == number]
    if "since" in call.query:
        items = [c for c in items if c["updated_at"] >= call.query["since"]]
    return call.paginate([render.comment(call, call.repo, c) for c in items])


@routes.get("/repos/{owner}/{repo}/issues/comments", perm=READ)
async def list_repo_comments(call: Call) -> Reply:
    return call.paginate([render.comment(call, call.repo, c)
                          for c in call.repo.comments.values()])


@routes.post("/repos/{owner}/{repo}/issues/{issue_number}/comments", perm=WRITE, on_pulls=PULLS)
async def create_comment(call: Call) -> Reply:
    issue = _issue(call)
    _check_text("IssueComment", call.body)
    if issue["locked"]:
        raise ApiError(403, "Unable to create comment because issue is locked.",
                       doc="https://docs.github.com/articles/locking-conversations/")
    c = call.repo.add_comment(issue["number"], call.body["body"], user=call.actor)
    issue["updated_at"] = c["created_at"]
    return Reply(201, render.comment(call, call.repo, c))


@routes.get("/repos/{owner}/{repo}/issues/comments/{comment_id}", perm=READ, on_pulls=PULLS)
async def get_comment(call: Call) -> Reply:
    return Reply(200, render.comment(call, call.repo, _comment(call)))


@routes.patch("/repos/{owner}/{repo}/issues/comments/{comment_id}", perm=WRITE, on_pulls=PULLS)
async def update_comment(call: Call) -> Reply:
    c = _comment(call)
    _check_text("IssueComment", call.body)
    _foreign(call, c["user"], f"comment {c['id']}")
    c["body"] = call.body["body"]
    c["updated_at"] = iso(call.world.now())
    return Reply(200, render.comment(call, call.repo, c))


@routes.delete("/repos/{owner}/{repo}/issues/comments/{comment_id}", perm=WRITE, on_pulls=PULLS)
async def delete_comment(call: Call) -> Reply:
    c = _comment(call)
    _foreign(call, c["user"], f"comment {c['id']}")
    del call.repo.comments[c["id"]]
    issue = call.repo.issues.get(c["issue_number"])
    if issue is not None:
        issue["comments"] -= 1
    return Reply(204)


@routes.post("/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", perm=WRITE)
async def react(call: Call) -> Reply:
    c = _comment(call)
    content = call.body["content"]
    for r in c["reactions"]:
        if r["content"] == content and r["user"] == call.actor:
            return Reply(200, _reaction(call, r))
    r = {"id": call.world.new_id(), "content": content, "user": call.actor,
         "created_at": iso(call.world.now())}
    c["reactions"].append(r)
    return Reply(201, _reaction(call, r))


def _reaction(call: Call, r: dict[str, Any]) -> dict[str, Any]:
    return {"id": r["id"], "node_id": f"REA_{r['id']}", "content": r["content"],
            "user": render.user(call, r["user"]), "created_at": r["created_at"]}


@routes.get("/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", perm=READ)
async def list_reactions(call: Call) -> Reply:
    c = _comment(call)
    items = [r for r in c["reactions"]
             if call.query.get("content") in (None, r["content"])]
    return call.paginate([_reaction(call, r) for r in items])


# -- labels ---------------------------------------------------------------------------------
@routes.get("/repos/{owner}/{repo}/labels", perm=READ)
async def list_labels(call: Call) -> Reply:
    return call.paginate([render.label(call, call.repo, n) for n in sorted(call.repo.labels)])


@routes.get("/repos/{owner}/{repo}/labels/{name}", perm=READ)
async def get_label(call: Call) -> Reply:
    lab = call.repo.find_label(call.params["name"])
    if lab is None:
        raise not_found()
    return Reply(200, render.label(call, call.repo, lab["name"]))


@routes.post("/repos/{owner}/{repo}/labels", perm=WRITE)
async def create_label(call: Call) -> Reply:
    body = call.body
    if call.repo.find_label(body["name"]) is not None:
        raise ApiError(422, "Validation Failed", errors=[
            {"resource": "Label", "code": "already_exists", "field": "name"}])
    color = body.get("color", "ededed")
    if len(color) != 6 or any(ch not in "0123456789abcdefABCDEF" for ch in color):
        raise ApiError(422, "Validation Failed", invalid=True, errors=[
            {"resource": "Label", "code": "invalid", "field": "color"}])
    if len(body.get("description") or "") > 100:
        raise _too_long("Label", "description", 100)
    call.repo.ensure_label(body["name"], color, body.get("description") or "")
    return Reply(201, render.label(call, call.repo, body["name"]))


def _label_names(body: Any) -> list[str]:
    items = body.get("labels", []) if isinstance(body, dict) else body or []
    return [x if isinstance(x, str) else x["name"] for x in items]


@routes.post("/repos/{owner}/{repo}/issues/{issue_number}/labels", perm=WRITE)
async def add_labels(call: Call) -> Reply:
    issue = _issue(call)
    issue["labels"] = call.repo.label_names([*issue["labels"], *_label_names(call.body)])
    return Reply(200, [render.label(call, call.repo, n) for n in issue["labels"]])


@routes.put("/repos/{owner}/{repo}/issues/{issue_number}/labels", perm=WRITE)
async def set_labels(call: Call) -> Reply:
    issue = _issue(call)
    issue["labels"] = call.repo.label_names(_label_names(call.body))
    return Reply(200, [render.label(call, call.repo, n) for n in issue["labels"]])


@routes.delete("/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}", perm=WRITE)
async def remove_label(call: Call) -> Reply:
    issue = _issue(call)
    lab = call.repo.find_label(call.params["name"])
    if lab is None or lab["name"] not in issue["labels"]:
        raise ApiError(404, "Label does not exist")
    issue["labels"].remove(lab["name"])
    return Reply(200, [render.label(call, call.repo, n) for n in issue["labels"]])


@routes.delete("/repos/{owner}/{repo}/issues/{issue_number}/labels", perm=WRITE)
async def clear_labels(call: Call) -> Reply:
    _issue(call)["labels"] = []
    return Reply(204)
