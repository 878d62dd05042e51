"""GitHub writes: the one CI Truth check run per SHA, the sticky PR comment, PR lookup."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from gidgethub import HTTPException

from bot.app.judging import CHECKS, COMMENTS, Memo, Repo
from bot.app.ports import AppContext, GitHub
from bot.core import annotate, checkrun, prcomment
from bot.core.model import Conclusion, MeasuredState, Verdict

log = logging.getLogger(__name__)


def _lock(ctx: AppContext, kind: str, key: str) -> asyncio.Lock:
    """The process's lock of one GitHub object (kept while a job holds or awaits it)."""
    locks: weakref.WeakValueDictionary[str, asyncio.Lock] = ctx.extras.setdefault(
        kind, weakref.WeakValueDictionary())
    lock = locks.get(key)
    if lock is None:
        lock = locks[key] = asyncio.Lock()
    return lock


def check_lock(ctx: AppContext, repo: Repo, sha: str) -> asyncio.Lock:
    """Held while a job reads, judges and writes the check run on `sha`.

    Jobs of different keys write it (a comment command on the PR, the head SHA's runs): one
    that read the check run before another's evidence was recorded must not write last.
    """
    return _lock(ctx, "ci_truth.check_locks", f"{repo.id}:{sha}")


async def find_check(gh: GitHub, repo: Repo, sha: str, ctx: AppContext
                     ) -> dict[str, Any] | None:
    """Our CI Truth check run on `sha` (app id AND name), the most recent if several exist."""
    data = await gh.getitem("/repos/{owner}/{repo}/commits/{ref}/check-runs",
                            dict(repo.vars, ref=sha),
                            params={"check_name": checkrun.NAME, "app_id": ctx.app_id,
                                    "filter": "all", "per_page": 100})
    found = [c for c in (data.get("check_runs") or []) if checkrun.is_ours(c, ctx.app_id)
             and c.get("head_sha", sha) == sha] if isinstance(data, Mapping) else []
    if not found:
        return None
    best: dict[str, Any] = max(found, key=lambda c: int(c.get("id") or 0))
    memo = Memo(ctx)
    entry = await memo.get(CHECKS, f"{repo.id}:{sha}") or {}
    output = best.get("output") or {}
    state = checkrun.parse_state_block(output.get("text"))
    await memo.put(CHECKS, f"{repo.id}:{sha}", {
        "id": best["id"], "runs": (state or {}).get("runs") or entry.get("runs") or [],
        # None: the annotations it holds are unknown here (complete_check lists them)
        "annotated": (entry.get("annotated") if entry.get("id") == best["id"]
                      else [] if output.get("annotations_count") == 0 else None)})
    return best


async def check_id(gh: GitHub, repo: Repo, sha: str, ctx: AppContext) -> int | None:
    """The check run id from the cache, else from the API (warm cache: no request)."""
    entry = await Memo(ctx).get(CHECKS, f"{repo.id}:{sha}")
    if entry:
        return int(entry["id"])
    found = await find_check(gh, repo, sha, ctx)
    return int(found["id"]) if found else None


async def start_check(gh: GitHub, repo: Repo, sha: str, run: checkrun.RunRef | None,
                      ctx: AppContext) -> int:
    """Create the in-progress check run unless one exists already (never a duplicate)."""
    existing = await check_id(gh, repo, sha, ctx)
    if existing is not None:
        return existing
    created = await gh.post("/repos/{owner}/{repo}/check-runs", repo.vars,
                            data=checkrun.in_progress_payload(sha, run))
    await Memo(ctx).put(CHECKS, f"{repo.id}:{sha}",
                        {"id": created["id"], "runs": [], "annotated": []})
    return int(created["id"])


async def complete_check(gh: GitHub, repo: Repo, sha: str, payloads: checkrun.CheckPayloads,
                         runs_: Sequence[checkrun.RunRef], ctx: AppContext) -> int:
    """PATCH the existing check run (or create it completed), then append annotation batches.

    Annotations the check run already holds are not sent again (GitHub appends them). Which
    ones it holds comes from the cache (kept unknown while a write is under way, so a retry
    after a crash asks GitHub) or else from the annotations list.
    """
    memo = Memo(ctx)
    key = f"{repo.id}:{sha}"
    cid = await check_id(gh, repo, sha, ctx)
    url = "/repos/{owner}/{repo}/check-runs/{check_run_id}"
    posted: list[str] = []
    full = payloads                  # a check run created again holds none of the old ones
    if cid is not None:
        entry = await memo.get(CHECKS, key)   # check_id's (or find_check's) entry
        posted = await _annotated(gh, repo, cid, entry or {})
        payloads = checkrun.without_posted(payloads, set(posted))
        await memo.put(CHECKS, key, dict(entry or {"id": cid, "runs": []}, annotated=None))
        try:
            await gh.patch(url, dict(repo.vars, check_run_id=cid), data=payloads.first)
        except HTTPException as exc:
            if exc.status_code != 404:
                raise
            await memo.delete(CHECKS, key)    # gone behind our back: look again
            found = await find_check(gh, repo, sha, ctx)
            cid = int(found["id"]) if found else None
            posted = await _annotated(gh, repo, cid, {}) if cid is not None else []
            payloads = checkrun.without_posted(full, set(posted))
            if cid is not None:
                await gh.patch(url, dict(repo.vars, check_run_id=cid), data=payloads.first)
    if cid is None:
        created = await gh.post("/repos/{owner}/{repo}/check-runs", repo.vars,
                                data=dict(payloads.first, head_sha=sha))
        cid = int(created["id"])
    refs = [{"id": r.id, "attempt": r.attempt, "name": r.name} for r in runs_]
    await memo.put(CHECKS, key, {"id": cid, "runs": refs, "annotated": None})
    for more in payloads.more:
        await gh.patch(url, dict(repo.vars, check_run_id=cid), data=more)
    await memo.put(CHECKS, key, {"id": cid, "runs": refs, "annotated": sorted(
        set(posted) | set(checkrun.annotations_of(payloads)))})
    return cid


async def _annotated(gh: GitHub, repo: Repo, cid: int, entry: Mapping[str, Any]) -> list[str]:
    """Keys of the annotations check run `cid` holds: cached, else listed from GitHub."""
    cached = entry.get("annotated") if entry.get("id") == cid else None
    if isinstance(cached, list):
        return [str(k) for k in cached]
    return await annotation_keys(gh, repo.vars, cid)


async def annotation_keys(gh: GitHub, url_vars: Mapping[str, Any], cid: int) -> list[str]:
    """Keys of the annotations check run `cid` holds, listed from GitHub (the App and the
    Action: GitHub appends every update's annotations, so held ones are not sent again)."""
    return [annotate.annotation_key(a) async for a in gh.getiter(
        "/repos/{owner}/{repo}/check-runs/{check_run_id}/annotations",
        dict(url_vars, check_run_id=cid)) if isinstance(a, Mapping)]


async def open_pulls(gh: GitHub, repo: Repo, sha: str) -> list[dict[str, Any]]:
    """Open PRs of this repository whose head is exactly `sha` (works for forks too)."""
    pulls = await gh.getitem("/repos/{owner}/{repo}/commits/{commit_sha}/pulls",
                             dict(repo.vars, commit_sha=sha))
    return [dict(p) for p in pulls or [] if isinstance(p, Mapping) and p.get("state") == "open"
            and (p.get("head") or {}).get("sha") == sha
            and ((p.get("base") or {}).get("repo") or {}).get("id") == repo.id]


def checks_url(full_name: str, number: int) -> str:
    """The PR's Checks tab: it always shows the head's checks, ours among them, so the sticky
    comment's link stays right across pushes and needs no edit while the verdict holds."""
    return f"https://github.com/{full_name}/pull/{int(number)}/checks"


async def upsert_comment(gh: GitHub, repo: Repo, number: int, state: MeasuredState,
                         verdict: Verdict, ctx: AppContext, *, check_url: str = "") -> str:
    """Edit our sticky comment when the digest changed; create it only for a failing verdict.

    Returns what happened: "unchanged", "edited", "created", "skipped" (quiet) or "locked".
    One PR's comment is upserted by one job at a time: jobs of different keys (a comment
    command on the PR, its head SHA's run) may otherwise both find none and both create one.
    """
    async with _lock(ctx, "ci_truth.comment_locks", f"{repo.id}:{number}"):
        return await _upsert_comment(gh, repo, number, state, verdict, ctx,
                                     check_url=check_url)


async def _upsert_comment(gh: GitHub, repo: Repo, number: int, state: MeasuredState,
                          verdict: Verdict, ctx: AppContext, *, check_url: str = "") -> str:
    memo = Memo(ctx)
    key = f"{repo.id}:{number}"
    digest = prcomment.digest(state, verdict, check_url)
    cached = await memo.get(COMMENTS, key)   # [comment id, digest], or [None, None]: none
    if cached and cached[1] == digest:
        return "unchanged"
    if cached and cached[0] is None and not _worth_a_comment(verdict):
        return "skipped"
    body = prcomment.body(state, verdict, check_url=check_url)
    bot = f"{ctx.app_slug}[bot]"
    try:
        own = None
        if cached and cached[0] is not None:
            own = {"id": cached[0], "body": f"<!-- ci-truth:digest {cached[1]} -->"}
        elif not cached:
            url = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
            async for c in gh.getiter(url, dict(repo.vars, issue_number=number),
                                      params={"per_page": 100}):
                if prcomment.is_ours(c, bot, ctx.app_id):
                    own = c
                    break
        if own is not None:
            if prcomment.digest_of(own.get("body")) == digest:
                await memo.put(COMMENTS, key, [own["id"], digest])
                return "unchanged"
            await gh.patch("/repos/{owner}/{repo}/issues/comments/{comment_id}",
                           dict(repo.vars, comment_id=own["id"]), data={"body": body})
            await memo.put(COMMENTS, key, [own["id"], digest])
            return "edited"
        if not _worth_a_comment(verdict):
            await memo.put(COMMENTS, key, [None, None])
            return "skipped"
        made = await gh.post("/repos/{owner}/{repo}/issues/{issue_number}/comments",
                             dict(repo.vars, issue_number=number), data={"body": body})
        await memo.put(COMMENTS, key, [made["id"], digest])
        return "created"
    except HTTPException as exc:
        if exc.status_code == 404 and cached:
            await memo.delete(COMMENTS, key)
            if cached[0] is None:             # the PR itself is gone: nothing to comment on
                return "skipped"
            # Our comment was deleted (by a person): look again now (once, with no hint),
            # so that the PR shows this verdict rather than nothing.
            return await _upsert_comment(gh, repo, number, state, verdict, ctx,
                                         check_url=check_url)
        if exc.status_code == 403:            # locked conversation (or no permission): quiet
            log.info("PR comment skipped: 403 on %s/%s#%s", repo.owner, repo.name, number)
            return "locked"
        raise


def _worth_a_comment(verdict: Verdict) -> bool:
    """Quiet by default: a new comment only when something other than fork provenance fails."""
    return any(r.conclusion is Conclusion.FAILURE and r.rule != "untrusted-evidence"
               for r in verdict.reasons)
