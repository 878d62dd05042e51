"""Webhook handlers: workflow_run → check run; check_run recheck; plan issues; installation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from gidgethub import HTTPException

from bot.app import command_state, judging, plansource, plansync, publish, scopes
from bot.app.command_authz import authorise
from bot.app.judging import Repo, RunEvidence
from bot.app.ports import AppContext, Delivery, GitHub, GitHubFor
from bot.core import baselines, checkrun, runs
from bot.core import markdown as md
from bot.core.config import Config
from bot.core.model import MeasuredState, Verdict
from bot.core.state import document

log = logging.getLogger(__name__)
EVICT_ACTIONS = {"deleted", "suspend", "new_permissions_accepted"}
PLAN_ISSUE_ACTIONS = {"closed", "reopened", "edited"}   # hand close, hand reopen, ticked facts
PLAN_MARKERS = ("<!-- ci-truth:phase id=", "<!-- ci-truth:dashboard -->")


class RunNotSettled(Exception):
    """The API does not show the completed attempt yet: the worker retries later."""


async def handle(delivery: Delivery, gh_for: GitHubFor, ctx: AppContext) -> None:
    """Dispatch one recorded delivery (ports.Handler). Idempotent: state is re-read each time."""
    event, action, payload = delivery.event, delivery.action, delivery.payload
    if event in ("installation", "installation_repositories"):
        inst = delivery.installation_id
        evict = action in EVICT_ACTIONS if event == "installation" else action == "removed"
        if evict and inst is not None:
            ctx.evict_installation(inst)
        return
    inst = delivery.installation_id
    repo_doc = payload.get("repository")
    if inst is None or not isinstance(repo_doc, Mapping):
        return
    repo = Repo.of(repo_doc)
    if repo.id <= 0:
        log.warning("delivery %s: repository without an id; ignored", delivery.id)
        return

    async def client(scope: scopes.Scope) -> GitHub:  # tokens mint lazily, on first request
        return await gh_for(inst, repository_id=repo.id, scope=scope)

    wr = payload.get("workflow_run")
    if event == "workflow_run" and isinstance(wr, Mapping):
        if not isinstance(wr.get("id"), int) or not isinstance(wr.get("head_sha"), str):
            log.warning("workflow_run delivery %s without run id or head_sha", delivery.id)
            return
        if action in ("requested", "in_progress"):
            await on_run_started(await client(scopes.START), repo, wr, ctx)
        elif action == "completed":
            await on_run_completed(await client(scopes.JUDGE), repo, wr, ctx,
                                   plan_gh=await client(scopes.PLAN))
    elif event == "check_run" and action in ("rerequested", "requested_action"):
        await on_check_run(await client(scopes.JUDGE), repo, payload, ctx,
                           plan_gh=await client(scopes.PLAN))
    elif event == "check_suite" and action == "rerequested":
        await on_check_suite(await client(scopes.JUDGE), repo, payload, ctx,
                             plan_gh=await client(scopes.PLAN))
    elif event == "issues" and action in PLAN_ISSUE_ACTIONS:
        await on_plan_issue_changed(await client(scopes.PLAN), payload, ctx)
    elif event == "issue_comment":
        from bot.app.commands import on_issue_comment  # it calls recheck: imported late
        await on_issue_comment(delivery, gh_for, ctx)


async def on_plan_issue_changed(gh: GitHub, payload: Mapping[str, Any],
                                 ctx: AppContext) -> None:
    """A person closed, reopened or edited one of our plan issues: reconcile at once.

    Only issues we wrote (our bot login AND a plan marker) count, and only changes made by
    someone else: the reconciler reopens a phase closed without evidence, and reads back
    facts ticked on the dashboard, from the latest default-branch evidence.
    """
    issue, sender = payload.get("issue"), payload.get("sender")
    if not isinstance(issue, Mapping) or not isinstance(sender, Mapping):
        return
    bot_login = f"{ctx.app_slug}[bot]"
    author = issue.get("user")
    if not isinstance(author, Mapping) or author.get("login") != bot_login:
        return
    if sender.get("login") == bot_login or sender.get("type") == "Bot":
        return            # our own writes (and other bots) do not trigger a sync
    body = str(issue.get("body") or "").lstrip()
    if not body.startswith(PLAN_MARKERS):
        return
    repository = payload.get("repository")
    if isinstance(repository, Mapping):
        await plansource.sync(gh, ctx, repository)


async def on_run_started(gh: GitHub, repo: Repo, wr: Mapping[str, Any], ctx: AppContext) -> None:
    """A declared evidence workflow started: create the check run in progress (only once)."""
    config, error = await judging.load_config(gh, repo)
    policy = runs.policy_from_config(config)
    if error is not None or not runs.is_evidence_run(wr, policy):
        return            # undeclared runs are judged once their artifacts exist: quiet until then
    if runs.is_fork(wr, repo.id) and policy.forks == "ignore":
        return
    sha = str(wr["head_sha"])
    ref = checkrun.RunRef(id=int(wr["id"]), attempt=int(wr.get("run_attempt") or 1),
                          name=str(wr.get("name") or ""))
    await publish.start_check(gh, repo, sha, ref, ctx)


async def on_run_completed(gh: GitHub, repo: Repo, wr: Mapping[str, Any],
                           ctx: AppContext, *, plan_gh: GitHub | None = None) -> None:
    """Re-read the run; unless stale or not evidence, judge it and complete the check run.

    ``gh`` has the judge's scope; ``plan_gh`` (default: ``gh``) syncs the plan afterwards.
    """
    config, error = await judging.load_config(gh, repo)
    policy = runs.policy_from_config(config)
    if policy.declared and policy.producer_for(wr) is None:
        return
    run = await gh.getitem("/repos/{owner}/{repo}/actions/runs/{run_id}",
                           dict(repo.vars, run_id=int(wr["id"])))
    now, sent = int(run.get("run_attempt") or 1), int(wr.get("run_attempt") or 1)
    if now > sent or run.get("head_sha") != wr.get("head_sha"):
        log.info("stale workflow_run %s attempt %s ignored", wr.get("id"), sent)
        return
    if now < sent or run.get("status") != "completed":
        raise RunNotSettled(f"run {wr.get('id')} attempt {sent} is not completed in the API yet")
    fork = runs.is_fork(run, repo.id)
    if fork and policy.forks == "ignore":
        return
    sha = str(run["head_sha"])
    async with publish.check_lock(ctx, repo, sha):
        await _judge_completed(gh, repo, sha, wr, run, config, error, ctx, plan_gh=plan_gh)


async def _judge_completed(gh: GitHub, repo: Repo, sha: str, wr: Mapping[str, Any],
                           run: dict[str, Any], config: Config, error: str | None,
                           ctx: AppContext, *, plan_gh: GitHub | None) -> None:
    """on_run_completed under the check run's lock: unless superseded, judge and publish."""
    policy = runs.policy_from_config(config)
    fork = runs.is_fork(run, repo.id)
    dropped: dict[int, str] = {}
    if await _superseded(gh, repo, sha, run, ctx, dropped):
        log.info("run %s: a newer run of its workflow on %s is judged; ignored", run["id"], sha)
        return
    artifacts = await judging.list_artifacts(gh, repo, int(run["id"]))
    if error is None and not runs.is_evidence_run(run, policy, artifacts):
        return            # no config and no report-like artifact: not our business, stay quiet
    pulls: list[dict[str, Any]] = []
    events = (str(run.get("event") or ""), str(wr.get("event") or ""))
    if fork or any(e.startswith("pull_request") for e in events) or _listed_pulls(wr, repo):
        pulls = await publish.open_pulls(gh, repo, sha)
        if not pulls and await publish.check_id(gh, repo, sha, ctx) is None:
            log.info("run %s: %s is no longer the head of an open PR; ignored", run["id"], sha)
            return        # with our check started on it, it is completed (no PR comment)
    await _judge_and_publish(gh, repo, sha, run, artifacts, config, error, ctx, pulls,
                             plan_gh=plan_gh, dropped=dropped)


RecheckOutcome = Literal["rechecked", "nothing", "fork-ignored"]


async def recheck(gh: GitHub, repo: Repo | Mapping[str, Any], head_sha: str,
                  ctx: AppContext, *, plan_gh: GitHub | None = None) -> bool:
    """Re-read the evidence runs recorded in our check run for `head_sha` and re-judge.

    Used by the check run's Recheck button, "Re-run" in the Checks UI and PR-comment
    commands. Returns False when there is nothing of ours to recheck on that commit.
    """
    return await recheck_outcome(gh, repo, head_sha, ctx, plan_gh=plan_gh) == "rechecked"


async def recheck_outcome(gh: GitHub, repo: Repo | Mapping[str, Any], head_sha: str,
                          ctx: AppContext, *, plan_gh: GitHub | None = None) -> RecheckOutcome:
    """recheck, saying why nothing was rechecked ("fork-ignored": a fork run under
    `evidence.forks: ignore`)."""
    repo = Repo.of(repo)
    async with publish.check_lock(ctx, repo, head_sha):   # re-read after a write under way
        return await _recheck(gh, repo, head_sha, ctx, plan_gh=plan_gh)


async def _recheck(gh: GitHub, repo: Repo, head_sha: str, ctx: AppContext, *,
                   plan_gh: GitHub | None) -> RecheckOutcome:
    """recheck under the check run's lock."""
    found = await publish.find_check(gh, repo, head_sha, ctx)
    if found is None:
        return "nothing"
    state = checkrun.parse_state_block((found.get("output") or {}).get("text")) or {}
    recorded = [r for r in state.get("runs") or []
                if isinstance(r, Mapping) and isinstance(r.get("id"), int)]
    ext = str(found.get("external_id") or "").split(":")[0]
    if not recorded and ext.isdigit():
        recorded = [{"id": int(ext)}]
    dropped: dict[int, str] = {}
    run = None
    for r in recorded:       # the first recorded run GitHub still has is the one re-judged
        run = await _recorded_run(gh, repo, r, dropped)
        if run is not None:
            break
    if run is None:
        if dropped:
            log.info("recheck of %s: every recorded run was deleted", head_sha)
        return "nothing"
    if run.get("status") != "completed" or run.get("head_sha") != head_sha:
        return "nothing"
    config, error = await judging.load_config(gh, repo)
    if runs.is_fork(run, repo.id) and runs.policy_from_config(config).forks == "ignore":
        return "fork-ignored"      # fork runs are not judged (evidence.forks: ignore)
    artifacts = await judging.list_artifacts(gh, repo, int(run["id"]))
    pulls = None
    if (runs.is_fork(run, repo.id) or str(run.get("event") or "").startswith("pull_request")
            or _listed_pulls(run, repo)):
        pulls = await publish.open_pulls(gh, repo, head_sha)
    await _judge_and_publish(gh, repo, head_sha, run, artifacts, config, error, ctx, pulls,
                             plan_gh=plan_gh, dropped=dropped)
    return "rechecked"


async def on_check_run(gh: GitHub, repo: Repo, payload: Mapping[str, Any],
                       ctx: AppContext, *, plan_gh: GitHub | None = None) -> None:
    """Recheck from our own check run, for senders with write access, fixed identifiers only."""
    cr = payload.get("check_run") or {}
    if (cr.get("app") or {}).get("id") != ctx.app_id or cr.get("name") != checkrun.NAME:
        return
    if payload.get("action") == "requested_action":
        ident = (payload.get("requested_action") or {}).get("identifier")
        if ident != checkrun.RECHECK["identifier"]:
            return
    login, uid = _sender(payload)
    if not isinstance(login, str) or not await authorise(
            gh, ctx, command="recheck", repository=payload.get("repository") or {}, user=login,
            user_id=uid):
        log.info("recheck refused for sender without write access")
        return
    await recheck(gh, repo, str(cr.get("head_sha")), ctx, plan_gh=plan_gh)


def _sender(payload: Mapping[str, Any]) -> tuple[Any, int | None]:
    """The sender's login (unchecked) and account id (None unless an int)."""
    sender = payload.get("sender") or {}
    uid = sender.get("id")
    return sender.get("login"), uid if isinstance(uid, int) and not isinstance(uid, bool) else None


async def on_check_suite(gh: GitHub, repo: Repo, payload: Mapping[str, Any],
                         ctx: AppContext, *, plan_gh: GitHub | None = None) -> None:
    """"Re-run all checks" on our suite: recheck its head SHA (write access required)."""
    suite = payload.get("check_suite") or {}
    if (suite.get("app") or {}).get("id") != ctx.app_id:
        return
    login, uid = _sender(payload)
    if not isinstance(login, str) or not await authorise(
            gh, ctx, command="recheck", repository=payload.get("repository") or {}, user=login,
            user_id=uid):
        return
    await recheck(gh, repo, str(suite.get("head_sha")), ctx, plan_gh=plan_gh)


async def _judge_and_publish(gh: GitHub, repo: Repo, sha: str, run: dict[str, Any],
                             artifacts: list[dict[str, Any]], config: Config, error: str | None,
                             ctx: AppContext, pulls: list[dict[str, Any]] | None, *,
                             plan_gh: GitHub | None = None,
                             dropped: dict[int, str] | None = None) -> None:
    policy = runs.policy_from_config(config)
    dropped = {} if dropped is None else dropped
    notes: list[str] = []
    if error is not None:
        state, verdict = judging.config_failure(error)
        evidence = [RunEvidence(run=run)]
    else:
        evidence = [await judging.read_run(gh, repo, run, policy, artifacts)]
        evidence += await _other_producers(gh, repo, sha, run, policy, ctx, dropped)
        extra = (runs.missing_producers(policy, [e.run for e in evidence])
                 if len(policy.producers) > 1 else [])
        base, branch = await judging.baseline(gh, repo, sha, ctx, run,
                                              judging.base_branch(repo, run, pulls))
        notes.append(baselines.note(base, branch))
        # parsing (~120 MB/s, lazily from the zips) is seconds: never on the event loop
        state, verdict = await asyncio.to_thread(judging.judge, evidence, config,
                                                 baseline_doc=base, extra=extra)
    notes[:0] = dropped.values()      # before the baseline's note: it changes the evidence
    refs = [e.ref(repo) for e in evidence]
    verdict, accepted = await command_state.honour_accepted_drop(gh, repo, sha, ctx, verdict)
    payloads, doc = await asyncio.to_thread(_rendered, state, verdict, refs, run, sha, repo,
                                            notes, accepted if error is None else None)
    await publish.complete_check(gh, repo, sha, payloads, refs, ctx)
    await judging.forget_baseline(ctx, repo, sha, run)
    if pulls is None:
        pulls = []
    for pr in pulls[:3]:
        link = publish.checks_url(f"{repo.owner}/{repo.name}", int(pr["number"]))
        await publish.upsert_comment(gh, repo, int(pr["number"]), state, verdict, ctx,
                                     check_url=link)
    if error is None:      # the master plan moves on default-branch evidence (docs/plan.md)
        sync_gh = plan_gh or gh
        await plansync.after_run(sync_gh, repo.owner, repo.name, default_branch=repo.default_branch,
                                 repo_id=repo.id, run=run, plan=config.plan,
                                 state=doc, bot_login=f"{ctx.app_slug}[bot]",
                                 now=ctx.clock(),
                                 waivers=lambda: plansource.read_waivers(sync_gh, ctx, repo))


def _rendered(state: MeasuredState, verdict: Verdict, refs: Sequence[checkrun.RunRef],
              run: Mapping[str, Any], sha: str, repo: Repo, notes: list[str],
              accepted: str | None) -> tuple[checkrun.CheckPayloads, dict[str, Any]]:
    """The check run's payloads (Markdown, zlib state block) and the state document; CPU
    only, run on a worker thread. ``accepted`` None: no details (a config failure)."""
    details = "" if accepted is None else accepted + judging.details_markdown(state, verdict)
    payloads = checkrun.completed_payloads(state, verdict, refs, details_md=details,
                                           head_sha=sha, repo=repo.name, notes=notes,
                                           extra_state=command_state.extra_state(
                                               state, verdict, run))
    return payloads, document(state, verdict)


async def _other_producers(gh: GitHub, repo: Repo, sha: str, run: Mapping[str, Any],
                           policy: runs.EvidencePolicy, ctx: AppContext,
                           dropped: dict[int, str]) -> list[RunEvidence]:
    """Other evidence runs for this SHA, as recorded in our check run's state.

    Other declared producers' runs; without declared producers, other workflows' runs (the
    one check run holds every workflow's evidence, so a later green run cannot hide a red one).
    A recorded run GitHub no longer has is left out and noted in `dropped`.
    """
    if len(policy.producers) == 1:
        return []
    this = policy.producer_for(run)
    out: list[RunEvidence] = []
    for r in await _recorded_runs(gh, repo, sha, ctx):
        if (not isinstance(r, Mapping) or not isinstance(r.get("id"), int)
                or r.get("id") == run.get("id")):
            continue
        other = await _recorded_run(gh, repo, r, dropped)
        if other is None:
            continue
        if (other.get("head_sha") != sha or other.get("status") != "completed"
                or (runs.is_fork(other, repo.id) and policy.forks == "ignore")):
            continue
        artifacts = None
        if policy.declared:
            producer = policy.producer_for(other)
            if producer is None or producer == this:
                continue
        else:
            if other.get("path") == run.get("path"):
                continue          # the same workflow: the newest run is its evidence
            artifacts = await judging.list_artifacts(gh, repo, int(other["id"]))
            if not runs.is_evidence_run(other, policy, artifacts):
                continue
        out.append(await judging.read_run(gh, repo, other, policy, artifacts))
    return out


async def _recorded_runs(gh: GitHub, repo: Repo, sha: str, ctx: AppContext) -> list[Any]:
    """The evidence runs our check run on `sha` records (cache first, else the API)."""
    memo = judging.Memo(ctx)
    entry = await memo.get(judging.CHECKS, f"{repo.id}:{sha}")
    if entry is None:
        await publish.find_check(gh, repo, sha, ctx)   # fills the cache when it finds one
        entry = await memo.get(judging.CHECKS, f"{repo.id}:{sha}")
    return list((entry or {}).get("runs") or [])


async def _recorded_run(gh: GitHub, repo: Repo, r: Mapping[str, Any],
                        dropped: dict[int, str]) -> dict[str, Any] | None:
    """A run our check run records, re-read; None (noted in `dropped`) when GitHub answers
    404: a person deleted it (it existed when it was recorded), so its evidence is gone."""
    try:
        found: dict[str, Any] = await gh.getitem(
            "/repos/{owner}/{repo}/actions/runs/{run_id}", dict(repo.vars, run_id=int(r["id"])))
        return found
    except HTTPException as exc:
        if exc.status_code != 404:
            raise
    name = md.code(str(r.get("name") or "?"), max_chars=100)
    dropped[int(r["id"])] = (
        f"Evidence dropped: workflow run {int(r['id'])} ({name}), recorded by this check, no "
        f"longer exists (GitHub answers 404: deleted), so its reports are not judged.")
    return None


async def _superseded(gh: GitHub, repo: Repo, sha: str, run: Mapping[str, Any],
                      ctx: AppContext, dropped: dict[int, str]) -> bool:
    """Our check run already judges a newer run (higher id, then attempt) of this workflow.

    A push run and a manual re-trigger of one workflow on one SHA are two runs: the newest
    is the evidence, and the older one completing after it must not replace its result.
    """
    mine = (int(run["id"]), int(run.get("run_attempt") or 1))
    for r in await _recorded_runs(gh, repo, sha, ctx):
        if (not isinstance(r, Mapping) or not isinstance(r.get("id"), int)
                or r.get("name") != str(run.get("name") or "")
                or (r["id"], int(r.get("attempt") or 1)) <= mine):
            continue
        if r["id"] == mine[0]:
            return True            # a later attempt of this very run is recorded
        other = await _recorded_run(gh, repo, r, dropped)
        if other is None:
            continue               # deleted: this run is its workflow's evidence again
        if other.get("head_sha") == sha and other.get("path") == run.get("path"):
            return True
    return False


def _listed_pulls(wr: Mapping[str, Any], repo: Repo) -> bool:
    """The payload names a PR of this repository (forks leave the list empty)."""
    return any(isinstance(p, Mapping)
               and (((p.get("base") or {}).get("repo") or {}).get("id")) == repo.id
               for p in wr.get("pull_requests") or ())
