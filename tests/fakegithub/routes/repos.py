"""Repository endpoints: repo, contents, git trees, pulls, collaborator permission, statuses,
commits, branches and compare."""

from __future__ import annotations

import base64
from typing import Any

from tests.fakegithub.core import ApiError, Call, Reply, Routes, not_found
from tests.fakegithub.repo import FakeRepo, git_sha, iso
from tests.fakegithub.routes import render

routes = Routes()
CONTENTS = ("contents", "read")
PULLS = ("pull_requests", "read")
META = ("metadata", "read")
MAX_OBJECT = 1024 * 1024          # contents API: larger files have no inline content
MAX_RAW = 100 * 1024 * 1024       # contents API: larger files are not served at all


@routes.get("/repos/{owner}/{repo}", perm=META)
async def get_repo(call: Call) -> Reply:
    return Reply(200, render.repo(call, call.repo))


def _b64(data: bytes) -> str:
    text = base64.b64encode(data).decode()
    return "".join(text[i:i + 60] + "\n" for i in range(0, len(text), 60))


def _entry(call: Call, path: str, data: bytes | None, ref: str) -> dict[str, Any]:
    r = call.repo
    kind = "dir" if data is None else "file"
    sha = git_sha(data) if data is not None else git_sha(path.encode(), "tree")
    url = call.url(f"/repos/{r.full_name}/contents/{path}?ref={ref}")
    git_url = call.url(f"/repos/{r.full_name}/git/{'blobs' if data is not None else 'trees'}/{sha}")
    html = f"https://github.com/{r.full_name}/{'blob' if data is not None else 'tree'}/{ref}/{path}"
    return {"type": kind, "size": len(data) if data is not None else 0,
            "name": path.rsplit("/", 1)[-1], "path": path, "sha": sha, "url": url,
            "git_url": git_url, "html_url": html,
            "download_url": None if data is None else
            f"https://raw.githubusercontent.com/{r.full_name}/{ref}/{path}",
            "_links": {"self": url, "git": git_url, "html": html}}


@routes.get("/repos/{owner}/{repo}/contents/{path}", perm=CONTENTS)
async def get_content(call: Call) -> Reply:
    ref = call.query.get("ref") or call.repo.default_branch
    commit = call.repo.resolve(ref)
    if commit is None:
        raise not_found()
    path = call.params["path"].strip("/")
    data = commit.files.get(path)
    if data is not None and "raw" in call.accept:
        return Reply(200, raw=data, headers={
            "content-type": "application/vnd.github.raw; charset=utf-8",
            "etag": f'"{git_sha(data)}"'})
    if data is not None and len(data) > MAX_OBJECT:
        if len(data) > MAX_RAW:
            raise ApiError(403, "This API returns blobs up to 100 MB in size.", errors=[
                {"resource": "Blob", "field": "data", "code": "too_large"}])
        # GitHub (operation repos/get-content): 1-100 MB files come back with an empty
        # `content` and `encoding: "none"`; only the raw media type returns their bytes.
        return Reply(200, {**_entry(call, path, data, ref), "encoding": "none", "content": ""})
    if data is not None:
        return Reply(200, {**_entry(call, path, data, ref), "encoding": "base64",
                           "content": _b64(data)})
    prefix = path + "/"
    children: dict[str, bytes | None] = {}
    for p, d in commit.files.items():
        if p.startswith(prefix):
            rest = p[len(prefix):]
            name = rest.split("/", 1)[0]
            children[prefix + name] = d if "/" not in rest else None
    if not children:
        raise not_found()
    return Reply(200, [_entry(call, p, d, ref) for p, d in sorted(children.items())])


@routes.get("/repos/{owner}/{repo}/git/trees/{tree_sha}", perm=CONTENTS)
async def get_tree(call: Call) -> Reply:
    commit = call.repo.resolve(call.params["tree_sha"])
    if commit is None:
        raise not_found()
    recursive = call.query.get("recursive") not in (None, "", "0", "false")
    entries: dict[str, dict[str, Any]] = {}
    for path, data in sorted(commit.files.items()):
        parts = path.split("/")
        if not recursive and len(parts) > 1:
            entries.setdefault(parts[0], {"path": parts[0], "mode": "040000", "type": "tree",
                                          "sha": git_sha(parts[0].encode(), "tree")})
            continue
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            entries.setdefault(d, {"path": d, "mode": "040000", "type": "tree",
                                   "sha": git_sha(d.encode(), "tree")})
        sha = git_sha(data)
        entries[path] = {"path": path, "mode": "100644", "type": "blob", "sha": sha,
                         "size": len(data),
                         "url": call.url(f"/repos/{call.repo.full_name}/git/blobs/{sha}")}
    tree = [entries[k] for k in sorted(entries)]
    return Reply(200, {"sha": commit.sha,
                       "url": call.url(f"/repos/{call.repo.full_name}/git/trees/{commit.sha}"),
                       "tree": tree, "truncated": False})


@routes.get("/repos/{owner}/{repo}/pulls/{pull_number}", perm=PULLS)
async def get_pull(call: Call) -> Reply:
    p = call.repo.pulls.get(call.int_param("pull_number"))
    if p is None:
        raise not_found()
    return Reply(200, render.pull(call, call.repo, p))


@routes.get("/repos/{owner}/{repo}/pulls", perm=PULLS)
async def list_pulls(call: Call) -> Reply:
    state = call.query.get("state", "open")
    head = call.query.get("head")
    base = call.query.get("base")
    out = []
    for p in sorted(call.repo.pulls.values(), key=lambda p: -p["number"]):
        if state != "all" and p["state"] != state:
            continue
        if head and f"{p['_head_repo'].split('/')[0]}:{p['head_ref']}".lower() != head.lower():
            continue
        if base and p["base_ref"] != base:
            continue
        out.append(render.pull(call, call.repo, p))
    return call.paginate(out)


@routes.get("/repos/{owner}/{repo}/commits/{commit_sha}/pulls", perm=PULLS)
async def commit_pulls(call: Call) -> Reply:
    sha = call.params["commit_sha"]
    hits = [p for p in call.repo.pulls.values() if p["head_sha"] == sha and p["state"] == "open"]
    return call.paginate([render.pull(call, call.repo, p)
                          for p in sorted(hits, key=lambda p: -p["number"])])


@routes.get("/repos/{owner}/{repo}/collaborators/{username}/permission", perm=META)
async def permission(call: Call) -> Reply:
    login = call.params["username"]
    default = ("none", "none") if call.repo.private else ("read", "read")
    perm, role = call.repo.permissions.get(login, default)
    return Reply(200, {"permission": perm, "role_name": role,
                       "user": {**render.user(call, login),
                                "permissions": {"admin": perm == "admin",
                                                "maintain": role in ("maintain", "admin"),
                                                "push": perm in ("write", "admin"),
                                                "triage": role != "none" and perm != "none"
                                                and role != "read",
                                                "pull": perm != "none"},
                                "role_name": role}})


@routes.post("/repos/{owner}/{repo}/statuses/{sha}", perm=("statuses", "write"))
async def create_status(call: Call) -> Reply:
    sid = call.world.new_id()
    body = call.body
    if len(body.get("description") or "") > 140:
        raise ApiError(422, "Validation Failed", invalid=True, errors=[{
            "resource": "Status", "code": "custom", "field": "description",
            "message": "description is too long (maximum is 140 characters)"}])
    status = {"id": sid, "node_id": f"SC_{sid}", "avatar_url": None, "state": body["state"],
              "description": body.get("description"), "target_url": body.get("target_url"),
              "context": body.get("context", "default"), "sha": call.params["sha"],
              "created_at": iso(call.world.now()), "updated_at": iso(call.world.now()),
              "creator": render.user(call, call.actor),
              "url": call.url(f"/repos/{call.repo.full_name}/statuses/{call.params['sha']}")}
    call.repo.statuses.append(status)
    return Reply(201, status)


def _commit(call: Call, sha: str) -> dict[str, Any]:
    r = call.repo
    c = r.commits[sha]
    who = {"name": "Octo Cat", "email": "octo@example.com", "date": iso(c.date)}
    url = call.url(f"/repos/{r.full_name}/commits/{sha}")
    return {**render.example(call, "commit", r.full_name), "sha": sha, "node_id": f"C_{sha}",
            "url": url, "html_url": f"https://github.com/{r.full_name}/commit/{sha}",
            "comments_url": url + "/comments", "author": render.user(call, "octocat"),
            "committer": render.user(call, "web-flow"),
            "commit": {"url": call.url(f"/repos/{r.full_name}/git/commits/{sha}"),
                       "author": who, "committer": who, "message": c.message,
                       "tree": {"sha": sha, "url": call.url(f"/repos/{r.full_name}/git/trees/"
                                                            f"{sha}")},
                       "comment_count": 0,
                       "verification": {"verified": False, "reason": "unsigned",
                                        "signature": None, "payload": None,
                                        "verified_at": None}},
            "parents": [{"sha": p, "url": call.url(f"/repos/{r.full_name}/commits/{p}"),
                         "html_url": f"https://github.com/{r.full_name}/commit/{p}"}
                        for p in c.parents], "files": [],
            "stats": {"additions": 0, "deletions": 0, "total": 0}}


@routes.get("/repos/{owner}/{repo}/commits/{ref}", perm=CONTENTS)
async def get_commit(call: Call) -> Reply:
    commit = call.repo.resolve(call.params["ref"])
    if commit is None:
        raise ApiError(422, f"No commit found for SHA: {call.params['ref']}")
    return Reply(200, _commit(call, commit.sha))


@routes.get("/repos/{owner}/{repo}/commits", perm=CONTENTS)
async def list_commits(call: Call) -> Reply:
    """Commits reachable from ``sha`` (default branch when absent), newest first, paged."""
    start = call.repo.resolve(call.query.get("sha"))
    if start is None:
        raise not_found()
    r = call.repo
    shas = sorted(_reachable(r, start.sha), key=lambda s: (len(_reachable(r, s)), s),
                  reverse=True)
    return call.paginate([_commit(call, s) for s in shas])


@routes.get("/repos/{owner}/{repo}/branches/{branch}", perm=CONTENTS)
async def get_branch(call: Call) -> Reply:
    r, name = call.repo, call.params["branch"]
    if name not in r.branches:
        raise ApiError(404, "Branch not found")
    url = call.url(f"/repos/{r.full_name}/branches/{name}")
    return Reply(200, {**render.example(call, "branch-get", r.full_name), "name": name,
                       "commit": _commit(call, r.branches[name]), "protected": False,
                       "protection": {"enabled": False, "required_status_checks": {
                           "enforcement_level": "off", "contexts": [], "checks": []}},
                       "protection_url": url + "/protection",
                       "_links": {"self": url,
                                  "html": f"https://github.com/{r.full_name}/tree/{name}"}})


def _reachable(r: FakeRepo, sha: str) -> set[str]:
    """``sha`` and every commit its parents lead to (the fake's commit graph)."""
    seen: set[str] = set()
    todo = [sha]
    while todo:
        s = todo.pop()
        if s not in seen and s in r.commits:
            seen.add(s)
            todo += r.commits[s].parents
    return seen


def _diff_entries(call: Call, old: dict[str, bytes], new: dict[str, bytes],
                  head: str) -> list[dict[str, Any]]:
    """Files that differ between two trees, as GitHub lists them (``diff-entry``)."""
    full, out = call.repo.full_name, []
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path), new.get(path)
        if before == after:
            continue
        status = "added" if before is None else "removed" if after is None else "modified"
        lines = [len((d or b"").splitlines()) for d in (before, after)]
        out.append({"sha": git_sha(after if after is not None else b""), "filename": path,
                    "status": status, "additions": lines[1], "deletions": lines[0],
                    "changes": sum(lines),
                    "blob_url": f"https://github.com/{full}/blob/{head}/{path}",
                    "raw_url": f"https://github.com/{full}/raw/{head}/{path}",
                    "contents_url": call.url(f"/repos/{full}/contents/{path}?ref={head}")})
    return out


@routes.get("/repos/{owner}/{repo}/compare/{basehead}", perm=CONTENTS)
async def compare(call: Call) -> Reply:
    """``base...head`` from the commit graph (operation repos/compare-commits-with-basehead):
    ``status`` ahead/behind/identical/diverged, 404 for an unknown commit or no common
    ancestor. Cross-repository (``user:ref``) compares and diff media types are refused."""
    r, spec = call.repo, call.params["basehead"]
    base_ref, sep, head_ref = spec.partition("...")
    if not sep or ":" in spec or "diff" in call.accept or "patch" in call.accept:
        raise ApiError(501, f"fake GitHub does not compare {spec!r}", unexpected=True)
    base, head = r.resolve(base_ref), r.resolve(head_ref)
    if base is None or head is None:
        raise not_found()
    below_base, below_head = _reachable(r, base.sha), _reachable(r, head.sha)
    common = below_base & below_head
    if not common:
        raise ApiError(404, f"No common ancestor between {base_ref} and {head_ref}.")
    # the merge base: the common ancestor with the longest history (its ancestors' are shorter)
    merge_base = max(common, key=lambda s: (len(_reachable(r, s)), s))
    ahead = sorted(below_head - below_base, key=lambda s: (len(_reachable(r, s)), s))
    behind = len(below_base - below_head)
    status = ("identical" if not ahead and not behind else "ahead" if not behind
              else "behind" if not ahead else "diverged")
    paged = "per_page" in call.query or "page" in call.query
    per_page = max(1, min(100, int(call.query.get("per_page", 250 if not paged else 30))))
    page = max(1, int(call.query.get("page", 1)))
    listed = ahead[-250:] if not paged else ahead[(page - 1) * per_page: page * per_page]
    url = call.url(f"/repos/{r.full_name}/compare/{spec}")
    html = f"https://github.com/{r.full_name}/compare/{spec}"
    data: dict[str, Any] = {
        "url": url, "html_url": html,
        "permalink_url": f"https://github.com/{r.full_name}/compare/"
                         f"{r.owner}:{base.sha}...{r.owner}:{head.sha}",
        "diff_url": html + ".diff", "patch_url": html + ".patch",
        "base_commit": _commit(call, base.sha), "merge_base_commit": _commit(call, merge_base),
        "status": status, "ahead_by": len(ahead), "behind_by": behind,
        "total_commits": len(ahead), "commits": [_commit(call, s) for s in listed]}
    if page == 1:
        data["files"] = _diff_entries(call, r.commits[merge_base].files, head.files, head.sha)
    return Reply(200, data)
