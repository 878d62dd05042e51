"""JSON renderings of the fake's objects in GitHub's response shapes (URLs point at the fake)."""

from __future__ import annotations

import functools
import json
from typing import Any

from tests.fakegithub.core import Call
from tests.fakegithub.repo import FakeRepo, iso
from tests.fakegithub.spec import load_spec
from tests.fakegithub.state import ACTIONS_APP_ID

EXAMPLE_REPO = "octocat/Hello-World"


@functools.cache
def _example_text(name: str) -> str:
    return json.dumps(load_spec().doc["components"]["examples"][name]["value"])


def example(call: Call, name: str, full_name: str = EXAMPLE_REPO, **overlay: Any) -> Any:
    """GitHub's documented example ``name`` with URLs moved to the fake, overlaid by our fields.

    Every field GitHub documents is present (so the shape is GitHub's); the fields the fake
    models come from ``overlay``.
    """
    text = _example_text(name)
    for old, new in ((f"https://api.github.com/repos/{EXAMPLE_REPO}",
                      call.url(f"/repos/{full_name}")),
                     (f"https://github.com/{EXAMPLE_REPO}", f"https://github.com/{full_name}"),
                     ("https://api.github.com", call.fake.api_url)):
        text = text.replace(old, new)
    data = json.loads(text)
    if isinstance(data, dict):
        data.update(overlay)
    return data


def user(call: Call, login: str) -> dict[str, Any]:
    u = call.world.user(login)
    base = call.url(f"/users/{login}")
    return {**u, "url": base, "html_url": f"https://github.com/{login}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{u['id']}?v=4",
            "gravatar_id": "", "followers_url": base + "/followers",
            "following_url": base + "/following{/other_user}",
            "gists_url": base + "/gists{/gist_id}",
            "starred_url": base + "/starred{/owner}{/repo}",
            "subscriptions_url": base + "/subscriptions", "organizations_url": base + "/orgs",
            "repos_url": base + "/repos", "events_url": base + "/events{/privacy}",
            "received_events_url": base + "/received_events", "user_view_type": "public"}


def app(call: Call, app_id: int | None = None) -> dict[str, Any]:
    """Our App, or GitHub Actions when ``app_id`` is its id, or a stand-in for another app."""
    a = call.world.app
    if app_id is not None and app_id != a.id:
        slug = "github-actions" if app_id == ACTIONS_APP_ID else f"app-{app_id}"
        return {**example(call, "integration"), "id": app_id, "slug": slug,
                "node_id": f"A_{app_id}", "name": slug.replace("-", " ").title(),
                "owner": user(call, "github"), "html_url": f"https://github.com/apps/{slug}"}
    return {**example(call, "integration"), "id": a.id, "slug": a.slug, "node_id": f"A_{a.id}",
            "client_id": a.client_id,
            "owner": user(call, a.owner), "name": a.name, "description": "",
            "external_url": "https://example.invalid/ci-truth",
            "html_url": f"https://github.com/apps/{a.slug}",
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "permissions": {"actions": "read", "checks": "write", "contents": "read",
                            "issues": "write", "metadata": "read", "pull_requests": "write"},
            "events": ["check_run", "check_suite", "issue_comment", "workflow_run"]}


def repo(call: Call, r: FakeRepo) -> dict[str, Any]:
    base = call.url(f"/repos/{r.full_name}")
    data = example(call, "full-repository", r.full_name)
    for key in ("parent", "source", "template_repository", "organization"):
        data.pop(key, None)
    return {**data, "id": r.id, "node_id": f"R_{r.id}", "name": r.name, "full_name": r.full_name,
            "private": r.private, "owner": user(call, r.owner),
            "html_url": f"https://github.com/{r.full_name}", "description": None,
            "fork": r.fork_of is not None, "url": base, "default_branch": r.default_branch,
            "visibility": "private" if r.private else "public",
            "archive_url": base + "/{archive_format}{/ref}", "pulls_url": base + "/pulls{/number}",
            "issues_url": base + "/issues{/number}", "contents_url": base + "/contents/{+path}",
            "permissions": {"admin": False, "maintain": False, "push": False, "triage": False,
                            "pull": True},
            "open_issues_count": sum(1 for i in r.issues.values() if i["state"] == "open"),
            "topics": [], "archived": False, "disabled": False, "license": None,
            "has_discussions": False}


def repo_by_name(call: Call, full_name: str) -> dict[str, Any]:
    owner, name = full_name.split("/")
    r = call.world.repo(owner, name)
    return repo(call, r) if r else {"full_name": full_name}


def label(call: Call, r: FakeRepo, name: str) -> dict[str, Any]:
    lab = r.ensure_label(name)
    return {**example(call, "label"), **lab, "node_id": f"LA_{lab['id']}",
            "url": call.url(f"/repos/{r.full_name}/labels/{lab['name']}")}


def issue(call: Call, r: FakeRepo, i: dict[str, Any]) -> dict[str, Any]:
    base = call.url(f"/repos/{r.full_name}/issues/{i['number']}")
    data = example(call, "issue", r.full_name)
    data.pop("pull_request", None)
    out = {**data, "pinned_comment": None, "id": i["id"], "node_id": f"I_{i['id']}",
           "number": i["number"], "url": base,
           "repository_url": call.url(f"/repos/{r.full_name}"),
           "labels_url": base + "/labels{/name}", "comments_url": base + "/comments",
           "events_url": base + "/events",
           "html_url": f"https://github.com/{r.full_name}/issues/{i['number']}",
           "title": i["title"], "body": i["body"], "user": user(call, i["user"]),
           "labels": [label(call, r, n) for n in i["labels"]], "state": i["state"],
           "state_reason": i["state_reason"], "locked": i["locked"],
           "active_lock_reason": i["active_lock_reason"], "assignee": None, "assignees": [],
           "milestone": None, "comments": i["comments"], "created_at": i["created_at"],
           "updated_at": i["updated_at"], "closed_at": i["closed_at"],
           "author_association": "NONE",
           "closed_by": user(call, i["closed_by"]) if i.get("closed_by") else None,
           "performed_via_github_app": app(call, i["performed_via_github_app"])
           if i["performed_via_github_app"] else None}
    if i.get("pull_request"):
        html = f"https://github.com/{r.full_name}/pull/{i['number']}"
        out["pull_request"] = {"url": call.url(f"/repos/{r.full_name}/pulls/{i['number']}"),
                               "html_url": html, "diff_url": html + ".diff",
                               "patch_url": html + ".patch", "merged_at": None}
    return out


def comment(call: Call, r: FakeRepo, c: dict[str, Any]) -> dict[str, Any]:
    url = call.url(f"/repos/{r.full_name}/issues/comments/{c['id']}")
    return {**example(call, "issue-comment", r.full_name), "id": c["id"],
            "node_id": f"IC_{c['id']}", "url": url,
            "html_url": f"https://github.com/{r.full_name}/issues/{c['issue_number']}"
                        f"#issuecomment-{c['id']}",
            "issue_url": call.url(f"/repos/{r.full_name}/issues/{c['issue_number']}"),
            "body": c["body"], "user": user(call, c["user"]), "created_at": c["created_at"],
            "updated_at": c["updated_at"], "author_association": "NONE",
            "performed_via_github_app": app(call, c["performed_via_github_app"])
            if c["performed_via_github_app"] else None}


def pull(call: Call, r: FakeRepo, p: dict[str, Any]) -> dict[str, Any]:
    base = call.url(f"/repos/{r.full_name}/pulls/{p['number']}")
    owner, _, _ = p["_head_repo"].partition("/")
    data = example(call, "pull-request", r.full_name)
    return {**data, "merged": False, "mergeable": None, "merged_by": None, "milestone": None,
            "assignee": None, "assignees": [], "requested_reviewers": [], "requested_teams": [],
            "auto_merge": None, "id": p["id"], "node_id": f"PR_{p['id']}", "number": p["number"],
            "url": base,
            "html_url": f"https://github.com/{r.full_name}/pull/{p['number']}",
            "state": p["state"], "locked": p["locked"], "title": p["title"], "body": None,
            "user": user(call, p["user"]), "created_at": p["created_at"],
            "updated_at": p["created_at"], "closed_at": None, "merged_at": None,
            "merge_commit_sha": None, "draft": False, "labels": [],
            "head": {"label": f"{owner}:{p['head_ref']}", "ref": p["head_ref"],
                     "sha": p["head_sha"], "user": user(call, owner),
                     "repo": repo_by_name(call, p["_head_repo"])},
            "base": {"label": f"{r.owner}:{p['base_ref']}", "ref": p["base_ref"],
                     "sha": r.branches.get(p["base_ref"], ""), "user": user(call, r.owner),
                     "repo": repo(call, r)},
            "author_association": "CONTRIBUTOR"}


def run(call: Call, r: FakeRepo, w: dict[str, Any]) -> dict[str, Any]:
    base = call.url(f"/repos/{r.full_name}/actions/runs/{w['id']}")
    out = example(call, "workflow-run", r.full_name, referenced_workflows=[],
                  previous_attempt_url=None)
    out.update({k: v for k, v in w.items() if not k.startswith("_")})
    head = r.commits.get(w["head_sha"])       # the commit's time, not the run's
    committed = iso(head.date) if head is not None else w["created_at"]
    out.update({"url": base, "html_url": f"https://github.com/{r.full_name}/actions/runs/{w['id']}",
                "jobs_url": base + "/jobs", "logs_url": base + "/logs",
                "artifacts_url": base + "/artifacts", "cancel_url": base + "/cancel",
                "rerun_url": base + "/rerun",
                "check_suite_url": call.url(f"/repos/{r.full_name}/check-suites/"
                                            f"{w['check_suite_id']}"),
                "workflow_url": call.url(f"/repos/{r.full_name}/actions/workflows/"
                                         f"{w['workflow_id']}"),
                "actor": user(call, w.get("_actor", "octocat")),
                "triggering_actor": user(call, w.get("_actor", "octocat")),
                "repository": repo(call, r), "head_repository": repo_by_name(call, w["_head_repo"]),
                "head_commit": {"id": w["head_sha"], "tree_id": w["head_sha"],
                                "message": "change", "timestamp": committed,
                                "author": {"name": "Octo Cat", "email": "octo@example.com"},
                                "committer": {"name": "GitHub", "email": "noreply@github.com"}}})
    return out


def artifact(call: Call, r: FakeRepo, a: Any, w: dict[str, Any] | None) -> dict[str, Any]:
    from datetime import timedelta
    url = call.url(f"/repos/{r.full_name}/actions/artifacts/{a.id}")
    expires = a.created_at + (timedelta(days=-1) if a.expired else timedelta(days=90))
    return {**example(call, "artifact", r.full_name), "id": a.id,
            "node_id": f"MDg6QXJ0aWZhY3Q{a.id}", "name": a.name,
            "size_in_bytes": len(a.data), "url": url, "archive_download_url": url + "/zip",
            "expired": a.expired, "created_at": iso(a.created_at), "updated_at": iso(a.created_at),
            "expires_at": iso(expires),
            "digest": a.listed_digest(),
            "workflow_run": None if w is None else {
                "id": w["id"], "repository_id": r.id,
                "head_repository_id": call.world.repos[w["_head_repo"].lower()].id
                if w["_head_repo"].lower() in call.world.repos else r.id,
                "head_branch": w["head_branch"], "head_sha": w["head_sha"]}}
