"""The seed plans in examples/plans/: they validate, and the planner reproduces the seeds' sums.

Scenarios are real pytest runs (tests/data/plan/generate.py): `broken` fails with asyncio's
"RuntimeError: This event loop is already running", `fixed` is the same suite after the fix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.core.plan import Plan, Status, evaluate_plan
from bot.core.plan.loader import plan_from_text
from tests.conftest import SHARED

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "plans"
DATA = ROOT / "tests" / "data" / "plan"
SEEDS = SHARED / "seeds"


def load(name: str) -> Plan:
    plan, _ = plan_from_text((EXAMPLES / name).read_text(), source=name)
    assert plan is not None
    return plan


def state(name: str, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DATA / name / "state.json").read_text())
    doc.update(extra)
    return doc


def seed_line(prefix: str, number: int) -> str:
    """A seed's line (1-based), when the seeds are beside the checkout."""
    files = sorted(SEEDS.glob(prefix + "_*.txt"))
    if not files:
        pytest.skip("seeds not available")
    return files[0].read_text(encoding="utf-8").splitlines()[number - 1]


@pytest.mark.parametrize("name", ["portfolio-goap.yml", "recovery-six-phases.yml",
                                  "p0-blockers.yml"])
def test_examples_validate(name: str) -> None:
    plan = load(name)
    assert plan.phases and plan.actions


# --- seeds 000-002: the nine-action GOAP plan ------------------------------------------------

NINE = ("analyze_pytest_asyncio_conflict", "design_test_fixture_solution",
        "implement_fixture_fix", "validate_async_tests", "run_comprehensive_test_suite",
        "fix_remaining_critical_issues", "update_ci_cd_pipeline", "merge_and_deploy",
        "document_and_store_patterns")


def test_goap_broken_suite_needs_all_nine_actions() -> None:
    # 000 line 10: "Critical Path: 9 actions"; costs from 001 lines 639-694:
    # 30 + 20 + 15 + 30 + 60 + 240 + 50 + 30 + 45 = 520 minutes.
    assert "9 actions" in seed_line("000", 10)
    assert '"time": 240' in seed_line("001", 671)
    ev = evaluate_plan(load("portfolio-goap.yml"), state("broken"))
    assert ev.path.critical_path == NINE
    assert ev.path.remaining_cost == 520
    assert ev.path.branches == (NINE,)         # 001 line 500: "Parallel Opportunities: None"
    foundation = ev.phases[0]
    assert foundation.status is Status.READY
    got = {c.id: (c.met, c.value) for c in foundation.criteria}
    assert got["no_event_loop_errors"] == (False, "signatures.event_loop = 8")
    assert got["pass_rate_95"] == (False, "tests.pass_rate = 0.6")
    assert got["tests_discovered"] == (False, "tests.total = 21")
    assert [p.status for p in ev.phases[1:]] == [Status.BLOCKED] * 3


def test_goap_fixed_suite_skips_the_conditional_action() -> None:
    # 001 line 524: "Total Estimated Time (Best Case): 4.5 hours" and line 526: "8 if Action 6
    # not needed". The best-case durations (lines 514-522 without Action 6) sum to 280 min,
    # which the seed rounds down to 4.5 h.
    assert "4.5 hours" in seed_line("001", 524)
    assert "8 if Action 6 not needed" in seed_line("001", 526)
    ev = evaluate_plan(load("portfolio-goap.yml"), state("fixed"))
    crit = {c.id: c for c in ev.phases[0].criteria}
    assert crit["pass_rate_95"].met and crit["no_event_loop_errors"].met
    assert crit["coverage_maintained"].met and crit["coverage_maintained"].value == \
        "coverage.line_rate = 0.9333"
    assert not crit["tests_discovered"].met            # 21 tests, the plan wants 2151
    assert ev.path.critical_path == tuple(a for a in NINE if a != "fix_remaining_critical_issues")
    assert ev.path.remaining_cost == 280


def test_goap_claimed_progress_and_evidence_finish_the_plan() -> None:
    plan = load("portfolio-goap.yml")
    claims = ["conflict_mechanism_understood", "solution_selected",
              "conflicting_fixture_removed", "async_tests_passing", "full_suite_run"]
    big = state("fixed")
    big["tests"] = {**big["tests"], "total": 2151, "passed": 2100, "skipped": 0,
                    "failed": 51, "pass_rate": 2100 / 2151}
    ev = evaluate_plan(plan, big, claimed=claims)
    assert ev.phases[0].status is Status.DONE and ev.phases[1].status is Status.READY
    assert ev.path.critical_path == ("update_ci_cd_pipeline", "merge_and_deploy",
                                     "document_and_store_patterns")
    assert ev.path.remaining_cost == 125
    workflows = {n: {"conclusion": "success"} for n in
                 ("test-fast", "test-full", "deploy-production")}
    done = evaluate_plan(plan, {**big, "workflows": workflows}, claimed=claims,
                         repo_files=["docs/planning/GOAP_PORTFOLIO_READINESS_COMPLETION.md"])
    assert {p.status for p in done.phases} == {Status.DONE}
    assert done.path.critical_path == () and done.path.remaining_cost == 0


def test_claiming_a_criterion_does_not_make_it_hold() -> None:
    plan = load("portfolio-goap.yml")
    ev = evaluate_plan(plan, state("broken"), claimed=["no_event_loop_errors", "pass_rate_95"])
    assert "no_event_loop_errors" not in ev.facts and ev.claimed == frozenset()
    assert not ev.phases[0].criteria[1].met


# --- seed 003: six phases -----------------------------------------------------------------------

def test_recovery_plan_is_sequential_with_the_seeds_lower_estimates() -> None:
    # Issue estimates, seed 003 lines 141, 163, 185, 207, 229, 251: 3-5, 2-3, 3-4, 5-7, 2-3,
    # 3-4 days; lower bounds sum to 18 working days = 18 * 480 minutes.
    estimates = [seed_line("003", n) for n in (141, 163, 185, 207, 229, 251)]
    assert [e.split("**Estimate:** ")[1].split("-")[0] for e in estimates] == \
        ["3", "2", "3", "5", "2", "3"]
    plan = load("recovery-six-phases.yml")
    assert [p.needs for p in plan.phases][:3] == [(), ("foundation",), ("foundation", "auth")]
    ev = evaluate_plan(plan, state("broken"))
    assert ev.path.remaining_cost == 18 * 480
    assert len(ev.path.critical_path) == 6 and len(ev.path.branches) == 1
    assert [p.status for p in ev.phases] == [Status.READY] + [Status.BLOCKED] * 5
    assert plan.phases[3].priority == "P1"               # 003 line 206: SSOT is P1


def test_recovery_zero_tests_is_not_foundation_done() -> None:
    # The seed's failure pattern (003 line 17): "reporting success when 0 tests run".
    empty = {"tests": {"total": 0}, "signatures": {}, "workflows": {"tests": {
        "conclusion": "success"}}}
    ev = evaluate_plan(load("recovery-six-phases.yml"), empty)
    found = ev.phases[0]
    assert found.status is Status.READY
    assert found.criteria[0].met is False and "tests.total = 0" in found.criteria[0].value


# --- seed 004: sequential then parallel ----------------------------------------------------------

def test_p0_blockers_parallel_goals() -> None:
    # 004 lines 328-329: sequential 12.5-16.5 h, parallel 8.5-10.5 h (lower bounds).
    assert "12.5-16.5 hours" in seed_line("004", 328)
    assert "8.5-10.5 hours" in seed_line("004", 329)
    ev = evaluate_plan(load("p0-blockers.yml"), state("broken"))
    assert ev.path.remaining_cost == 750                 # 12.5 h of work
    assert ev.path.remaining_duration == 510             # 8.5 h with the two agents in parallel
    assert ev.path.branches == (
        ("fix_build",),
        ("write_security_md", "write_deployment_md", "update_readme", "update_agents_md"),
        ("add_pool_tests", "add_validation_tests", "add_bincode_tests"),
    )
    assert ev.path.parallel[1] == ("write_security_md", "add_pool_tests")


def test_p0_blockers_revised_state() -> None:
    # 004 lines 303-318: build done, SECURITY.md, README and AGENTS done, pool and validation
    # tests done; remaining DEPLOYMENT.md and bincode tests, "Revised Timeline: 4-6 hours"
    # (line 377): 2 h + 2 h of work, 2 h when both agents work at once.
    assert "4-6 hours" in seed_line("004", 377)
    files = ["SECURITY.md", "memory-storage-turso/tests/pool_integration.rs",
             "memory-core/tests/validation_integration.rs"]
    wf = {"build": {"conclusion": "success"}, "clippy": {"conclusion": "success"}}
    ev = evaluate_plan(load("p0-blockers.yml"), state("fixed", workflows=wf),
                       claimed=["readme_configuration", "agents_quota_guidance"],
                       repo_files=files)
    assert [p.status for p in ev.phases] == [Status.DONE, Status.READY, Status.READY]
    assert ev.path.critical_path == ("write_deployment_md", "add_bincode_tests")
    assert ev.path.remaining_cost == 240 and ev.path.remaining_duration == 120
    assert ev.path.parallel == (("write_deployment_md", "add_bincode_tests"),)
