"""Seeding helpers: realistic repositories, runs and artifacts from the corpus payloads."""

from __future__ import annotations

import copy
import gzip
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import CORPUS
from tests.fakegithub.repo import Artifact, FakeRepo
from tests.fakegithub.state import World

WEBHOOKS = CORPUS / "webhooks"


def zip_reports(files: Mapping[str, bytes | str | Path]) -> bytes:
    """A zip (as upload-artifact makes them) holding ``files``: name -> bytes, text or a Path.

    A ``.gz`` Path stored under a name without ``.gz`` is decompressed first (the corpus keeps
    the big numpy report gzipped).
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            if isinstance(data, Path):
                raw = data.read_bytes()
                gz = data.suffix == ".gz" and not name.endswith(".gz")
                data = gzip.decompress(raw) if gz else raw
            zf.writestr(name, data.encode() if isinstance(data, str) else data)
    return buf.getvalue()


def load_payload(name: str) -> dict[str, Any]:
    """A webhook body from the corpus (``workflow_run.completed`` or ``all/...``), deep-copied."""
    path = WEBHOOKS / (name if name.endswith(".json") else f"{name}.json")
    return copy.deepcopy(json.loads(path.read_text()))


@dataclass
class SeededRun:
    """What ``seed_workflow_run`` made: the repo, the run, its artifacts and an adapted payload."""

    repo: FakeRepo
    run: dict[str, Any]
    artifacts: list[Artifact]
    payload: dict[str, Any]


def seed_workflow_run(world: World, payload: Mapping[str, Any] | str = "workflow_run.completed",
                      *, reports: Mapping[str, bytes | str | Path] | None = None,
                      artifact_name: str = "test-results", installation_id: int = 1,
                      conclusion: str | None = None, jobs: list[dict[str, Any]] | None = None,
                      raw_artifacts: Mapping[str, bytes] | None = None) -> SeededRun:
    """Seed the repository, run, jobs and artifacts a ``workflow_run`` payload refers to.

    ``reports`` become one zipped artifact named ``artifact_name``; ``raw_artifacts`` are
    stored as given (name -> bytes). ``jobs`` are ``{"name", "conclusion", "steps": [(name,
    conclusion)]}``; by default one "test" job with the run's conclusion. The returned payload
    carries ``installation.id`` and the seeded head sha, ready to be signed and delivered.
    """
    body = load_payload(payload) if isinstance(payload, str) else copy.deepcopy(dict(payload))
    wr = body["workflow_run"]
    full = body["repository"]["full_name"]
    repo = world.repo(*full.split("/")) or world.add_repo(
        full, repo_id=body["repository"]["id"], installation=installation_id,
        default_branch=body["repository"].get("default_branch") or "main")
    if conclusion is not None:
        wr["conclusion"] = conclusion
    head_branch = wr.get("head_branch") or repo.default_branch
    if head_branch not in repo.branches:
        repo.branches[head_branch] = repo.ensure_commit(wr["head_sha"]).sha
    head_repo = None
    head_full = (wr.get("head_repository") or {}).get("full_name")
    if head_full and head_full.lower() != full.lower():
        head_repo = world.repo(*head_full.split("/")) or world.add_repo(
            head_full, repo_id=wr["head_repository"]["id"], installation=None, fork_of=repo)
    run = repo.add_run(head_sha=wr["head_sha"], head_branch=head_branch,
                       name=wr.get("name") or "CI", status=wr.get("status", "completed"),
                       conclusion=wr.get("conclusion"), event=wr.get("event", "push"),
                       run_attempt=wr.get("run_attempt") or 1, run_id=wr["id"],
                       path=wr.get("path") or ".github/workflows/ci.yml", head_repo=head_repo,
                       pull_requests=wr.get("pull_requests") or [])
    for job in jobs or [{"name": "test", "conclusion": run["conclusion"]}]:
        repo.add_job(run, job["name"], conclusion=job.get("conclusion"),
                     steps=job.get("steps"))
    arts = []
    if reports is not None:
        arts.append(repo.add_artifact(run, artifact_name, zip_reports(reports)))
    for name, data in (raw_artifacts or {}).items():
        arts.append(repo.add_artifact(run, name, data))
    body["installation"] = {"id": installation_id, "node_id": f"MDIz{installation_id}"}
    return SeededRun(repo, run, arts, body)


@dataclass
class SeededComment:
    """What ``seed_issue_comment`` made, and the payload that announces the comment."""

    repo: FakeRepo
    issue: dict[str, Any]
    comment: dict[str, Any]
    payload: dict[str, Any]


def seed_issue_comment(world: World, payload: Mapping[str, Any] | str = "issue_comment.created",
                       *, body: str | None = None, user: str | None = None,
                       pull_request: bool = False, permission: str | None = None,
                       installation_id: int = 1) -> SeededComment:
    """Seed the repository, issue (or PR) and comment of an ``issue_comment`` payload.

    ``body``/``user`` replace the comment's text and author (``x[bot]`` users are Bots);
    ``pull_request`` makes the issue a PR comment; ``permission`` (admin/write/read/none) is
    what the collaborator permission API says about the author. The returned payload matches
    the seeded objects (numbers, ids, body, user type) and carries ``installation.id``.
    """
    data = load_payload(payload) if isinstance(payload, str) else copy.deepcopy(dict(payload))
    full = data["repository"]["full_name"]
    repo = world.repo(*full.split("/")) or world.add_repo(
        full, repo_id=data["repository"]["id"], installation=installation_id,
        default_branch=data["repository"].get("default_branch") or "main")
    author = user or data["comment"]["user"]["login"]
    text = body if body is not None else data["comment"]["body"]
    number = data["issue"]["number"]
    if number not in repo.issues:
        if pull_request:
            repo.add_pull(head_ref=f"feature-{number}", number=number,
                          user=data["issue"]["user"]["login"], title=data["issue"]["title"])
        else:
            issue = repo.add_issue(data["issue"]["title"], data["issue"].get("body") or "",
                                   user=data["issue"]["user"]["login"])
            repo.issues[number] = repo.issues.pop(issue["number"])
            issue["number"] = number
    issue = repo.issues[number]
    comment = repo.add_comment(number, text, user=author, comment_id=data["comment"]["id"])
    if permission is not None:
        repo.set_permission(author, permission)
    who = world.user(author)
    data["comment"].update({"body": text, "user": {**data["comment"]["user"], **who}})
    data["sender"] = {**data.get("sender", {}), **who}
    if issue.get("pull_request"):
        data["issue"]["pull_request"] = {
            "url": f"https://api.github.com/repos/{full}/pulls/{number}",
            "html_url": f"https://github.com/{full}/pull/{number}",
            "diff_url": f"https://github.com/{full}/pull/{number}.diff",
            "patch_url": f"https://github.com/{full}/pull/{number}.patch"}
    data["issue"]["locked"] = issue["locked"]
    data["installation"] = {"id": installation_id, "node_id": f"MDIz{installation_id}"}
    return SeededComment(repo, issue, comment, data)


def requested_action_payload(world: World, repo: FakeRepo, check_run: Mapping[str, Any], *,
                             identifier: str = "recheck", sender: str = "octocat",
                             installation_id: int = 1) -> dict[str, Any]:
    """A ``check_run.requested_action`` payload (corpus shape) for a seeded check run."""
    data = load_payload("all/check_run.requested_action.6")
    cr = data["check_run"]
    cr.update({"id": check_run["id"], "name": check_run["name"],
               "head_sha": check_run["head_sha"], "status": check_run["status"],
               "conclusion": check_run.get("conclusion"),
               "external_id": check_run.get("external_id", "")})
    cr["app"] = {**cr["app"], "id": check_run["app_id"],
                 "slug": world.app.slug if check_run["app_id"] == world.app.id else "other"}
    data["requested_action"] = {"identifier": identifier}
    data["repository"] = {**data["repository"], "id": repo.id, "name": repo.name,
                          "full_name": repo.full_name,
                          "owner": {**data["repository"]["owner"], "login": repo.owner}}
    data["sender"] = {**data["sender"], **world.user(sender)}
    data["installation"] = {"id": installation_id, "node_id": f"MDIz{installation_id}"}
    return data
