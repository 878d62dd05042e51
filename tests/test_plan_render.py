"""Renderings: size caps hold for huge plans, Mermaid labels are inert, JSON is complete."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bot.core.plan import Evidence, evaluate_plan
from bot.core.plan.escape import code, link, md, mermaid
from bot.core.plan.issuebody import marker_of, phase_body, read_ticks
from bot.core.plan.loader import plan_from_text
from bot.core.plan.render import dashboard, duration, to_json

ROOT = Path(__file__).resolve().parents[1]
BROKEN = json.loads((ROOT / "tests/data/plan/broken/state.json").read_text())


def huge_plan_text(phases: int, criteria: int) -> str:
    lines = ["plan:", "  goal: big", "  phases:"]
    n = 0
    for p in range(phases):
        lines += [f"    - id: ph{p}", f"      title: {'T' * 190}", "      criteria:"]
        for _ in range(criteria):
            lines += [f"        - id: c{n}", f"          name: {'N' * 190}",
                      f"          expr: tests.total >= {n} && tests.passed >= {n} && "
                      f"tests.failed == 0 && tests.errors <= {n} && tests.skipped >= 0"]
            n += 1
    return "\n".join(lines) + "\n"


def test_phase_body_stays_under_60000_characters() -> None:
    plan, _ = plan_from_text(huge_plan_text(1, 150))
    assert plan is not None
    ev = evaluate_plan(plan, BROKEN, evidence=Evidence("https://github.com/o/r/actions/runs/9",
                                                       "c" * 40, "2026-11-22T04:00:00Z"))
    body = phase_body(ev.phases[0], ev)
    assert len(body) < 60_000
    assert "more criteria not shown (body size limit)" in body
    assert marker_of(body) == "ph0"


def test_dashboard_stays_under_60000_characters() -> None:
    plan, _ = plan_from_text(huge_plan_text(100, 1))
    assert plan is not None
    body = dashboard(evaluate_plan(plan, BROKEN))
    assert len(body) <= 60_000 and body.startswith("<!-- ci-truth:dashboard -->")


def test_mermaid_labels_cannot_break_out() -> None:
    label = mermaid('x"] --> evil[("click") ; click a href "javascript:alert(1)"')
    assert '"' not in label and "[" not in label and ">" not in label
    assert "#34;" in label


def test_markdown_escaping() -> None:
    out = md("<b>@team</b> [x](http://e)")
    assert "<b>" not in out and "@team" not in out and "[x]" not in out
    assert out.startswith("&lt;b&gt;@\u200bteam") and "\\[x\\]" in out
    assert code("a ``b`` c") == "```a ``b`` c```"
    assert link("run", "javascript:alert(1)") == "run `javascript:alert(1)`"
    assert link("run", "https://github.com/o/r/actions/runs/1") == \
        "[run](https://github.com/o/r/actions/runs/1)"


def test_ticks_need_our_marker_and_a_box() -> None:
    body = ("- [x] `a` (claimed) <!-- ci-truth:fact id=a -->\n"
            "- [ ] `b` (claimed) <!-- ci-truth:fact id=b -->\n"
            "- [x] c without marker\n"
            "text <!-- ci-truth:fact id=d -->\n")
    assert read_ticks(body) == {"a": True, "b": False}


def test_json_shape_and_durations() -> None:
    plan, _ = plan_from_text((ROOT / "examples/plans/p0-blockers.yml").read_text())
    assert plan is not None
    doc = to_json(evaluate_plan(plan, BROKEN))
    assert doc["schema"] == "ci-truth/plan@1"
    assert [p["status"] for p in doc["phases"]] == ["ready", "blocked", "blocked"]
    assert doc["remaining_cost"] == 750 and doc["remaining_duration"] == 510
    assert doc["branches"][0] == ["fix_build"] and doc["optimal"] is True
    assert json.loads(json.dumps(doc)) == doc
    assert (duration(0), duration(45), duration(120), duration(510), duration(480)) == \
        ("0 min", "45 min", "2 h", "8 h 30 min", "8 h")
    assert (duration(18 * 480), duration(1500)) == ("18 d", "25 h")


def gfm(text: str) -> str:
    import cmarkgfm
    from cmarkgfm.cmark import Options

    # UNSAFE keeps raw HTML, so any HTML that survives our escaping would show here
    html: str = cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)
    return html


def test_rendered_by_githubs_cmark_gfm() -> None:
    from dataclasses import replace

    from bot.core.plan import Waiver

    plan, _ = plan_from_text((ROOT / "examples/plans/portfolio-goap.yml").read_text())
    assert plan is not None
    evil = replace(plan.phases[0], title='<img src=x onerror=alert(1)> | @org/team',
                   description="<script>alert(1)</script>\n- [x] fake\n[click](javascript:x)")
    plan = replace(plan, phases=(evil, *plan.phases[1:]))
    fixed = json.loads((ROOT / "tests/data/plan/fixed/state.json").read_text())
    ev = evaluate_plan(plan, fixed, waivers=[Waiver("tests_discovered", "<b>x</b>", "ok")],
                       evidence=Evidence("https://github.com/o/r/actions/runs/7", "d" * 40,
                                         "2026-11-22T04:00:00Z"))
    body = gfm(phase_body(ev.phases[0], ev))
    assert body.count('type="checkbox"') == 4                       # the criteria, nothing else
    assert body.count('checked=""') == 3                            # met on evidence only
    assert "<script" not in body and "<img" not in body and "<b>" not in body
    assert 'href="javascript' not in body
    assert body.count('href="https://github.com/o/r/actions/runs/7"') == 4   # 3 ticks + footer
    dash = gfm(dashboard(ev))
    assert "<img" not in dash and "<table>" in dash
    assert dash.count("<tr>") == 1 + len(ev.phases)                 # the title's | stays a cell
    assert dash.count('type="checkbox"') == len(plan.claimable)
    assert '<pre lang="mermaid"' in dash or 'class="language-mermaid"' in dash


def test_flowchart_colours_phases_and_actions_by_status() -> None:
    plan, _ = plan_from_text((ROOT / "examples/plans/portfolio-goap.yml").read_text())
    assert plan is not None
    fixed = json.loads((ROOT / "tests/data/plan/fixed/state.json").read_text())
    body = dashboard(evaluate_plan(plan, fixed, claimed=["conflict_mechanism_understood"]))
    flow = body[body.index("```mermaid"):]
    assert 'p0["Test infrastructure: no event-loop conflict, 95%+ passing (3/4)"]:::ready' \
        in flow
    assert "p1[" in flow and ":::blocked" in flow
    assert "a0([\"Action 1: analyze the pytest-asyncio conflict · 30 min\"]):::done" in flow
    assert ":::path" in flow                           # the remaining critical path
    assert "a5([\"Action 6: fix remaining critical issues (conditional) · 4 h\"]):::done" \
        in flow                                        # its effect holds on evidence
    assert "a0 --> a1" in flow and "a0 -.->" not in flow   # a1 needs a0; a0 makes no criterion


def escaped_plan(*, actions: int, name: str, description: str = "", chain: bool = False) -> str:
    """One phase whose actions (a chain when `chain`) have names that escape 4-5x (< &)."""
    lines = ["plan:", "  goal: big", "  phases:", "    - id: ph0", "      title: t",
             f"      description: {json.dumps(description or 'd')}", "      criteria:",
             "        - id: c0", "          name: n", "          expr: tests.failed == 0",
             "  actions:"]
    for i in range(actions):
        req = (f"[ask{i}]" if i == 0 else f"[step{i - 1}, ask{i}]") if chain else "[]"
        eff = f"[step{i}]" if chain and i < actions - 1 else "[c0]"
        lines += [f"    - id: a{i}", f"      name: {json.dumps(name)}", "      cost: 1h",
                  f"      requires: {req}", f"      effects: {eff}"]
    return "\n".join(lines) + "\n"


def closed_comments(body: str) -> bool:
    """Every HTML comment opened in `body` is closed (a cut never stops inside one)."""
    return body.count("<!--") == body.count("-->") and "<!--" not in body[body.rfind("-->"):]


def test_phase_body_fits_with_escaped_description_and_many_actions() -> None:
    # 200 actions named "<&" x 100 (1,800 characters each once escaped) and a 20,000-character
    # description of "&" (the schema's caps) made a 183,000-character body: GitHub answers 422
    plan, errors = plan_from_text(escaped_plan(actions=200, name="<&" * 100,
                                               description="&" * 20_000))
    assert plan is not None, errors
    ev = evaluate_plan(plan, BROKEN)
    body = phase_body(ev.phases[0], ev)
    assert len(body) <= 60_000 and marker_of(body) == "ph0" and closed_comments(body)
    assert "- [ ] **n** `tests.failed == 0`" in body               # the criterion is kept
    assert "more planned actions not shown (body size limit)" in body
    assert "_Evidence: local evaluation._" in body


def test_dashboard_cut_keeps_every_claim_and_closes_every_comment() -> None:
    # a long critical path of escaped names pushed the body past 60,000 characters: the old
    # cut (body[:59800]) dropped claim checkboxes (read back as unclaimed on the next sync)
    # and here stopped inside a fact marker, hiding its truncation note in an open comment
    for reps in (21, 100):
        plan, errors = plan_from_text(escaped_plan(actions=200, name="<&" * reps, chain=True))
        assert plan is not None, errors
        ev = evaluate_plan(plan, BROKEN, claimed=[f"ask{i}" for i in range(200)])
        assert len(ev.path.critical_path) == 200
        body = dashboard(ev)
        assert len(body) <= 60_000 and closed_comments(body)
        ticks = read_ticks(body)
        assert set(ticks) == set(plan.claimable)
        assert {f for f, on in ticks.items() if on} == {f"ask{i}" for i in range(200)}
        html = gfm(body)                          # the note is shown, every box is a box
        shown = re.sub(r"<!--.*?-->", "", html, flags=re.DOTALL)
        assert "lines of the critical path not shown" in shown and "<!--" not in shown
        assert html.count('type="checkbox"') == len(plan.claimable)
        assert "_Flowchart omitted" in body
