"""What each comment command does on GitHub; returns the Markdown section of the reply."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import gidgethub

from bot.app import command_state, publish
from bot.app.handlers import recheck_outcome
from bot.app.judging import Repo
from bot.app.ports import AppContext, GitHub
from bot.core.commands import (
    AcceptDrop,
    AcceptedDrop,
    Command,
    Explain,
    Help,
    Invalid,
    Plan,
    Recheck,
    Status,
    Unknown,
    Waive,
    WaiverRecord,
    find_accepted_drop,
    waiver_block,
    waivers_from_comments,
)
from bot.core.commands.render import (
    explain_text,
    help_text,
    invalid_text,
    status_text,
    unknown_text,
)
from bot.core.commands.text import code

CONFIG_PATH = ".github/ci-truth.yml"
PR_ONLY = "`/truth {name}` works on pull requests."


@dataclass
class Job:
    """One command comment's context: the client, where it was written, and by whom."""

    gh: GitHub
    ctx: AppContext
    repository: Mapping[str, Any]    # the signed payload's repository object
    number: int
    is_pr: bool
    user: str
    user_id: int
    issue: Mapping[str, Any]
    created_at: str = ""             # when the command comment was written (its payload)
    after: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def repo(self) -> Repo:
        return Repo.of(self.repository)

    @property
    def url_vars(self) -> dict[str, Any]:
        return self.repo.vars

    @property
    def full_name(self) -> str:
        return f"{self.repo.owner}/{self.repo.name}"

    def now(self) -> str:
        return self.ctx.clock().strftime("%Y-%m-%dT%H:%M:%SZ")


async def has_config(gh: GitHub, owner: str, repo: str) -> bool:
    """Whether the default branch holds the config (GET contents without ref: never the PR)."""
    try:
        doc = await gh.getitem("/repos/{owner}/{repo}/contents/{path}",
                               {"owner": owner, "repo": repo, "path": CONFIG_PATH})
    except gidgethub.HTTPException as exc:
        if exc.status_code.value == 404:
            return False
        raise
    if not isinstance(doc, Mapping) or doc.get("type") != "file":
        return False
    try:
        base64.b64decode(str(doc.get("content", "")))
    except binascii.Error:
        return False
    return True


async def head_sha(job: Job) -> str | None:
    """The PR's current head SHA, read from the API (never from the comment payload)."""
    pr = await job.gh.getitem("/repos/{owner}/{repo}/pulls/{number}",
                              {**job.url_vars, "number": job.number})
    head = pr.get("head") if isinstance(pr, Mapping) else None
    sha = head.get("sha") if isinstance(head, Mapping) else None
    return sha if isinstance(sha, str) else None


async def run(cmd: Command, job: Job) -> str:
    """Run one authorised command; the returned text is its section of the reply."""
    if isinstance(cmd, Help):
        return help_text(job.ctx.app_slug)
    if isinstance(cmd, Unknown):
        return unknown_text(cmd.word, job.ctx.app_slug)
    if isinstance(cmd, Invalid):
        return invalid_text(cmd.command, cmd.problem)
    if isinstance(cmd, Plan | Waive) or (isinstance(cmd, Status) and not job.is_pr):
        from bot.app import command_plan  # plan modules load only for plan commands
        return await command_plan.run(cmd, job)
    if not job.is_pr:
        return PR_ONLY.format(name={Explain: "explain", Recheck: "recheck",
                                    AcceptDrop: "accept-drop"}.get(type(cmd), "status"))
    sha = await head_sha(job)
    if sha is None:
        return "I could not read this pull request's head commit."
    if isinstance(cmd, Recheck):
        outcome = await recheck_outcome(job.gh, job.repository, sha, job.ctx)
        if outcome == "fork-ignored":
            return (f"Not rechecked: `{sha[:12]}` was built by a fork, and fork runs are not "
                    "judged (`evidence.forks: ignore`). Its CI Truth check still shows its "
                    "earlier result.")
        if outcome != "rechecked":
            return (f"Nothing to recheck for `{sha[:12]}` yet: no completed evidence run "
                    "is recorded for it.")
        return f"Rechecked `{sha[:12]}`: the CI Truth check run is up to date."
    if isinstance(cmd, AcceptDrop):
        async with publish.check_lock(job.ctx, job.repo, sha):   # not over a newer verdict
            return await accept_drop(job, cmd, sha, await publish.find_check(
                job.gh, job.repo, sha, job.ctx))
    cr = await publish.find_check(job.gh, job.repo, sha, job.ctx)
    fails = None
    if isinstance(cmd, Explain) and cr is not None and cmd.target is not None:
        fails = await command_state.failures(job.gh, job.repo, cr, cmd.target)
    state = command_state.view(cr, fails)
    if isinstance(cmd, Status):
        accepted = find_accepted_drop(command_state.text_of(cr), sha) if cr else None
        cid = cr.get("id") if cr else None
        return status_text(state, head_sha=sha, repo=job.full_name,
                           check_id=cid if isinstance(cid, int) else None, accepted=accepted)
    assert isinstance(cmd, Explain)
    return explain_text(state, cmd.target, head_sha=sha, repo=job.full_name)


async def accept_drop(job: Job, cmd: AcceptDrop, sha: str,
                      cr: Mapping[str, Any] | None) -> str:
    """Record who accepted the drop and why in the check run, and re-judge without test-drop."""
    if cr is None or command_state.view(cr) is None:
        return f"There is no CI Truth result for `{sha[:12]}` yet: nothing to accept."
    if not _seen_by_comment(cr, job.created_at):
        return (f"The CI Truth check of the head, `{sha[:12]}`, started after your comment "
                "was written (the head moved, or its CI had not started): nothing accepted. "
                "Review that result and repeat the command.")
    rec = AcceptedDrop(head_sha=sha, user=job.user, user_id=job.user_id, reason=cmd.reason,
                       at=job.now())
    done = command_state.rejudge_without_drop(cr, rec)
    if done is None:
        return f"The check for `{sha[:12]}` has no `test-drop` reason: nothing to accept."
    await job.gh.patch("/repos/{owner}/{repo}/check-runs/{check_run_id}",
                       {**job.url_vars, "check_run_id": cr["id"]}, data=done.patch)
    # The sticky PR comment follows the check (edited only if its verdict or counts changed).
    link = publish.checks_url(job.full_name, job.number)
    await publish.upsert_comment(job.gh, job.repo, job.number, done.state, done.verdict,
                                 job.ctx, check_url=link)
    return (f"Test-count drop accepted for `{sha[:12]}` by {code(job.user)}: "
            f"{code(cmd.reason)}. Recorded in the check run; it lapses when the head moves. "
            f"The check is now **{done.patch['conclusion']}**.")


def _stamp(value: Any) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _seen_by_comment(cr: Mapping[str, Any], created_at: str) -> bool:
    """Whether the check run existed when the comment was written (started_at is set by
    GitHub when the check run is created; commit dates are the author's and prove nothing)."""
    started, written = _stamp(cr.get("started_at")), _stamp(created_at)
    return started is not None and written is not None and started <= written


async def resume(answer: Mapping[str, Any], job: Job) -> None:
    """After a retry or redelivery: redo the follow-ups of our earlier reply (idempotent)."""
    if waivers_from_comments([answer], app_id=job.ctx.app_id, slug=job.ctx.app_slug):
        from bot.app import plansource  # plan modules load only for plan commands
        await plansource.sync(job.gh, job.ctx, job.repository)


def waiver_record(job: Job, phase: str, cmd: Waive) -> str:
    """The visible, machine-readable waiver record that goes into our reply."""
    return waiver_block(WaiverRecord(phase=phase, criterion=cmd.criterion, user=job.user,
                                     user_id=job.user_id, reason=cmd.reason, at=job.now()))
