"""issue_comment commands: filter, rate-limit, acknowledge, authorise, run, answer once.

Order of work for one comment: cheap payload filters (created only, no bots, not ours,
not locked, holds a command) → rate limit (a flood costs no API call) → 👀 reaction →
permission (command_authz, cached briefly) → each command → one reply comment carrying
a marker naming the command comment, so a retried job never answers twice (it only
finishes what that reply recorded, e.g. the plan sync after a waiver).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gidgethub

from bot.app import command_actions as actions
from bot.app import scopes
from bot.app.command_authz import authorise
from bot.app.ports import AppContext, Delivery, GitHub, GitHubFor
from bot.core.commands import Decision, RateLimiter, is_ours, name_of, parse_commands
from bot.core.commands.authz import REQUIRED
from bot.core.commands.render import RATE_LIMITED, REPLY_MARK, denied_text, reply_body

log = logging.getLogger(__name__)

NEEDS_PLAN = frozenset({"plan", "waive"})
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


@dataclass(frozen=True)
class Thread:
    """Where the command was written: repository, issue or PR number, and who wrote it."""

    owner: str
    repo: str
    repo_id: int
    number: int
    is_pr: bool
    user: str
    user_id: int
    comment_id: int
    created_at: str

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"


def _thread(p: Mapping[str, Any]) -> Thread | None:
    """The validated coordinates of a comment payload, or None when anything is off."""
    try:
        repo, issue, comment, sender = p["repository"], p["issue"], p["comment"], p["sender"]
        t = Thread(owner=repo["owner"]["login"], repo=repo["name"], repo_id=int(repo["id"]),
                   number=int(issue["number"]),
                   is_pr=isinstance(issue.get("pull_request"), Mapping),
                   user=sender["login"], user_id=int(sender["id"]),
                   comment_id=int(comment["id"]), created_at=str(comment.get("created_at", "")))
    except (KeyError, TypeError, ValueError):
        return None
    if not (_NAME.match(t.owner) and _NAME.match(t.repo) and isinstance(t.user, str)):
        return None
    return t


def _ignored(p: Mapping[str, Any], ctx: AppContext) -> bool:
    comment, sender, issue = p.get("comment"), p.get("sender"), p.get("issue")
    if not (isinstance(comment, Mapping) and isinstance(sender, Mapping)
            and isinstance(issue, Mapping)):
        return True
    if sender.get("type") == "Bot" or sender.get("login") == f"{ctx.app_slug}[bot]":
        return True
    user = comment.get("user")
    if isinstance(user, Mapping) and user.get("type") == "Bot":
        return True
    if is_ours(comment, app_id=ctx.app_id, slug=ctx.app_slug):
        return True
    return bool(issue.get("locked")) or not isinstance(comment.get("body"), str)


_limiter = RateLimiter()


def reset_rate_limits() -> None:
    """Forget every bucket (tests; a new process starts with full buckets too)."""
    global _limiter
    _limiter = RateLimiter()


def limiter() -> RateLimiter:
    """The process-wide command rate limiter (the worker builds a new context per job)."""
    return _limiter


async def _answer_of(gh: GitHub, t: Thread, ctx: AppContext) -> Mapping[str, Any] | None:
    """Our reply to this command comment, if an earlier attempt already posted it."""
    marker = f"<!-- {REPLY_MARK} comment={t.comment_id} -->"
    params = {"per_page": 100, **({"since": t.created_at} if t.created_at else {})}
    seen = 0
    async for c in gh.getiter("/repos/{owner}/{repo}/issues/{number}/comments",
                              {"owner": t.owner, "repo": t.repo, "number": t.number},
                              params=params):
        seen += 1
        if (isinstance(c, Mapping) and is_ours(c, app_id=ctx.app_id, slug=ctx.app_slug)
                and isinstance(c.get("body"), str) and c["body"].startswith(marker)):
            return c
        if seen >= 300:
            break
    return None


async def _acknowledge(gh: GitHub, t: Thread) -> bool:
    """React 👀 at once; False when the comment no longer exists (deleted meanwhile)."""
    try:
        await gh.post("/repos/{owner}/{repo}/issues/comments/{id}/reactions",
                      {"owner": t.owner, "repo": t.repo, "id": t.comment_id},
                      data={"content": "eyes"})
    except gidgethub.HTTPException as exc:
        if exc.status_code.value == 404:
            return False
        if exc.status_code.value not in (403, 422):    # locked meanwhile: answer anyway
            raise
    return True


async def _post(gh: GitHub, t: Thread, body: str) -> None:
    try:
        await gh.post("/repos/{owner}/{repo}/issues/{number}/comments",
                      {"owner": t.owner, "repo": t.repo, "number": t.number},
                      data={"body": body})
    except gidgethub.HTTPException as exc:
        if exc.status_code.value != 403:      # locked meanwhile: answer nothing
            raise
        log.info("reply refused (403) on %s#%d", t.full_name, t.number)


async def on_issue_comment(delivery: Delivery, gh_for: GitHubFor, ctx: AppContext) -> None:
    """Handle an issue_comment delivery: run the commands it holds and answer once."""
    p = delivery.payload
    inst = delivery.installation_id
    if delivery.action != "created" or inst is None or _ignored(p, ctx):
        return
    t = _thread(p)
    if t is None:
        return
    commands, cut = parse_commands(p["comment"]["body"], slug=ctx.app_slug)
    if not commands:
        return
    decision = limiter().check((inst, t.user_id), (inst, t.repo_id, t.number),
                               now=ctx.clock().timestamp(), event=(inst, t.comment_id))
    if decision is Decision.SILENT:
        return
    scope = scopes.for_commands(name_of(c) for c in commands)
    gh = await gh_for(inst, repository_id=t.repo_id, scope=scope)
    needs = NEEDS_PLAN if t.is_pr else NEEDS_PLAN | {"status"}
    if (any(name_of(c) in needs for c in commands)
            and not await actions.has_config(gh, t.owner, t.repo)):
        commands = [c for c in commands if name_of(c) not in needs]
        if not commands:
            return                           # every command needs a config the repo lacks
    if not await _acknowledge(gh, t):
        return                               # the comment is gone: nobody to answer
    job = actions.Job(gh=gh, ctx=ctx, repository=p["repository"], number=t.number,
                      is_pr=t.is_pr, user=t.user, user_id=t.user_id, issue=p["issue"],
                      created_at=t.created_at)
    answer = await _answer_of(gh, t, ctx)
    if answer is not None:                   # answered once; finish what it recorded
        await actions.resume(answer, job)
        return
    if decision is Decision.WARN:
        await _post(gh, t, reply_body(t.comment_id, [RATE_LIMITED]))
        return
    sections = []
    for cmd in commands:
        name = name_of(cmd)
        if not await authorise(gh, ctx, command=name, repository=p["repository"],
                               user=t.user, user_id=t.user_id):
            sections.append(denied_text(name, REQUIRED[name]))
            continue
        sections.append(await actions.run(cmd, job))
    await _post(gh, t, reply_body(t.comment_id, sections, cut=cut))
    for follow_up in job.after:              # e.g. plan sync once a waiver is on record
        await follow_up()

