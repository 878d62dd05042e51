"""Handlers against the fake GitHub with the real gidgethub-based client (no server, no queue).

Payloads are the corpus's real `workflow_run.completed` body, seeded into the fake by
tests.fakegithub.seed (which adds `installation` and seeds the run, jobs and artifacts the
payload points at). Reports are real files from the corpus.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.app import scopes
from bot.app.handlers import RunNotSettled
from bot.core.checkrun import parse_state_block
from bot.core.prcomment import MARKER
from tests.app.helpers_logic import (
    COVERAGE_PY,
    FAILING,
    HEALTHY,
    JUNIT,
    MAVEN,
    PYTEST_MANY,
    SMALL,
    ZERO_TESTS,
    Env,
    env_fixture,  # noqa: F401  (the `env` fixture)
)
from tests.fakegithub.seed import load_payload, seed_workflow_run, zip_reports

CONFIG = """\
evidence:
  workflows:
    - name: CI
      artifacts: ["junit-*"]
      shards: 3
"""


def pr_payload(**changes: Any) -> dict[str, Any]:
    """The corpus payload adapted to a pull_request run of workflow "CI" (before seeding)."""
    payload = load_payload("workflow_run.completed")
    payload["workflow_run"].update(event="pull_request", name="CI", **changes)
    return payload


def configure(repo: Any, text: str) -> None:
    repo.commit({".github/ci-truth.yml": text}, branch=repo.default_branch)


def only_check(env: Env, repo: Any) -> dict[str, Any]:
    [cr] = env.check_runs(repo)
    return cr


def rules(cr: dict[str, Any]) -> str:
    return cr["output"]["summary"]


async def test_green_run_with_zero_tests_fails_the_check(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, reports={"junit.xml": ZERO_TESTS})
    await env.deliver(seeded.payload)
    cr = only_check(env, seeded.repo)
    assert cr["status"] == "completed" and cr["conclusion"] == "failure"
    assert cr["head_sha"] == seeded.run["head_sha"]
    assert cr["output"]["title"].startswith("0 tests ran")
    assert "`zero-tests`" in rules(cr)
    assert cr["external_id"] == f"{seeded.run['id']}:1"
    assert [a["identifier"] for a in cr["actions"]] == ["recheck"]


async def test_healthy_run_passes_and_embeds_its_state(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, reports={"junit.xml": HEALTHY})
    await env.deliver(seeded.payload)
    cr = only_check(env, seeded.repo)
    assert cr["conclusion"] == "success", rules(cr)
    assert cr["output"]["title"] == "22 passed — 1 report"
    state = parse_state_block(cr["output"]["text"])
    assert state is not None and state["tests"]["total"] == 22 and len(state["test_ids"]) == 22


async def test_github_calls_and_rate_limit_remaining_reach_the_metrics(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, reports={"junit.xml": HEALTHY})
    env.fake.inject("GET", r"/attempts/\d+/jobs$", 502)        # retried once, then fine
    await env.deliver(seeded.payload)
    metrics = env.clients.metrics
    calls = env.fake.calls()
    assert metrics.github_calls["200"] + metrics.github_calls["201"] == sum(
        c.status in (200, 201) for c in calls if c.host == "api")
    assert metrics.github_calls["502"] == 1
    used = sum(1 for c in calls if c.host == "api" and c.rate_key == "installation:1"
               and c.status != 304)                     # conditional hits are free
    assert metrics.rate_limit_remaining[1] == env.fake.rate_limit - used
    text = metrics.render(queue_depth=0, job_states={})
    assert 'ci_truth_github_requests_total{status="502"} 1' in text
    assert (f'ci_truth_github_rate_limit_remaining{{installation="1"}} '
            f"{env.fake.rate_limit - used}") in text


async def test_the_same_delivery_three_times_makes_one_check_run(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, reports={"junit.xml": HEALTHY})
    for _ in range(3):
        await env.deliver(seeded.payload)
    assert len(env.check_runs(seeded.repo)) == 1
    assert len(env.fake.calls("POST", r"/check-runs$")) == 1


async def test_requested_creates_in_progress_then_completed_updates_it(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, reports={"junit-1.xml": HEALTHY},
                               artifact_name="junit-1")
    configure(seeded.repo, CONFIG.replace("shards: 3", "shards: 1"))
    requested = load_payload("workflow_run.completed")
    requested.update(action="requested", installation=seeded.payload["installation"])
    requested["workflow_run"].update(status="queued", conclusion=None, name="CI",
                                     head_sha=seeded.run["head_sha"])
    await env.deliver(requested)
    cr = only_check(env, seeded.repo)
    assert cr["status"] == "in_progress"
    await env.deliver(dict(requested, action="in_progress"))     # no second check run
    seeded.payload["workflow_run"]["name"] = "CI"
    await env.deliver(seeded.payload)
    assert only_check(env, seeded.repo)["id"] == cr["id"]
    assert cr["status"] == "completed" and cr["conclusion"] == "success", rules(cr)


async def test_continue_on_error_step_is_a_masked_failure(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, reports={"junit.xml": HEALTHY}, jobs=[
        {"name": "test", "conclusion": "success",
         "steps": [("Set up job", "success"), ("Run pytest", "failure"),
                   ("Upload results", "success")]}])
    await env.deliver(seeded.payload)
    cr = only_check(env, seeded.repo)
    assert cr["conclusion"] == "failure"
    assert "`masked-failure`" in rules(cr) and "test › Run pytest" in rules(cr)


async def test_failing_reports_in_a_green_run_are_masked(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, reports={"report.xml": FAILING})
    await env.deliver(seeded.payload)
    cr = only_check(env, seeded.repo)
    assert cr["conclusion"] == "failure"
    assert "`masked-failure`" in rules(cr) and "exit status was ignored" in rules(cr)
    anns = seeded.repo.annotations[cr["id"]]
    assert anns and all(a["annotation_level"] == "failure" for a in anns)


async def test_annotations_go_in_batches_of_50_on_the_one_check_run(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, reports={"report.xml": PYTEST_MANY})
    await env.deliver(seeded.payload)
    cr = only_check(env, seeded.repo)
    assert cr["conclusion"] == "failure" and cr["output"]["title"].startswith("120 failed")
    (create,) = env.fake.calls("POST", r"/check-runs$")          # one check run, no duplicate
    writes = [create, *env.fake.calls("PATCH", rf"/check-runs/{cr['id']}$")]
    sizes = [len((c.body.get("output") or {}).get("annotations") or []) for c in writes]
    assert sizes == [50, 50, 20]                                 # GitHub's limit per request
    anns = seeded.repo.annotations[cr["id"]]
    assert len(anns) == 120 and len({a["title"] for a in anns}) == 120
    # pytest writes 0-based line="2": the parametrize decorator, line 3 of test_many.py
    assert {(a["path"], a["start_line"]) for a in anns} == {("test_many.py", 3)}


async def test_judging_a_commit_again_does_not_repeat_its_annotations(env: Env) -> None:
    # GitHub appends each update's annotations to the check run's: a recheck (or a second
    # attempt, or another producer's run) must send only the ones it does not hold yet.
    from bot.app.handlers import recheck

    seeded = seed_workflow_run(env.fake.world, reports={"report.xml": PYTEST_MANY})
    await env.deliver(seeded.payload)
    cr = only_check(env, seeded.repo)
    assert len(seeded.repo.annotations[cr["id"]]) == 120
    gh = await env.clients(1, repository_id=seeded.repo.id, scope=scopes.JUDGE)
    sha = seeded.run["head_sha"]
    start = len(env.fake.requests)
    assert await recheck(gh, seeded.payload["repository"], sha, env.ctx)
    assert len(seeded.repo.annotations[cr["id"]]) == 120            # warm cache: no listing
    assert not [c for c in env.api_calls(start) if c.endswith("/annotations")]
    env.ctx.extras.pop("ci_truth.memo")                              # cold cache (new process)
    start = len(env.fake.requests)
    assert await recheck(gh, seeded.payload["repository"], sha, env.ctx)
    anns = seeded.repo.annotations[cr["id"]]
    assert len(anns) == 120 and len({a["title"] for a in anns}) == 120
    assert [c for c in env.api_calls(start) if c.endswith("/annotations")]   # asked GitHub
    assert len(env.check_runs(seeded.repo)) == 1


async def test_annotations_on_absolute_runner_paths_land_on_repository_files(env: Env) -> None:
    """mocha-junit-reporter on a runner writes /home/runner/work/<repo>/<repo>/test/...; the
    App does not know the checkout path, but every runner checks out into that layout."""
    mocha = JUNIT / "publish-unit-test-result-action/python/test/files/mocha/tests.junit-xml"
    report = mocha.read_text(encoding="utf-8").replace("/work/mocha/mocha/", "/work/octo-repo/"
                                                                             "octo-repo/")
    seeded = seed_workflow_run(env.fake.world, reports={"junit.xml": report})
    await env.deliver(seeded.payload)
    cr = only_check(env, seeded.repo)
    assert sorted(a["path"] for a in seeded.repo.annotations[cr["id"]]) == [
        "test/unit/runner.spec.js", "test/unit/test.spec.js"]


async def test_a_check_run_deleted_behind_our_back_is_created_again(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, reports={"junit.xml": HEALTHY})
    await env.deliver(seeded.payload)
    first = only_check(env, seeded.repo)
    seeded.repo.check_runs.pop(first["id"])                     # e.g. removed with the suite
    await env.deliver(seeded.payload, delivery_id="d-again")
    second = only_check(env, seeded.repo)
    assert second["id"] != first["id"] and second["conclusion"] == "success"
    assert [c.status for c in env.fake.calls("PATCH", rf"/check-runs/{first['id']}$")][-1] == 404


async def test_a_check_run_created_again_gets_the_annotations_the_deleted_one_held(
        env: Env) -> None:
    # The cached "annotated" list is the deleted check run's: the new one holds none of them.
    seeded = seed_workflow_run(env.fake.world, reports={"report.xml": PYTEST_MANY})
    await env.deliver(seeded.payload)
    first = only_check(env, seeded.repo)
    assert len(seeded.repo.annotations[first["id"]]) == 120
    seeded.repo.check_runs.pop(first["id"])                     # e.g. removed with the suite
    await env.deliver(seeded.payload, delivery_id="d-again")
    second = only_check(env, seeded.repo)
    assert second["id"] != first["id"]
    anns = seeded.repo.annotations.get(second["id"]) or []
    assert len(anns) == 120 and len({a["title"] for a in anns}) == 120


async def test_declared_producer_with_a_missing_shard(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, raw_artifacts={
        "junit-1": zip_reports({"a.xml": HEALTHY}), "junit-2": zip_reports({"b.xml": HEALTHY}),
        "coverage": b"PK\x03\x04 not a report"})
    configure(seeded.repo, CONFIG)
    seeded.payload["workflow_run"]["name"] = "CI"
    await env.deliver(seeded.payload)
    cr = only_check(env, seeded.repo)
    assert cr["conclusion"] == "failure"
    assert "`missing-evidence`" in rules(cr) and "2 of 3 shards" in rules(cr)


async def test_a_shard_whose_artifact_holds_no_report_is_missing_evidence(env: Env) -> None:
    # Shard 3 crashed before pytest wrote its JUnit file: upload-artifact still uploaded the
    # directory (its log only). Three matching artifacts are not three shards of evidence.
    seeded = seed_workflow_run(env.fake.world, raw_artifacts={
        "junit-1": zip_reports({"a.xml": HEALTHY}), "junit-2": zip_reports({"b.xml": HEALTHY}),
        "junit-3": zip_reports({"pytest.log": "INTERNALERROR> ImportError: no module 'x'\n"})})
    configure(seeded.repo, CONFIG)
    seeded.payload["workflow_run"]["name"] = "CI"
    await env.deliver(seeded.payload)
    cr = only_check(env, seeded.repo)
    assert cr["conclusion"] == "failure", rules(cr)
    assert "`missing-evidence`" in rules(cr) and "2 of 3 shards" in rules(cr)
    assert "no report file: 'junit-3'" in rules(cr)


@pytest.mark.parametrize("shard3", [
    {"coverage.xml": COVERAGE_PY},
    {"site/jacoco/jacoco.xml": MAVEN / "site/jacoco/jacoco.xml",
     "checkstyle-result.xml": MAVEN / "checkstyle-result.xml"},
], ids=["coverage", "jacoco-and-checkstyle"])
async def test_a_shard_whose_artifact_holds_no_test_report_xml_is_missing_evidence(
        env: Env, shard3: dict[str, Any]) -> None:
    # Shard 3's tests died before the JUnit XML was written; its upload still held coverage or
    # lint XML. Those are set aside, never test evidence: counting the artifact as a shard
    # would pass the run on two shards' reports.
    seeded = seed_workflow_run(env.fake.world, raw_artifacts={
        "junit-1": zip_reports({"a.xml": HEALTHY}), "junit-2": zip_reports({"b.xml": HEALTHY}),
        "junit-3": zip_reports(shard3)})
    configure(seeded.repo, CONFIG)
    seeded.payload["workflow_run"]["name"] = "CI"
    await env.deliver(seeded.payload)
    cr = only_check(env, seeded.repo)
    assert cr["conclusion"] == "failure", rules(cr)
    assert "`missing-evidence`" in rules(cr) and "2 of 3 shards" in rules(cr)
    assert "no report file: 'junit-3'" in rules(cr)


async def test_expired_reports_are_missing_evidence(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world)
    seeded.repo.add_artifact(seeded.run, "junit-1", zip_reports({"a.xml": HEALTHY}),
                             expired=True)
    configure(seeded.repo, CONFIG)
    seeded.payload["workflow_run"]["name"] = "CI"
    await env.deliver(seeded.payload)
    cr = only_check(env, seeded.repo)
    assert cr["conclusion"] == "failure" and "have expired" in rules(cr)
    assert not env.fake.calls("GET", r"/actions/artifacts/\d+/zip")   # never downloaded


async def test_without_config_runs_without_reports_stay_quiet(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, raw_artifacts={"dist": b"PK\x03\x04wheel"})
    await env.deliver(seeded.payload)
    assert env.check_runs(seeded.repo) == []
    assert not [c for c in env.api_calls() if not c.startswith("GET ")]


async def test_config_is_read_from_the_default_branch_only(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, reports={"junit.xml": HEALTHY})
    configure(seeded.repo, "evidence:\n  workflows:\n    - name: Other\n")
    await env.deliver(seeded.payload)
    assert env.check_runs(seeded.repo) == []      # "CI" is not a declared producer
    [get] = env.fake.calls("GET", r"/contents/\.github/ci-truth\.yml")
    assert "ref" not in get.query


@pytest.mark.parametrize(("files", "reason"), [
    ({".github/ci-truth.yml": "evidence:\n  workflows: 7\n"}, "configuration is invalid"),
    ({".github/ci-truth.yml": "evidence:\n  workflows:\n    - name: 2024-02-30\n"},
     "'2024-02-30' is ambiguous"),                 # not a day: PyYAML raised ValueError
    ({".github/ci-truth.yml": b"gate:\n  min_tests: \xff\n"}, "is not UTF-8 text"),
    ({".github/ci-truth.yml/oops.yml": "gate: {}\n"}, "could not be read (not a file"),
])
async def test_a_broken_config_fails_the_check_instead_of_loosening_the_gate(
        env: Env, files: dict[str, Any], reason: str) -> None:
    seeded = seed_workflow_run(env.fake.world, reports={"junit.xml": HEALTHY})
    seeded.repo.commit(files, branch=seeded.repo.default_branch)
    await env.deliver(seeded.payload)
    cr = only_check(env, seeded.repo)
    assert cr["conclusion"] == "failure" and reason in rules(cr), rules(cr)
    assert ".github/ci-truth.yml" in rules(cr)
    assert not env.fake.calls("GET", r"/zip$")          # no report judged on a broken config


async def test_stale_attempt_is_ignored(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, reports={"junit.xml": HEALTHY})
    seeded.run["run_attempt"] = 2              # a re-run started after this delivery
    await env.deliver(seeded.payload)
    assert env.check_runs(seeded.repo) == []


async def test_an_older_run_of_the_workflow_completing_last_changes_nothing(env: Env) -> None:
    # A push run and a manual re-trigger (a new run, not a new attempt) of "CI" on one SHA:
    # the newer run's result stands even when the older run completes after it.
    ci = load_payload("workflow_run.completed")
    ci["workflow_run"]["name"] = "CI"
    older = seed_workflow_run(env.fake.world, ci, reports={"junit.xml": FAILING})
    configure(older.repo, "evidence:\n  workflows:\n    - name: CI\n")
    ci["workflow_run"].update(id=older.run["id"] + 1, event="workflow_dispatch")
    newer = seed_workflow_run(env.fake.world, ci, reports={"junit.xml": HEALTHY})
    await env.deliver(newer.payload)
    assert only_check(env, older.repo)["conclusion"] == "success"
    start = len(env.fake.requests)
    await env.deliver(older.payload)
    cr = only_check(env, older.repo)
    assert cr["conclusion"] == "success", rules(cr)
    state = parse_state_block(cr["output"]["text"])
    assert state is not None and [r["id"] for r in state["runs"]] == [newer.run["id"]]
    assert not [c for c in env.api_calls(start)
                if c.split()[0] in ("PATCH", "POST") and "/check-runs" in c]


async def test_an_older_run_completing_last_beside_another_producer(env: Env) -> None:
    ci = load_payload("workflow_run.completed")
    ci["workflow_run"]["name"] = "CI"
    older = seed_workflow_run(env.fake.world, ci, reports={"junit.xml": FAILING})
    configure(older.repo, "evidence:\n  workflows:\n    - name: CI\n    - name: Integration\n")
    it = load_payload("workflow_run.completed")
    it["workflow_run"].update(name="Integration", id=older.run["id"] + 1,
                              path=".github/workflows/integration.yml")
    integration = seed_workflow_run(env.fake.world, it, reports={"it.xml": SMALL})
    newer_ci = load_payload("workflow_run.completed")
    newer_ci["workflow_run"].update(name="CI", id=older.run["id"] + 2,
                                    event="workflow_dispatch")
    newer = seed_workflow_run(env.fake.world, newer_ci, reports={"junit.xml": HEALTHY})
    await env.deliver(newer.payload)
    await env.deliver(integration.payload)
    assert only_check(env, older.repo)["conclusion"] == "success"
    await env.deliver(older.payload)                 # the push run finishes last
    cr = only_check(env, older.repo)
    assert cr["conclusion"] == "success", rules(cr)
    state = parse_state_block(cr["output"]["text"])
    assert state is not None
    assert sorted(r["id"] for r in state["runs"]) == [integration.run["id"], newer.run["id"]]


async def test_completed_run_not_yet_visible_in_the_api_is_retried(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, reports={"junit.xml": HEALTHY})
    seeded.run.update(status="in_progress", conclusion=None)     # the API lags the webhook
    with pytest.raises(RunNotSettled):
        await env.deliver(seeded.payload)
    assert env.check_runs(seeded.repo) == []
    seeded.run.update(status="completed", conclusion="success")  # the worker's retry
    await env.deliver(seeded.payload)
    assert only_check(env, seeded.repo)["conclusion"] == "success"


async def test_pr_run_whose_sha_is_no_longer_the_head_is_ignored(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, pr_payload(), reports={"junit.xml": ZERO_TESTS})
    seeded.repo.add_pull(head_ref="feature")   # open PR, another head SHA
    await env.deliver(seeded.payload)
    assert env.check_runs(seeded.repo) == []


async def test_sticky_comment_created_once_and_edited_on_change(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, pr_payload(), reports={"junit.xml": ZERO_TESTS})
    sha = seeded.run["head_sha"]
    pr = seeded.repo.add_pull(head_ref="feature", head_sha=sha)
    await env.deliver(seeded.payload)
    await env.deliver(seeded.payload, delivery_id="d-2")
    comments = [c for c in seeded.repo.comments.values() if c.get("issue_number", pr["number"])
                == pr["number"]]
    assert len(comments) == 1
    assert len(env.fake.calls("POST", r"/issues/\d+/comments$")) == 1
    assert not env.fake.calls("PATCH", r"/issues/comments/")          # digest unchanged
    # The evidence changes (a re-run uploads a healthy report); Recheck edits the comment.
    art = seeded.artifacts[0]
    art.data = zip_reports({"junit.xml": HEALTHY})
    from bot.app.handlers import recheck
    gh = await env.clients(1, repository_id=seeded.repo.id, scope=scopes.JUDGE)
    assert await recheck(gh, seeded.payload["repository"], sha, env.ctx)
    assert only_check(env, seeded.repo)["conclusion"] == "success"
    assert len(env.fake.calls("PATCH", r"/issues/comments/")) == 1
    assert len(env.fake.calls("POST", r"/issues/\d+/comments$")) == 1


async def test_a_sticky_comment_deleted_by_a_person_is_posted_again_on_the_next_change(
        env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, pr_payload(), reports={"junit.xml": ZERO_TESTS})
    sha = seeded.run["head_sha"]
    pr = seeded.repo.add_pull(head_ref="feature", head_sha=sha)
    await env.deliver(seeded.payload)
    (first,) = [cid for cid, c in seeded.repo.comments.items() if MARKER in c["body"]]
    del seeded.repo.comments[first]                          # a maintainer deleted it
    seeded.artifacts[0].data = zip_reports({"junit.xml": FAILING})  # the verdict changes
    from bot.app.handlers import recheck
    gh = await env.clients(1, repository_id=seeded.repo.id, scope=scopes.JUDGE)
    assert await recheck(gh, seeded.payload["repository"], sha, env.ctx)
    ours = [c for c in seeded.repo.comments.values() if MARKER in c["body"]]
    assert len(ours) == 1 and ours[0]["id"] != first         # the current verdict, once
    assert "masked-failure" in ours[0]["body"] and ours[0]["issue_number"] == pr["number"]
    assert [c.status for c in env.fake.calls("PATCH", r"/issues/comments/")] == [404]


async def test_a_comment_refused_with_404_is_skipped_quietly(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, pr_payload(), reports={"junit.xml": HEALTHY})
    sha = seeded.run["head_sha"]
    seeded.repo.add_pull(head_ref="feature", head_sha=sha)
    await env.deliver(seeded.payload)                          # healthy: no comment yet
    seeded.artifacts[0].data = zip_reports({"junit.xml": ZERO_TESTS})
    env.fake.inject("POST", r"/issues/\d+/comments$", 404)    # e.g. the issue was deleted
    from bot.app.handlers import recheck
    gh = await env.clients(1, repository_id=seeded.repo.id, scope=scopes.JUDGE)
    assert await recheck(gh, seeded.payload["repository"], sha, env.ctx)
    assert only_check(env, seeded.repo)["conclusion"] == "failure"   # the check still tells
    assert [c.status for c in env.fake.calls("POST", r"/comments$")] == [404]


async def test_healthy_pr_gets_no_comment(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, pr_payload(), reports={"junit.xml": HEALTHY})
    seeded.repo.add_pull(head_ref="feature", head_sha=seeded.run["head_sha"])
    await env.deliver(seeded.payload)
    assert only_check(env, seeded.repo)["conclusion"] == "success"
    assert not env.fake.calls("POST", r"/comments$")


async def test_fork_run_is_untrusted_and_cannot_pass(env: Env) -> None:
    payload = load_payload("workflow_run.completed")
    fork_id = payload["repository"]["id"] + 1
    payload["workflow_run"]["head_repository"] = dict(
        payload["workflow_run"]["head_repository"], id=fork_id, full_name="mallory/octo-repo",
        name="octo-repo")
    payload["workflow_run"].update(event="pull_request", pull_requests=[])
    seeded = seed_workflow_run(env.fake.world, payload, reports={"junit.xml": HEALTHY})
    fork = env.fake.world.repo("mallory", "octo-repo")
    seeded.repo.add_pull(head_ref="evil", head_sha=seeded.run["head_sha"], head_repo=fork)
    await env.deliver(seeded.payload)
    cr = only_check(env, seeded.repo)
    assert cr["conclusion"] == "failure"
    assert "`untrusted-evidence`" in rules(cr) and "mallory/octo-repo" in rules(cr)
    assert "attacker-controlled" in rules(cr)
    assert env.fake.calls("GET", r"/commits/[0-9a-f]+/pulls$")
    assert not env.fake.calls("POST", r"/comments$")     # fork provenance alone: no comment


async def test_fork_trusted_by_config_passes_with_the_warning(env: Env) -> None:
    payload = load_payload("workflow_run.completed")
    payload["workflow_run"]["head_repository"] = dict(
        payload["workflow_run"]["head_repository"], id=payload["repository"]["id"] + 1,
        full_name="friend/octo-repo", name="octo-repo")
    payload["workflow_run"]["event"] = "pull_request"
    seeded = seed_workflow_run(env.fake.world, payload, reports={"junit.xml": HEALTHY})
    configure(seeded.repo, "evidence:\n  forks: trusted\n")
    fork = env.fake.world.repo("friend", "octo-repo")
    seeded.repo.add_pull(head_ref="f", head_sha=seeded.run["head_sha"], head_repo=fork)
    await env.deliver(seeded.payload)
    cr = only_check(env, seeded.repo)
    assert cr["conclusion"] == "success" and "may be forged" in rules(cr)


async def test_recheck_honours_forks_ignore(env: Env) -> None:
    # The fork PR was judged under the default (advisory); the maintainers then chose
    # `forks: ignore`. A recheck must not download and judge the fork's artifacts again.
    payload = load_payload("workflow_run.completed")
    payload["workflow_run"]["head_repository"] = dict(
        payload["workflow_run"]["head_repository"], id=payload["repository"]["id"] + 1,
        full_name="mallory/octo-repo", name="octo-repo")
    payload["workflow_run"].update(event="pull_request", pull_requests=[])
    seeded = seed_workflow_run(env.fake.world, payload, reports={"junit.xml": HEALTHY})
    fork = env.fake.world.repo("mallory", "octo-repo")
    sha = seeded.run["head_sha"]
    seeded.repo.add_pull(head_ref="evil", head_sha=sha, head_repo=fork)
    await env.deliver(seeded.payload)
    assert "`untrusted-evidence`" in rules(only_check(env, seeded.repo))
    configure(seeded.repo, "evidence:\n  forks: ignore\n")
    from bot.app.handlers import recheck
    gh = await env.clients(1, repository_id=seeded.repo.id, scope=scopes.JUDGE)
    start = len(env.fake.requests)
    assert not await recheck(gh, seeded.payload["repository"], sha, env.ctx)
    calls = env.api_calls(start)
    assert not [c for c in calls if c.endswith("/zip")], calls            # not downloaded
    assert not [c for c in calls if not c.startswith("GET ")], calls      # nothing written


async def test_recheck_button_requires_our_app_and_write_access(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, reports={"junit.xml": HEALTHY})
    await env.deliver(seeded.payload)
    cr = only_check(env, seeded.repo)
    action = load_payload("all/check_run.requested_action.6")
    action.update(repository=seeded.payload["repository"],
                  installation=seeded.payload["installation"],
                  requested_action={"identifier": "recheck"})
    action["check_run"].update(name="CI Truth", head_sha=cr["head_sha"], id=cr["id"],
                               app=dict(action["check_run"]["app"], id=env.ctx.app_id))
    action["sender"]["login"] = "reader"
    seeded.repo.set_permission("reader", "read")
    before = len(env.fake.calls("PATCH", r"/check-runs/"))
    await env.deliver(action, event="check_run")
    assert len(env.fake.calls("PATCH", r"/check-runs/")) == before        # refused
    seeded.repo.set_permission("maintainer", "write", "maintain")
    action["sender"]["login"] = "maintainer"
    await env.deliver(action, event="check_run")
    assert len(env.fake.calls("PATCH", r"/check-runs/")) == before + 1
    foreign = dict(action, check_run=dict(action["check_run"], app={"id": 1}))
    await env.deliver(foreign, event="check_run")
    assert len(env.fake.calls("PATCH", r"/check-runs/")) == before + 1
    assert len(env.check_runs(seeded.repo)) == 1


async def test_installation_events_evict_the_token(env: Env) -> None:
    for name in ("installation.deleted.0", "installation.suspend.5",
                 "installation.new_permissions_accepted.4", "installation.unsuspend.6"):
        await env.deliver(load_payload(f"all/{name}"), event="installation")
    assert len(env.evicted) == 3
    for name in ("installation_repositories.removed.2", "installation_repositories.added.0"):
        await env.deliver(load_payload(f"all/{name}"), event="installation_repositories")
    assert len(env.evicted) == 4        # a removed repository's cached tokens go too
    assert env.api_calls() == []


async def test_steady_state_rest_calls_per_completed_run(env: Env) -> None:
    """A new push to an open PR, warm caches (token, ETags, check-run id, PR comment state)."""
    world = env.fake.world
    first = seed_workflow_run(world, pr_payload(), reports={"junit.xml": HEALTHY})
    configure(first.repo, "evidence:\n  workflows:\n    - name: CI\n")
    pr = first.repo.add_pull(head_ref="feature", head_sha=first.run["head_sha"])
    await env.deliver(first.payload)                                     # warms the caches
    second = pr_payload(id=first.run["id"] + 1, head_sha="ab" * 20)
    seeded = seed_workflow_run(world, second, reports={"junit.xml": HEALTHY})
    pr["head_sha"] = "ab" * 20                                           # the PR moved on
    requested = dict(seeded.payload, action="requested")
    requested["workflow_run"] = dict(seeded.payload["workflow_run"], status="queued")
    await env.deliver(requested)                                         # creates + caches id
    start = len(env.fake.requests)
    await env.deliver(seeded.payload)
    calls = env.api_calls(start)
    [cr] = [c for c in env.check_runs(seeded.repo) if c["head_sha"] == "ab" * 20]
    assert cr["conclusion"] == "success", rules(cr)
    assert len(calls) <= 8, calls
    assert sum(c.startswith("PATCH") for c in calls) == 1


async def test_test_drop_against_the_default_branch_baseline(env: Env) -> None:
    main = seed_workflow_run(env.fake.world, reports={"junit.xml": HEALTHY})
    repo = main.repo
    repo.branches[repo.default_branch] = main.run["head_sha"]        # the run is main's head
    await env.deliver(main.payload)
    assert only_check(env, repo)["conclusion"] == "success"
    # A check run with our name from another app, claiming a bigger suite, must be ignored.
    from bot.core.checkrun import state_block
    from bot.core.model import Conclusion, Counts, MeasuredState, Verdict
    from tests.fakegithub.routes.checks import add_check_run
    forged = add_check_run(repo, "CI Truth", main.run["head_sha"], app_id=1)
    big = MeasuredState(totals=Counts(tests=99, passed=99))
    forged["output"] = {"title": "x", "summary": "x", "text": state_block(
        big, Verdict(Conclusion.SUCCESS), [], head_sha=main.run["head_sha"])}
    pr = pr_payload(id=main.run["id"] + 5, head_sha="ef" * 20)
    seeded = seed_workflow_run(env.fake.world, pr, reports={"junit.xml": SMALL})
    repo.add_pull(head_ref="shrink", head_sha="ef" * 20)
    await env.deliver(seeded.payload)
    [cr] = [c for c in env.check_runs(repo) if c["head_sha"] == "ef" * 20]
    assert cr["conclusion"] == "failure"
    assert "`test-drop`" in rules(cr) and "19 of the baseline's 22 tests" in rules(cr)


def main_run(env: Env, report: Any, *, run_id: int, conclusion: str | None = None,
             branch: str | None = None) -> Any:
    """A push run of workflow "CI" on a new commit of the default branch (or of `branch`),
    seeded, not delivered."""
    payload = load_payload("workflow_run.completed")
    branch = branch or payload["repository"]["default_branch"]
    repo = env.fake.world.repo(*payload["repository"]["full_name"].split("/"))
    sha = repo.commit({"src/app.py": f"# {run_id}\n"}, branch=branch) if repo else payload[
        "workflow_run"]["head_sha"]
    payload["workflow_run"].update(event="push", name="CI", id=run_id, head_sha=sha,
                                   head_branch=branch)
    seeded = seed_workflow_run(env.fake.world, payload, reports={"junit.xml": report},
                               conclusion=conclusion)
    seeded.repo.branches[branch] = sha                          # the run is the branch's head
    return seeded


async def shrinking_pr(env: Env, repo: Any, run_id: int) -> dict[str, Any]:
    """A pull request whose run reports 3 tests (SMALL); its completed CI Truth check run."""
    seeded = seed_workflow_run(env.fake.world, pr_payload(id=run_id, head_sha="ef" * 20),
                               reports={"junit.xml": SMALL})
    repo.add_pull(head_ref="shrink", head_sha="ef" * 20)
    await env.deliver(seeded.payload)
    [cr] = [c for c in env.check_runs(repo) if c["head_sha"] == "ef" * 20]
    return cr


async def test_test_drop_baseline_while_the_default_branch_head_is_still_running(
        env: Env) -> None:
    first = main_run(env, HEALTHY, run_id=500)
    await env.deliver(first.payload)
    repo, good = first.repo, first.run["head_sha"]
    newer = main_run(env, HEALTHY, run_id=501)                 # main moved on; its CI runs
    requested = dict(newer.payload, action="requested")
    requested["workflow_run"] = dict(newer.payload["workflow_run"], status="in_progress",
                                     conclusion=None)
    await env.deliver(requested)
    assert repo.branches[repo.default_branch] == newer.run["head_sha"]
    cr = await shrinking_pr(env, repo, 600)
    assert cr["conclusion"] == "failure", rules(cr)
    assert f"19 of the baseline's 22 tests (commit {good[:12]} on master)" in rules(cr)
    assert f"Baseline for `test-drop`: 22 tests at commit `{good[:12]}`" in rules(cr)


async def test_a_default_branch_failing_only_on_tests_is_still_a_count_baseline(
        env: Env) -> None:
    main = main_run(env, FAILING, run_id=500, conclusion="failure")     # 4 tests, 1 fails
    await env.deliver(main.payload)
    assert only_check(env, main.repo)["conclusion"] == "failure"
    cr = await shrinking_pr(env, main.repo, 600)
    assert "1 of the baseline's 4 tests" in rules(cr), rules(cr)


async def test_a_default_branch_failing_for_missing_evidence_is_walked_past(env: Env) -> None:
    good = main_run(env, HEALTHY, run_id=500)
    await env.deliver(good.payload)
    broken = main_run(env, ZERO_TESTS, run_id=501)           # no evidence: not a suite size
    await env.deliver(broken.payload)
    [bad] = [c for c in env.check_runs(good.repo) if c["head_sha"] == broken.run["head_sha"]]
    assert bad["conclusion"] == "failure" and "`zero-tests`" in rules(bad)
    cr = await shrinking_pr(env, good.repo, 600)
    assert f"19 of the baseline's 22 tests (commit {good.run['head_sha'][:12]}" in rules(cr)
    again = seed_workflow_run(env.fake.world, pr_payload(id=601, head_sha="ef" * 20),
                              reports={"junit.xml": SMALL})
    start = len(env.fake.requests)                           # again: the walk is remembered
    await env.deliver(again.payload)
    walked = [c for c in env.api_calls(start) if c.startswith("GET /repos/octo-org/octo-repo/"
              "commits/") and c.endswith("/check-runs") and "ef" * 20 not in c]
    assert len(walked) <= 2, walked           # main's head and the usable commit, no others


async def test_a_push_to_the_default_branch_is_compared_with_its_parent(env: Env) -> None:
    good = main_run(env, HEALTHY, run_id=500)
    await env.deliver(good.payload)
    shrunk = main_run(env, SMALL, run_id=501)
    await env.deliver(shrunk.payload)
    [cr] = [c for c in env.check_runs(good.repo) if c["head_sha"] == shrunk.run["head_sha"]]
    assert cr["conclusion"] == "failure", rules(cr)
    assert "19 of the baseline's 22 tests" in rules(cr)


async def test_a_branch_push_is_compared_with_its_merge_base_not_the_grown_default(
        env: Env) -> None:
    old = main_run(env, SMALL, run_id=500)                  # main had 3 tests
    await env.deliver(old.payload)
    repo = old.repo
    feature = repo.commit({"src/feature.py": "x = 1\n"}, branch="feature")
    grown = main_run(env, HEALTHY, run_id=501)               # main grew to 22 since
    await env.deliver(grown.payload)
    payload = load_payload("workflow_run.completed")
    payload["workflow_run"].update(event="push", name="CI", id=502, head_sha=feature,
                                   head_branch="feature")
    seeded = seed_workflow_run(env.fake.world, payload, reports={"junit.xml": SMALL})
    await env.deliver(seeded.payload)
    [cr] = [c for c in env.check_runs(repo) if c["head_sha"] == feature]
    assert cr["conclusion"] == "success", rules(cr)
    assert f"3 tests at commit `{old.run['head_sha'][:12]}`" in rules(cr)


async def test_a_branch_push_after_its_merge_base_s_parent_was_judged_is_compared_with_it(
        env: Env) -> None:
    # Without a config a run has no check run until it completes: the first push of the
    # branch finds no baseline (the merge base has no evidence, its parent's CI still runs);
    # once the parent is judged, the next push must be compared with it.
    main = main_run(env, HEALTHY, run_id=500)                # its CI still running
    repo, base = main.repo, main.run["head_sha"]
    broken = main_run(env, ZERO_TESTS, run_id=501)           # the merge base: no evidence
    await env.deliver(broken.payload)

    async def push(run_id: int) -> dict[str, Any]:
        sha = repo.commit({"src/feature.py": f"x = {run_id}\n"}, branch="feature")
        payload = load_payload("workflow_run.completed")
        payload["workflow_run"].update(event="push", name="CI", id=run_id, head_sha=sha,
                                       head_branch="feature")
        seeded = seed_workflow_run(env.fake.world, payload, reports={"junit.xml": SMALL})
        await env.deliver(seeded.payload)
        [cr] = [c for c in env.check_runs(repo) if c["head_sha"] == sha]
        return cr

    first = await push(503)
    assert "No baseline for `test-drop`" in rules(first), rules(first)
    await env.deliver(main.payload)                          # the parent's run completes
    [judged] = [c for c in env.check_runs(repo) if c["head_sha"] == base]
    assert judged["conclusion"] == "success"
    again = await push(504)
    assert again["conclusion"] == "failure", rules(again)
    assert f"19 of the baseline's 22 tests (commit {base[:12]}" in rules(again)


@pytest.mark.parametrize(("on_main", "on_release", "conclusion"), [
    (HEALTHY, SMALL, "success"),      # the release branch is smaller: no false drop
    (SMALL, HEALTHY, "failure")])     # ...or bigger: a real drop, not hidden by main's size
async def test_a_pull_request_to_another_branch_is_compared_with_that_branch(
        env: Env, on_main: Any, on_release: Any, conclusion: str) -> None:
    main = main_run(env, on_main, run_id=500)
    await env.deliver(main.payload)
    release = main_run(env, on_release, run_id=501, branch="release-1.x")
    await env.deliver(release.payload)
    repo, base = main.repo, release.run["head_sha"]
    seeded = seed_workflow_run(env.fake.world, pr_payload(id=600, head_sha="ef" * 20),
                               reports={"junit.xml": SMALL})
    repo.add_pull(head_ref="backport", head_sha="ef" * 20, base="release-1.x")
    await env.deliver(seeded.payload)
    [cr] = [c for c in env.check_runs(repo) if c["head_sha"] == "ef" * 20]
    assert cr["conclusion"] == conclusion, rules(cr)
    total = 3 if on_release is SMALL else 22
    assert (f"Baseline for `test-drop`: {total} tests at commit `{base[:12]}` on "
            "`release-1.x`.") in rules(cr)


async def test_locked_pr_conversation_is_skipped_quietly(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, pr_payload(), reports={"junit.xml": ZERO_TESTS})
    pr = seeded.repo.add_pull(head_ref="feature", head_sha=seeded.run["head_sha"])
    seeded.repo.issues[pr["number"]]["locked"] = True
    await env.deliver(seeded.payload)                     # no exception: the job succeeds
    assert only_check(env, seeded.repo)["conclusion"] == "failure"
    [post] = env.fake.calls("POST", r"/issues/\d+/comments$")
    assert post.status == 403 and seeded.repo.comments == {}


async def test_two_declared_producers_make_one_check_over_both(env: Env) -> None:
    ci = load_payload("workflow_run.completed")
    ci["workflow_run"]["name"] = "CI"
    first = seed_workflow_run(env.fake.world, ci, reports={"junit.xml": HEALTHY})
    configure(first.repo, "evidence:\n  workflows:\n    - name: CI\n    - name: Integration\n")
    await env.deliver(first.payload)
    cr = only_check(env, first.repo)
    assert cr["conclusion"] == "failure" and "'Integration' has no completed run" in rules(cr)

    it = load_payload("workflow_run.completed")
    it["workflow_run"].update(name="Integration", id=first.run["id"] + 1,
                              path=".github/workflows/integration.yml")
    second = seed_workflow_run(env.fake.world, it, reports={"it.xml": SMALL})
    await env.deliver(second.payload)
    cr = only_check(env, first.repo)
    assert cr["conclusion"] == "success", rules(cr)
    assert cr["output"]["title"] == "25 passed — 2 reports"
    state = parse_state_block(cr["output"]["text"])
    assert state is not None
    assert sorted(r["name"] for r in state["runs"]) == ["CI", "Integration"]


async def test_without_config_a_later_green_workflow_does_not_hide_a_red_one(env: Env) -> None:
    # No config: every workflow run with report-like artifacts is evidence. The one check run
    # on the SHA must hold all of them, not only the run that completed last.
    ci = load_payload("workflow_run.completed")
    ci["workflow_run"]["name"] = "CI"
    first = seed_workflow_run(env.fake.world, ci, reports={"junit.xml": FAILING},
                              conclusion="failure")
    await env.deliver(first.payload)
    assert only_check(env, first.repo)["conclusion"] == "failure"
    docs = load_payload("workflow_run.completed")
    docs["workflow_run"].update(name="Docs", id=first.run["id"] + 1,
                                path=".github/workflows/docs.yml")
    second = seed_workflow_run(env.fake.world, docs, reports={"doctest.xml": SMALL},
                               artifact_name="doctest-results")
    await env.deliver(second.payload)
    cr = only_check(env, first.repo)
    assert cr["conclusion"] == "failure" and "`failures`" in rules(cr), rules(cr)
    state = parse_state_block(cr["output"]["text"])
    assert state is not None and state["tests"]["total"] == 4 + 3
    assert sorted(r["name"] for r in state["runs"]) == ["CI", "Docs"]


async def test_a_red_producer_s_failures_are_not_blamed_on_a_green_one(env: Env) -> None:
    # CI failed honestly (its run is red); Integration passed. Nothing was masked: the
    # masked-failure rule reads each run's own reports, not the commit's combined totals.
    ci = load_payload("workflow_run.completed")
    ci["workflow_run"]["name"] = "CI"
    first = seed_workflow_run(env.fake.world, ci, reports={"junit.xml": FAILING},
                              conclusion="failure")
    configure(first.repo, "evidence:\n  workflows:\n    - name: CI\n    - name: Integration\n")
    await env.deliver(first.payload)
    it = load_payload("workflow_run.completed")
    it["workflow_run"].update(name="Integration", id=first.run["id"] + 1,
                              path=".github/workflows/integration.yml")
    second = seed_workflow_run(env.fake.world, it, reports={"it.xml": SMALL})
    await env.deliver(second.payload)
    cr = only_check(env, first.repo)
    assert cr["conclusion"] == "failure" and "`failures`" in rules(cr), rules(cr)
    assert "`masked-failure`" not in rules(cr), rules(cr)
    green = seed_workflow_run(env.fake.world, dict(it, workflow_run=dict(
        it["workflow_run"], id=first.run["id"] + 2, event="workflow_dispatch")),
        reports={"it.xml": FAILING})                 # a green Integration run that is masked
    await env.deliver(green.payload)
    assert "`masked-failure`" in rules(only_check(env, first.repo))


async def test_artifact_whose_bytes_do_not_match_its_digest_is_not_used(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, reports={"junit.xml": HEALTHY})
    art = seeded.artifacts[0]
    listed = env.fake.corrupt_digest(art)
    await env.deliver(seeded.payload)
    cr = only_check(env, seeded.repo)
    text = rules(cr)
    assert cr["conclusion"] == "failure" and "unreadable-report" in text
    assert f"{art.name} (artifact not trusted" in text
    assert f"sha256:{listed[7:19]}" in text                       # the digest GitHub listed
    state = parse_state_block(cr["output"]["text"])
    assert state is not None and state["tests"]["total"] == 0     # its 22 tests were not counted


@pytest.mark.parametrize(("digest", "passes"), [
    (None, True),                                 # upload-artifact v3: nothing to check
    ("md5:" + "0" * 32, False),                   # present but not checkable: refused
    ("sha256:" + "A" * 64, False),                # well-formed, wrong
])
async def test_digest_absent_passes_unchecked_and_unusable_digests_fail(
        env: Env, digest: str | None, passes: bool) -> None:
    seeded = seed_workflow_run(env.fake.world, reports={"junit.xml": HEALTHY})
    seeded.artifacts[0].digest = digest
    await env.deliver(seeded.payload)
    cr = only_check(env, seeded.repo)
    assert (cr["conclusion"] == "success") is passes, rules(cr)
    assert ("artifact not trusted" in rules(cr)) is not passes


async def test_rerequested_suite_rechecks_for_writers_only(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, reports={"junit.xml": ZERO_TESTS})
    await env.deliver(seeded.payload)
    assert only_check(env, seeded.repo)["conclusion"] == "failure"
    seeded.artifacts[0].data = zip_reports({"junit.xml": HEALTHY})       # evidence re-uploaded
    suite = load_payload("all/check_suite.rerequested.7")
    suite.update(repository=seeded.payload["repository"],
                 installation=seeded.payload["installation"])
    suite["check_suite"].update(head_sha=seeded.run["head_sha"],
                                app=dict(suite["check_suite"]["app"], id=env.ctx.app_id))
    suite["sender"] = dict(suite["sender"], login="drive-by", type="User")
    await env.deliver(suite, event="check_suite")
    assert only_check(env, seeded.repo)["conclusion"] == "failure"     # read access only
    seeded.repo.set_permission("drive-by", "admin")
    await env.deliver(suite, event="check_suite")
    assert only_check(env, seeded.repo)["conclusion"] == "success"
    assert len(env.check_runs(seeded.repo)) == 1


async def test_malformed_run_payload_is_ignored_without_requests(env: Env) -> None:
    seeded = seed_workflow_run(env.fake.world, reports={"junit.xml": HEALTHY})
    del seeded.payload["workflow_run"]["head_sha"]
    await env.deliver(seeded.payload)
    assert env.api_calls() == [] and env.check_runs(seeded.repo) == []


async def test_two_producers_uploading_the_same_artifact_name_are_both_read(env: Env) -> None:
    # Two workflows that both upload "test-results/junit.xml" (the default name of most
    # upload steps): each run's report is its own evidence, not "the same report named twice".
    ci = load_payload("workflow_run.completed")
    ci["workflow_run"]["name"] = "CI"
    first = seed_workflow_run(env.fake.world, ci, reports={"junit.xml": FAILING})
    configure(first.repo, "evidence:\n  workflows:\n    - name: CI\n    - name: Integration\n")
    await env.deliver(first.payload)
    it = load_payload("workflow_run.completed")
    it["workflow_run"].update(name="Integration", id=first.run["id"] + 1,
                              path=".github/workflows/integration.yml")
    second = seed_workflow_run(env.fake.world, it, reports={"junit.xml": HEALTHY})
    await env.deliver(second.payload)
    cr = only_check(env, first.repo)
    state = parse_state_block(cr["output"]["text"])
    assert state is not None and state["tests"]["total"] == 4 + 22, rules(cr)
    assert cr["conclusion"] == "failure" and "`failures`" in rules(cr)   # CI's failing test


@pytest.mark.parametrize("conclusion", ["timed_out", "cancelled"])
async def test_timed_out_job_in_a_green_run_is_a_masked_failure(env: Env,
                                                                 conclusion: str) -> None:
    seeded = seed_workflow_run(env.fake.world, reports={"junit.xml": HEALTHY}, jobs=[
        {"name": "build", "conclusion": "success"},
        {"name": "test", "conclusion": conclusion,
         "steps": [("Run pytest", conclusion)]}])          # job-level continue-on-error
    await env.deliver(seeded.payload)
    [cr] = env.check_runs(seeded.repo)
    assert cr["conclusion"] == "failure", cr["output"]["summary"]
    assert "`masked-failure`" in cr["output"]["summary"]


@pytest.mark.parametrize("conclusion", ["timed_out", "cancelled"])
async def test_timed_out_step_in_a_green_job_is_a_masked_failure(env: Env,
                                                                 conclusion: str) -> None:
    seeded = seed_workflow_run(env.fake.world, reports={"junit.xml": HEALTHY}, jobs=[
        {"name": "test", "conclusion": "success",
         "steps": [("Run pytest", conclusion), ("Upload", "success")]}])
    await env.deliver(seeded.payload)
    [cr] = env.check_runs(seeded.repo)
    assert cr["conclusion"] == "failure", cr["output"]["summary"]
    assert "test › Run pytest" in cr["output"]["summary"]


async def test_a_pr_closed_before_its_run_completes_still_completes_the_check(
        env: Env) -> None:
    # `requested` created the check in progress; the PR is merged (or closed, or pushed to)
    # before the run completes. The check on that commit must not stay in progress forever.
    seeded = seed_workflow_run(env.fake.world, pr_payload(), reports={"junit.xml": ZERO_TESTS})
    configure(seeded.repo, "evidence:\n  workflows:\n    - name: CI\n")
    sha = seeded.run["head_sha"]
    pr = seeded.repo.add_pull(head_ref="feature", head_sha=sha)
    requested = dict(seeded.payload, action="requested")
    requested["workflow_run"] = dict(seeded.payload["workflow_run"], status="queued",
                                     conclusion=None)
    await env.deliver(requested)
    assert only_check(env, seeded.repo)["status"] == "in_progress"
    pr["state"] = "closed"
    await env.deliver(seeded.payload)
    cr = only_check(env, seeded.repo)
    assert cr["status"] == "completed" and cr["conclusion"] == "failure", cr["status"]
    assert "`zero-tests`" in rules(cr)
    assert not env.fake.calls("POST", r"/comments$")       # no comment on a closed PR


async def test_recheck_of_a_push_run_listing_a_pr_edits_its_sticky_comment(env: Env) -> None:
    # `on: push` on a PR's branch: the run lists the PR, so its red verdict was commented on
    # the PR. A recheck that turns the check green must not leave that comment saying red.
    payload = load_payload("workflow_run.completed")
    repo_id = payload["repository"]["id"]
    for pr in payload["workflow_run"]["pull_requests"]:
        pr["base"]["repo"]["id"] = pr["head"]["repo"]["id"] = repo_id
    payload["workflow_run"].update(event="push", name="CI")
    seeded = seed_workflow_run(env.fake.world, payload, reports={"junit.xml": ZERO_TESTS})
    sha = seeded.run["head_sha"]
    seeded.repo.add_pull(head_ref="changes", head_sha=sha)
    await env.deliver(seeded.payload)
    (ours,) = [c for c in seeded.repo.comments.values() if MARKER in c["body"]]
    assert "failure" in ours["body"]
    seeded.artifacts[0].data = zip_reports({"junit.xml": HEALTHY})     # evidence re-uploaded
    from bot.app.handlers import recheck
    gh = await env.clients(1, repository_id=seeded.repo.id, scope=scopes.JUDGE)
    assert await recheck(gh, seeded.payload["repository"], sha, env.ctx)
    assert only_check(env, seeded.repo)["conclusion"] == "success"
    assert "CI Truth: success" in seeded.repo.comments[ours["id"]]["body"]


async def test_sticky_comment_links_the_new_head_s_check_after_a_push(env: Env) -> None:
    # A push to the PR (synchronize) with the same verdict and counts (one failing test,
    # maybe another one): the comment's link must show the new head's check run, not the old
    # one's. It links the PR's Checks tab, which always shows the head, so it needs no edit.
    first = seed_workflow_run(env.fake.world, pr_payload(), reports={"junit.xml": FAILING})
    pr = first.repo.add_pull(head_ref="feature", head_sha=first.run["head_sha"])
    await env.deliver(first.payload)
    (ours,) = [c for c in first.repo.comments.values() if MARKER in c["body"]]
    new_sha = first.repo.commit({"src.py": "x = 2\n"}, branch="feature")
    pr["head_sha"] = new_sha
    second = seed_workflow_run(env.fake.world, pr_payload(id=first.run["id"] + 1,
                                                          head_sha=new_sha),
                               reports={"junit.xml": FAILING})
    await env.deliver(second.payload, delivery_id="d-2")
    assert [c for c in env.check_runs(first.repo) if c["head_sha"] == new_sha]
    body = first.repo.comments[ours["id"]]["body"]
    assert f"/pull/{pr['number']}/checks)" in body and "/runs/" not in body, body
    assert not env.fake.calls("PATCH", r"/issues/comments/")          # nothing to edit
    assert [c for c in first.repo.comments.values() if MARKER in c["body"]] == [ours]


async def _recheck(env: Env, seeded: Any) -> bool:
    from bot.app.handlers import recheck
    gh = await env.clients(1, repository_id=seeded.repo.id, scope=scopes.JUDGE)
    return await recheck(gh, seeded.payload["repository"], seeded.run["head_sha"], env.ctx)


async def test_a_deleted_declared_producer_run_is_missing_evidence_not_a_failed_job(
        env: Env) -> None:
    # Both producers judged green; a person then deletes the Integration run (GET answers
    # 404). A recheck must not fail on that 404: the run's evidence is gone, and says so.
    ci = load_payload("workflow_run.completed")
    ci["workflow_run"]["name"] = "CI"
    first = seed_workflow_run(env.fake.world, ci, reports={"junit.xml": HEALTHY})
    configure(first.repo, "evidence:\n  workflows:\n    - name: CI\n    - name: Integration\n")
    it = load_payload("workflow_run.completed")
    it["workflow_run"].update(name="Integration", id=first.run["id"] + 1,
                              path=".github/workflows/integration.yml")
    second = seed_workflow_run(env.fake.world, it, reports={"it.xml": SMALL})
    await env.deliver(first.payload)
    await env.deliver(second.payload)
    assert only_check(env, first.repo)["conclusion"] == "success"
    first.repo.delete_run(second.run["id"])
    rerun = seed_workflow_run(env.fake.world, dict(ci, workflow_run=dict(
        ci["workflow_run"], id=first.run["id"] + 2, event="workflow_dispatch")),
        reports={"junit.xml": HEALTHY})
    await env.deliver(rerun.payload)
    cr = only_check(env, first.repo)
    assert cr["conclusion"] == "failure", rules(cr)
    assert "'Integration' has no completed run" in rules(cr)
    assert f"run {second.run['id']}" in rules(cr) and "deleted" in rules(cr), rules(cr)
    state = parse_state_block(cr["output"]["text"])
    assert state is not None and [r["id"] for r in state["runs"]] == [rerun.run["id"]]


async def test_a_deleted_red_run_is_dropped_visibly_without_config(env: Env) -> None:
    ci = load_payload("workflow_run.completed")
    ci["workflow_run"]["name"] = "CI"
    first = seed_workflow_run(env.fake.world, ci, reports={"junit.xml": FAILING},
                              conclusion="failure")
    docs = load_payload("workflow_run.completed")
    docs["workflow_run"].update(name="Docs", id=first.run["id"] + 1,
                                path=".github/workflows/docs.yml")
    second = seed_workflow_run(env.fake.world, docs, reports={"doctest.xml": SMALL},
                               artifact_name="doctest-results")
    await env.deliver(first.payload)
    await env.deliver(second.payload)
    assert only_check(env, first.repo)["conclusion"] == "failure"
    first.repo.delete_run(first.run["id"])           # the red run is cleaned up
    rerun = seed_workflow_run(env.fake.world, dict(docs, workflow_run=dict(
        docs["workflow_run"], id=first.run["id"] + 2, event="workflow_dispatch")),
        reports={"doctest.xml": SMALL}, artifact_name="doctest-results")
    await env.deliver(rerun.payload)
    cr = only_check(env, first.repo)
    summary = rules(cr)
    assert f"run {first.run['id']} (`CI`)" in summary and "deleted" in summary, summary
    state = parse_state_block(cr["output"]["text"])
    assert state is not None and [r["id"] for r in state["runs"]] == [rerun.run["id"]]


async def test_a_deleted_newer_run_no_longer_supersedes_the_older_one(env: Env) -> None:
    ci = load_payload("workflow_run.completed")
    ci["workflow_run"]["name"] = "CI"
    older = seed_workflow_run(env.fake.world, ci, reports={"junit.xml": FAILING})
    configure(older.repo, "evidence:\n  workflows:\n    - name: CI\n")
    ci["workflow_run"].update(id=older.run["id"] + 1, event="workflow_dispatch")
    newer = seed_workflow_run(env.fake.world, ci, reports={"junit.xml": HEALTHY})
    await env.deliver(newer.payload)
    assert only_check(env, older.repo)["conclusion"] == "success"
    older.repo.delete_run(newer.run["id"])
    await env.deliver(older.payload)                 # the older run is the evidence now
    cr = only_check(env, older.repo)
    assert cr["conclusion"] == "failure", rules(cr)
    assert f"run {newer.run['id']}" in rules(cr) and "deleted" in rules(cr), rules(cr)
    state = parse_state_block(cr["output"]["text"])
    assert state is not None and [r["id"] for r in state["runs"]] == [older.run["id"]]


async def test_a_recheck_whose_first_recorded_run_was_deleted_judges_the_rest(
        env: Env) -> None:
    ci = load_payload("workflow_run.completed")
    ci["workflow_run"]["name"] = "CI"
    first = seed_workflow_run(env.fake.world, ci, reports={"junit.xml": HEALTHY})
    configure(first.repo, "evidence:\n  workflows:\n    - name: CI\n    - name: Integration\n")
    it = load_payload("workflow_run.completed")
    it["workflow_run"].update(name="Integration", id=first.run["id"] + 1,
                              path=".github/workflows/integration.yml")
    second = seed_workflow_run(env.fake.world, it, reports={"it.xml": SMALL})
    await env.deliver(first.payload)
    await env.deliver(second.payload)                # recorded first: Integration
    first.repo.delete_run(second.run["id"])
    assert await _recheck(env, first)
    cr = only_check(env, first.repo)
    assert cr["conclusion"] == "failure", rules(cr)
    assert "'Integration' has no completed run" in rules(cr)
    assert f"run {second.run['id']}" in rules(cr), rules(cr)
