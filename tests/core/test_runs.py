"""runs.py over real webhook payloads: evidence selection, masked failures, missing evidence, forks.

Payloads come from ../shared/corpus/webhooks. Adapted fields are set explicitly in each test
(the corpus run has an empty name and no artifacts; job conclusions are changed to model
continue-on-error, which GitHub reports as a failed step inside a successful job).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bot.core.model import Conclusion, Counts, MeasuredState, Reason, Verdict
from bot.core.runs import (
    EvidencePolicy,
    Producer,
    is_evidence_run,
    is_fork,
    masked_reports,
    masked_steps,
    missing_evidence,
    missing_producers,
    policy_from_config,
    select_artifacts,
    untrusted,
    with_reasons,
)


@pytest.fixture
def run(corpus: Path) -> dict[str, Any]:
    doc = json.loads((corpus / "webhooks/workflow_run.completed.json").read_text())
    wr: dict[str, Any] = doc["workflow_run"]
    wr["name"] = "CI"   # adapted: the corpus example has an empty name
    return wr


@pytest.fixture
def job(corpus: Path) -> dict[str, Any]:
    doc = json.loads((corpus / "webhooks/workflow_job.completed.json").read_text())
    return dict(doc["workflow_job"])


def artifact(name: str, *, size: int = 1000, expired: bool = False, id: int = 1) -> dict[str, Any]:
    return {"id": id, "name": name, "size_in_bytes": size, "expired": expired,
            "archive_download_url": f"https://api.github.com/x/{id}/zip"}


def test_fork_detection_uses_repository_ids(run: dict[str, Any], corpus: Path) -> None:
    assert not is_fork(run)
    fork = json.loads((corpus / "webhooks/all/workflow_run.completed.0.json").read_text())
    # A real payload whose head repository differs from the repository it was delivered for.
    assert is_fork(fork["workflow_run"], fork["repository"]["id"])
    assert not is_fork(run, 300029405)
    broken = copy.deepcopy(run)
    del broken["head_repository"]
    assert is_fork(broken), "unknown provenance is treated as untrusted"


def test_declared_producers_match_by_name_or_file(run: dict[str, Any]) -> None:
    policy = EvidencePolicy((Producer("test.yml"),))
    assert is_evidence_run(run, policy)
    assert policy.producer_for(run) == Producer("test.yml")
    assert is_evidence_run(run, EvidencePolicy((Producer("CI"),)))
    assert not is_evidence_run(run, EvidencePolicy((Producer("Lint"),)), [artifact("junit")])


def test_undeclared_runs_are_judged_only_with_report_like_artifacts(run: dict[str, Any]) -> None:
    none = EvidencePolicy()
    assert not is_evidence_run(run, none)               # in progress: we cannot know yet
    assert not is_evidence_run(run, none, [artifact("dist"), artifact("coverage-html")])
    assert is_evidence_run(run, none, [artifact("dist"), artifact("pytest-results")])


def test_select_artifacts_globs_expiry_and_size_cap() -> None:
    arts = [artifact("junit-1", id=1), artifact("junit-2", id=2, expired=True),
            artifact("junit-3", id=3, size=10**10), artifact("wheel", id=4)]
    sel = select_artifacts(arts, Producer("CI", ("junit-*",)), max_bytes=10**6)
    assert [a["id"] for a in sel.download] == [1]
    assert sel.expired == ["junit-2"]
    assert sel.refused[0][0] == "junit-3 (artifact)" and "cap" in sel.refused[0][1]
    unconfigured = select_artifacts(arts, None, max_bytes=10**6)
    assert [a["id"] for a in unconfigured.download] == [1]   # "wheel" is not report-like


def test_missing_evidence_no_artifact_expired_and_shards(run: dict[str, Any]) -> None:
    prod = Producer("CI", ("junit-*",), shards=3)
    empty = select_artifacts([], prod, max_bytes=10**6)
    [r] = missing_evidence(run, prod, empty)
    assert r.rule == "missing-evidence" and r.conclusion is Conclusion.FAILURE
    assert "uploaded no artifact matching junit-*" in r.message

    expired = select_artifacts([artifact("junit-1", expired=True)], prod, max_bytes=10**6)
    [r] = missing_evidence(run, prod, expired)
    assert "expired" in r.message and r.details["expired"] == ["junit-1"]

    two = select_artifacts([artifact("junit-1"), artifact("junit-2", id=2)], prod, max_bytes=10**6)
    [r] = missing_evidence(run, prod, two)
    assert "2 of 3 shards" in r.message and r.details["found"] == 2

    three = select_artifacts([artifact(f"junit-{i}", id=i) for i in (1, 2, 3)], prod,
                             max_bytes=10**6)
    assert missing_evidence(run, prod, three) == []
    assert missing_evidence(run, None, empty) == []    # undeclared: quiet
    optional = Producer("CI", ("junit-*",), required=False)
    assert missing_evidence(run, optional, empty) == []


def test_artifacts_that_held_no_report_are_not_shards(run: dict[str, Any]) -> None:
    prod = Producer("CI", ("junit-*",), shards=2)
    sel = select_artifacts([artifact("junit-1"), artifact("junit-2", id=2)], prod,
                           max_bytes=10**6)
    sel.empty.append("junit-2")                 # downloaded, but no report-named member
    [r] = missing_evidence(run, prod, sel)
    assert "1 of 2 shards" in r.message and r.details["empty"] == ["junit-2"]
    sel.empty.append("junit-1")
    [r] = missing_evidence(run, prod, sel)
    assert "none of them holds a test report" in r.message and r.details["found"] == 0
    single = Producer("CI", ("junit-*",))
    [r] = missing_evidence(run, single, sel)
    assert r.rule == "missing-evidence"


def test_missing_producers(run: dict[str, Any]) -> None:
    policy = EvidencePolicy((Producer("CI"), Producer("Integration"), Producer("E2E", (), None,
                                                                               False)))
    [r] = missing_producers(policy, [run])
    assert "'Integration'" in r.message


def test_continue_on_error_step_is_masked_failure(run: dict[str, Any],
                                                  job: dict[str, Any]) -> None:
    # Real shape: the job payload has a failed step ("Run yarn run format-check").
    job["conclusion"] = "success"                         # adapted: continue-on-error on the step
    [r] = masked_steps(run, [job])
    assert r.rule == "masked-failure"
    assert "linters › Run yarn run format-check" in r.details["steps"]
    run_failed = dict(run, conclusion="failure")
    assert masked_steps(run_failed, [job]) == []          # a red run masks nothing


def test_failed_job_in_green_run_is_masked(run: dict[str, Any], job: dict[str, Any]) -> None:
    [r] = masked_steps(run, [job])                        # job failure, run success
    assert "job-level continue-on-error" in r.message and r.details["jobs"] == ["linters"]


def test_failing_reports_in_green_run(run: dict[str, Any]) -> None:
    state = MeasuredState(totals=Counts(tests=10, passed=8, failed=1, errors=1))
    [r] = masked_reports(run, state)
    assert "2 failing test(s)" in r.message and "|| true" in r.message
    assert masked_reports(dict(run, conclusion="failure"), state) == []
    assert masked_reports(run, MeasuredState(totals=Counts(tests=3, passed=3))) == []


def test_hostile_step_names_cannot_break_out(run: dict[str, Any], job: dict[str, Any]) -> None:
    job["conclusion"] = "success"
    job["steps"] = [{"name": "x` <!-- @everyone\n# Heading", "conclusion": "failure"}]
    [r] = masked_steps(run, [job])
    assert "<!--" not in r.message and "\n" not in r.message and "`" not in r.message


def test_fork_policy(corpus: Path) -> None:
    doc = json.loads((corpus / "webhooks/all/workflow_run.completed.0.json").read_text())
    fork = doc["workflow_run"]
    repo_id = doc["repository"]["id"]
    [adv] = untrusted(fork, EvidencePolicy(), repo_id)
    assert adv.conclusion is Conclusion.FAILURE and "octo-org/octo-repo" in adv.message
    [ok] = untrusted(fork, EvidencePolicy(forks="trusted"), repo_id)
    assert ok.conclusion is Conclusion.SUCCESS and "may be forged" in ok.message
    green = with_reasons(Verdict(Conclusion.SUCCESS), [adv])
    assert green.conclusion is Conclusion.FAILURE, "fork evidence never turns the gate green"
    assert with_reasons(Verdict(Conclusion.SUCCESS), [ok]).conclusion is Conclusion.SUCCESS


def test_with_reasons_keeps_order_and_rule() -> None:
    neutral = Reason("x", "m", Conclusion.NEUTRAL)
    v = with_reasons(Verdict(Conclusion.SUCCESS), [neutral])
    assert v.conclusion is Conclusion.NEUTRAL and v.reasons == [neutral]
    assert with_reasons(v, [neutral]).reasons == [neutral]


def test_policy_from_config_reads_mappings_and_attributes() -> None:
    class Cfg:
        def __init__(self) -> None:
            self.evidence = {"forks": "bogus", "workflows": [
                {"name": "CI", "artifacts": ["junit-*"], "shards": 4},
                {"name": "Nightly", "required": False}]}
    p = policy_from_config(Cfg())
    assert p.producers == (Producer("CI", ("junit-*",), 4),
                           Producer("Nightly", (), None, False)) and p.forks == "advisory"
    assert policy_from_config(object()) == EvidencePolicy()
