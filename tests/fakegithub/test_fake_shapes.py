"""Tests of the fake GitHub: every route is GitHub's, and answers with GitHub's shapes."""

from __future__ import annotations

import pytest

from tests.fakegithub import add_delivery, seed_workflow_run
from tests.fakegithub.client import api, token_api

pytestmark = pytest.mark.fake_github(check_responses=True)  # the fake answers on-spec


def test_every_route_is_an_operation_of_the_description():
    from tests.fakegithub.routes import ALL_ROUTES
    from tests.fakegithub.spec import load_spec
    spec = load_spec()
    for route in ALL_ROUTES:
        sample = route.template.replace("{path}", "a/b.yml")
        for name in ("owner", "repo", "username", "name", "ref", "archive_format"):
            sample = sample.replace("{" + name + "}", "zip" if name == "archive_format" else "x")
        import re
        sample = re.sub(r"\{[^}]+\}", "1", sample)
        matched = spec.match(route.method, sample)
        assert matched is not None, route.template
        assert matched[0].template == route.template, (route.template, matched[0].template)


async def test_read_routes_answer_with_githubs_shapes(fake_github, session):
    """Seeds one of everything and reads it back; check_responses flags any off-spec answer."""
    seeded = seed_workflow_run(fake_github.world, reports={"junit.xml": "<testsuite/>"},
                               jobs=[{"name": "test", "conclusion": "success",
                                      "steps": [("Set up job", "success"),
                                                ("Run tests", "failure")]}])
    r = seeded.repo
    full, run = r.full_name, seeded.run
    sha = r.commit({"docs/DEPLOYMENT.md": "# deploy\n"}, branch="feature")
    fork = fake_github.world.add_repo("mallory/octo-repo", installation=None, fork_of=r)
    pr = r.add_pull(head_ref="feature", head_sha=sha)
    r.add_pull(head_ref="evil", head_repo=fork)
    issue = r.add_issue("tracked", labels=["P0"])
    c = r.add_comment(issue["number"], "hello", user="alice")
    r.set_permission("alice", "admin")
    add_delivery(fake_github.world, "workflow_run", action="completed", status_code=502)
    gh = await token_api(fake_github, session)
    jwt = fake_github.app_jwt()
    cr = await gh.post(f"/repos/{full}/check-runs", data={"name": "CI Truth", "head_sha": sha})
    reads = [
        f"/repos/{full}", f"/repos/{full}/contents/docs?ref=feature",
        f"/repos/{full}/contents/docs/DEPLOYMENT.md?ref=feature",
        f"/repos/{full}/git/trees/feature?recursive=1", f"/repos/{full}/git/trees/{sha}",
        f"/repos/{full}/pulls/{pr['number']}", f"/repos/{full}/pulls?state=all",
        f"/repos/{full}/pulls?head=mallory:evil", f"/repos/{full}/commits/{sha}/pulls",
        f"/repos/{full}/collaborators/alice/permission",
        f"/repos/{full}/actions/runs?branch={run['head_branch']}&status=completed",
        f"/repos/{full}/actions/runs/{run['id']}",
        f"/repos/{full}/actions/runs/{run['id']}/attempts/1",
        f"/repos/{full}/actions/runs/{run['id']}/jobs?filter=all",
        f"/repos/{full}/actions/runs/{run['id']}/attempts/1/jobs",
        f"/repos/{full}/actions/runs/{run['id']}/artifacts?name=test-results",
        f"/repos/{full}/actions/artifacts/{seeded.artifacts[0].id}",
        f"/repos/{full}/check-runs/{cr['id']}", f"/repos/{full}/check-runs/{cr['id']}/annotations",
        f"/repos/{full}/commits/{sha}/check-runs?filter=all&status=queued",
        f"/repos/{full}/issues?state=all", f"/repos/{full}/issues/{issue['number']}",
        f"/repos/{full}/issues/{issue['number']}/comments", f"/repos/{full}/issues/comments",
        f"/repos/{full}/issues/comments/{c['id']}",
        f"/repos/{full}/issues/comments/{c['id']}/reactions", f"/repos/{full}/labels",
        f"/repos/{full}/labels/P0", f"/repos/{full}/branches/feature",
        f"/repos/{full}/commits/{sha}", f"/repos/{full}/commits/feature",
        f"/repos/{full}/compare/{r.default_branch}...feature",
        f"/repos/{full}/compare/{sha}...{run['head_sha']}?per_page=1",
    ]
    for url in reads:
        assert await gh.getitem(url) is not None, url
    jobs = (await gh.getitem(f"/repos/{full}/actions/runs/{run['id']}/jobs"))["jobs"]
    assert [s["conclusion"] for s in jobs[0]["steps"]] == ["success", "failure"]
    fork_pr = (await gh.getitem(f"/repos/{full}/pulls?head=mallory:evil"))[0]
    assert fork_pr["head"]["repo"]["full_name"] == "mallory/octo-repo"
    app = api(fake_github, session)
    for url in ["/app", "/app/installations", "/app/installations/1",
                f"/repos/{full}/installation", "/app/hook/deliveries"]:
        assert await app.getitem(url, jwt=jwt) is not None, url
    delivery = (await app.getitem("/app/hook/deliveries", jwt=jwt))[0]
    assert (await app.getitem(f"/app/hook/deliveries/{delivery['id']}", jwt=jwt))["guid"]
    await gh.post(f"/repos/{full}/statuses/{sha}", data={"state": "success", "context": "x"})
    await gh.post(f"/repos/{full}/labels", data={"name": "status: ready", "color": "0e8a16"})
    await gh.put(f"/repos/{full}/issues/{issue['number']}/labels", data={"labels": ["a"]})
    await gh.post(f"/repos/{full}/issues/{issue['number']}/labels", data={"labels": ["b"]})
    await gh.delete(f"/repos/{full}/issues/{issue['number']}/labels/a")
    await gh.put(f"/repos/{full}/issues/{issue['number']}/lock", data={"lock_reason": "spam"})
    await gh.delete(f"/repos/{full}/issues/{issue['number']}/lock")
    await gh.delete(f"/repos/{full}/issues/{issue['number']}/labels")
    assert r.issues[issue["number"]]["labels"] == []
