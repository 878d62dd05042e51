"""Workflow-run facts (run, jobs, steps, artifacts) → which evidence to read and the App's rules."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.core.model import Conclusion, MeasuredState, Reason, Rule, Verdict

FORK_POLICIES = ("advisory", "trusted", "ignore")
DEFAULT_FORK_POLICY = "advisory"

# Artifact names that look like test reports when nothing is declared (quiet otherwise).
REPORT_LIKE = re.compile(
    r"(?i)(test|junit|xunit|nunit|trx|surefire|failsafe|pytest|jest|mocha|spec|report|result)")


@dataclass(frozen=True)
class Producer:
    """A declared evidence workflow: its name (or workflow file), artifact globs, shard count."""

    name: str
    artifacts: tuple[str, ...] = ()
    shards: int | None = None
    required: bool = True          # False: a missing report is not held against the commit

    def matches_run(self, run: Mapping[str, Any]) -> bool:
        """True when the run belongs to this workflow (by name, file path or file name)."""
        path = str(run.get("path") or "")
        candidates = {str(run.get("name") or ""), path, path.rsplit("/", 1)[-1]}
        return self.name in candidates - {""}

    def matches_artifact(self, name: str) -> bool:
        if not self.artifacts:
            return bool(REPORT_LIKE.search(name))
        return any(fnmatch.fnmatchcase(name, glob) for glob in self.artifacts)


@dataclass(frozen=True)
class EvidencePolicy:
    """The `evidence:` section as the App needs it (built from Config by `policy_from_config`)."""

    producers: tuple[Producer, ...] = ()
    forks: str = DEFAULT_FORK_POLICY

    @property
    def declared(self) -> bool:
        return bool(self.producers)

    def producer_for(self, run: Mapping[str, Any]) -> Producer | None:
        return next((p for p in self.producers if p.matches_run(run)), None)


def policy_from_config(config: Any) -> EvidencePolicy:
    """Read `config.evidence` leniently (attributes or mappings) into an EvidencePolicy."""
    evidence = getattr(config, "evidence", None)
    if evidence is None:
        return EvidencePolicy()

    def get(obj: Any, key: str, default: Any = None) -> Any:
        if isinstance(obj, Mapping):
            return obj.get(key, default)
        return getattr(obj, key, default)

    producers = []
    for wf in get(evidence, "workflows", ()) or ():
        globs = get(wf, "artifacts", ()) or ()
        shards = get(wf, "shards")
        producers.append(Producer(name=str(get(wf, "name", "")),
                                  artifacts=tuple(str(g) for g in globs),
                                  shards=int(shards) if shards else None,
                                  required=bool(get(wf, "required", True))))
    forks = str(get(evidence, "forks", DEFAULT_FORK_POLICY) or DEFAULT_FORK_POLICY)
    return EvidencePolicy(tuple(producers), forks if forks in FORK_POLICIES else "advisory")


def is_fork(run: Mapping[str, Any], repo_id: int | None = None) -> bool:
    """A run whose head repository is not the base repository (attacker-controlled evidence).

    `repo_id` is the id of the repository the webhook was delivered for (preferred over the
    run's own `repository`); a run without provenance counts as a fork.
    """
    head = run.get("head_repository") or {}
    head_id = head.get("id")
    base_id = repo_id if repo_id is not None else (run.get("repository") or {}).get("id")
    return head_id is None or base_id is None or head_id != base_id


def report_like(artifacts: Iterable[Mapping[str, Any]]) -> bool:
    return any(REPORT_LIKE.search(str(a.get("name", ""))) for a in artifacts)


def is_evidence_run(run: Mapping[str, Any], policy: EvidencePolicy,
                    artifacts: Iterable[Mapping[str, Any]] | None = None) -> bool:
    """Declared producers only when the config declares any; else runs with report-like artifacts.

    Without a config the App cannot know before the run ends, so `artifacts=None` (a run
    still in progress) answers False for undeclared runs: no in-progress check, quiet.
    """
    if policy.declared:
        return policy.producer_for(run) is not None
    return artifacts is not None and report_like(artifacts)


@dataclass
class Selection:
    """Artifacts to download, and refusals that must become unreadable evidence."""

    download: list[dict[str, Any]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)     # (source path, reason)
    expired: list[str] = field(default_factory=list)                  # names, skipped
    empty: list[str] = field(default_factory=list)     # downloaded names that held no report


def select_artifacts(artifacts: Sequence[Mapping[str, Any]], producer: Producer | None, *,
                     max_bytes: int) -> Selection:
    """Matching artifacts (globs or report-like), expired ones skipped, oversized ones refused."""
    spec = producer or Producer(name="")
    out = Selection()
    for art in artifacts:
        name = str(art.get("name", ""))
        if not spec.matches_artifact(name):
            continue
        if art.get("expired"):
            out.expired.append(name)
            continue
        size = art.get("size_in_bytes")
        if isinstance(size, int) and size > max_bytes:
            out.refused.append((f"{name} (artifact)",
                                f"artifact is {size:,} bytes, over the {max_bytes:,}-byte cap; "
                                f"upload only the report files"))
            continue
        out.download.append(dict(art))
    return out


def missing_evidence(run: Mapping[str, Any], producer: Producer | None,
                     selection: Selection) -> list[Reason]:
    """A declared producer, or one of its shards, uploaded no (unexpired) matching artifact."""
    if producer is None or not producer.required:
        return []
    wf = str(run.get("name") or producer.name)
    empty = sorted(selection.empty)
    found = len(selection.download) - len(empty) + len(selection.refused)
    globs = ", ".join(producer.artifacts) or "report-like names"
    details: dict[str, Any] = {"workflow": wf, "run_id": run.get("id"), "found": found,
                               "expected": producer.shards or 1, "artifacts": globs}
    note = ""
    if empty:
        details["empty"] = empty
        note = f" Artifact(s) holding no report file: {_names(empty)}."
    if found == 0 and empty:
        return [Reason(Rule.MISSING_EVIDENCE.value,
                       f"Workflow {wf!r} uploaded artifacts matching {globs}, but none of them "
                       f"holds a test report file (*.xml, *.trx, ...).{note}", details=details)]
    if found == 0 and selection.expired:
        details["expired"] = sorted(selection.expired)
        names = ", ".join(sorted(selection.expired))
        return [Reason(Rule.MISSING_EVIDENCE.value,
                       f"Workflow {wf!r}: its report artifacts ({names}) have expired; "
                       f"re-run the workflow to judge it again.", details=details)]
    if found == 0:
        return [Reason(Rule.MISSING_EVIDENCE.value,
                       f"Workflow {wf!r} uploaded no artifact matching {globs}: the tests left no "
                       f"report (upload step skipped, wrong path, or the tests never ran).",
                       details=details)]
    if producer.shards and found < producer.shards:
        return [Reason(Rule.MISSING_EVIDENCE.value,
                       f"Workflow {wf!r}: {found} of {producer.shards} shards uploaded a report "
                       f"matching {globs}; {producer.shards - found} shard(s) left no evidence."
                       f"{note}", details=details)]
    return []


def missing_producers(policy: EvidencePolicy, seen: Iterable[Mapping[str, Any]]) -> list[Reason]:
    """Declared producers with no completed run among `seen` for this commit."""
    runs = list(seen)
    return [Reason(Rule.MISSING_EVIDENCE.value,
                   f"Declared evidence workflow {p.name!r} has no completed run for this commit.",
                   details={"workflow": p.name})
            for p in policy.producers
            if p.required and not any(p.matches_run(r) for r in runs)]


# Conclusions of a job or step that did not finish its work (a timeout or cancellation that
# continue-on-error turned into a green run is as masked as a failure).
FAILED = frozenset({"failure", "timed_out", "cancelled", "startup_failure"})


def masked_steps(run: Mapping[str, Any], jobs: Iterable[Mapping[str, Any]]) -> list[Reason]:
    """Steps that failed inside successful jobs, and failed jobs inside a successful run."""
    if run.get("conclusion") != "success":
        return []
    steps: list[str] = []
    failed_jobs: list[str] = []
    for job in jobs:
        jname = str(job.get("name", "?"))
        if job.get("conclusion") in FAILED:
            failed_jobs.append(jname)
            continue
        if job.get("conclusion") != "success":
            continue
        steps += [f"{jname} › {s.get('name', '?')}" for s in job.get("steps") or ()
                  if s.get("conclusion") in FAILED]
    reasons = []
    if steps:
        reasons.append(Reason(
            Rule.MASKED_FAILURE.value,
            f"{len(steps)} step(s) failed but their job passed (continue-on-error): "
            f"{_names(steps)}. A failing test step must fail the run.",
            details={"steps": steps[:50]}))
    if failed_jobs:
        reasons.append(Reason(
            Rule.MASKED_FAILURE.value,
            f"{len(failed_jobs)} job(s) failed but the run concluded success "
            f"(job-level continue-on-error): {_names(failed_jobs)}.",
            details={"jobs": failed_jobs[:50]}))
    return reasons


def masked_reports(run: Mapping[str, Any], state: MeasuredState) -> list[Reason]:
    """The reports show failing tests while the run is green (`|| true`, ignored exit codes)."""
    bad = state.totals.failed + state.totals.errors
    if run.get("conclusion") != "success" or bad == 0:
        return []
    return [Reason(Rule.MASKED_FAILURE.value,
                   f"The run concluded success but its reports show {bad} failing test(s): the "
                   f"test command's exit status was ignored (e.g. || true).",
                   details={"failed": state.totals.failed, "errors": state.totals.errors})]


def untrusted(run: Mapping[str, Any], policy: EvidencePolicy,
              repo_id: int | None = None, *, origin: str | None = None) -> list[Reason]:
    """Fork runs: the fork's author controls the workflow and every file it uploads.

    `advisory` (default): a failing reason, so forged evidence can never turn the gate green.
    `trusted`: the same warning as a note that does not change the conclusion. `origin`, with
    `{head}` for the fork's name, says how the fork controls the reports when not by its run.
    """
    if not is_fork(run, repo_id):
        return []
    head = (run.get("head_repository") or {}).get("full_name") or "a fork"
    msg = (origin or "Evidence comes from a workflow run controlled by {head}: its author "
           "controls the workflow and the reports it uploads, so the reports may be "
           "forged.").format(head=head)
    if policy.forks == "trusted":
        return [Reason(Rule.UNTRUSTED_EVIDENCE.value, msg + " Accepted (evidence.forks: trusted).",
                       Conclusion.SUCCESS, {"head_repository": head, "policy": "trusted"})]
    return [Reason(Rule.UNTRUSTED_EVIDENCE.value,
                   msg + " It cannot make this check pass (evidence.forks: advisory); a "
                   "maintainer reviews the change, or sets evidence.forks: trusted.",
                   Conclusion.FAILURE, {"head_repository": head, "policy": "advisory"})]


def with_reasons(verdict: Verdict, extra: Sequence[Reason]) -> Verdict:
    """The verdict with more reasons; conclusion by the documented rule (failure > neutral)."""
    reasons = list(verdict.reasons) + [r for r in extra if r not in verdict.reasons]
    concl = {r.conclusion for r in reasons}
    if Conclusion.FAILURE in concl or verdict.conclusion is Conclusion.FAILURE:
        conclusion = Conclusion.FAILURE
    elif Conclusion.NEUTRAL in concl or verdict.conclusion is Conclusion.NEUTRAL:
        conclusion = Conclusion.NEUTRAL
    else:
        conclusion = Conclusion.SUCCESS
    return Verdict(conclusion, reasons)


def _names(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(f"'{_plain(i)}'" for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _plain(text: str) -> str:
    """Workflow-controlled names kept to one short plain line (renderers escape the rest)."""
    text = _CONTROL.sub(" ", text.replace("`", "'").replace("<!--", "").replace("-->", ""))
    return text[:100]


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
