"""`ci-truth action` with a token, against the fake GitHub: check run, baseline, failures.

The token is a workflow GITHUB_TOKEN as the fake hands it out (`actions_token`): its check
runs belong to the GitHub Actions app, as on GitHub.
"""

from __future__ import annotations

import asyncio
import copy
import io
import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.action import run_action_async
from bot.core.checkrun import NAME, parse_state_block
from tests.fakegithub.server import FakeGitHub
from tests.fakegithub.state import ACTIONS_APP_ID, FakeRepo
from tests.test_action import FAILING, HEALTHY, PYTEST_XML, SMALLER, ZERO, Runner
from tests.test_ghactions import parse_command, parse_output_file

REPO = "octo-org/octo-repo"
MOCHA = "junit/publish-unit-test-result-action/python/test/files/mocha/tests.junit-xml"


async def no_sleep(seconds: float) -> None:
    """Write spacing without the wait (the fake does not rate-limit these few writes)."""


def event_file(runner: Runner, name: str, repo: FakeRepo, *, base: str = "main",
               **head: Any) -> str:
    """A corpus payload adapted to the seeded repository (and PR head and base branch, for
    pull_request)."""
    payload = json.loads((runner.corpus / "webhooks" / f"{name}.json").read_text())
    payload = copy.deepcopy(payload)
    payload["repository"].update(full_name=REPO, name=repo.name, default_branch="main")
    if "pull_request" in payload:
        payload["pull_request"]["head"].update(head)
        payload["pull_request"]["base"]["ref"] = base
    path = runner.workspace.parent / f"{name}.event.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    return str(path)


def token_runner(runner: Runner, fake: FakeGitHub, repo: FakeRepo, sha: str) -> Runner:
    runner.env.update(GITHUB_API_URL=fake.api_url, GITHUB_REPOSITORY=REPO, GITHUB_SHA=sha,
                      GITHUB_REF="refs/heads/main", GITHUB_EVENT_NAME="push",
                      GITHUB_EVENT_PATH=event_file(runner, "push", repo))
    return runner.inputs(token=fake.actions_token(REPO))


async def run(runner: Runner) -> tuple[int, str]:
    out = io.StringIO()
    runner.output.unlink(missing_ok=True)
    code = await run_action_async(runner.env, out=out, sleep=no_sleep)
    return code, out.getvalue()


def ours(repo: FakeRepo, sha: str) -> list[dict[str, Any]]:
    return [c for c in repo.check_runs.values() if c["head_sha"] == sha and c["name"] == NAME]


@pytest.fixture
def runner(tmp_path: Path, corpus: Path) -> Runner:
    return Runner(tmp_path, corpus)


@pytest.fixture
def seeded(fake_github: FakeGitHub) -> tuple[FakeRepo, str]:
    repo = fake_github.world.add_repo(REPO)
    return repo, repo.commit({"README.md": "hello"})


async def test_one_check_run_posted_and_updated_on_rerun(
        fake_github: FakeGitHub, seeded: tuple[FakeRepo, str], runner: Runner) -> None:
    repo, sha = seeded
    runner.add(HEALTHY, "junit.xml")
    token_runner(runner, fake_github, repo, sha).inputs(reports="junit.xml")
    code, log = await run(runner)
    assert code == 0
    [check] = ours(repo, sha)
    assert check["status"] == "completed" and check["conclusion"] == "success"
    assert check["app_id"] == ACTIONS_APP_ID
    assert check["details_url"] == "https://github.com/octo-org/octo-repo/actions/runs/1234"
    state = parse_state_block(check["output"]["text"])
    assert state is not None and state["tests"]["total"] == 22
    assert "actions" not in check or not check["actions"]      # no button only an App serves
    assert [c for c in parse_commands(log) if c[0] == "warning"] == []
    # The job is re-run: the same check run is updated, not duplicated.
    code, _ = await run(runner)
    assert code == 0 and len(ours(repo, sha)) == 1
    assert len(fake_github.calls("POST", r"/check-runs$")) == 1
    assert len(fake_github.calls("PATCH", r"/check-runs/\d+$")) == 1


async def test_failure_verdict_is_posted_as_a_failing_check(
        fake_github: FakeGitHub, seeded: tuple[FakeRepo, str], runner: Runner) -> None:
    repo, sha = seeded
    runner.add(ZERO, "junit.xml")
    token_runner(runner, fake_github, repo, sha).inputs(reports="junit.xml")
    code, _ = await run(runner)
    assert code == 1
    [check] = ours(repo, sha)
    assert check["conclusion"] == "failure" and "0 tests" in check["output"]["title"]


async def test_check_run_annotations_use_repository_paths(
        fake_github: FakeGitHub, seeded: tuple[FakeRepo, str], runner: Runner) -> None:
    """mocha-junit-reporter writes absolute paths under the runner's workspace."""
    repo, sha = seeded
    mocha = runner.corpus / MOCHA
    (runner.workspace / "junit.xml").write_text(mocha.read_text(encoding="utf-8").replace(
        "/home/runner/work/mocha/mocha", str(runner.workspace)), encoding="utf-8")
    token_runner(runner, fake_github, repo, sha).inputs(reports="junit.xml")
    code, log = await run(runner)
    assert code == 1
    [check] = ours(repo, sha)
    paths = ["test/unit/runner.spec.js", "test/unit/test.spec.js"]
    assert sorted(a["path"] for a in repo.annotations[check["id"]]) == paths
    assert sorted(p["file"] for _, p, _ in parse_commands(log) if "file" in p) == paths


async def test_pull_request_is_judged_against_the_default_branch_baseline(
        fake_github: FakeGitHub, seeded: tuple[FakeRepo, str], runner: Runner) -> None:
    repo, main_sha = seeded
    runner.add(HEALTHY, "main.xml")
    token_runner(runner, fake_github, repo, main_sha).inputs(reports="main.xml")
    assert (await run(runner))[0] == 0
    # A pull request whose run lost 8 of the 22 tests: the check goes on the PR head.
    pr_sha = repo.commit({"src/x.py": "x"}, branch="feature")
    runner.add(SMALLER, "pr.xml")
    runner.inputs(reports="pr.xml")
    runner.env.update(GITHUB_EVENT_NAME="pull_request", GITHUB_REF="refs/pull/1/merge",
                      GITHUB_SHA="f" * 40,     # the merge commit: not where people look
                      GITHUB_EVENT_PATH=event_file(runner, "pull_request.opened", repo,
                                                   sha=pr_sha, ref="feature"))
    code, _ = await run(runner)
    assert code == 1
    [check] = ours(repo, pr_sha)
    assert check["conclusion"] == "failure"
    reasons = json.loads(parse_output_file(runner.output.read_text())["reasons"])
    assert "test-drop" in [r["rule"] for r in reasons]
    assert ours(repo, "f" * 40) == []
    # The baseline was read from main's check run (no baseline input was given).
    assert fake_github.calls("GET", r"/commits/main/check-runs$")


MPI_3 = f"{PYTEST_XML}/pytest/junit.mpi.integration.xml"                   # 3 passed


def outcome(runner: Runner) -> list[str]:
    """The rules of the last run's verdict (its `reasons` output)."""
    return [r["rule"] for r in json.loads(parse_output_file(runner.output.read_text())["reasons"])]


def pull_request(runner: Runner, repo: FakeRepo, sha: str, ref: str, base: str = "main"
                 ) -> Runner:
    """The step of a pull_request run (head `sha` on `ref`, into `base`)."""
    runner.env.update(GITHUB_EVENT_NAME="pull_request", GITHUB_REF="refs/pull/1/merge",
                      GITHUB_SHA="f" * 40, GITHUB_BASE_REF=base,
                      GITHUB_EVENT_PATH=event_file(runner, "pull_request.opened", repo,
                                                   base=base, sha=sha, ref=ref))
    return runner


async def test_a_default_branch_push_is_compared_with_its_parent(
        fake_github: FakeGitHub, seeded: tuple[FakeRepo, str], runner: Runner) -> None:
    repo, first = seeded
    runner.add(HEALTHY, "junit.xml")
    token_runner(runner, fake_github, repo, first).inputs(reports="junit.xml")
    assert (await run(runner))[0] == 0
    second = repo.commit({"src/x.py": "x"})              # main's new head lost 8 tests
    runner.add(SMALLER, "junit.xml")
    runner.env["GITHUB_SHA"] = second
    code, _ = await run(runner)
    assert code == 1 and "test-drop" in outcome(runner)
    note = f"Baseline for `test-drop`: 22 tests at commit `{first[:12]}` on `main`."
    assert note in runner.summary.read_text(encoding="utf-8")
    [check] = ours(repo, second)
    assert note in check["output"]["summary"]


async def test_a_pull_request_baseline_walks_past_a_head_failing_for_its_evidence(
        fake_github: FakeGitHub, seeded: tuple[FakeRepo, str], runner: Runner) -> None:
    repo, first = seeded
    runner.add(HEALTHY, "main.xml")
    token_runner(runner, fake_github, repo, first).inputs(reports="main.xml")
    assert (await run(runner))[0] == 0
    broken = repo.commit({"src/y.py": "y"})              # main's head: its reports are empty
    runner.add(ZERO, "main.xml")
    runner.env["GITHUB_SHA"] = broken
    assert (await run(runner))[0] == 1 and "zero-tests" in outcome(runner)
    pr_sha = repo.commit({"src/x.py": "x"}, branch="feature")
    runner.add(SMALLER, "pr.xml")
    code, _ = await run(pull_request(runner.inputs(reports="pr.xml"), repo, pr_sha, "feature"))
    assert code == 1 and "test-drop" in outcome(runner)
    [check] = ours(repo, pr_sha)
    assert f"8 of the baseline's 22 tests (commit {first[:12]} on main)" in check["output"][
        "summary"]


async def test_a_default_branch_failing_only_on_tests_is_a_baseline(
        fake_github: FakeGitHub, seeded: tuple[FakeRepo, str], runner: Runner) -> None:
    repo, first = seeded
    runner.add(FAILING, "main.xml")                      # 5 tests, 1 fails: still the suite
    token_runner(runner, fake_github, repo, first).inputs(reports="main.xml")
    assert (await run(runner))[0] == 1
    pr_sha = repo.commit({"src/x.py": "x"}, branch="feature")
    runner.add(MPI_3, "pr.xml")
    code, _ = await run(pull_request(runner.inputs(reports="pr.xml"), repo, pr_sha, "feature"))
    assert code == 1 and "test-drop" in outcome(runner)
    assert (f"Baseline for `test-drop`: 5 tests at commit `{first[:12]}` on `main`."
            in runner.summary.read_text(encoding="utf-8"))


async def test_a_pull_request_to_a_release_branch_is_compared_with_that_branch(
        fake_github: FakeGitHub, seeded: tuple[FakeRepo, str], runner: Runner) -> None:
    repo, first = seeded
    runner.add(SMALLER, "junit.xml")                     # 14 tests when release-1.x branched
    token_runner(runner, fake_github, repo, first).inputs(reports="junit.xml")
    assert (await run(runner))[0] == 0
    release = repo.commit({"CHANGES": "1.0.1"}, branch="release-1.x")
    runner.env.update(GITHUB_SHA=release, GITHUB_REF="refs/heads/release-1.x")
    assert (await run(runner))[0] == 0
    grown = repo.commit({"src/more.py": "x"})            # main grew to 22 tests since
    runner.add(HEALTHY, "junit.xml")
    runner.env.update(GITHUB_SHA=grown, GITHUB_REF="refs/heads/main")
    assert (await run(runner))[0] == 0
    fix = repo.commit({"src/fix.py": "x"}, branch="backport")
    runner.add(SMALLER, "junit.xml")
    code, _ = await run(pull_request(runner, repo, fix, "backport", base="release-1.x"))
    assert code == 0, outcome(runner)                    # not "8 of main's 22 tests are gone"
    [check] = ours(repo, fix)
    assert check["conclusion"] == "success"
    assert (f"Baseline for `test-drop`: 14 tests at commit `{release[:12]}` on "
            "`release-1.x`.") in check["output"]["summary"]


async def test_github_failures_are_warnings_and_the_verdict_still_decides(
        fake_github: FakeGitHub, seeded: tuple[FakeRepo, str], runner: Runner) -> None:
    repo, sha = seeded
    runner.add(HEALTHY, "junit.xml")
    token_runner(runner, fake_github, repo, sha).inputs(reports="junit.xml")
    fake_github.inject("POST", r"/check-runs$", 403)
    code, log = await run(runner)
    assert code == 0 and ours(repo, sha) == []
    warnings = [data for name, _, data in parse_commands(log) if name == "warning"]
    assert len(warnings) == 1 and "could not post the CI Truth check run" in warnings[0]
    assert "checks: write" in warnings[0]
    assert parse_output_file(runner.output.read_text())["conclusion"] == "success"


def parse_commands(log: str) -> list[tuple[str, dict[str, str], str]]:
    return [parse_command(line) for line in log.splitlines()
            if line.startswith(("::error", "::warning", "::notice"))]


async def test_default_branch_push_syncs_the_plan_issues(
        fake_github: FakeGitHub, seeded: tuple[FakeRepo, str], runner: Runner) -> None:
    """The GOAP example plan, judged on the real broken suite: phase issues + dashboard."""
    repo, sha = seeded
    started = repo.add_run(run_id=1234, head_sha=sha, status="in_progress",
                           conclusion=None)["run_started_at"]
    root = Path(__file__).resolve().parents[1]
    config = runner.workspace / ".github" / "ci-truth.yml"
    config.parent.mkdir()
    shutil.copyfile(root / "examples/plans/portfolio-goap.yml", config)
    shutil.copyfile(root / "tests/data/plan/broken/junit.xml", runner.workspace / "junit.xml")
    token_runner(runner, fake_github, repo, sha).inputs(reports="junit.xml")
    code, log = await run(runner)
    assert code == 1                                 # 8 event-loop failures
    issues = [i for i in repo.issues.values() if i["user"] == "github-actions[bot]"]
    titles = {i["title"] for i in issues}
    assert "Test infrastructure: no event-loop conflict, 95%+ passing" in titles
    assert any(t.startswith("Plan: ") for t in titles)
    assert len(issues) == len(titles) >= 2
    infra = next(i for i in issues if i["title"].startswith("Test infrastructure"))
    assert "measured `signatures.event_loop = 8`" in infra["body"]
    assert "actions/runs/1234" in next(i for i in issues if i["title"].startswith("Plan: "))["body"]
    assert started in infra["body"]                  # evidence time = the run's own start
    assert len(ours(repo, sha)) == 1
    assert "CI Truth plan:" in log
    # The same run again (a re-run): nothing new is written to the issues.
    def issue_writes() -> int:
        return len(fake_github.calls("POST", r"/issues")) + len(
            fake_github.calls("PATCH", r"/issues"))

    writes = issue_writes()
    await asyncio.sleep(1.1)    # a later second: a wall-clock evidence time would differ
    await run(runner)
    assert issue_writes() == writes
    assert len([i for i in repo.issues.values() if i["user"] == "github-actions[bot]"]) == \
        len(issues)


async def test_plan_is_not_synced_from_a_pull_request(
        fake_github: FakeGitHub, seeded: tuple[FakeRepo, str], runner: Runner) -> None:
    repo, _ = seeded
    root = Path(__file__).resolve().parents[1]
    config = runner.workspace / ".github" / "ci-truth.yml"
    config.parent.mkdir()
    shutil.copyfile(root / "examples/plans/portfolio-goap.yml", config)
    shutil.copyfile(root / "tests/data/plan/broken/junit.xml", runner.workspace / "junit.xml")
    pr_sha = repo.commit({"x": "y"}, branch="feature")
    token_runner(runner, fake_github, repo, pr_sha).inputs(reports="junit.xml")
    runner.env.update(GITHUB_EVENT_NAME="pull_request", GITHUB_REF="refs/pull/1/merge",
                      GITHUB_EVENT_PATH=event_file(runner, "pull_request.opened", repo,
                                                   sha=pr_sha, ref="feature"))
    await run(runner)
    assert repo.issues == {} and fake_github.calls("POST", r"/issues") == []
    assert len(ours(repo, pr_sha)) == 1


async def test_an_unusable_baseline_on_github_is_a_warning_not_a_crash(
        fake_github: FakeGitHub, seeded: tuple[FakeRepo, str], runner: Runner) -> None:
    """The default branch's CI Truth check run carries a state block the baseline reader
    refuses (another writer, another version): a GitHub-side problem, so a warning, and the
    step still writes its outputs and exits with the verdict's code."""
    from bot.core.checkrun import _pack
    repo, main_sha = seeded
    runner.add(HEALTHY, "junit.xml")
    token_runner(runner, fake_github, repo, main_sha).inputs(reports="junit.xml")
    assert (await run(runner))[0] == 0
    [check] = ours(repo, main_sha)
    check["output"]["text"] = _pack({"v": 1, "tests": {"total": -1}, "test_ids": []})
    pr_sha = repo.commit({"src/x.py": "x"}, branch="feature")
    runner.env.update(GITHUB_SHA=pr_sha, GITHUB_REF="refs/heads/feature")
    code, log = await run(runner)
    assert code == 0
    assert parse_output_file(runner.output.read_text())["conclusion"] == "success"
    warnings = [data for name, _, data in parse_commands(log) if name == "warning"]
    assert len(warnings) == 1 and "baseline" in warnings[0]


async def test_the_baseline_warning_counts_against_the_warning_cap(
        fake_github: FakeGitHub, seeded: tuple[FakeRepo, str], runner: Runner) -> None:
    """GitHub keeps 10 warnings per step: with the baseline warning printed first, allowed
    failures (warnings) beyond the cap are counted in the notice, never dropped unseen."""
    import subprocess
    import sys

    from bot.core.checkrun import _pack
    repo, main_sha = seeded
    runner.add(HEALTHY, "junit.xml")
    token_runner(runner, fake_github, repo, main_sha).inputs(reports="junit.xml")
    assert (await run(runner))[0] == 0
    [check] = ours(repo, main_sha)
    check["output"]["text"] = _pack({"v": 1, "tests": {"total": -1}, "test_ids": []})
    (runner.workspace / "test_many.py").write_text(
        "import pytest\n\n\n@pytest.mark.parametrize('n', range(12))\n"
        "def test_fails(n):\n    assert n < 0\n", encoding="utf-8")
    cfg = runner.workspace / ".github" / "ci-truth.yml"
    cfg.parent.mkdir()
    cfg.write_text("gate:\n  allow_failures: true\n", encoding="utf-8")
    subprocess.run(f"{sys.executable} -m pytest -q -p no:cacheprovider "
                   "--junitxml=many.xml test_many.py || true", shell=True,
                   cwd=runner.workspace, capture_output=True, text=True, timeout=120,
                   check=False)
    pr_sha = repo.commit({"src/x.py": "x"}, branch="feature")
    runner.env.update(GITHUB_SHA=pr_sha, GITHUB_REF="refs/heads/feature")
    code, log = await run(runner.inputs(reports="many.xml"))
    assert code == 0
    commands = parse_commands(log)
    warnings = [data for name, _, data in commands if name == "warning"]
    assert "baseline" in warnings[0] and len(warnings) <= 10
    shown_tests = sum(1 for name, props, _ in commands
                      if name == "warning" and props.get("title", "").startswith("failure"))
    [notice] = [data for name, _, data in commands if name == "notice"]
    assert f"{12 - shown_tests:,} more" in notice


def fork_run_event(runner: Runner, repo: FakeRepo, head_sha: str) -> str:
    """A workflow_run.completed payload for a fork PR's run (head repository: the fork)."""
    payload = json.loads(Path(event_file(runner, "workflow_run.completed", repo)).read_text())
    payload["workflow_run"].update(event="pull_request", head_sha=head_sha, pull_requests=[])
    payload["workflow_run"]["head_repository"].update(id=999_999_999,
                                                      full_name="mallory/octo-repo")
    path = runner.workspace.parent / "workflow_run.fork.event.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(("forks", "code", "conclusion"), [
    (None, 1, "failure"), ("trusted", 0, "success"), ("ignore", 0, None)])
async def test_a_workflow_run_step_judging_a_fork_run_never_posts_a_forged_green(
        fake_github: FakeGitHub, seeded: tuple[FakeRepo, str], runner: Runner,
        forks: str | None, code: int, conclusion: str | None) -> None:
    # The documented pattern for fork PRs: a `workflow_run` workflow (default-branch code, a
    # write token) downloads the fork run's report artifact and judges it. The fork's author
    # wrote that report: an all-green file posted a green CI Truth check on the fork's head.
    repo, main_sha = seeded
    fork_sha = repo.commit({"src/x.py": "x"}, branch="mallory-feature")
    runner.add(HEALTHY, "junit.xml")
    token_runner(runner, fake_github, repo, main_sha).inputs(reports="junit.xml")
    if forks is not None:
        (runner.workspace / ".github").mkdir(exist_ok=True)
        (runner.workspace / ".github" / "ci-truth.yml").write_text(
            f"evidence:\n  forks: {forks}\n", encoding="utf-8")
    runner.env.update(GITHUB_EVENT_NAME="workflow_run",
                      GITHUB_EVENT_PATH=fork_run_event(runner, repo, fork_sha))
    got, _ = await run(runner)
    assert got == code
    checks = ours(repo, fork_sha)
    assert [c["conclusion"] for c in checks] == ([conclusion] if conclusion else [])
    reasons = json.loads(parse_output_file(runner.output.read_text())["reasons"])
    rules = [r["rule"] for r in reasons]
    assert rules == ([] if forks == "ignore" else ["untrusted-evidence"])
    if checks:
        assert "mallory/octo-repo" in checks[0]["output"]["summary"]


def pr_target_event(runner: Runner, repo: FakeRepo, head_sha: str, *, fork: bool) -> str:
    """A pull_request payload (pull_request_target sends the same) for a PR from a fork."""
    path = Path(event_file(runner, "pull_request.opened", repo, sha=head_sha))
    payload = json.loads(path.read_text())
    if fork:
        payload["pull_request"]["head"]["repo"].update(id=999_999_999,
                                                       full_name="mallory/octo-repo")
    path.write_text(json.dumps(payload), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(("forks", "code", "conclusion"), [
    (None, 1, "failure"), ("trusted", 0, "success"), ("ignore", 0, None)])
async def test_a_pull_request_target_step_judging_a_fork_s_code_never_posts_a_forged_green(
        fake_github: FakeGitHub, seeded: tuple[FakeRepo, str], runner: Runner,
        forks: str | None, code: int, conclusion: str | None) -> None:
    # pull_request_target runs with a write token; a job that checks out the PR head runs
    # the fork's tests, which write the report: an all-green file, a green check on its head.
    repo, main_sha = seeded
    fork_sha = repo.commit({"src/x.py": "x"}, branch="mallory-feature")
    runner.add(HEALTHY, "junit.xml")
    token_runner(runner, fake_github, repo, main_sha).inputs(reports="junit.xml")
    if forks is not None:
        (runner.workspace / ".github").mkdir(exist_ok=True)
        (runner.workspace / ".github" / "ci-truth.yml").write_text(
            f"evidence:\n  forks: {forks}\n", encoding="utf-8")
    runner.env.update(GITHUB_EVENT_NAME="pull_request_target", GITHUB_REF="refs/heads/main",
                      GITHUB_EVENT_PATH=pr_target_event(runner, repo, fork_sha, fork=True))
    got, _ = await run(runner)
    assert got == code
    checks = ours(repo, fork_sha)
    assert [c["conclusion"] for c in checks] == ([conclusion] if conclusion else [])
    reasons = json.loads(parse_output_file(runner.output.read_text())["reasons"])
    assert [r["rule"] for r in reasons] == ([] if forks == "ignore" else ["untrusted-evidence"])
    if reasons:
        assert "pull_request_target" in reasons[0]["message"]
        assert "mallory/octo-repo" in reasons[0]["message"]
    if checks:
        assert "mallory/octo-repo" in checks[0]["output"]["summary"]


async def test_a_pull_request_target_step_for_a_same_repository_pr_is_trusted(
        fake_github: FakeGitHub, seeded: tuple[FakeRepo, str], runner: Runner) -> None:
    repo, main_sha = seeded
    pr_sha = repo.commit({"src/x.py": "x"}, branch="feature")
    runner.add(HEALTHY, "junit.xml")
    token_runner(runner, fake_github, repo, main_sha).inputs(reports="junit.xml")
    runner.env.update(GITHUB_EVENT_NAME="pull_request_target",
                      GITHUB_EVENT_PATH=pr_target_event(runner, repo, pr_sha, fork=False))
    assert (await run(runner))[0] == 0
    assert [c["conclusion"] for c in ours(repo, pr_sha)] == ["success"]


async def test_a_check_run_warning_after_the_annotations_is_counted_not_the_11th(
        fake_github: FakeGitHub, seeded: tuple[FakeRepo, str], runner: Runner) -> None:
    """The check run is posted after judging: its failure warning must fit in GitHub's 10
    warnings per step, not come after 10 allowed-failure warnings and be dropped unseen."""
    import subprocess
    import sys
    repo, sha = seeded
    (runner.workspace / "test_many.py").write_text(
        "import pytest\n\n\n@pytest.mark.parametrize('n', range(12))\n"
        "def test_fails(n):\n    assert n < 0\n", encoding="utf-8")
    cfg = runner.workspace / ".github" / "ci-truth.yml"
    cfg.parent.mkdir()
    cfg.write_text("gate:\n  allow_failures: true\n", encoding="utf-8")
    subprocess.run(f"{sys.executable} -m pytest -q -p no:cacheprovider "
                   "--junitxml=many.xml test_many.py || true", shell=True,
                   cwd=runner.workspace, capture_output=True, text=True, timeout=120,
                   check=False)
    token_runner(runner, fake_github, repo, sha).inputs(reports="many.xml")
    fake_github.inject("POST", r"/check-runs$", 403)
    code, log = await run(runner)
    assert code == 0 and ours(repo, sha) == []
    commands = parse_commands(log)
    warnings = [data for name, _, data in commands if name == "warning"]
    assert len(warnings) <= 10
    assert any("could not post the CI Truth check run" in w for w in warnings)
    shown_tests = sum(1 for name, props, _ in commands
                      if name == "warning" and props.get("title", "").startswith("failure"))
    [notice] = [data for name, _, data in commands if name == "notice"]
    assert f"{12 - shown_tests:,} more" in notice


async def test_a_rerun_of_an_ancestor_does_not_move_the_plan(
        fake_github: FakeGitHub, seeded: tuple[FakeRepo, str], runner: Runner) -> None:
    """Like the App: the dashboard records the run's commit; "Re-run jobs" on an older
    commit's run (an ancestor, whatever its date) writes no plan issue."""
    repo, old = seeded
    new = repo.commit({"src/loop.py": "fixed"})
    repo.commits[old].date = repo.commits[new].date + timedelta(days=1)   # a skewed clock
    root = Path(__file__).resolve().parents[1]
    config = runner.workspace / ".github" / "ci-truth.yml"
    config.parent.mkdir()
    shutil.copyfile(root / "examples/plans/portfolio-goap.yml", config)
    title = "Test infrastructure: no event-loop conflict, 95%+ passing"

    async def run_on(sha: str, run_id: int, suite: str) -> None:
        repo.add_run(run_id=run_id, head_sha=sha)
        shutil.copyfile(root / "tests/data/plan" / suite / "junit.xml",
                        runner.workspace / "junit.xml")
        token_runner(runner, fake_github, repo, sha).inputs(reports="junit.xml")
        runner.env["GITHUB_RUN_ID"] = str(run_id)
        await run(runner)

    def infra() -> dict[str, Any]:
        return next(i for i in repo.issues.values() if i["title"] == title)

    await run_on(new, 1300, "fixed")
    assert "`signatures.event_loop = 0`" in infra()["body"]
    def issue_writes() -> int:
        return len(fake_github.calls("POST", r"/issues")) + len(
            fake_github.calls("PATCH", r"/issues"))

    writes = issue_writes()
    await run_on(old, 1200, "broken")
    assert "`signatures.event_loop = 0`" in infra()["body"]
    assert issue_writes() == writes
    dash = next(i for i in repo.issues.values() if i["title"].startswith("Plan: "))
    assert f"ci-truth:evidence commit={new} " in dash["body"]
    assert [r.path for r in fake_github.calls("GET", r"/compare/")] == [   # is old stale,
        f"/repos/{REPO}/compare/{new}...{old}",                          # and is the record
        f"/repos/{REPO}/compare/{new}...{repo.default_branch}"]          # on main's history


async def test_a_green_matrix_shard_finishing_last_never_turns_a_red_shard_green(
        fake_github: FakeGitHub, seeded: tuple[FakeRepo, str], runner: Runner) -> None:
    """Matrix jobs of one run, each with a token on its own reports: the check is the worst
    of them, whichever finishes last; a re-run of a shard replaces that shard's verdict."""
    repo, sha = seeded
    runner.add(FAILING, "junit-1.xml")
    runner.add(HEALTHY, "junit-2.xml")
    token_runner(runner, fake_github, repo, sha)
    runner.env["GITHUB_JOB"] = "test"
    assert (await run(runner.inputs(reports="junit-1.xml")))[0] == 1
    assert (await run(runner.inputs(reports="junit-2.xml")))[0] == 0
    [check] = ours(repo, sha)
    assert check["conclusion"] == "failure"
    assert "junit-1.xml" in check["output"]["summary"]
    assert "junit-2.xml" in check["output"]["summary"]
    # A re-run of the red shard (same run, job and reports) posts nothing new twice.
    anns = len(repo.annotations[check["id"]])
    assert (await run(runner.inputs(reports="junit-1.xml")))[0] == 1
    [check] = ours(repo, sha)
    assert check["conclusion"] == "failure" and len(repo.annotations[check["id"]]) == anns
    # ...and once it passes, its entry is replaced: every shard is green.
    runner.add(HEALTHY, "junit-1.xml")
    runner.env["GITHUB_RUN_ATTEMPT"] = "2"
    assert (await run(runner.inputs(reports="junit-1.xml")))[0] == 0
    [check] = ours(repo, sha)
    assert check["conclusion"] == "success"


async def test_a_second_workflow_s_green_step_keeps_the_first_workflow_s_red(
        fake_github: FakeGitHub, seeded: tuple[FakeRepo, str], runner: Runner) -> None:
    repo, sha = seeded
    runner.add(ZERO, "junit.xml")
    token_runner(runner, fake_github, repo, sha).inputs(reports="junit.xml")
    assert (await run(runner))[0] == 1
    runner.add(HEALTHY, "junit.xml")
    runner.env.update(GITHUB_RUN_ID="5678", GITHUB_WORKFLOW="Nightly")
    assert (await run(runner))[0] == 0
    [check] = ours(repo, sha)
    assert check["conclusion"] == "failure"
    state = parse_state_block(check["output"]["text"])
    assert state is not None
    assert sorted(s["conclusion"] for s in state["steps"]) == ["failure", "success"]


async def test_a_matrix_shard_is_compared_with_its_own_count_not_the_last_shard_s(
        fake_github: FakeGitHub, seeded: tuple[FakeRepo, str], runner: Runner) -> None:
    """Two shards with `key` on main; the state block measures the last one (22 tests). A PR's
    3-test shard is compared with its own 3, and the 22-test shard that lost 19 is caught."""
    repo, first = seeded
    runner.add(MPI_3, "junit-small.xml")
    runner.add(HEALTHY, "junit-big.xml")
    token_runner(runner, fake_github, repo, first)
    runner.env["GITHUB_JOB"] = "test"
    assert (await run(runner.inputs(reports="junit-small.xml", key="small")))[0] == 0
    assert (await run(runner.inputs(reports="junit-big.xml", key="big")))[0] == 0
    pr_sha = repo.commit({"src/x.py": "x"}, branch="feature")
    pull_request(runner, repo, pr_sha, "feature").env["GITHUB_RUN_ID"] = "2000"
    code, _ = await run(runner.inputs(reports="junit-small.xml", key="small"))
    assert code == 0 and outcome(runner) == []
    assert f"Baseline for `test-drop`: 3 tests at commit `{first[:12]}` on `main`." in \
        runner.summary.read_text(encoding="utf-8")
    runner.add(MPI_3, "junit-big.xml")                 # the big shard lost 19 of its 22
    code, _ = await run(runner.inputs(reports="junit-big.xml", key="big"))
    assert code == 1 and outcome(runner) == ["test-drop"]


async def test_a_matrix_shard_never_syncs_the_plan_from_its_part_of_the_reports(
        fake_github: FakeGitHub, seeded: tuple[FakeRepo, str], runner: Runner) -> None:
    """Each shard judges part of the run's reports: syncing the plan from each would judge
    "95%+ passing" on one shard and flip the phases between shards. A shard (the `key`
    input, or another step of this run on the commit) leaves the plan alone and says so;
    one step that judges all the reports syncs it."""
    repo, sha = seeded
    root = Path(__file__).resolve().parents[1]
    config = runner.workspace / ".github" / "ci-truth.yml"
    config.parent.mkdir()
    shutil.copyfile(root / "examples/plans/portfolio-goap.yml", config)
    suite = root / "tests/data/plan/fixed/junit.xml"

    def plan_writes() -> int:
        return len(fake_github.calls("POST", r"/issues$")) + len(
            fake_github.calls("PATCH", r"/issues/\d+$"))

    shutil.copyfile(suite, runner.workspace / "shard-1.xml")
    token_runner(runner, fake_github, repo, sha).inputs(reports="shard-1.xml", key="shard-1")
    code, log = await run(runner)
    assert code == 0 and "plan: not synced from this step (key 'shard-1' marks a shard)" in log
    assert plan_writes() == 0
    shutil.copyfile(suite, runner.workspace / "shard-2.xml")     # no key: the reports differ
    runner.inputs(reports="shard-2.xml", key="")
    code, log = await run(runner)
    assert code == 0 and "2 steps of this run judged the commit" in log
    assert plan_writes() == 0
    runner.env["GITHUB_RUN_ID"] = "7777"                         # one judging job, its own run
    runner.inputs(reports="shard-1.xml\nshard-2.xml", key="")
    code, log = await run(runner)
    assert code == 0 and "CI Truth plan:" in log and "not synced" not in log
    assert plan_writes() > 0
