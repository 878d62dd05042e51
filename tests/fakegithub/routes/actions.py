"""Actions endpoints: workflow runs, jobs with steps, artifacts and their 302 download."""

from __future__ import annotations

from typing import Any

from tests.fakegithub import blob
from tests.fakegithub.core import ApiError, Call, Reply, Routes, not_found
from tests.fakegithub.routes import render

routes = Routes()
ACTIONS = ("actions", "read")
STATUSES = {"completed", "action_required", "cancelled", "failure", "neutral", "skipped",
            "stale", "success", "timed_out", "in_progress", "queued", "requested", "waiting",
            "pending"}


def _run(call: Call) -> dict[str, Any]:
    run = call.repo.runs.get(call.int_param("run_id"))
    if run is None:
        raise not_found()
    return run


@routes.get("/repos/{owner}/{repo}/actions/runs", perm=ACTIONS)
async def list_runs(call: Call) -> Reply:
    q = call.query
    runs = sorted(call.repo.runs.values(), key=lambda w: -w["id"])
    if "branch" in q:
        runs = [w for w in runs if w["head_branch"] == q["branch"]]
    if "head_sha" in q:
        runs = [w for w in runs if w["head_sha"] == q["head_sha"]]
    if "event" in q:
        runs = [w for w in runs if w["event"] == q["event"]]
    if "status" in q:
        want = q["status"]
        runs = [w for w in runs if want in (w["status"], w["conclusion"])]
    return call.paginate([render.run(call, call.repo, w) for w in runs], "workflow_runs")


@routes.get("/repos/{owner}/{repo}/actions/runs/{run_id}", perm=ACTIONS)
async def get_run(call: Call) -> Reply:
    return Reply(200, render.run(call, call.repo, _run(call)))


@routes.get("/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}",
            perm=ACTIONS)
async def get_run_attempt(call: Call) -> Reply:
    run = _run(call)
    n = call.int_param("attempt_number")
    if (run["id"], n) not in call.repo.jobs:
        raise not_found()
    return Reply(200, {**render.run(call, call.repo, run), "run_attempt": n})


def _job(call: Call, job: dict[str, Any]) -> dict[str, Any]:
    r = call.repo
    return {**job, "url": call.url(f"/repos/{r.full_name}/actions/jobs/{job['id']}"),
            "html_url": f"https://github.com/{r.full_name}/actions/runs/{job['run_id']}"
                        f"/job/{job['id']}",
            "run_url": call.url(f"/repos/{r.full_name}/actions/runs/{job['run_id']}"),
            "check_run_url": call.url(f"/repos/{r.full_name}/check-runs/{job['id']}")}


@routes.get("/repos/{owner}/{repo}/actions/runs/{run_id}/jobs", perm=ACTIONS)
async def list_jobs(call: Call) -> Reply:
    run = _run(call)
    if call.query.get("filter", "latest") == "all":
        jobs = [j for (rid, _), js in sorted(call.repo.jobs.items()) if rid == run["id"]
                for j in js]
    else:
        jobs = call.repo.jobs.get((run["id"], run["run_attempt"]), [])
    return call.paginate([_job(call, j) for j in jobs], "jobs")


@routes.get("/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/jobs",
            perm=ACTIONS)
async def list_attempt_jobs(call: Call) -> Reply:
    run = _run(call)
    key = (run["id"], call.int_param("attempt_number"))
    if key not in call.repo.jobs:
        raise not_found()
    return call.paginate([_job(call, j) for j in call.repo.jobs[key]], "jobs")


@routes.get("/repos/{owner}/{repo}/actions/runs/{run_id}/artifacts", perm=ACTIONS)
async def list_artifacts(call: Call) -> Reply:
    run = _run(call)
    arts = [a for a in call.repo.artifacts.values() if a.run_id == run["id"]]
    if "name" in call.query:
        arts = [a for a in arts if a.name == call.query["name"]]
    arts.sort(key=lambda a: -a.id)
    return call.paginate([render.artifact(call, call.repo, a, run) for a in arts], "artifacts")


def _artifact(call: Call) -> Any:
    art = call.repo.artifacts.get(call.int_param("artifact_id"))
    if art is None:
        raise not_found()
    return art


@routes.get("/repos/{owner}/{repo}/actions/artifacts/{artifact_id}", perm=ACTIONS)
async def get_artifact(call: Call) -> Reply:
    art = _artifact(call)
    return Reply(200, render.artifact(call, call.repo, art, call.repo.runs.get(art.run_id)))


@routes.get("/repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}",
            perm=ACTIONS)
async def download_artifact(call: Call) -> Reply:
    art = _artifact(call)
    if call.params["archive_format"] != "zip":
        raise ApiError(404, "Not Found", unexpected=True)
    if art.expired:
        raise ApiError(410, "Artifact has expired")
    return Reply(302, None, {"location": blob.signed_url(call.fake, art)})
