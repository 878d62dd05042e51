"""Down-scoped installation tokens (checklist H12): the scope table, and what each task mints."""

from __future__ import annotations

import copy
from typing import Any

import gidgethub
import pytest
import yaml

from bot.app import scopes
from bot.app.scopes import Scope
from tests.app.helpers_commands import comment_event, fresh_command_state  # noqa: F401
from tests.app.helpers_logic import HEALTHY, Env, env_fixture  # noqa: F401  (the `env` fixture)
from tests.conftest import ROOT
from tests.fakegithub.seed import load_payload, seed_workflow_run

PLAN_CONFIG = """\
plan:
  goal: Suite healthy
  phases:
    - id: base
      title: "Phase 1: Base"
      criteria:
        - id: enough
          name: At least 20 tests
          expr: tests.total >= 20
"""


def manifest_permissions() -> dict[str, str]:
    doc = yaml.safe_load((ROOT / "app.yml").read_text(encoding="utf-8"))
    perms = doc["default_permissions"]
    assert isinstance(perms, dict)
    return {str(k): str(v) for k, v in perms.items()}


def test_the_manifest_grants_every_scope_and_nothing_unused() -> None:
    granted = manifest_permissions()
    for scope in scopes.ALL:
        assert scope.within(granted), scope
        assert "metadata" not in dict(scope.permissions)   # implied by GitHub, never asked
    used = {perm for scope in scopes.ALL for perm, _ in scope.permissions}
    assert set(granted) - used == {"metadata"}               # every permission has a user
    top = Scope("all", ())
    for scope in scopes.ALL:
        top = top | scope
    assert dict(top.permissions) == {k: v for k, v in granted.items() if k != "metadata"}


def test_scope_union_takes_the_higher_level_and_levels_are_checked() -> None:
    both = Scope.of("a", checks="read", issues="write") | Scope.of("b", checks="write")
    assert both.body() == {"checks": "write", "issues": "write"}
    assert both.within({"checks": "write", "issues": "write"})
    assert not both.within({"checks": "read", "issues": "write"})
    with pytest.raises(ValueError, match="read or write"):
        Scope.of("bad", contents="admin")


def test_command_scopes_add_only_what_the_commands_use() -> None:
    assert scopes.for_commands(["help"]).permissions == scopes.COMMAND.permissions
    assert scopes.for_commands(["no-such-command"]).permissions == scopes.COMMAND.permissions
    assert scopes.for_commands(["explain"]).body() == {
        "checks": "read", "contents": "read", "issues": "write", "pull_requests": "read"}
    recheck = scopes.for_commands(["help", "recheck"]).body()
    assert recheck == {"actions": "read", "checks": "write", "contents": "read",
                       "issues": "write", "pull_requests": "write"}
    assert "actions" not in scopes.for_commands(["status", "waive", "plan"]).body()


def mints(env: Env, since: int = 0) -> list[Any]:
    return [r.body for r in env.fake.requests[since:]
            if r.method == "POST" and r.path.endswith("/access_tokens")]


def expected(repo_id: int, scope: Scope) -> dict[str, Any]:
    return {"repository_ids": [repo_id], "permissions": scope.body()}


async def test_each_task_mints_for_its_repository_with_its_permissions(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, reports={"junit.xml": HEALTHY})
    repo = seeded.repo
    repo.commit({".github/ci-truth.yml": PLAN_CONFIG}, branch=repo.default_branch)
    requested = copy.deepcopy(seeded.payload)
    requested["action"] = "requested"
    requested["workflow_run"].update(status="queued", conclusion=None)
    await env.deliver(requested, delivery_id="d-requested")
    await env.deliver(seeded.payload, delivery_id="d-completed")   # judged, then the plan
    assert [cr["conclusion"] for cr in env.check_runs(repo)] == ["success"]
    assert any(i["title"] == "Phase 1: Base" for i in repo.issues.values())
    assert mints(env) == [expected(repo.id, scopes.START), expected(repo.id, scopes.JUDGE),
                          expected(repo.id, scopes.PLAN)]

    start = len(env.fake.requests)
    pr = repo.add_pull(head_ref="feature")
    await env.deliver(comment_event(env.fake, repo, pr["number"], "/truth help"),
                      event="issue_comment", delivery_id="c-1")
    await env.deliver(comment_event(env.fake, repo, pr["number"], "/truth explain"),
                      event="issue_comment", delivery_id="c-2")
    assert mints(env, start) == [expected(repo.id, scopes.COMMAND),
                                 expected(repo.id, scopes.for_commands(["explain"]))]
    assert all(t.repo_ids == {repo.id} for t in env.fake.world.tokens.values())


async def test_two_repositories_of_one_installation_get_two_tokens(env: Env) -> None:
    one = seed_workflow_run(env.fake.world, reports={"junit.xml": HEALTHY})
    other_payload = load_payload("workflow_run.completed")
    second = {"id": one.repo.id + 1, "name": "second", "full_name": f"{one.repo.owner}/second"}
    for where in (other_payload, other_payload["workflow_run"]):
        for key in ("repository", "head_repository"):
            if key in where:
                where[key].update(second)
    other_payload["workflow_run"]["id"] += 1
    two = seed_workflow_run(env.fake.world, other_payload, reports={"junit.xml": HEALTHY})
    assert two.repo.id != one.repo.id and two.payload["installation"]["id"] == 1
    await env.deliver(one.payload, delivery_id="d-one")
    await env.deliver(two.payload, delivery_id="d-two")
    assert [cr["conclusion"] for cr in env.check_runs(one.repo)] == ["success"]
    assert [cr["conclusion"] for cr in env.check_runs(two.repo)] == ["success"]
    assert mints(env) == [expected(one.repo.id, scopes.JUDGE),
                          expected(two.repo.id, scopes.JUDGE)]
    # The client (and token) for the first repository cannot read the second one.
    gh = await env.clients(1, repository_id=one.repo.id, scope=scopes.JUDGE)
    with env.fake.expecting("404 Not Found"), pytest.raises(gidgethub.BadRequest) as info:
        await gh.getitem("/repos/{owner}/{repo}/actions/runs/{run_id}",
                         {"owner": two.repo.owner, "repo": two.repo.name,
                          "run_id": two.run["id"]})
    assert info.value.status_code == 404
    assert len(mints(env)) == 2                               # the cached token was used


def test_docs_list_the_scopes() -> None:
    text = (ROOT / "docs" / "app.md").read_text(encoding="utf-8")
    for scope in (scopes.START, scopes.JUDGE, scopes.PLAN, scopes.COMMAND):
        row = next((line for line in text.splitlines()
                    if line.strip().startswith(f"| `{scope.name}` |")), None)
        assert row is not None, scope.name
        for perm, level in scope.permissions:
            assert f"{perm}: {level}" in row, (scope.name, perm)
