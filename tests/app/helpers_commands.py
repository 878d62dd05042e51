"""Comment-command test pieces: real issue_comment payloads adapted to the fake's objects.

The corpus's issue_comment examples are all on plain issues; for pull-request comments
``comment_event`` adds ``issue.pull_request`` the way GitHub does (octokit's issue schema).
The comment itself is created in the fake first, so reactions and replies hit a real object.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from bot.app import command_authz, commands
from tests.conftest import CORPUS
from tests.fakegithub.server import FakeGitHub

# A two-phase plan: "scale" needs "foundation"; test_commands_plan adds a third phase.
PLAN_FOUNDATION_SCALE = """\
plan:
  goal: Ship the recovery
  phases:
    - id: foundation
      title: "Phase 1: Foundation"
      criteria:
        - id: tests_discovered
          name: Tests are discovered
          expr: tests.total >= 5
    - id: scale
      title: "Phase 2: Scale"
      needs: [foundation]
      criteria:
        - id: big_suite
          name: A thousand tests
          expr: tests.total >= 1000
"""

_BASE = json.loads((CORPUS / "webhooks" / "issue_comment.created.json").read_text("utf-8"))


@pytest.fixture(autouse=True)
def fresh_command_state() -> None:
    """Each test starts with full rate-limit buckets and no cached permission."""
    commands.reset_rate_limits()
    command_authz.forget_permissions()


def repository_payload(repo: Any) -> dict[str, Any]:
    """The corpus repository object, renamed to a fake repository (id, names, privacy)."""
    out = copy.deepcopy(_BASE["repository"])
    out.update(id=repo.id, name=repo.name, full_name=repo.full_name, private=repo.private,
               default_branch=repo.default_branch,
               owner=dict(out["owner"], login=repo.owner, id=repo.world.user(repo.owner)["id"]))
    return out


def comment_event(fake: FakeGitHub, repo: Any, number: int, body: str, *, user: str = "alice",
                  action: str = "created", pr: bool = True, locked: bool = False,
                  via_app: bool = False) -> dict[str, Any]:
    """issue_comment.<action> for a new comment by `user` on issue/PR `number`."""
    c = repo.add_comment(number, body, user=user)
    who = fake.world.user(user)
    person = dict(copy.deepcopy(_BASE["sender"]), login=user, id=who["id"], type=who["type"])
    payload = copy.deepcopy(_BASE)
    issue = repo.issues[number]
    payload.update(action=action, repository=repository_payload(repo), sender=person,
                   installation={"id": 1, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="})
    payload["issue"].update(number=number, title=issue["title"], body=issue["body"],
                            locked=locked, active_lock_reason="resolved" if locked else None,
                            user=dict(person, **_issue_author(fake, issue["user"])),
                            performed_via_github_app=(
                                {"id": fake.world.app.id} if issue["performed_via_github_app"]
                                else None))
    if pr:
        html = f"https://github.com/{repo.full_name}/pull/{number}"
        payload["issue"]["pull_request"] = {
            "url": f"https://api.github.com/repos/{repo.full_name}/pulls/{number}",
            "html_url": html, "diff_url": html + ".diff", "patch_url": html + ".patch"}
    else:
        payload["issue"].pop("pull_request", None)
    payload["comment"].update(id=c["id"], body=body, user=person, created_at=c["created_at"],
                              updated_at=c["updated_at"],
                              performed_via_github_app={"id": fake.world.app.id} if via_app
                              else None)
    return payload


def _issue_author(fake: FakeGitHub, login: str) -> dict[str, Any]:
    u = fake.world.user(login)
    return {"login": login, "id": u["id"], "type": u["type"]}


def replies(fake: FakeGitHub, repo: Any, number: int) -> list[dict[str, Any]]:
    """ci-truth's replies to commands on issue/PR `number` (not its sticky comment)."""
    bot = fake.world.app.bot_login
    return [c for c in repo.comments.values() if c["issue_number"] == number
            and c["user"] == bot and c["body"].startswith("<!-- ci-truth:reply ")]


def reactions(repo: Any, comment_id: int) -> list[str]:
    return [r["content"] for r in repo.comments[comment_id]["reactions"]]
