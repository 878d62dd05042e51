"""What each comment command does on GitHub; returns the Markdown section of the reply."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gidgethub

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
    Waiver,
    drop_block,
    find_accepted_drop,
    waiver_block,
)
from bot.core.commands.render import (
    explain_text,
    help_text,
    invalid_text,
    status_text,
    unknown_text,
)
from bot.core.commands.text import code

CHECK_NAME = "CI Truth"
CONFIG_PATH = ".github/ci-truth.yml"
PR_ONLY = "`/truth {name}` works on pull requests."


@dataclass
class Job:
    """One command comment's context: the client, where it was written, and by whom."""

    gh: GitHub
    ctx: AppContext
    owner: str
    repo: str
    repo_id: int
    number: int
    is_pr: bool
    user: str
    user_id: int
    issue: Mapping[str, Any]
    config: str | None            # .github/ci-truth.yml text from the default branch

    @property
    def url_vars(self) -> dict[str, Any]:
        return {"owner": self.owner, "repo": self.repo}

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"


async def read_config(gh: GitHub, owner: str, repo: str) -> str | None:
    """The config text from the default branch (no ref: never the PR head); None if absent."""
    try:
        doc = await gh.getitem("/repos/{owner}/{repo}/contents/{path}",
                               {"owner": owner, "repo": repo, "path": CONFIG_PATH})
    except gidgethub.HTTPException as exc:
        if exc.status_code.value == 404:
            return None
        raise
    if not isinstance(doc, Mapping) or doc.get("type") != "file":
        return None
    try:
        return base64.b64decode(str(doc.get("content", ""))).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


async def head_sha(job: Job) -> str | None:
    """The PR's current head SHA, read from the API (never from the comment payload)."""
    pr = await job.gh.getitem("/repos/{owner}/{repo}/pulls/{number}",
                              {**job.url_vars, "number": job.number})
    sha = pr.get("head", {}).get("sha") if isinstance(pr, Mapping) else None
    return sha if isinstance(sha, str) else None


async def check_run(job: Job, sha: str) -> Mapping[str, Any] | None:
    """Our CI Truth check run for a SHA (owned by this App), the newest first."""
    doc = await job.gh.getitem("/repos/{owner}/{repo}/commits/{ref}/check-runs",
                               {**job.url_vars, "ref": sha},
                               params={"check_name": CHECK_NAME, "filter": "latest"})
    runs = doc.get("check_runs") if isinstance(doc, Mapping) else None
    for run in runs if isinstance(runs, list) else []:
        app = run.get("app") if isinstance(run, Mapping) else None
        if isinstance(app, Mapping) and app.get("id") == job.ctx.app_id:
            return run
    return None


def embedded_state(run: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The measured state ci-truth embedded in its check run's output (None if unreadable)."""
    if run is None:
        return None
    from bot.app import command_state
    return command_state.read(run)


async def run(cmd: Command, job: Job) -> str:
    """Run one authorised command; the returned text is its section of the reply."""
    if isinstance(cmd, Help):
        return help_text(job.ctx.app_slug)
    if isinstance(cmd, Unknown):
        return unknown_text(cmd.word, job.ctx.app_slug)
    if isinstance(cmd, Invalid):
        return invalid_text(cmd.command, cmd.problem)
    if isinstance(cmd, Plan | Waive) or (isinstance(cmd, Status) and not job.is_pr):
        from bot.app import command_plan
        return await command_plan.run(cmd, job)
    if not job.is_pr:
        return PR_ONLY.format(name={Explain: "explain", Recheck: "recheck",
                                    AcceptDrop: "accept-drop"}.get(type(cmd), "status"))
    sha = await head_sha(job)
    if sha is None:
        return "I could not read this pull request's head commit."
    if isinstance(cmd, Recheck):
        from bot.app.handlers import recheck
        await recheck(job.gh, job.full_name, sha, job.ctx)
        return f"Rechecking `{sha[:12]}`: the CI Truth check run will update shortly."
    cr = await check_run(job, sha)
    state = embedded_state(cr)
    if isinstance(cmd, Status):
        text = (cr or {}).get("output", {}).get("text") or ""
        accepted = find_accepted_drop(text if isinstance(text, str) else "", sha)
        cid = cr.get("id") if cr else None
        return status_text(state, head_sha=sha, repo=job.full_name,
                           check_id=cid if isinstance(cid, int) else None, accepted=accepted)
    if isinstance(cmd, Explain):
        return explain_text(state, cmd.target, head_sha=sha, repo=job.full_name)
    assert isinstance(cmd, AcceptDrop)
    return await accept_drop(job, cmd, sha, cr, state)


async def accept_drop(job: Job, cmd: AcceptDrop, sha: str, cr: Mapping[str, Any] | None,
                      state: Mapping[str, Any] | None) -> str:
    """Record who accepted the drop and why in the check run, and re-judge without test-drop."""
    if cr is None or state is None:
        return f"There is no CI Truth result for `{sha[:12]}` yet: nothing to accept."
    from bot.app import command_state
    rec = AcceptedDrop(head_sha=sha, user=job.user, user_id=job.user_id, reason=cmd.reason,
                       at=job.ctx.clock().strftime("%Y-%m-%dT%H:%M:%SZ"))
    patch = command_state.rejudge_without_drop(cr, state, drop_block(rec))
    if patch is None:
        return f"The check for `{sha[:12]}` has no `test-drop` reason: nothing to accept."
    await job.gh.patch("/repos/{owner}/{repo}/check-runs/{check_run_id}",
                       {**job.url_vars, "check_run_id": cr["id"]}, data=patch)
    return (f"Test-count drop accepted for `{sha[:12]}` by {code(job.user)}: "
            f"{code(cmd.reason)}. Recorded in the check run; it lapses when the head moves. "
            f"The check is now **{patch.get('conclusion', 'updated')}**.")


def waiver_record(job: Job, phase: str, cmd: Waive) -> str:
    """The visible, machine-readable waiver record that goes into our reply."""
    return waiver_block(Waiver(phase=phase, criterion=cmd.criterion, user=job.user,
                               user_id=job.user_id, reason=cmd.reason,
                               at=job.ctx.clock().strftime("%Y-%m-%dT%H:%M:%SZ")))
