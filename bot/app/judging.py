"""Reading a workflow run's evidence from GitHub and publishing the one CI Truth check run."""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache
from gidgethub import HTTPException

from bot.app.artifacts import digest_problem
from bot.app.github import merge_base
from bot.app.ports import AppContext, ArtifactError, GitHub
from bot.core import baselines, checkrun, runs
from bot.core.archive import iter_gzip, iter_zip, sniff
from bot.core.config import DEFAULT_CONFIG, Config, parse_config
from bot.core.coverage import holds_test_report
from bot.core.engine import Result, evaluate
from bot.core.errors import ConfigError
from bot.core.limits import Limits
from bot.core.model import Conclusion, MeasuredState, Reason, Source, Verdict
from bot.core.render import render_markdown
from bot.core.state import BaselineError, baseline_from_json

log = logging.getLogger(__name__)
CONFIG_PATH = ".github/ci-truth.yml"
MAX_ARTIFACT_BYTES = 256 * 1024 * 1024   # compressed bytes of one artifact, checked before download


@dataclass(frozen=True)
class Repo:
    """The repository a delivery is about: names build URLs, the id decides fork-ness."""

    owner: str
    name: str
    id: int
    default_branch: str = "main"

    @classmethod
    def of(cls, repo: Repo | Mapping[str, Any]) -> Repo:
        if isinstance(repo, Repo):
            return repo
        owner = repo.get("owner") or {}
        return cls(owner=str(owner.get("login") or ""), name=str(repo.get("name") or ""),
                   id=int(repo.get("id") or 0),
                   default_branch=str(repo.get("default_branch") or repo.get("master_branch")
                                      or "main"))

    @property
    def vars(self) -> dict[str, Any]:
        return {"owner": self.owner, "repo": self.name}


@dataclass
class RunEvidence:
    """One evidence run as read from the API, with the App's rules already applied."""

    run: dict[str, Any]
    sources: list[Source] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)
    artifacts: int = 0

    def ref(self, repo: Repo) -> checkrun.RunRef:
        return checkrun.RunRef(id=int(self.run["id"]),
                               attempt=int(self.run.get("run_attempt") or 1),
                               name=str(self.run.get("name") or self.run.get("path") or "?"),
                               url=str(self.run.get("html_url") or ""),
                               conclusion=self.run.get("conclusion"),
                               fork=runs.is_fork(self.run, repo.id))


class Memo:
    """What the App remembers between deliveries: check-run ids and evidence runs per SHA,
    sticky-comment id and digest per PR.

    Backed by the infrastructure's durable key-value store (`ctx.extras["kv"]`, async
    get/put/delete of JSON) when present, else by an in-memory LRU kept in `ctx.extras`.
    Only a hint: every value is re-derivable from the API, and a wrong one is corrected by it.
    """

    def __init__(self, ctx: AppContext) -> None:
        kv = ctx.extras.get("kv")
        self._kv = kv if kv is not None and hasattr(kv, "put") else None
        self._mem: LRUCache[tuple[str, str], Any] = ctx.extras.setdefault(
            "ci_truth.memo", LRUCache(maxsize=8192))

    async def get(self, ns: str, key: str) -> Any:
        if self._kv is not None:
            return await self._kv.get(ns, key)
        return self._mem.get((ns, key))

    async def put(self, ns: str, key: str, value: Any) -> None:
        if self._kv is not None:
            await self._kv.put(ns, key, value)
        else:
            self._mem[(ns, key)] = value

    async def delete(self, ns: str, key: str) -> None:
        if self._kv is not None:
            await self._kv.delete(ns, key)
        else:
            self._mem.pop((ns, key), None)


CHECKS = "ci-truth.check"        # "<repo id>:<sha>" → {"id": check run id, "runs": [...]}
COMMENTS = "ci-truth.comment"    # "<repo id>:<pr>" → [comment id | None, digest | None]


async def load_config(gh: GitHub, repo: Repo) -> tuple[Config, str | None]:
    """`.github/ci-truth.yml` from the default branch (no `ref`): (config, error or None)."""
    try:
        doc = await gh.getitem("/repos/{owner}/{repo}/contents/{path}",
                               dict(repo.vars, path=CONFIG_PATH))
    except HTTPException as exc:
        if exc.status_code == 404:
            return DEFAULT_CONFIG, None
        raise
    if not isinstance(doc, Mapping) or doc.get("encoding") != "base64":
        return DEFAULT_CONFIG, f"{CONFIG_PATH} could not be read (not a file, or over 1 MB)"
    try:
        text = base64.b64decode(str(doc.get("content") or ""), validate=False).decode("utf-8")
        return parse_config(text, source=CONFIG_PATH), None
    except (binascii.Error, UnicodeDecodeError) as exc:
        return DEFAULT_CONFIG, f"{CONFIG_PATH} is not UTF-8 text ({exc.__class__.__name__})"
    except ConfigError as exc:
        return DEFAULT_CONFIG, str(exc)


async def list_artifacts(gh: GitHub, repo: Repo, run_id: int) -> list[dict[str, Any]]:
    url = "/repos/{owner}/{repo}/actions/runs/{run_id}/artifacts"
    return [a async for a in gh.getiter(url, dict(repo.vars, run_id=run_id),
                                        params={"per_page": 100}, iterable_key="artifacts")]


async def list_jobs(gh: GitHub, repo: Repo, run: Mapping[str, Any]) -> list[dict[str, Any]]:
    url = "/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt}/jobs"
    vars_ = dict(repo.vars, run_id=run["id"], attempt=run.get("run_attempt") or 1)
    return [j async for j in gh.getiter(url, vars_, params={"per_page": 100},
                                        iterable_key="jobs")]


async def read_run(gh: GitHub, repo: Repo, run: dict[str, Any], policy: runs.EvidencePolicy,
                   artifacts: list[dict[str, Any]] | None = None,
                   limits: Limits | None = None) -> RunEvidence:
    """Jobs, artifacts and report sources of one completed run, plus its App rules."""
    limits = limits or Limits()
    if artifacts is None:
        artifacts = await list_artifacts(gh, repo, int(run["id"]))
    producer = policy.producer_for(run)
    sel = runs.select_artifacts(artifacts, producer, max_bytes=MAX_ARTIFACT_BYTES)
    jobs = await list_jobs(gh, repo, run)
    ev = RunEvidence(run=run, artifacts=len(sel.download))
    ev.sources += [Source(path=path, error=why) for path, why in sel.refused]
    for art in sel.download:
        found, evidence = await _artifact_sources(gh, repo, art, limits)
        if not evidence:     # no report-named member, or only coverage / known non-reports:
            sel.empty.append(str(art.get("name") or art.get("id")))   # no shard's evidence
        ev.sources += found
    ev.reasons += runs.masked_steps(run, jobs)
    ev.reasons += runs.missing_evidence(run, producer, sel)
    ev.reasons += runs.untrusted(run, policy, repo.id)
    return ev


async def _artifact_sources(gh: GitHub, repo: Repo, art: Mapping[str, Any],
                            limits: Limits) -> tuple[list[Source], bool]:
    """The artifact's report sources, and whether any may be a test report (shard evidence:
    coverage and known non-report XML are not; their heads are read from a second pass)."""
    name = str(art.get("name") or art.get("id"))
    try:
        data = await gh.download_artifact(repo.owner, repo.name, int(art["id"]),
                                          max_bytes=MAX_ARTIFACT_BYTES)
    except ArtifactError as exc:
        return [Source(path=name, error=f"artifact could not be downloaded: {exc}; press "
                                        f"Recheck on the CI Truth check run to try again")], True
    # hashing and zip reading cost ~1 s per 100 MB: on a worker thread, never the event loop
    return await asyncio.to_thread(_read_artifact, name, art.get("digest"), data, limits)


def _read_artifact(name: str, listed: object, data: bytes, limits: Limits
                   ) -> tuple[list[Source], bool]:
    """_artifact_sources over downloaded bytes (CPU only: run on a worker thread)."""
    problem = digest_problem(listed, data)   # checklist H22
    if problem is not None:
        return [Source(path=name, error=f"artifact not trusted: {problem}")], True
    evidence = holds_test_report(_sources_from_bytes(name, data, limits))
    return list(_sources_from_bytes(name, data, limits)), evidence


def _sources_from_bytes(name: str, data: bytes, limits: Limits) -> Iterator[Source]:
    kind = sniff(data[:512])
    if kind == "zip":
        # iter_zip yields report-named members only, labelled "<artifact>!<member>".
        for m in iter_zip(io.BytesIO(data), name=name, limits=limits):
            yield Source(path=m.name, chunks=m.chunks, error=m.error)
    elif kind == "gzip":
        yield Source(path=name, chunks=iter_gzip(io.BytesIO(data), name=name, limits=limits))
    elif kind == "xml":
        yield Source(path=name, chunks=[data])
    else:
        yield Source(path=name, error="artifact is neither a zip archive nor an XML report")


WALK = baselines.WALK              # baseline-branch commits a baseline is looked for in
BASELINES = "ci-truth.baseline"    # "<repo id>:<sha>" → UNUSABLE (finished, no baseline there);
                                   # "<repo id>:ref:<branch>" → {"none_after": sha}: walked, none
UNUSABLE = "unusable"


def base_branch(repo: Repo, run: Mapping[str, Any], pulls: Sequence[Mapping[str, Any]] | None
                ) -> str | None:
    """The base branch of the judged commit's pull request: the open PRs found by its SHA,
    else those the run lists (None: no PR of this repository is known)."""
    return (baselines.base_branch(pulls or (), repo.id, repo.default_branch)
            or baselines.base_branch(run.get("pull_requests") or (), repo.id,
                                     repo.default_branch))


async def baseline(gh: GitHub, repo: Repo, head_sha: str, ctx: AppContext,
                   run: Mapping[str, Any] | None = None, base_branch: str | None = None
                   ) -> tuple[dict[str, Any] | None, str]:
    """The newest usable CI Truth state on the baseline branch, authored by our App only,
    and that branch.

    A pull request's run tests its merge into its base branch (`base_branch`, else the
    default branch): the branch's head is read first (one request, ETag-cached), then its
    last WALK commits. A push to the default branch is compared with its ancestors, a push
    elsewhere with its merge base (docs/checks.md).
    """
    run = run or {}
    where = baselines.start(event=str(run.get("event") or ""), head_sha=head_sha,
                            head_branch=run.get("head_branch"),
                            default_branch=repo.default_branch, base_branch=base_branch)
    start, skip = where.ref, {head_sha}
    if where.merge_base:
        start = await merge_base(gh, repo.owner, repo.name, where.branch, head_sha) or start
    # by branch, not by merge base (judging any commit of the branch forgets it); the value
    # names where the walk began
    memo, none_key, seen = Memo(ctx), f"{repo.id}:ref:{where.branch}", None
    if start != head_sha:
        found, seen, _ = await _state_at(gh, repo, start, ctx)
        if found is not None and found["source"]["head_sha"] not in skip:
            return baselines.labelled(found, where.branch), where.branch
        if await memo.get(BASELINES, none_key) == {"none_after": seen or start}:
            return None, where.branch   # walked before from this head: nothing usable, none due
        skip.update(s for s in (seen, None if start == where.branch else start) if s)
    found, pending = await _walk(gh, repo, start, ctx, skip)
    if found is None and not pending and start != head_sha:
        await memo.put(BASELINES, none_key, {"none_after": seen or start})
    return (None if found is None else baselines.labelled(found, where.branch)), where.branch


async def forget_baseline(ctx: AppContext, repo: Repo, sha: str, run: Mapping[str, Any]) -> None:
    """After judging `sha`: what the walk remembered about it, or about its branch, is stale."""
    memo = Memo(ctx)
    await memo.delete(BASELINES, f"{repo.id}:{sha}")
    branch = run.get("head_branch")
    if (isinstance(branch, str) and branch    # any branch may be a pull request's base
            and not str(run.get("event") or "").startswith("pull_request")):   # fork PRs too
        await memo.delete(BASELINES, f"{repo.id}:ref:{branch}")


async def _state_at(gh: GitHub, repo: Repo, ref: str, ctx: AppContext
                    ) -> tuple[dict[str, Any] | None, str | None, bool]:
    """The usable state on `ref`, the sha GitHub listed check runs for, and whether ours is
    still running there."""
    url = "/repos/{owner}/{repo}/commits/{ref}/check-runs"
    data = await gh.getitem(url, dict(repo.vars, ref=ref),
                            params={"check_name": checkrun.NAME, "app_id": ctx.app_id,
                                    "filter": "latest"})
    listed = [c for c in ((data or {}).get("check_runs") or [] if isinstance(data, Mapping)
                          else []) if isinstance(c, Mapping)]
    found = checkrun.baseline_from_check_runs(listed, ctx.app_id)
    if found is not None:
        try:
            baseline_from_json(found, source="the baseline branch's CI Truth check run")
        except BaselineError as exc:
            log.warning("baseline ignored: %s", exc)
            found = None
    seen = next((str(c["head_sha"]) for c in listed if isinstance(c.get("head_sha"), str)), None)
    pending = any(checkrun.is_ours(c, ctx.app_id) and c.get("status") != "completed"
                  for c in listed)
    return found, seen, pending


async def _walk(gh: GitHub, repo: Repo, start: str, ctx: AppContext, skip: set[str]
                ) -> tuple[dict[str, Any] | None, bool]:
    """The newest usable state among the WALK commits from `start`, and whether one of ours is
    still running there; finished unusable commits are remembered and skipped next time."""
    try:
        listed = await gh.getitem("/repos/{owner}/{repo}/commits", repo.vars,
                                  params={"sha": start, "per_page": WALK})
    except HTTPException as exc:
        if exc.status_code in (404, 409, 422):     # unknown sha, empty repository
            return None, False
        raise
    memo, pending = Memo(ctx), False
    for sha in baselines.candidates(listed, skip):
        key = f"{repo.id}:{sha}"
        if await memo.get(BASELINES, key) == UNUSABLE:
            continue
        found, _, running = await _state_at(gh, repo, sha, ctx)
        if found is not None:
            return found, False
        if running:
            pending = True
        else:
            await memo.put(BASELINES, key, UNUSABLE)
    return None, pending


def _distinct_sources(evidence: Sequence[RunEvidence]) -> list[list[Source]]:
    """Each run's sources; a path an earlier run already used is labelled with its run.

    The engine reads a path once (`check reports/ reports/a.xml`), so two producers that
    both upload `test-results!junit.xml` would otherwise lose the second run's reports.
    """
    out: list[list[Source]] = []
    earlier: set[str] = set()
    for ev in evidence:
        label = f"{ev.run.get('name') or ev.run.get('path') or '?'} run {ev.run.get('id')}"
        out.append([s if s.path not in earlier else
                    Source(path=f"{label}: {s.path}", chunks=s.chunks, error=s.error)
                    for s in ev.sources])
        earlier.update(s.path for s in ev.sources)
    return out


def _state_of(state: MeasuredState, sources: Sequence[Source]) -> MeasuredState:
    """The totals of the reports read from `sources` only (one run's share of the state)."""
    paths = {s.path for s in sources}
    part = MeasuredState()
    for f in state.files:
        if f.path in paths:
            part.totals.add(f.counts)
    return part


def judge(evidence: Sequence[RunEvidence], config: Config, *, baseline_doc: Mapping[str, Any]
          | None, extra: Sequence[Reason] = ()) -> tuple[MeasuredState, Verdict]:
    """Run the engine over every evidence run's reports with the App's reasons added."""
    per_run = _distinct_sources(evidence)
    reasons = [r for ev in evidence for r in ev.reasons] + list(extra)
    result = evaluate([s for run_sources in per_run for s in run_sources], config,
                      baseline=baseline_doc, extra_reasons=reasons)
    state, verdict = result.state, result.verdict
    if not getattr(config.gate, "allow_failures", False):
        more = [r for ev, run_sources in zip(evidence, per_run, strict=True)
                for r in runs.masked_reports(ev.run, _state_of(state, run_sources))][:1]
        verdict = runs.with_reasons(verdict, more)
    for ev in evidence:
        state.workflows[str(ev.run.get("name") or ev.run.get("id"))] = {
            "conclusion": ev.run.get("conclusion"), "run_id": ev.run.get("id"),
            "url": ev.run.get("html_url")}
    return state, verdict


def config_failure(message: str) -> tuple[MeasuredState, Verdict]:
    """A broken config fails the check (falling back to defaults could loosen the gate)."""
    return MeasuredState(), Verdict(Conclusion.FAILURE, [Reason(
        "no-evidence", f"The CI Truth configuration is invalid, so nothing was judged: {message}",
        details={"config": CONFIG_PATH})])


def details_markdown(state: MeasuredState, verdict: Verdict) -> str:
    """The engine's Markdown rendering, for the check run's `text`."""
    return render_markdown(Result(state=state, verdict=verdict))
