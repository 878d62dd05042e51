"""Apply plan reconcile() operations to GitHub issues through a ports.GitHub client."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import gidgethub

from bot.app.github import compare
from bot.app.ports import GitHub
from bot.core.plan import Evaluation, Evidence, Plan, Waiver, evaluate_plan
from bot.core.plan.issuebody import read_ticks
from bot.core.plan.reconcile import DASHBOARD, IssueSnapshot, Operation, reconcile, to_compare
from bot.core.plan.render import is_dashboard

log = logging.getLogger(__name__)
MAX_PASSES = 3
MAX_ISSUES = 2000
MAX_FILES = 200_000
# per event loop (a lock belongs to one), then per installation and repository
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary())
_SHA = re.compile(r"[0-9a-f]{40}")


@dataclass
class SyncResult:
    """What one sync wrote (counts per operation kind) and the final evaluation."""

    created: int = 0
    edited: int = 0
    commented: int = 0
    evaluation: Evaluation | None = None
    stale: bool = False               # the evidence's commit is an ancestor of the recorded one


def _snapshot(item: Mapping[str, Any]) -> IssueSnapshot:
    user = item.get("user") or {}
    closed_by = item.get("closed_by") or {}
    return IssueSnapshot(
        number=int(item["number"]), title=str(item.get("title") or ""),
        body=str(item.get("body") or ""), state=str(item.get("state") or "open"),
        labels=tuple(str(x.get("name", "")) for x in item.get("labels") or ()
                     if isinstance(x, Mapping)),
        author=str(user.get("login") or ""), state_reason=item.get("state_reason"),
        closed_by=closed_by.get("login") if isinstance(closed_by, Mapping) else None)


async def list_ours(gh: GitHub, owner: str, repo: str, bot_login: str) -> list[IssueSnapshot]:
    """Issues created by the App (pull requests excluded), closed ones with `closed_by`."""
    out: list[IssueSnapshot] = []
    url = "/repos/{owner}/{repo}/issues"
    params = {"state": "all", "creator": bot_login, "per_page": 100}
    async for item in gh.getiter(url, {"owner": owner, "repo": repo}, params=params):
        if "pull_request" in item or (item.get("user") or {}).get("login") != bot_login:
            continue
        if item.get("state") == "closed" and "closed_by" not in item:
            item = await gh.getitem("/repos/{owner}/{repo}/issues/{number}",
                                    {"owner": owner, "repo": repo, "number": item["number"]})
        out.append(_snapshot(item))
        if len(out) >= MAX_ISSUES:
            break
    return out


def claimed_facts(issues: list[IssueSnapshot], bot_login: str) -> frozenset[str]:
    """Facts ticked on our dashboard (only people with write/triage access can edit it)."""
    for issue in sorted(issues, key=lambda i: i.number):
        if issue.author == bot_login and is_dashboard(issue.body):
            return frozenset(f for f, on in read_ticks(issue.body).items() if on)
    return frozenset()


async def repo_files(gh: GitHub, owner: str, repo: str, sha: str) -> list[str] | None:
    """Paths of the files at `sha` (the `files` variable), or None when GitHub truncated the
    tree: an incomplete list would make present files look absent."""
    tree = await gh.getitem("/repos/{owner}/{repo}/git/trees/{sha}",
                            {"owner": owner, "repo": repo, "sha": sha},
                            params={"recursive": "1"})
    if not isinstance(tree, Mapping) or tree.get("truncated"):
        return None
    entries = tree.get("tree") or []
    return [str(e["path"]) for e in entries[:MAX_FILES]
            if isinstance(e, Mapping) and e.get("type") == "blob" and "path" in e]


async def apply(gh: GitHub, owner: str, repo: str, op: Operation) -> None:
    """One operation as one REST call."""
    base = {"owner": owner, "repo": repo}
    if op.kind == "create":
        await gh.post("/repos/{owner}/{repo}/issues", base,
                      data={"title": op.title, "body": op.body, "labels": list(op.labels or ())})
    elif op.kind == "comment":
        await gh.post("/repos/{owner}/{repo}/issues/{number}/comments",
                      {**base, "number": op.number}, data={"body": op.comment})
    elif op.kind == "edit":
        data: dict[str, Any] = {}
        if op.title is not None:
            data["title"] = op.title
        if op.body is not None:
            data["body"] = op.body
        if op.labels is not None:
            data["labels"] = list(op.labels)
        if op.state is not None:
            data["state"] = op.state
            if op.state_reason is not None:
                data["state_reason"] = op.state_reason
        await gh.patch("/repos/{owner}/{repo}/issues/{number}",
                       {**base, "number": op.number}, data=data)
    else:
        raise ValueError(f"unknown operation {op.kind!r}")


async def is_ancestor(gh: GitHub, owner: str, repo: str, sha: str, recorded: str) -> bool:
    """Whether `sha` is a strict ancestor of `recorded` (GitHub's compare answers "behind").

    When GitHub cannot say (the recorded commit was force-pushed away: 404; 422; 5xx after
    the transport's retries) the answer is False, logged: an error never freezes the plan.
    """
    try:
        cmp = await compare(gh, owner, repo, recorded, sha)
    except gidgethub.HTTPException as exc:
        log.warning("plan %s/%s: comparing %s with the recorded %s failed (%s); the run "
                    "applies", owner, repo, sha[:12], recorded[:12], exc.status_code)
        return False
    return isinstance(cmp, Mapping) and cmp.get("status") == "behind"


def plan_lock(gh: GitHub, owner: str, repo: str) -> asyncio.Lock:
    """The process's lock of one repository's plan issues (one sync at a time)."""
    per_loop = _locks.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault(f"{gh.installation_id}/{owner}/{repo}".lower(), asyncio.Lock())


async def on_branch(gh: GitHub, owner: str, repo: str, recorded: str, branch: str) -> bool:
    """Whether `recorded` is in `branch`'s history (GitHub's compare: the branch is ahead of
    it or identical). When GitHub cannot say the answer is True: the record stands."""
    try:
        cmp = await compare(gh, owner, repo, recorded, branch)
    except gidgethub.HTTPException as exc:
        log.warning("plan %s/%s: comparing the recorded %s with %s failed (%s)", owner, repo,
                    recorded[:12], branch, exc.status_code)
        return True
    return not isinstance(cmp, Mapping) or cmp.get("status") in ("ahead", "identical")


async def sync_plan(gh: GitHub, owner: str, repo: str,
                    evaluate: Callable[[frozenset[str]], Evaluation], *, bot_login: str,
                    now: datetime, held: bool = False,
                    default_branch: str | None = None) -> SyncResult:
    """Bring the plan's issues in line with the evidence: read, evaluate, reconcile, write.

    `evaluate(claimed)` evaluates the plan with the facts people ticked on the dashboard.
    Serialised per repository in this process, so duplicate deliveries find the issues the
    first one created instead of creating them again. A run's evidence whose commit is an
    ancestor of the one the dashboard records is stale and writes nothing: one compare
    request, only when the commits differ (docs/plan.md). With `default_branch`, a recorded
    commit that is not in that branch's history (a marker edited by hand, a force-push) is
    ignored, and the sync replaces it: a second compare, only for stale evidence. ``held``:
    the caller holds ``plan_lock`` already, having read `evaluate`'s inputs under it.
    """
    result = SyncResult()
    async with contextlib.nullcontext() if held else plan_lock(gh, owner, repo):
        for n in range(MAX_PASSES):
            issues = await list_ours(gh, owner, repo, bot_login)
            # CEL is pure Python: seconds over a big `files` tree, never on the event loop
            ev = await asyncio.to_thread(evaluate, claimed_facts(issues, bot_login))
            result.evaluation = ev
            recorded = to_compare(ev.evidence, issues, bot_login) if n == 0 else None
            if recorded is not None:
                result.stale = await is_ancestor(gh, owner, repo, ev.evidence.sha, recorded)
                if result.stale and default_branch and not await on_branch(
                        gh, owner, repo, recorded, default_branch):
                    log.warning("plan %s/%s: the recorded %s is not on %s; the run applies",
                                owner, repo, recorded[:12], default_branch)
                    result.stale = False
                if result.stale:
                    log.info("plan %s/%s: %s is an ancestor of the recorded %s; stale, "
                             "nothing written", owner, repo, ev.evidence.sha[:12], recorded[:12])
            ops = reconcile(ev, issues, bot_login=bot_login, now=now, stale=result.stale)
            if not ops:
                break
            for op in ops:
                await apply(gh, owner, repo, op)
                if op.kind == "create":
                    result.created += 1
                elif op.kind == "edit":
                    result.edited += 1
                else:
                    result.commented += 1
    return result


def commit_time(run: Mapping[str, Any]) -> str:
    """The run's head commit time in UTC (``...Z``), or "" when absent or unreadable
    (author or committer date: for people to read, never to order evidence by)."""
    head = run.get("head_commit")
    stamp = head.get("timestamp") if isinstance(head, Mapping) else None
    try:
        when = datetime.fromisoformat(str(stamp))
    except ValueError:
        return ""
    if when.tzinfo is None:
        return ""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def evidence_from_run(run: Mapping[str, Any]) -> Evidence:
    """Run link, head SHA and time of a workflow_run payload (links only to github.com),
    and its head commit's time (shown in the dashboard's marker; it orders nothing)."""
    url = str(run.get("html_url") or "")
    sha = str(run.get("head_sha") or "")
    return Evidence(run_url=url if url.startswith("https://github.com/") else "", sha=sha,
                    time=str(run.get("updated_at") or run.get("run_started_at") or ""),
                    commit_time=commit_time(run) if _SHA.fullmatch(sha) else "")


async def sync_from_run(gh: GitHub, owner: str, repo: str, plan: Plan,
                        state: Mapping[str, Any], run: Mapping[str, Any], *, bot_login: str,
                        now: datetime, waivers: tuple[Waiver, ...] = (),
                        held: bool = False,
                        default_branch: str | None = None) -> SyncResult:
    """After a default-branch run was judged: the plan on that evidence, issues in line.

    `state` is the run's ci-truth/state@1 document; the run itself joins `workflows` (its
    conclusion) and its commit's tree gives `files`.
    """
    doc = dict(state)
    workflows = dict(doc.get("workflows") or {})
    name = str(run.get("name") or "")
    if name and name not in workflows:
        workflows[name] = {"conclusion": run.get("conclusion"), "run_id": run.get("id"),
                           "url": run.get("html_url")}
    doc["workflows"] = workflows
    sha = str(run.get("head_sha") or "")
    files = await repo_files(gh, owner, repo, sha) if sha else None
    evidence = evidence_from_run(run)

    def evaluate(claimed: frozenset[str]) -> Evaluation:
        return evaluate_plan(plan, doc, claimed=claimed, waivers=waivers, repo_files=files,
                             evidence=evidence)

    return await sync_plan(gh, owner, repo, evaluate, bot_login=bot_login, now=now, held=held,
                           default_branch=default_branch)


def on_default_branch(run: Mapping[str, Any], default_branch: str, repo_id: int) -> bool:
    """A run that speaks for the default branch: its branch, not a PR, not from a fork."""
    head_repo = run.get("head_repository") or {}
    same_repo = not isinstance(head_repo, Mapping) or head_repo.get("id") in (None, repo_id)
    return (run.get("head_branch") == default_branch and same_repo
            and not str(run.get("event") or "").startswith("pull_request"))


async def after_run(gh: GitHub, owner: str, repo: str, *, default_branch: str, repo_id: int,
                    run: Mapping[str, Any], plan: Plan | None, state: Mapping[str, Any],
                    bot_login: str, now: datetime,
                    waivers: Callable[[], Awaitable[Sequence[Waiver]]] | None = None
                    ) -> SyncResult | None:
    """The handler's hook after judging a run: sync the plan when the run is default-branch
    evidence and the config has a plan; otherwise nothing (no request at all, so ``waivers``,
    which reads the accepted waivers, is called only when the plan is synced, under
    ``plan_lock``: a waiver recorded by a concurrent job is never synced away)."""
    if plan is None or not on_default_branch(run, default_branch, repo_id):
        return None
    async with plan_lock(gh, owner, repo):
        accepted = tuple(await waivers()) if waivers is not None else ()
        return await sync_from_run(gh, owner, repo, plan, state, run, bot_login=bot_login,
                                   now=now, waivers=accepted, held=True,
                                   default_branch=default_branch)


__all__ = ["DASHBOARD", "SyncResult", "after_run", "apply", "claimed_facts",
           "evidence_from_run", "is_ancestor", "list_ours", "on_branch", "on_default_branch",
           "plan_lock", "repo_files", "sync_from_run", "sync_plan"]
