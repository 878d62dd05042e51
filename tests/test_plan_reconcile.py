"""Reconciling phase and dashboard issues: evidence-gated closing, reopening, idempotence."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.core.plan import Evaluation, Evidence, Plan, Waiver, evaluate_plan
from bot.core.plan.issuebody import read_ticks
from bot.core.plan.loader import plan_from_text
from bot.core.plan.reconcile import IssueSnapshot, Operation, reconcile, to_compare

ROOT = Path(__file__).resolve().parents[1]
BOT = "ci-truth[bot]"
NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
RUN1 = Evidence("https://github.com/o/r/actions/runs/101", "a" * 40, "2026-11-22T03:00:00Z")
RUN2 = Evidence("https://github.com/o/r/actions/runs/102", "b" * 40, "2026-11-22T03:30:00Z")


def plan() -> Plan:
    p, _ = plan_from_text((ROOT / "examples/plans/portfolio-goap.yml").read_text())
    assert p is not None
    return p


def state(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((ROOT / "tests/data/plan" / name / "state.json").read_text())
    return doc


class Repo:
    """An in-memory issue list that applies operations the way GitHub would."""

    def __init__(self) -> None:
        self.issues: dict[int, IssueSnapshot] = {}
        self.comments: list[tuple[int, str]] = []
        self.next = 1

    def apply(self, ops: list[Operation], actor: str = BOT) -> None:
        for op in ops:
            if op.kind == "create":
                assert op.body is not None and op.title is not None
                self.issues[self.next] = IssueSnapshot(self.next, op.title, op.body, "open",
                                                       op.labels or (), actor)
                self.next += 1
            elif op.kind == "comment":
                assert op.number is not None and op.comment
                self.comments.append((op.number, op.comment))
            else:
                assert op.number is not None
                cur = self.issues[op.number]
                closing = op.state == "closed"
                self.issues[op.number] = replace(
                    cur, title=op.title or cur.title,
                    body=op.body if op.body is not None else cur.body,
                    labels=op.labels if op.labels is not None else cur.labels,
                    state=op.state or cur.state,
                    state_reason=op.state_reason if op.state else cur.state_reason,
                    closed_by=actor if closing else cur.closed_by)

    def sync(self, ev: Evaluation) -> int:
        """Reconcile until nothing is left to do; returns the number of passes that wrote."""
        for passes in range(5):
            ops = reconcile(ev, list(self.issues.values()), bot_login=BOT, now=NOW)
            if not ops:
                return passes
            self.apply(ops)
        raise AssertionError("reconcile does not converge")

    def by_title(self, prefix: str) -> IssueSnapshot:
        return next(i for i in self.issues.values() if i.title.startswith(prefix))


def test_broken_suite_creates_issues_with_measured_values_and_labels() -> None:
    repo = Repo()
    ev = evaluate_plan(plan(), state("broken"), evidence=RUN1)
    assert repo.sync(ev) == 2                      # create, then fill issue links
    assert len(repo.issues) == 5                   # four phases + dashboard
    infra = repo.by_title("Test infrastructure")
    assert infra.state == "open"
    assert set(infra.labels) == {"ci-truth plan", "status: ready", "priority: P0"}
    assert "- [ ] **Zero \"This event loop is already running\" errors**" in infra.body
    assert "measured `signatures.event_loop = 8`" in infra.body
    assert "- [x]" not in infra.body
    ci = repo.by_title("CI/CD")
    assert "status: blocked" in ci.labels and f"#{infra.number} Test infrastructure" in ci.body
    dash = repo.by_title("Plan: ")
    assert f"#{infra.number} Test infrastructure" in dash.body
    assert "12 h" not in dash.body and "8 h 40 min of work" in dash.body
    assert "```mermaid" in dash.body and ":::ready" in dash.body
    assert all(len(i.body) < 60_000 for i in repo.issues.values())
    # idempotent, also with a later clock
    assert reconcile(ev, list(repo.issues.values()), bot_login=BOT,
                     now=NOW.replace(hour=9)) == []


def test_fix_closes_with_evidence_then_regression_reopens() -> None:
    repo = Repo()
    repo.sync(evaluate_plan(plan(), state("broken"), evidence=RUN1))
    waiver = [Waiver("tests_discovered", "alice", "this repo has 21 tests, not 2151")]
    fixed = evaluate_plan(plan(), state("fixed"), evidence=RUN2, waivers=waiver)
    repo.sync(fixed)
    infra = repo.by_title("Test infrastructure")
    assert infra.state == "closed" and infra.state_reason == "completed"
    assert "status: done" in infra.labels
    closing = [c for n, c in repo.comments if n == infra.number]
    assert len(closing) == 1 and "closing as completed" in closing[0]
    assert "runs/102" in closing[0] and "`signatures.event_loop = 0`" in closing[0]
    assert "**waived** by `alice`" in infra.body
    # the next default-branch run is the broken suite again
    closed = repo.by_title("Test infrastructure")
    repo.issues[closed.number] = replace(closed, closed_by=None)   # as GitHub's lists show it
    repo.sync(evaluate_plan(plan(), state("broken"), evidence=RUN1, waivers=waiver))
    infra = repo.by_title("Test infrastructure")
    assert infra.state == "open"
    reopen = [c for n, c in repo.comments if n == infra.number][-1]
    assert reopen.startswith("Reopened: a later default-branch run broke")
    assert "`signatures.event_loop = 8`" in reopen and "runs/101" in reopen
    assert "Pass rate at least 95%" in reopen


def test_closed_by_a_person_without_evidence_is_reopened() -> None:
    repo = Repo()
    ev = evaluate_plan(plan(), state("broken"), evidence=RUN1)
    repo.sync(ev)
    infra = repo.by_title("Test infrastructure")
    repo.apply([Operation("edit", "x", infra.number, state="closed",
                          state_reason="completed")], actor="mallory")
    ops = reconcile(ev, list(repo.issues.values()), bot_login=BOT, now=NOW)
    assert [o.kind for o in ops] == ["comment", "edit"] and ops[1].state == "open"
    assert ops[0].comment is not None and "closed by `mallory`" in ops[0].comment
    assert "does not support it" in ops[0].comment
    # the evidence is a link to the run (as in the issue body), not a URL broken to be inert
    assert "Evidence: [run](https://github.com/o/r/actions/runs/101), `aaaaaaaaaaaa`, " \
        "2026-11-22T03:00:00Z (" in ops[0].comment
    # issue lists do not say who closed: a person closing a not-done phase is still told
    unknown = replace(repo.issues[infra.number], closed_by=None)
    ops = reconcile(ev, [*(i for i in repo.issues.values() if i.number != infra.number),
                         unknown], bot_login=BOT, now=NOW)
    assert ops[0].comment is not None and ops[0].comment.startswith(
        "Reopened: this issue was closed but the evidence does not support it")


def test_closed_by_a_person_with_every_failing_criterion_waived_stays_closed() -> None:
    repo = Repo()
    waivers = [Waiver(c, "lead", "accepted risk") for c in
               ("tests_discovered", "no_event_loop_errors", "pass_rate_95", "coverage_maintained")]
    ev = evaluate_plan(plan(), state("broken"), evidence=RUN1, waivers=waivers)
    repo.sync(ev)
    infra = repo.by_title("Test infrastructure")
    assert infra.state == "closed"            # done by waiver: closed by us, waivers visible
    assert infra.body.count("**waived** by `lead`") == 4


def test_never_touches_issues_we_did_not_create() -> None:
    repo = Repo()
    ev = evaluate_plan(plan(), state("broken"), evidence=RUN1)
    repo.sync(ev)
    infra = repo.by_title("Test infrastructure")
    # someone copies our marker into their own issue
    fake = IssueSnapshot(99, "mine", infra.body, "open", (), "mallory")
    ops = reconcile(ev, [*repo.issues.values(), fake], bot_login=BOT, now=NOW)
    assert ops == []


def test_removed_phase_is_closed_as_not_planned_and_duplicates_are_closed() -> None:
    repo = Repo()
    full = plan()
    repo.sync(evaluate_plan(full, state("broken"), evidence=RUN1))
    docs = repo.by_title("Documented")
    smaller = replace(full, phases=full.phases[:3],
                      actions=tuple(a for a in full.actions
                                    if a.id != "document_and_store_patterns"))
    ev = evaluate_plan(smaller, state("broken"), evidence=RUN1)
    repo.sync(ev)
    assert repo.issues[docs.number].state == "closed"
    assert repo.issues[docs.number].state_reason == "not_planned"
    assert any("no longer in the plan" in c for n, c in repo.comments if n == docs.number)
    # a duplicate delivery raced and created a second copy of a phase issue
    infra = repo.by_title("Test infrastructure")
    repo.issues[50] = replace(infra, number=50)
    ops = reconcile(ev, list(repo.issues.values()), bot_login=BOT, now=NOW)
    assert [(o.kind, o.number) for o in ops] == [("comment", 50), ("edit", 50)]
    assert ops[1].state_reason == "not_planned"


def test_ticks_on_claimed_facts_are_read_back_and_kept() -> None:
    repo = Repo()
    p = plan()
    repo.sync(evaluate_plan(p, state("broken"), evidence=RUN1))
    dash = repo.by_title("Plan: ")
    ticked = dash.body.replace("- [ ] `solution_selected` (claimed)",
                               "- [x] `solution_selected` (claimed)")
    assert ticked != dash.body
    claims = [f for f, on in read_ticks(ticked).items() if on]
    assert claims == ["solution_selected"]
    repo.issues[dash.number] = replace(dash, body=ticked)
    ev = evaluate_plan(p, state("broken"), evidence=RUN1, claimed=claims)
    assert ev.path.critical_path[0] == "implement_fixture_fix"   # actions 1-2 no longer needed
    repo.sync(ev)
    body = repo.issues[dash.number].body
    assert "- [x] `solution_selected` (claimed)" in body
    assert read_ticks(body)["solution_selected"] is True


def test_untrusted_titles_and_descriptions_are_inert() -> None:
    p = plan()
    evil = replace(p.phases[0], title="<img src=x onerror=alert(1)> @org/team [x](javascript:1)",
                   description="Hi @everyone\n<script>alert(1)</script>\n- [x] fake tick")
    p2 = replace(p, phases=(evil, *p.phases[1:]))
    repo = Repo()
    repo.sync(evaluate_plan(p2, state("broken"), evidence=RUN1))
    body = repo.issues[1].body
    assert "<script>" not in body and "<img" not in body and "@everyone" not in body
    assert "\n- [x] fake tick" not in body
    dash = repo.by_title("Plan: ").body
    assert "<img" not in dash and "@org" not in dash
    assert "[x](javascript" not in dash and "\\[x\\](javascript" in dash   # no link formed


def test_any_sequence_of_runs_converges_to_issues_matching_the_evidence() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    p = plan()
    run = st.fixed_dictionaries({
        "passed": st.integers(0, 30), "failed": st.integers(0, 3),
        "event_loop": st.integers(0, 2), "coverage": st.sampled_from([None, 0.5, 0.9]),
        "ci": st.sampled_from([None, "success", "failure"]),
        "waive": st.booleans(), "hand_close": st.booleans()})

    @settings(max_examples=25, deadline=None)
    @given(st.lists(run, min_size=1, max_size=4))
    def check(runs: list[dict[str, Any]]) -> None:
        repo = Repo()
        for r in runs:
            total = r["passed"] + r["failed"]
            doc: dict[str, Any] = {
                "tests": {"total": total, "passed": r["passed"], "failed": r["failed"],
                          "pass_rate": r["passed"] / total if total else 0.0},
                "signatures": {"event_loop": r["event_loop"]},
                "workflows": {n: {"conclusion": r["ci"]} for n in ("test-fast", "test-full")
                              if r["ci"]}}
            if r["coverage"] is not None:
                doc["coverage"] = {"line_rate": r["coverage"]}
            waivers = [Waiver("tests_discovered", "lead")] if r["waive"] else []
            if r["hand_close"] and repo.issues:
                first = min(repo.issues)
                repo.apply([Operation("edit", "x", first, state="closed")], actor="alice")
            ev = evaluate_plan(p, doc, evidence=RUN1, waivers=waivers)
            repo.sync(ev)
            assert len(repo.issues) == len(p.phases) + 1
            for phase in ev.phases:
                [issue] = [i for i in repo.issues.values()
                           if i.body.startswith(f"<!-- ci-truth:phase id={phase.phase.id} -->")]
                assert (issue.state == "closed") == (phase.status.value == "done")
                assert f"status: {phase.status.value}" in issue.labels
                ticked = issue.body.count("- [x]")
                assert ticked == sum(1 for c in phase.criteria if c.met)
            dash = repo.by_title("Plan: ")
            assert dash.state == "open"

    check()


def test_people_labels_in_the_status_namespace_are_kept() -> None:
    # teams label issues "status: in review" / "priority: high": not ours, kept
    repo = Repo()
    ev = evaluate_plan(plan(), state("broken"), evidence=RUN1)
    repo.sync(ev)
    infra, dash = repo.by_title("Test infrastructure"), repo.by_title("Plan: ")
    repo.issues[infra.number] = replace(infra, labels=(*infra.labels, "status: in review"))
    repo.issues[dash.number] = replace(dash, labels=(*dash.labels, "priority: high"))
    assert reconcile(ev, list(repo.issues.values()), bot_login=BOT, now=NOW) == []
    # our own status label still follows the evidence
    blocked = next(r for r in ev.phases if r.status.value == "blocked")
    issue = repo.by_title(blocked.phase.title)
    repo.issues[issue.number] = replace(issue, labels=(*issue.labels, "status: in review"))
    waived = evaluate_plan(plan(), state("broken"), evidence=RUN1, waivers=[
        Waiver(c.id, "alice") for r in ev.phases for c in r.criteria])
    repo.sync(waived)
    labels = set(repo.issues[issue.number].labels)
    assert {"status: in review", "status: done"} <= labels and "status: blocked" not in labels


def test_a_note_written_above_our_marker_does_not_duplicate_the_issue() -> None:
    # a maintainer adds a line at the top of a phase issue and of the dashboard
    repo = Repo()
    ev = evaluate_plan(plan(), state("broken"), evidence=RUN1, claimed=["solution_selected"])
    repo.sync(ev)
    infra, dash = repo.by_title("Test infrastructure"), repo.by_title("Plan: ")
    for issue in (infra, dash):
        repo.issues[issue.number] = replace(issue, body="Owner: alice\n\n" + issue.body)
    claims = [f for f, on in read_ticks(repo.issues[dash.number].body).items() if on]
    ops = reconcile(evaluate_plan(plan(), state("broken"), evidence=RUN1, claimed=claims),
                    list(repo.issues.values()), bot_login=BOT, now=NOW)
    assert [o.kind for o in ops if o.kind == "create"] == []
    assert {o.number for o in ops} <= {infra.number, dash.number}


def test_stale_evidence_writes_nothing_and_commit_times_order_nothing() -> None:
    repo = Repo()
    waive = [Waiver("tests_discovered", "maintainer", "demo suite")]
    new = replace(RUN2, commit_time="2026-11-22T03:10:00Z")
    repo.sync(evaluate_plan(plan(), state("fixed"), waivers=waive, evidence=new))
    dash = repo.by_title("Plan: ")
    assert f"<!-- ci-truth:evidence commit={'b' * 40} time=2026-11-22T03:10:00Z -->" in dash.body
    issues = list(repo.issues.values())
    # another commit is compared with the recorded one, whatever its date...
    older = replace(RUN1, commit_time="2026-11-22T02:00:00Z")
    broken = evaluate_plan(plan(), state("broken"), evidence=older)
    assert to_compare(older, issues, BOT) == "b" * 40
    assert to_compare(replace(older, commit_time="2099-01-01T00:00:00Z"), issues, BOT) == "b" * 40
    # ...and is stale only when GitHub says it is an ancestor of it
    assert reconcile(broken, issues, bot_login=BOT, now=NOW, stale=True) == []
    # a descendant dated earlier ("Rebase and merge" keeps the author date) applies
    assert repo.sync(broken) > 0
    assert repo.by_title("Test infrastructure").state == "open"
    assert f"commit={'a' * 40} time=2026-11-22T02:00:00Z" in repo.by_title("Plan: ").body
    issues = list(repo.issues.values())
    # nothing to compare: the recorded commit itself, evidence without a commit time (a
    # command's sync, which keeps the marker), no dashboard yet
    assert to_compare(replace(older, run_url="https://github.com/o/r/actions/runs/103"),
                      issues, BOT) is None
    assert to_compare(RUN2, issues, BOT) is None
    assert to_compare(new, [], BOT) is None
    repo.sync(evaluate_plan(plan(), state("fixed"), waivers=waive, evidence=RUN2))
    assert f"commit={'a' * 40} time=2026-11-22T02:00:00Z" in repo.by_title("Plan: ").body


def many_long_criteria(cmp: str) -> Plan:
    """One phase of 60 criteria named "&" x 200 (1,000 characters each once escaped)."""
    lines = ["plan:", "  goal: big", "  phases:", "    - id: ph0", "      title: t",
             "      criteria:"]
    for i in range(60):
        lines += [f"        - id: c{i}", f"          name: {json.dumps('&' * 200)}",
                  f"          expr: tests.total {cmp} {i - 1000}"]
    p, errors = plan_from_text("\n".join(lines) + "\n")
    assert p is not None, errors
    return p


def test_done_and_reopen_comments_fit_githubs_limit() -> None:
    # the closing comment listed every criterion: 70,000 characters, GitHub refused it (422)
    # and the phase never closed; the reopening comment the same
    repo = Repo()
    repo.sync(evaluate_plan(many_long_criteria(">="), state("broken"), evidence=RUN1))
    done = [c for n, c in repo.comments if c.startswith("All criteria")]
    assert len(done) == 1 and len(done[0]) <= 60_000
    assert done[0].count("- [x] **&amp;") > 40
    assert "more criteria not shown (comment size limit)" in done[0]
    number = repo.by_title("t").number
    assert repo.issues[number].state == "closed"
    ops = reconcile(evaluate_plan(many_long_criteria("<"), state("broken"), evidence=RUN2),
                    list(repo.issues.values()), bot_login=BOT, now=NOW)
    reopen = [o.comment for o in ops if o.kind == "comment" and o.number == number]
    assert len(reopen) == 1 and reopen[0] is not None and len(reopen[0]) <= 60_000
    assert reopen[0].startswith("Reopened: a later default-branch run broke")
    assert reopen[0].count("- [ ] **&amp;") > 40
    assert "more criteria not shown (comment size limit)" in reopen[0]
