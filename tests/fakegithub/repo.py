"""One fake repository: git content, Actions runs and artifacts, checks, pulls, issues, people."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakegithub.state import World


def iso(t: datetime) -> str:
    """GitHub's timestamp format."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def git_sha(data: bytes, kind: str = "blob") -> str:
    """The git object id of ``data`` (so shas look and behave like git's)."""
    return hashlib.sha1(f"{kind} {len(data)}\0".encode() + data, usedforsecurity=False).hexdigest()




@dataclass
class Commit:
    sha: str
    files: dict[str, bytes]
    parents: list[str]
    message: str
    date: datetime


AUTO_DIGEST = "auto"   # the artifact's digest follows its bytes (upload-artifact v4+)


@dataclass
class Artifact:
    id: int
    name: str
    data: bytes
    run_id: int
    expired: bool = False
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    digest: str | None = AUTO_DIGEST   # None: a v3 artifact (null); other text: served as is

    def listed_digest(self) -> str | None:
        """``digest`` as the artifacts API lists it: ``sha256:<hex>`` of the bytes, or null."""
        if self.digest == AUTO_DIGEST:
            return "sha256:" + hashlib.sha256(self.data).hexdigest()
        return self.digest


@dataclass
class FakeRepo:
    """One repository: git content, Actions runs, checks, pulls, issues, labels, people."""

    world: World
    id: int
    owner: str
    name: str
    default_branch: str = "main"
    private: bool = False
    fork_of: FakeRepo | None = None
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[tuple[int, int], list[dict[str, Any]]] = field(default_factory=dict)
    artifacts: dict[int, Artifact] = field(default_factory=dict)
    check_runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    annotations: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    permissions: dict[str, tuple[str, str]] = field(default_factory=dict)  # login -> (perm, role)
    statuses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    # -- git ------------------------------------------------------------------------------
    def commit(self, files: dict[str, bytes | str | None], *, branch: str | None = None,
               message: str = "commit") -> str:
        """Commit ``files`` (None deletes) on ``branch`` (default branch); returns the sha."""
        branch = branch or self.default_branch
        parent = self.branches.get(branch) or self.branches.get(self.default_branch)
        tree = dict(self.commits[parent].files) if parent else {}
        for path, data in files.items():
            if data is None:
                tree.pop(path, None)
            else:
                tree[path] = data.encode() if isinstance(data, str) else data
        when = self.world.now()
        seed = repr((sorted((p, git_sha(d)) for p, d in tree.items()), parent, message, iso(when),
                     next(self.world.ids)))
        sha = git_sha(seed.encode(), "commit")
        self.commits[sha] = Commit(sha, tree, [parent] if parent else [], message, when)
        self.branches[branch] = sha
        return sha

    def ensure_commit(self, sha: str) -> Commit:
        """Make ``sha`` a known commit (a copy of the default branch) when seeded from payloads."""
        if sha not in self.commits:
            base = self.commits[self.branches[self.default_branch]]
            self.commits[sha] = Commit(sha, dict(base.files), [base.sha], "seeded",
                                       self.world.now())
        return self.commits[sha]

    def resolve(self, ref: str | None) -> Commit | None:
        """A commit by branch name, ``refs/heads/x``, full sha or unique sha prefix."""
        ref = ref or self.default_branch
        ref = ref.removeprefix("refs/heads/")
        if ref in self.branches:
            return self.commits[self.branches[ref]]
        if ref in self.commits:
            return self.commits[ref]
        hits = [c for s, c in self.commits.items() if len(ref) >= 7 and s.startswith(ref)]
        return hits[0] if len(hits) == 1 else None

    # -- people ---------------------------------------------------------------------------
    def set_permission(self, login: str, permission: str, role_name: str | None = None) -> None:
        """Collaborator permission (admin/write/read/none) and role (admin/maintain/...)."""
        self.permissions[login] = (permission, role_name or permission)
        self.world.user(login)

    # -- Actions --------------------------------------------------------------------------
    def add_run(self, *, head_sha: str | None = None, head_branch: str | None = None,
                name: str = "CI", status: str = "completed", conclusion: str | None = "success",
                event: str = "push", run_attempt: int = 1, run_id: int | None = None,
                path: str = ".github/workflows/ci.yml", head_repo: FakeRepo | None = None,
                pull_requests: list[dict[str, Any]] | None = None,
                **extra: Any) -> dict[str, Any]:
        """A workflow run (raw fields; routes render URLs). Returns the stored dict."""
        head_branch = head_branch if head_branch is not None else self.default_branch
        if head_sha is None:
            head_sha = self.branches.get(head_branch) or self.commit({}, branch=head_branch)
        self.ensure_commit(head_sha)
        rid = run_id or self.world.new_id()
        now = self.world.now()
        run: dict[str, Any] = {
            "id": rid, "name": name, "display_title": name, "node_id": f"WFR_{rid}",
            "head_branch": head_branch, "head_sha": head_sha, "path": path,
            "run_number": len(self.runs) + 1, "run_attempt": run_attempt, "event": event,
            "status": status, "conclusion": conclusion if status == "completed" else None,
            "workflow_id": self.world.new_id(), "check_suite_id": self.world.new_id(),
            "created_at": iso(now), "updated_at": iso(now), "run_started_at": iso(now),
            "pull_requests": pull_requests or [],
            "_head_repo": (head_repo or self).full_name,
        }
        run.update(extra)
        self.runs[rid] = run
        self.jobs.setdefault((rid, run_attempt), [])
        return run

    def delete_run(self, run_id: int) -> None:
        """A person deleted the run: GET answers 404, lists and its artifacts lose it."""
        self.runs.pop(run_id)
        for key in [k for k in self.jobs if k[0] == run_id]:
            del self.jobs[key]
        for aid in [a.id for a in self.artifacts.values() if a.run_id == run_id]:
            del self.artifacts[aid]

    def add_job(self, run: dict[str, Any], name: str, *, conclusion: str | None = "success",
                status: str = "completed", steps: list[tuple[str, str | None]] | None = None,
                attempt: int | None = None) -> dict[str, Any]:
        """A job of ``run`` with steps given as (name, conclusion) pairs."""
        attempt = attempt or run["run_attempt"]
        jid = self.world.new_id()
        now = iso(self.world.now())
        job = {
            "id": jid, "run_id": run["id"], "run_attempt": attempt, "node_id": f"CR_{jid}",
            "head_sha": run["head_sha"], "head_branch": run["head_branch"], "name": name,
            "workflow_name": run["name"], "status": status,
            "conclusion": conclusion if status == "completed" else None,
            "created_at": now, "started_at": now,
            "completed_at": now if status == "completed" else None,
            "labels": ["ubuntu-latest"], "runner_id": 1, "runner_name": "GitHub Actions 1",
            "runner_group_id": 1, "runner_group_name": "GitHub Actions",
            "steps": [{"name": n, "status": "completed" if c else "in_progress",
                       "conclusion": c, "number": i + 1, "started_at": now,
                       "completed_at": now if c else None}
                      for i, (n, c) in enumerate(steps or [("Run tests", conclusion)])],
        }
        self.jobs.setdefault((run["id"], attempt), []).append(job)
        return job

    def add_artifact(self, run: dict[str, Any], name: str, data: bytes, *,
                     expired: bool = False, digest: str | None = AUTO_DIGEST) -> Artifact:
        """An artifact of ``run`` whose download serves ``data`` through the blob host
        (``digest``: the sha256 of ``data`` by default, None for a v3 artifact)."""
        art = Artifact(self.world.new_id(), name, data, run["id"], expired, self.world.now(),
                       digest)
        self.artifacts[art.id] = art
        return art

    # -- pulls and issues -----------------------------------------------------------------
    def next_number(self) -> int:
        return max([0, *self.issues, *self.pulls]) + 1

    def add_pull(self, *, head_ref: str, head_sha: str | None = None, base: str | None = None,
                 state: str = "open", head_repo: FakeRepo | None = None, user: str = "octocat",
                 title: str = "A change", number: int | None = None) -> dict[str, Any]:
        """An open pull request from ``head_repo`` (a fork, or this repository)."""
        head_repo = head_repo or self
        if head_sha is None:
            head_sha = head_repo.branches.get(head_ref) or head_repo.commit({}, branch=head_ref)
        number = number or self.next_number()
        pr = {"number": number, "id": self.world.new_id(), "state": state, "title": title,
              "user": user, "head_ref": head_ref, "head_sha": head_sha,
              "_head_repo": head_repo.full_name, "base_ref": base or self.default_branch,
              "created_at": iso(self.world.now()), "locked": False}
        self.pulls[number] = pr
        issue = self.add_issue(title, user=user)  # a PR is also an issue (comments, labels)
        self.issues.pop(issue["number"])
        issue["number"] = number
        issue["pull_request"] = True
        self.issues[number] = issue
        return pr

    def add_issue(self, title: str, body: str = "", *, user: str = "octocat",
                  labels: Iterable[str] = (), state: str = "open",
                  locked: bool = False) -> dict[str, Any]:
        """An issue opened by ``user`` (a person) or ``<slug>[bot]``."""
        number = self.next_number()
        now = iso(self.world.now())
        issue = {"number": number, "id": self.world.new_id(), "title": title, "body": body,
                 "user": user, "labels": list(labels), "state": state, "state_reason": None,
                 "locked": locked, "active_lock_reason": "resolved" if locked else None,
                 "created_at": now, "updated_at": now, "closed_at": None, "closed_by": None,
                 "comments": 0,
                 "performed_via_github_app": self.world.app_of(user)}
        issue["labels"] = self.label_names(labels)
        self.issues[number] = issue
        return issue

    def close_issue(self, number: int, *, by: str = "octocat",
                    reason: str = "completed") -> dict[str, Any]:
        """A person (or bot) closes issue ``number`` outside the App."""
        issue = self.issues[number]
        now = iso(self.world.now())
        issue.update({"state": "closed", "state_reason": reason, "closed_at": now,
                      "closed_by": by, "updated_at": now})
        return issue

    def find_label(self, name: str) -> dict[str, Any] | None:
        """The repository's label named ``name``: GitHub compares label names ignoring case."""
        return next((lab for n, lab in self.labels.items() if n.casefold() == name.casefold()),
                    None)

    def ensure_label(self, name: str, color: str = "ededed",
                     description: str = "") -> dict[str, Any]:
        """The label ``name``; an existing one spelled in another case is that label."""
        lab = self.find_label(name)
        if lab is None:
            lab = self.labels[name] = {"id": self.world.new_id(), "name": name, "color": color,
                                       "description": description or None, "default": False}
        return lab

    def label_names(self, names: Iterable[str]) -> list[str]:
        """Labels set on an issue, as GitHub stores them: the existing label's spelling, once."""
        out: list[str] = []
        for name in names:
            canonical = self.ensure_label(name)["name"]
            if canonical not in out:
                out.append(canonical)
        return out

    def add_comment(self, number: int, body: str, *, user: str = "octocat",
                    comment_id: int | None = None) -> dict[str, Any]:
        """A comment on issue/PR ``number``."""
        cid = comment_id or self.world.new_id()
        now = iso(self.world.now())
        comment = {"id": cid, "issue_number": number, "body": body, "user": user,
                   "created_at": now, "updated_at": now, "reactions": [],
                   "performed_via_github_app": self.world.app_of(user)}
        self.comments[cid] = comment
        target = self.issues.get(number)
        if target is not None:
            target["comments"] += 1
        return comment
