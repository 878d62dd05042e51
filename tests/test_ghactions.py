"""The runner protocol layer: inputs, heredoc outputs, workflow-command escaping, summary cut.

Outputs and commands are read back with parsers that follow the runner's own rules
(actions/runner: FileCommandManager's heredoc reader, ActionCommand.TryParseV2), so a
value that could forge an output or a command would show up as a parse difference.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.ghactions import (
    ActionEnv,
    UsageError,
    append_summary,
    command,
    cut_summary,
    format_output,
    input_key,
    log_line,
    split_patterns,
    write_outputs,
)


def parse_output_file(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT as the runner reads it (key=value or key<<DELIM ... DELIM)."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            body: list[str] = []
            while lines[i] != delim:
                body.append(lines[i])
                i += 1
            i += 1
            out[name] = "\n".join(body)
        else:
            name, value = line.split("=", 1)
            out[name] = value
    return out


def unescape(text: str, *, prop: bool) -> str:
    text = text.replace("%0D", "\r").replace("%0A", "\n")
    if prop:
        text = text.replace("%3A", ":").replace("%2C", ",")
    return text.replace("%25", "%")


def parse_command(line: str) -> tuple[str, dict[str, str], str]:
    """A `::name k=v,...::data` line as the runner parses it."""
    assert line.startswith("::")
    end = line.index("::", 2)
    head, data = line[2:end], line[end + 2:]
    name, _, rest = head.partition(" ")
    props: dict[str, str] = {}
    for pair in filter(None, rest.split(",")):
        key, _, value = pair.partition("=")
        props[key] = unescape(value, prop=True)
    return name, props, unescape(data, prop=False)


REGISTERED = {"set-env", "set-output", "save-state", "add-mask", "add-path", "add-matcher",
              "remove-matcher", "debug", "warning", "error", "notice", "group", "endgroup",
              "echo", "stop-commands"}


def runner_commands(log: str) -> list[str]:
    """Names of the commands the runner would act on in `log` (stdout or stderr of a step).

    ActionCommand.TryParseV2 wants `::name` at the start of a line (after leading blanks);
    the legacy ActionCommand.TryParse finds `##[name` anywhere in a line.
    """
    found = []
    for line in log.splitlines():
        text = line.lstrip()
        if text.startswith("::") and "::" in text[2:]:
            found.append(text[2:text.index("::", 2)].partition(" ")[0])
        elif "##[" in line and "]" in line[line.index("##[") + 3:]:
            head = line[line.index("##[") + 3:]
            name = head[:head.index("]")].partition(" ")[0]
            if name in REGISTERED:
                found.append(name)
    return found


# --- inputs ------------------------------------------------------------------------------------

def test_input_key_follows_the_runner_convention() -> None:
    assert input_key("reports") == "INPUT_REPORTS"
    assert input_key("my input-name") == "INPUT_MY_INPUT-NAME"


def test_patterns_split_on_newlines_and_commas() -> None:
    assert split_patterns(" a/*.xml, b.xml\r\n\n  c/**/TEST-*.xml ,") == \
        ["a/*.xml", "b.xml", "c/**/TEST-*.xml"]
    assert split_patterns("") == []


def test_env_reads_inputs_and_runner_variables(tmp_path: Path) -> None:
    env = ActionEnv.from_env({
        "INPUT_REPORTS": "r/*.xml\nother.xml", "INPUT_CONFIG": "cfg.yml",
        "INPUT_BASELINE": "base.json", "INPUT_TOKEN": "ghs_secret", "INPUT_SUMMARY": "false",
        "INPUT_ANNOTATIONS": "FALSE", "INPUT_FAIL": "True", "GITHUB_WORKSPACE": str(tmp_path),
        "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "42", "GITHUB_API_URL": "http://x/api/",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "s.md"), "GITHUB_OUTPUT": str(tmp_path / "o"),
    })
    assert env.reports == ("r/*.xml", "other.xml")
    assert (env.config, env.baseline, env.token) == ("cfg.yml", "base.json", "ghs_secret")
    assert (env.summary, env.annotations, env.fail) == (False, False, True)
    assert env.api_url == "http://x/api"
    assert env.run_url == "https://github.com/o/r/actions/runs/42"
    assert env.resolve("a.xml") == tmp_path / "a.xml"
    assert "ghs_secret" not in repr(env)


def test_env_defaults_and_bad_booleans() -> None:
    env = ActionEnv.from_env({})
    assert (env.summary, env.annotations, env.fail) == (True, True, True)
    assert env.reports == () and env.config is None and env.token == ""
    with pytest.raises(UsageError, match="input 'fail'"):
        ActionEnv.from_env({"INPUT_FAIL": "yes"})


# --- outputs -----------------------------------------------------------------------------------

def test_outputs_survive_multiline_values_and_cannot_forge_others(tmp_path: Path) -> None:
    out = tmp_path / "output"
    hostile = "a\nconclusion=success\nstate<<EOF\n/etc/passwd\nEOF\nghadelimiter_x\n"
    write_outputs(out, {"reasons": hostile, "conclusion": "failure"})
    parsed = parse_output_file(out.read_text(encoding="utf-8"))
    assert parsed == {"reasons": hostile, "conclusion": "failure"}


def test_output_delimiter_is_random_and_never_in_the_value() -> None:
    a, b = format_output("x", "1"), format_output("x", "1")
    assert a != b
    with pytest.raises(ValueError):
        format_output("x", "has DELIM inside", delimiter="DELIM")
    with pytest.raises(ValueError):
        format_output("bad\nname", "v")


@given(st.text())
def test_any_value_round_trips_through_the_output_file(value: str) -> None:
    text = format_output("v", value)
    # The runner splits on \n; a value with \r\n keeps its \r, which is what it wrote.
    assert parse_output_file(text) == {"v": value}


# --- workflow commands -------------------------------------------------------------------------

@given(st.text(), st.text(), st.integers(min_value=1))
def test_commands_round_trip_through_the_runner_parser(msg: str, path: str, line: int) -> None:
    rendered = command("error", msg, file=path or None, line=line, title="t: a,b")
    assert "\n" not in rendered and "\r" not in rendered
    name, props, data = parse_command(rendered)
    assert name == "error"
    assert data == msg
    assert props.get("file") == (path or None) if path else "file" not in props
    assert props["line"] == str(line) and props["title"] == "t: a,b"


@given(st.text())
def test_a_log_line_is_never_a_workflow_command(text: str) -> None:
    line = log_line(f"ci-truth: error: {text}")
    assert "\n" not in line and "\r" not in line and runner_commands(line) == []


def test_a_log_line_breaks_both_command_forms() -> None:
    line = log_line("ci-truth: x\n::add-mask::a ##[error]b\r##[stop-commands]c")
    assert line == "ci-truth: x\\n::add-mask::a ##[\\error]b\\r##[\\stop-commands]c"
    assert runner_commands("x ##[error]b\n  ::add-mask::a") == ["error", "add-mask"]


def test_command_escapes_like_actions_core() -> None:
    assert command("warning", "50% done\r\nnext", file="a:b,c.py", line=None) == \
        "::warning file=a%3Ab%2Cc.py::50%25 done%0D%0Anext"
    assert command("notice", "plain") == "::notice::plain"


# --- step summary ------------------------------------------------------------------------------

def test_summary_under_the_limit_is_untouched() -> None:
    assert cut_summary("# ok\n", limit=100) == "# ok\n"


def test_summary_cut_counts_utf8_bytes_and_says_so() -> None:
    md = "# head\n" + "".join(f"| é😀 row {i} |\n" for i in range(5000))
    cut = cut_summary(md, limit=10_000)
    assert len(cut.encode("utf-8")) <= 10_000
    assert len(cut) < 10_000 and cut.startswith("# head\n")
    assert "cut to fit GitHub's 1 MiB step-summary limit" in cut
    body = cut.split("\n\n> **Note:**")[0]
    assert md.startswith(body) and body.endswith("|")   # cut at a line end


def test_summary_cut_closes_an_open_code_fence_and_details() -> None:
    md = "<details><summary>x</summary>\n\n```\n" + "line\n" * 10_000 + "```\n</details>\n"
    cut = cut_summary(md, limit=2_000)
    assert cut.count("```") == 2 and cut.count("</details>") == 1
    assert len(cut.encode("utf-8")) <= 2_000


def test_summary_cut_closes_the_fence_that_is_actually_open() -> None:
    md = "````\n" + "```\nnot a close\n" * 2_000 + "````\n"
    cut = cut_summary(md, limit=3_000)
    body = cut.split("\n\n> **Note:**")[0]
    assert body.endswith("\n````") and len(cut.encode()) <= 3_000
    assert cut_summary("~~~\n" + "x\n" * 5_000, limit=1_000).count("~~~") == 2


def test_append_summary_respects_what_the_file_already_holds(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_text("x" * 900, encoding="utf-8")
    append_summary(path, "y\n" * 1_000, limit=1_500)
    data = path.read_bytes()
    assert len(data) <= 1_500 and data.startswith(b"x" * 900) and b"Note:" in data


# --- annotation planning -----------------------------------------------------------------------

def test_report_file_paths_become_repository_paths() -> None:
    from bot.core import annotate

    def repo_path(path: str | None, workspace: str) -> str | None:
        return annotate.repo_path(path, workspace=workspace)

    assert repo_path("/home/runner/work/r/r/tests/a.py", "/home/runner/work/r/r") == "tests/a.py"
    assert repo_path("tests\\win.py", "") == "tests/win.py"
    assert repo_path("./src/x.py", "/w") == "src/x.py"
    assert repo_path("file:///home/runner/work/r/r/test/a%20b.dart",
                     "/home/runner/work/r/r") == "test/a b.dart"          # Dart's junitreport
    assert repo_path("d:\\a\\r\\r\\src\\X.cs", "D:\\a\\r\\r") == "src/X.cs"
    for outside in ["/usr/lib/python3/x.py", "../x.py", "a/../../x.py", "C:/x.py", "", None]:
        assert repo_path(outside, "/home/runner/work/r/r") is None, outside


def test_annotations_keep_reasons_first_and_count_what_github_would_hide() -> None:
    from bot.action_annotations import plan_annotations
    from bot.core.model import (
        Conclusion,
        Counts,
        FailedTest,
        MeasuredState,
        Reason,
        Verdict,
    )
    failures = [FailedTest(id=f"t::{i}", kind="failure", message=f"m{i}", report="r.xml",
                           file="t.py", line=i + 1) for i in range(30)]
    state = MeasuredState(totals=Counts(tests=40, failed=40), failures=failures,
                          failures_omitted=10)
    verdict = Verdict(Conclusion.FAILURE, [
        Reason("failures", "40 tests failed"),
        Reason("totals-mismatch", "declared 3", conclusion=Conclusion.NEUTRAL)])
    anns = plan_annotations(verdict, state, per_level=10)
    levels = [a.level for a in anns]
    assert levels.count("error") == 10 and levels.count("warning") == 1
    assert anns[0].title == "CI Truth: failures" and anns[0].level == "error"
    assert anns[-1].level == "notice" and anns[-1].message.startswith("31 more")
    shown = [a for a in anns if a.title.startswith("failure: ")]
    assert [a.line for a in shown] == list(range(1, 10)) and shown[0].file == "t.py"
    assert anns[1].title == "CI Truth: totals-mismatch" and anns[1].level == "warning"
    rendered = anns[2].render()
    assert rendered.startswith("::error file=t.py,line=1,title=failure%3A t%3A%3A0::m0")


def test_allowed_failures_are_warnings_not_errors() -> None:
    from bot.action_annotations import plan_annotations
    from bot.core.model import Conclusion, FailedTest, MeasuredState, Verdict
    state = MeasuredState(failures=[FailedTest(id="a", kind="error", message="", report="r")])
    anns = plan_annotations(Verdict(Conclusion.SUCCESS, []), state)
    assert [(a.level, a.message, a.file) for a in anns] == [("warning", "error", None)]


def test_a_line_below_1_is_left_out_of_the_annotation() -> None:
    from bot.action_annotations import plan_annotations
    from bot.core.model import Conclusion, FailedTest, MeasuredState, Reason, Verdict
    state = MeasuredState(failures=[FailedTest(id="t::a", kind="failure", message="m",
                                               report="r.xml", file="t.py", line=0)])
    verdict = Verdict(Conclusion.FAILURE, [Reason("failures", "1 test failed")])
    rendered = plan_annotations(verdict, state)[1].render()
    assert rendered == "::error file=t.py,title=failure%3A t%3A%3Aa::m"


def test_an_absurd_line_is_left_out_of_the_annotation() -> None:
    from bot.action_annotations import plan_annotations
    from bot.core.model import Conclusion, FailedTest, MeasuredState, Reason, Verdict
    state = MeasuredState(failures=[FailedTest(id="t::a", kind="failure", message="m",
                                               report="r.xml", file="t.py", line=99999999999)])
    verdict = Verdict(Conclusion.FAILURE, [Reason("failures", "1 test failed")])
    rendered = plan_annotations(verdict, state)[1].render()
    assert rendered == "::error file=t.py,title=failure%3A t%3A%3Aa::m"
