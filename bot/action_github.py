"""The Action's GitHub side with a workflow token: baseline, the CI Truth check run, plan sync.

It reuses the App's REST client (origin guard, rate limits, write spacing) with a static
`token` credential instead of installation tokens, and the App's check-run payloads, so the
check run an Action posts reads exactly like the App's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

import aiohttp
import gidgethub

from bot.app import publish
from bot.app.command_state import extra_state
from bot.app.github import InstallationClient, OriginError, Transport, merge_base
from bot.app.metrics import Metrics
from bot.app.ratelimit import RateLimited
from bot.app.settings import Settings
from bot.core import baselines, checkrun
from bot.core import markdown as md
from bot.core.checkrun import RunRef
from bot.core.engine import Result
from bot.core.model import Conclusion
from bot.core.render import render_markdown
from bot.core.state import Baseline, BaselineError, baseline_from_json
from bot.core.textfit import fit_chars
from bot.ghactions import ActionEnv, command

ACTIONS_APP_SLUG = "github-actions"   # check runs made with GITHUB_TOKEN belong to this app
ACTIONS_LOGIN = "github-actions[bot]"  # ...and issues it opens are authored by this login
FAILURES = (gidgethub.GitHubException, aiohttp.ClientError, asyncio.TimeoutError, OriginError,
            RateLimited, ValueError, KeyError, TypeError)
Sleep = Callable[[float], Awaitable[None]]
MAX_STEPS = 100          # steps one check run records (the mildest oldest go first)
_RANK = {"success": 0, "neutral": 1, "failure": 2}
_ICON = {"success": "✅", "neutral": "⚠️", "failure": "❌"}


def head_sha(env: ActionEnv, event: Mapping[str, Any]) -> str:
    """The commit people look at: the PR head (not the merge commit), else GITHUB_SHA."""
    for key in ("pull_request", "workflow_run", "check_suite"):
        obj = event.get(key)
        if isinstance(obj, Mapping):
            head = obj.get("head")
            sha = head.get("sha") if isinstance(head, Mapping) else obj.get("head_sha")
            if isinstance(sha, str) and len(sha) == 40:
                return sha
    return env.sha


def default_branch(event: Mapping[str, Any]) -> str | None:
    """The repository's default branch, as the event payload tells it."""
    repo = event.get("repository")
    branch = repo.get("default_branch") if isinstance(repo, Mapping) else None
    return branch if isinstance(branch, str) and branch else None


def _int(value: str, default: int) -> int:
    return int(value) if value.isdigit() else default


def step_key(env: ActionEnv) -> str:
    """This step's identity on its commit: run, job, and the `key` input (else the reports).

    Matrix jobs share the run and the job id, so the key (or the reports) tells them apart;
    a re-run (a new attempt) has the same identity and replaces its own verdict.
    """
    return f"{env.run_id or '-'}/{env.job or '-'}/{env.key or ','.join(env.reports)}"


def recorded_steps(prior: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The steps the check run's state block records (an older one's verdict: one step)."""
    if prior is None:
        return []
    steps = prior.get("steps")
    if isinstance(steps, list):
        return [dict(s) for s in steps if isinstance(s, Mapping)
                and isinstance(s.get("key"), str) and s.get("conclusion") in _RANK]
    runs = prior.get("runs")
    run = runs[0] if isinstance(runs, list) and runs and isinstance(runs[0], Mapping) else {}
    if prior.get("conclusion") not in _RANK:
        return []
    return [{"key": f"{run.get('id', '-')}/?", "run": run.get("id"), "legacy": True,
             "attempt": run.get("attempt"), "workflow": str(run.get("name") or ""),
             "conclusion": prior["conclusion"], "tests": prior.get("tests")}]


def merge_steps(recorded: list[dict[str, Any]], own: dict[str, Any]) -> list[dict[str, Any]]:
    """The recorded steps with `own` replacing its identity's entry (and its run's legacy one)."""
    steps = [s for s in recorded if s["key"] != own["key"]
             and not (s.get("legacy") and s.get("run") == own["run"])] + [own]
    while len(steps) > MAX_STEPS:
        mildest = min(_RANK[s["conclusion"]] for s in steps[:-1])
        steps.remove(next(s for s in steps if _RANK[s["conclusion"]] == mildest))
    return steps


def worst(steps: list[dict[str, Any]]) -> Conclusion:
    """The check's conclusion: the worst of its steps' latest verdicts."""
    return Conclusion(max((s["conclusion"] for s in steps), key=_RANK.__getitem__))


def steps_note(steps: list[dict[str, Any]]) -> str:
    """The summary's list of the steps that judged the commit (when more than one did)."""
    lines = [f"{len(steps):,} steps judged this commit; the check is the worst of them:"]
    for s in steps:
        tests = s.get("tests")
        t: Mapping[str, Any] = tests if isinstance(tests, Mapping) else {}
        bad = int(t.get("failed") or 0) + int(t.get("errors") or 0)
        where = f"workflow {md.code(str(s.get('workflow') or '?'), max_chars=200)} " \
                f"run {s.get('run')} attempt {s.get('attempt')}"
        name = "an earlier step" if s.get("legacy") else md.code(
            str(s["key"]).partition("/")[2].partition("/")[2] or "?", max_chars=200)
        lines.append(f"- {_ICON[s['conclusion']]} {name} ({where}): {s['conclusion']}, "
                     f"{int(t.get('total') or 0):,} tests, {bad:,} failed")
    return "\n".join(lines)


class TokenSession:
    """GitHub calls the Action makes with its `token` input; failures become warnings."""

    def __init__(self, env: ActionEnv, event: Mapping[str, Any], session: aiohttp.ClientSession,
                 *, out: TextIO, sleep: Sleep | None = None, write_spacing: float = 1.0
                 ) -> None:
        self.env = env
        self.event = event
        self.out = out
        self.owner, _, self.repo = env.repository.partition("/")
        settings = Settings(app_id=0, private_key="", webhook_secret=b"", api_url=env.api_url,
                            write_spacing=write_spacing)
        token = env.token

        async def credentials() -> str:
            return f"token {token}"

        transport = Transport(session, settings=settings, metrics=Metrics(),
                              credentials=credentials, unauthorized=lambda _headers: None,
                              installation_id=0, sleep=sleep or asyncio.sleep,
                              clock=time.time)
        self.gh = InstallationClient(transport, session, credentials)
        self.sha = head_sha(env, event)
        self.branch = default_branch(event)
        self.warnings = 0        # warning annotations printed (they share the step's cap)
        self.steps: list[dict[str, Any]] = []   # the steps the check run records (publish)
        self.note: str | None = None   # where the baseline came from, once it was looked for

    def __repr__(self) -> str:
        return f"TokenSession(repository={self.env.repository!r})"

    def warn(self, what: str, exc: BaseException) -> None:
        """A GitHub call that failed: say so in the log, never fail the step for it."""
        detail = str(exc)[:300] or type(exc).__name__
        self.warnings += 1
        print(command("warning", f"{what}: {detail}", title="CI Truth: GitHub"), file=self.out)

    @property
    def repo_vars(self) -> dict[str, str]:
        return {"owner": self.owner, "repo": self.repo}

    async def _default_branch(self) -> str:
        if self.branch is None:
            data = await self.gh.getitem("/repos/{owner}/{repo}", self.repo_vars)
            self.branch = str(data["default_branch"])
        return self.branch

    async def _ours(self, ref: str) -> list[Mapping[str, Any]]:
        """CI Truth check runs a workflow token made on `ref` (newest first, as GitHub lists)."""
        data = await self.gh.getitem(
            "/repos/{owner}/{repo}/commits/{ref}/check-runs", {**self.repo_vars, "ref": ref},
            params={"check_name": checkrun.NAME, "filter": "latest", "per_page": 100})
        runs = data.get("check_runs", []) if isinstance(data, Mapping) else []
        return [c for c in runs if isinstance(c, Mapping)
                and (c.get("app") or {}).get("slug") == ACTIONS_APP_SLUG]

    async def fetch_baseline(self) -> Baseline | None:
        """The newest usable CI Truth state among the baseline branch's last WALK commits, by
        the App's rule (docs/checks.md), or None (with a warning when GitHub fails)."""
        try:
            where = await self._baseline_start()
            doc = await self._find_baseline(where)
        except FAILURES as exc:
            self.warn("could not read the baseline from GitHub", exc)
            return None
        self.note = baselines.note(doc, where.branch)
        return None if doc is None else baseline_from_json(doc, source="check run")

    async def _baseline_start(self) -> baselines.Start:
        """Where the walk starts for what this step judges (a workflow_run: the run's event)."""
        default = await self._default_branch()
        wr = self.event.get("workflow_run")
        if self.env.event_name == "workflow_run" and isinstance(wr, Mapping):
            event, branch = str(wr.get("event") or ""), wr.get("head_branch")
            pulls: list[Any] = list(wr.get("pull_requests") or [])
        else:
            event, ref = self.env.event_name, self.env.ref
            branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
            pr = self.event.get("pull_request")
            pulls = [pr] if isinstance(pr, Mapping) else []
        repo = self.event.get("repository")
        repo_id = repo.get("id") if isinstance(repo, Mapping) else None
        repo_id = repo_id if isinstance(repo_id, int) else None
        base = baselines.base_branch(pulls, repo_id, default)
        if base is None and event.startswith("pull_request"):
            base = self.env.base_ref or (
                baselines.base_branch(await self._pulls_of_head(), repo_id, default)
                if self.env.event_name == "workflow_run" else None)   # a fork's: none listed
        return baselines.start(event=event, head_sha=self.sha,
                               head_branch=branch if isinstance(branch, str) else None,
                               default_branch=default, base_branch=base)

    async def _pulls_of_head(self) -> list[Any]:
        """Open pull requests whose head is exactly the judged commit (forks' too)."""
        data = await self.gh.getitem("/repos/{owner}/{repo}/commits/{sha}/pulls",
                                     {**self.repo_vars, "sha": self.sha})
        return [p for p in data or [] if isinstance(p, Mapping) and p.get("state") == "open"
                and (p.get("head") or {}).get("sha") == self.sha]

    async def _find_baseline(self, where: baselines.Start) -> dict[str, Any] | None:
        """The App's walk: the start (the branch's head, or the merge base), then WALK commits."""
        ref, skip = where.ref, {self.sha}
        if where.merge_base:
            ref = await merge_base(self.gh, self.owner, self.repo, where.branch, self.sha) or ref
        if ref != self.sha:
            found, seen = await self._state_at(ref)
            if found is not None and found["source"]["head_sha"] not in skip:
                return baselines.labelled(found, where.branch)
            skip.update(s for s in (seen, None if ref == where.branch else ref) if s)
        listed = await self.gh.getitem("/repos/{owner}/{repo}/commits", self.repo_vars,
                                       params={"sha": ref, "per_page": baselines.WALK})
        for sha in baselines.candidates(listed, skip):
            found, _ = await self._state_at(sha)
            if found is not None:
                return baselines.labelled(found, where.branch)
        return None

    async def _state_at(self, ref: str) -> tuple[dict[str, Any] | None, str | None]:
        """The usable state our check runs on `ref` hold, and the sha they were listed for."""
        runs = await self._ours(ref)
        seen = next((str(c["head_sha"]) for c in runs if isinstance(c.get("head_sha"), str)),
                    None)
        doc = checkrun.baseline_from_check_runs(runs, int(runs[0]["app"]["id"])) if runs \
            else None
        if doc is not None:
            check = next(c for c in runs if c.get("id") == doc["source"]["check_run_id"])
            doc = self._for_this_step(doc, checkrun.parse_state_block(
                (check.get("output") or {}).get("text")) or {})
        if doc is not None:
            try:
                baseline_from_json(doc, source="check run")
            except BaselineError as exc:
                self.warn(f"the CI Truth check run on {str(seen)[:12]} is no baseline", exc)
                doc = None
        return doc, seen

    def _for_this_step(self, doc: dict[str, Any], state: Mapping[str, Any]
                       ) -> dict[str, Any] | None:
        """A baseline of this step's own count when several steps judged that commit.

        The state block measures its last step only: another matrix shard's count is no
        baseline for this one (its tests would all "vanish"). This step's entry, when not the
        last, gives its count (no ids); an entry failing for its evidence gives none.
        """
        steps = recorded_steps(state)
        if len(steps) < 2:
            return doc
        me = step_key(self.env).partition("/")[2]
        mine = [s for s in steps if str(s["key"]).partition("/")[2] == me
                and s.get("workflow") == self.env.workflow]
        if not mine or mine[-1] is steps[-1]:
            return doc
        entry = mine[-1]
        rules = entry.get("rules")
        if entry["conclusion"] != "success" and not (
                isinstance(rules, list) and set(rules) <= checkrun.COUNT_RULES):
            return None
        return {**doc, "tests": entry["tests"], "test_ids": [], "test_ids_complete": False}

    def own_step(self, result: Result) -> dict[str, Any]:
        """This step's entry in the check run's list of steps."""
        t = result.state.totals
        return {"key": step_key(self.env), "run": _int(self.env.run_id, 0),
                "attempt": _int(self.env.run_attempt, 1), "workflow": self.env.workflow,
                "conclusion": result.verdict.conclusion.value,
                "rules": [r.rule for r in result.verdict.reasons
                          if r.conclusion is not Conclusion.SUCCESS],
                "tests": {"total": t.tests, "failed": t.failed, "errors": t.errors,
                          "skipped": t.skipped}}

    def payloads(self, result: Result, steps: list[dict[str, Any]] | None = None
                 ) -> checkrun.CheckPayloads:
        """The App's check-run bodies, minus what only an App can serve (the Recheck button).

        `steps`: every step that judged the commit, this one last; the conclusion is their worst.
        """
        steps = steps or [self.own_step(result)]
        run = RunRef(id=_int(self.env.run_id, 0), attempt=_int(self.env.run_attempt, 1),
                     name=self.env.workflow or "workflow", url=self.env.run_url or "")
        notes = ([self.note] if self.note else []) + ([steps_note(steps)] if len(steps) > 1
                                                       else [])
        bodies = checkrun.completed_payloads(
            result.state, result.verdict, [run], details_md=render_markdown(result),
            head_sha=self.sha, workspace=str(self.env.workspace),
            extra_state={**extra_state(result.state, result.verdict),   # a failure: a baseline
                         "steps": steps}, notes=notes)
        bodies.first.pop("actions", None)
        if self.env.run_url:
            bodies.first["details_url"] = self.env.run_url
        combined = worst(steps)
        if combined is not result.verdict.conclusion:
            bodies.first["conclusion"] = combined.value
            bad = sum(1 for s in steps if s["conclusion"] == combined.value)
            for body in (bodies.first, *bodies.more):
                body["output"]["title"] = fit_chars(
                    f"{bad:,} of {len(steps):,} steps {combined.value} — this step: "
                    f"{body['output']['title']}", checkrun.MAX_TITLE)
        return bodies

    async def publish(self, result: Result) -> str | None:
        """Create (or update) the one CI Truth check run on the head SHA.

        Every step with a token on the commit (matrix jobs, other workflows) is recorded in
        its state block: the check is the worst of their latest verdicts, and annotations it
        holds already are not sent again.
        """
        try:
            existing = await self._ours(self.sha)
            prior = checkrun.parse_state_block(
                (existing[0].get("output") or {}).get("text")) if existing else None
            self.steps = merge_steps(recorded_steps(prior), self.own_step(result))
            bodies = self.payloads(result, self.steps)
            if existing:
                check_id = int(existing[0]["id"])
                bodies = checkrun.without_posted(bodies, await self._annotated(existing[0]))
                done = await self.gh.patch("/repos/{owner}/{repo}/check-runs/{id}",
                                           {**self.repo_vars, "id": check_id}, data=bodies.first)
            else:
                done = await self.gh.post("/repos/{owner}/{repo}/check-runs", self.repo_vars,
                                          data={**bodies.first, "head_sha": self.sha})
                check_id = int(done["id"])
            for more in bodies.more:
                await self.gh.patch("/repos/{owner}/{repo}/check-runs/{id}",
                                    {**self.repo_vars, "id": check_id}, data=more)
        except FAILURES as exc:
            self.warn("could not post the CI Truth check run (the job needs "
                      "`permissions: checks: write`; fork pull requests get a read-only token)",
                      exc)
            return None
        url = done.get("html_url") if isinstance(done, Mapping) else None
        return url if isinstance(url, str) else None

    async def _annotated(self, check: Mapping[str, Any]) -> set[str]:
        """Keys of the annotations check run `check` holds (GitHub appends every update's)."""
        if (check.get("output") or {}).get("annotations_count") == 0:
            return set()
        return set(await publish.annotation_keys(self.gh, self.repo_vars, int(check["id"])))

    async def sync_plan(self, plan: Any, doc: Mapping[str, Any]) -> None:
        """Phase issues and dashboard from this run's state, with the App's plansync code.

        Issues are authored by github-actions[bot] (the token's identity), so only issues
        that identity created are ever edited. Like the App's, a run of an ancestor of the
        commit the dashboard records (a re-run of an old run) writes nothing.
        """
        from bot.app import plansync
        from bot.core import plan as plans
        shard = self.shard()
        if shard:                  # a part of the run's reports: the plan would flip between parts
            print(f"CI Truth plan: not synced from this step ({shard}); sync it from one step "
                  "that judges all of the run's reports, e.g. a job after the matrix",
                  file=self.out)
            return
        now = datetime.now(UTC)
        started, committed = await self._run_times(now)
        evidence = plans.Evidence(self.env.run_url or "", self.sha, started, committed)
        try:
            files = await plansync.repo_files(self.gh, self.owner, self.repo, self.sha)
            result = await plansync.sync_plan(
                self.gh, self.owner, self.repo,
                lambda claimed: plans.evaluate_plan(plan, doc, claimed=claimed,
                                                    repo_files=files, evidence=evidence),
                bot_login=ACTIONS_LOGIN, now=now, default_branch=await self._default_branch())
        except FAILURES as exc:
            self.warn("could not sync the plan's issues (the job needs "
                      "`permissions: issues: write, contents: read`)", exc)
            return
        print(f"CI Truth plan: {result.created} issue(s) created, {result.edited} edited, "
              f"{result.commented} comment(s)", file=self.out)

    def shard(self) -> str:
        """Why this step judges only part of its run's reports, or "": the `key` input marks a
        matrix shard, and other steps of this run recorded on the commit say the same."""
        if self.env.key:
            return f"key {self.env.key!r} marks a shard"
        run = f"{self.env.run_id or '-'}/"
        others = [s for s in self.steps if str(s.get("key", "")).startswith(run)
                  and s.get("key") != step_key(self.env)]
        return f"{len(others) + 1} steps of this run judged the commit" if others else ""

    async def _run_times(self, now: datetime) -> tuple[str, str]:
        """When this run (attempt) started, as GitHub records it (the evidence's time), and
        its head commit's time (the dashboard's marker records it with the commit).

        A re-run of the same attempt then renders the same issue bodies (nothing to write);
        `now` and no commit time (the marker is kept) only when the run cannot be read.
        """
        from bot.app.plansync import commit_time
        if self.env.run_id.isdigit():
            try:
                run = await self.gh.getitem("/repos/{owner}/{repo}/actions/runs/{id}",
                                            {**self.repo_vars, "id": self.env.run_id})
                started = run.get("run_started_at") if isinstance(run, Mapping) else None
                if isinstance(started, str) and started:
                    return started, commit_time(run) if run.get("head_sha") == self.sha else ""
            except FAILURES as exc:
                self.warn("could not read this workflow run's start time", exc)
        return now.strftime("%Y-%m-%dT%H:%M:%SZ"), ""

    def on_default_branch(self) -> bool:
        """A push (or manual/scheduled run) of the default branch itself."""
        return (self.branch is not None and self.env.ref == f"refs/heads/{self.branch}"
                and self.env.event_name in {"push", "workflow_dispatch", "schedule"})
