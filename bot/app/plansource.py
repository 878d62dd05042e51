"""The plan as commands see it: config from the default branch, its latest evidence, a sync."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from typing import Any

from bot.app import judging, plansync
from bot.app.judging import Repo
from bot.app.ports import AppContext, GitHub
from bot.core import checkrun
from bot.core.commands import is_ours, waivers_from_comments
from bot.core.plan import Evaluation, Evidence, Waiver, evaluate_plan
from bot.core.plan.issuebody import marker_of
from bot.core.plan.render import is_dashboard, recorded_evidence

_SHA = re.compile(r"[0-9a-f]{40}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
NO_PLAN = "This repository's `.github/ci-truth.yml` (default branch) has no `plan:` section."


async def default_branch_state(gh: GitHub, ctx: AppContext, repo: Repo, *,
                               ref: str | None = None) -> tuple[dict[str, Any], Evidence, str]:
    """The default branch head's (or `ref`'s) latest CI Truth state as a state@1 document.

    The check run's embedded block carries counts, signatures and coverage (the App puts
    them there for the plan); the head commit is returned for the `files` variable.
    """
    doc = await gh.getitem("/repos/{owner}/{repo}/commits/{ref}/check-runs",
                           dict(repo.vars, ref=ref or repo.default_branch),
                           params={"check_name": checkrun.NAME, "app_id": ctx.app_id,
                                   "per_page": 100})
    runs = doc.get("check_runs") if isinstance(doc, Mapping) else None
    done = [c for c in (runs if isinstance(runs, list) else [])
            if isinstance(c, Mapping) and checkrun.is_ours(c, ctx.app_id)
            and c.get("status") == "completed"]
    done.sort(key=lambda c: (str(c.get("completed_at") or ""), int(c.get("id") or 0)))
    for c in reversed(done):
        block = checkrun.parse_state_block((c.get("output") or {}).get("text"))
        if block is None:
            continue
        tests = dict(block["tests"])
        total, skipped = int(tests.get("total") or 0), int(tests.get("skipped") or 0)
        executed = total - skipped
        tests.setdefault("pass_rate",
                         int(tests.get("passed") or 0) / executed if executed else 0.0)
        tests.setdefault("skipped_ratio", skipped / total if total else 0.0)
        state = {"tests": tests, "signatures": dict(block.get("signatures") or {}),
                 "coverage": dict(block.get("coverage") or {}),
                 "workflows": dict(block.get("workflows") or {}),
                 "verdict": block.get("verdict")}
        ids = [r.get("id") for r in block.get("runs") or [] if isinstance(r, Mapping)]
        url = (f"https://github.com/{repo.owner}/{repo.name}/actions/runs/{ids[0]}"
               if ids and isinstance(ids[0], int) else "")
        when, dated = str(c.get("completed_at") or ""), ""
        shown = block.get("evidence")      # the judged run's link and time, as the run's sync
        if isinstance(shown, Mapping):     # showed them (older check runs: the check's own)
            url = str(shown.get("url") or url)
            when = str(shown.get("time") or when)
            dated = str(shown.get("commit_time") or "")
        sha = str(c.get("head_sha") or "")
        # dated like a run's evidence: the sync records this commit on the dashboard, so a
        # later run of an older commit is compared with it, not with an older record
        dated = dated if _SHA.fullmatch(sha) and _TIME.fullmatch(dated) else ""
        return state, Evidence(run_url=url, sha=sha, time=when, commit_time=dated), sha
    return {}, Evidence(), ""


async def recorded_commit(gh: GitHub, ctx: AppContext, repo: Repo) -> str | None:
    """The commit whose evidence our dashboard records (its evidence marker), if any."""
    bot, found = f"{ctx.app_slug}[bot]", []
    async for issue in gh.getiter("/repos/{owner}/{repo}/issues", repo.vars,
                                  params={"creator": bot, "state": "all", "per_page": 100}):
        if (isinstance(issue, Mapping) and isinstance(issue.get("number"), int)
                and "pull_request" not in issue
                and (issue.get("user") or {}).get("login") == bot
                and is_dashboard(body := str(issue.get("body") or ""))):
            found.append((issue["number"], recorded_evidence(body)))
    rec = min(found, key=lambda f: f[0])[1] if found else None
    return rec[0] if rec else None


async def latest_state(gh: GitHub, ctx: AppContext, repo: Repo
                       ) -> tuple[dict[str, Any], Evidence, str]:
    """The head's state; while the head has none (its CI still running, or skipped for a
    docs-only commit) the state of the commit the dashboard records, never no evidence."""
    found = await default_branch_state(gh, ctx, repo)
    if found[2]:
        return found
    sha = await recorded_commit(gh, ctx, repo)
    return await default_branch_state(gh, ctx, repo, ref=sha) if sha else found


async def read_waivers(gh: GitHub, ctx: AppContext, repository: Repo | Mapping[str, Any]
                       ) -> list[Waiver]:
    """Waivers recorded in ci-truth's comments on its own phase issues (author AND marker)."""
    repo = Repo.of(repository)
    out: list[Waiver] = []
    async for issue in gh.getiter("/repos/{owner}/{repo}/issues", repo.vars,
                                  params={"creator": f"{ctx.app_slug}[bot]", "state": "all",
                                          "per_page": 100}):
        if not (isinstance(issue, Mapping) and isinstance(issue.get("number"), int)
                and is_ours(issue, app_id=ctx.app_id, slug=ctx.app_slug)):
            continue
        body = issue.get("body")
        phase = marker_of(body if isinstance(body, str) else None)
        if phase is None or not issue.get("comments"):
            continue
        comments = [c async for c in gh.getiter(
            "/repos/{owner}/{repo}/issues/{number}/comments",
            dict(repo.vars, number=issue["number"]), params={"per_page": 100})]
        out += [Waiver(w.criterion, w.user, w.reason)
                for w in waivers_from_comments(comments, app_id=ctx.app_id, slug=ctx.app_slug)
                if w.phase == phase]
    return out


async def evaluation(gh: GitHub, ctx: AppContext, repository: Mapping[str, Any], *,
                     waivers: Iterable[Waiver] = ()) -> Evaluation | str:
    """The plan evaluated on the latest evidence, or a sentence saying why it cannot be."""
    repo = Repo.of(repository)
    config, error = await judging.load_config(gh, repo)
    if error is not None:
        return f"The configuration cannot be used: {error}"
    if config.plan is None:
        return NO_PLAN
    state, evidence, sha = await latest_state(gh, ctx, repo)
    files = await plansync.repo_files(gh, repo.owner, repo.name, sha) if sha else None
    return await asyncio.to_thread(evaluate_plan, config.plan, state, waivers=list(waivers),
                                   evidence=evidence, repo_files=files)   # off the event loop


async def sync(gh: GitHub, ctx: AppContext, repository: Mapping[str, Any]) -> None:
    """Bring the phase issues and the dashboard in line, waivers included."""
    repo = Repo.of(repository)
    config, error = await judging.load_config(gh, repo)
    if error is not None or config.plan is None:
        return
    plan = config.plan
    async with plansync.plan_lock(gh, repo.owner, repo.name):  # inputs as of this sync
        state, evidence, sha = await latest_state(gh, ctx, repo)
        files = await plansync.repo_files(gh, repo.owner, repo.name, sha) if sha else None
        ws = await read_waivers(gh, ctx, repository)

        def evaluate(claimed: frozenset[str]) -> Evaluation:
            return evaluate_plan(plan, state, claimed=claimed, waivers=ws, evidence=evidence,
                                 repo_files=files)

        await plansync.sync_plan(gh, repo.owner, repo.name, evaluate,
                                 bot_login=f"{ctx.app_slug}[bot]", now=ctx.clock(), held=True,
                                 default_branch=repo.default_branch)
