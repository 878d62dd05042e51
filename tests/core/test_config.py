"""Configuration parsing: defaults, every key, and errors that name the key and line."""

from __future__ import annotations

import sys
import time
import types

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import config as config_mod
from bot.core.config import DEFAULT_CONFIG, ConfigErrors, Gate, parse_config
from bot.core.errors import ConfigError

FULL = """\
version: 1
signatures:
  event_loop: "This event loop is already running"
  oom: "(?i)out of memory"
gate:
  min_tests: 50
  max_skipped_ratio: 0.25
  max_test_drop: 0.1
  forbid: [event_loop]
  allow_failures: true
evidence:
  forks: ignore
  workflows:
    - name: CI
      artifacts: ["test-results-*", "junit"]
      shards: 4
    - name: Nightly
      required: false
"""


def _error(text: str) -> ConfigErrors:
    with pytest.raises(ConfigErrors) as info:
        parse_config(text)
    return info.value


def test_defaults_are_strict_and_documented_values() -> None:
    assert DEFAULT_CONFIG.gate == Gate(min_tests=1, max_skipped_ratio=1.0, max_test_drop=0.0,
                                       forbid=(), allow_failures=False)
    assert dict(DEFAULT_CONFIG.signatures) == {}
    assert DEFAULT_CONFIG.evidence.workflows == ()
    assert DEFAULT_CONFIG.evidence.forks == "advisory"
    assert DEFAULT_CONFIG.plan is None and DEFAULT_CONFIG.plan_raw is None
    # empty sections and comments only are the defaults too
    assert parse_config("# nothing\n").gate == DEFAULT_CONFIG.gate
    assert parse_config("gate:\nsignatures:\n").gate == DEFAULT_CONFIG.gate


def test_full_config() -> None:
    cfg = parse_config(FULL)
    assert cfg.gate == Gate(min_tests=50, max_skipped_ratio=0.25, max_test_drop=0.1,
                            forbid=("event_loop",), allow_failures=True)
    assert cfg.signatures["oom"].search("Killed: OUT OF MEMORY")
    assert cfg.signatures["event_loop"].search("RuntimeError: This event loop is already "
                                                "running")
    ci, nightly = cfg.evidence.workflows
    assert (ci.name, ci.artifacts, ci.shards, ci.required) == \
        ("CI", ("test-results-*", "junit"), 4, True)
    assert (nightly.artifacts, nightly.shards, nightly.required) == (("*",), None, False)
    assert cfg.evidence.forks == "ignore"


def test_config_is_frozen() -> None:
    cfg = parse_config(FULL)
    with pytest.raises(AttributeError):
        cfg.gate.min_tests = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.signatures["x"] = None  # type: ignore[index]


@pytest.mark.parametrize(("text", "key", "line", "fragment"), [
    ("gate:\n  min_test: 3\n", "gate.min_test", 2, "did you mean 'min_tests'"),
    ("gates: {}\n", "gates", 1, "did you mean 'gate'"),
    ("gate:\n  max_skipped_ratio: abc\n", "gate.max_skipped_ratio", 2,
     "expected a number from 0 to 1, got a string ('abc')"),
    ("gate:\n  max_test_drop: 1.5\n", "gate.max_test_drop", 2, "got 1.5"),
    ("gate:\n  min_tests: -1\n", "gate.min_tests", 2, "at least 0"),
    ("gate:\n  min_tests: true\n", "gate.min_tests", 2, "got a boolean (true)"),
    ("gate:\n  min_tests: 2.5\n", "gate.min_tests", 2, "whole number"),
    ("gate:\n  allow_failures: 'no'\n", "gate.allow_failures", 2, "true or false"),
    ("gate:\n  forbid: event_loop\n", "gate.forbid", 2, "list of strings"),
    ("gate:\n\n  forbid: [nope]\n", "gate.forbid[0]", 3, "'nope' is not a signature"),
    ("signatures:\n  x: '(unclosed'\n", "signatures.x", 2, "invalid regular expression"),
    ("signatures:\n  ok: a\n  x: '(a)\\1'\n", "signatures.x", 3,
     "unsupported regular expression: a backreference (\\1) is not supported (signatures run "
     "on RE2"),
    ("signatures:\n  x: 'Error(?!: expected)'\n", "signatures.x", 2,
     "a negative lookahead (?!...) is not supported"),
    ("signatures:\n  x: '(?<=at )line'\n", "signatures.x", 2, "a lookbehind (?<=...)"),
    ("signatures:\n  x: '(?P<q>[\"'']).*(?P=q)'\n", "signatures.x", 2,
     "a named backreference (?P=name)"),
    ("signatures:\n  x: 'a++'\n", "signatures.x", 2, "a possessive quantifier"),
    ("signatures:\n  x: '(?x) a b'\n", "signatures.x", 2, "an inline flag other than i, m, s"),
    ("signatures:\n  x: 42\n", "signatures.x", 2, "expected a string"),
    ("signatures:\n  '9bad': a\n", "signatures.9bad", 2, "signature name"),
    ("signatures:\n  x: '" + "a" * 1001 + "'\n", "signatures.x", 2, "1 to 1000 characters"),
    ("signatures: [a, b]\n", "signatures", 1, "expected a mapping, got a list"),
    ("evidence:\n  forks: maybe\n", "evidence.forks", 2, "advisory, trusted, ignore"),
    ("evidence:\n  workflows:\n    - artifacts: [x]\n", "evidence.workflows[0]", 3,
     "missing key `name`"),
    ("evidence:\n  workflows:\n    - name: CI\n      shards: 0\n",
     "evidence.workflows[0].shards", 4, "from 1 to 1000"),
    ("evidence:\n  workflows:\n    - name: CI\n      artifact: [x]\n",
     "evidence.workflows[0].artifact", 4, "did you mean 'artifacts'"),
    ("evidence:\n  workflows:\n    - name: CI\n    - name: CI\n",
     "evidence.workflows[1].name", 4, "listed twice"),
    ("evidence:\n  workflows: CI\n", "evidence.workflows", 2, "list of workflows"),
    ("version: 2\n", "version", 1, "expected 1"),
    ("gate: {}\ngate: {}\n", "gate", 2, "duplicate key"),
    ("1: x\n", "(top)", 1, "plain strings"),
    ("- gate\n", "(top)", 1, "expected a mapping, got a list"),
])
def test_errors_name_key_and_line(text: str, key: str, line: int, fragment: str) -> None:
    err = _error(text)
    assert (err.key, err.line) == (key, line)
    assert fragment in str(err)
    assert str(err).startswith(f".github/ci-truth.yml:{line}: {key}: ")


def test_yaml_syntax_error_has_line() -> None:
    err = _error("gate:\n  min_tests: [1\n")
    assert err.line == 3 and "invalid YAML" in str(err)


def test_all_errors_are_reported_in_line_order() -> None:
    err = _error("gate:\n  min_tests: x\n  bogus: 1\nevidence:\n  forks: 3\n")
    assert [(e.key, e.line) for e in err.errors] == [
        ("gate.min_tests", 2), ("gate.bogus", 3), ("evidence.forks", 5)]
    assert len(str(err).splitlines()) == 3
    assert isinstance(err, ConfigError)


def test_source_name_is_used() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("gate: 3\n", source="ci/truth.yml")
    assert str(info.value).startswith("ci/truth.yml:1: gate: expected a mapping")


def test_alias_bomb_is_refused() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    err = _error("\n".join(lines) + "\n")
    assert "aliases" in str(err)


@pytest.mark.parametrize("text", [
    "signatures: &a [*a]\n",                                  # a recursive alias
    "gate:\n  forbid: " + "[" * 100 + "]" * 100 + "\n",         # deeper than MAX_DEPTH
    "gate: " + "[" * 5000 + "]" * 5000 + "\n",                  # deeper than PyYAML recurses
    "plan: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
])
def test_deep_or_recursive_nesting_is_a_config_error(text: str) -> None:
    err = _error(text)
    assert "nested more than" in str(err) and err.line is not None


@pytest.mark.parametrize(("text", "key"), [
    ("gate:\n  min_tests: 1" + "0" * 5000 + "\n", "gate.min_tests"),  # int() refuses it
    ("gate:\n  max_skipped_ratio: 1" + "0" * 400 + "\n", "gate.max_skipped_ratio"),  # float()
    ("gate:\n  min_tests: 1" + ":0" * 500_000 + "\n", "gate.min_tests"),  # base 60: slow
])
def test_huge_numbers_are_a_config_error_at_once(text: str, key: str) -> None:
    started = time.monotonic()
    err = _error(text)
    assert err.key == key and err.line == 2 and "number longer than" in str(err)
    assert time.monotonic() - started < 2.0


def test_oversized_text_is_refused() -> None:
    with pytest.raises(ConfigError, match="larger than"):
        parse_config("#" * (2 * 1024 * 1024))


def test_merge_keys_and_tags_are_refused() -> None:
    assert "merge keys" in str(_error("base: &b {min_tests: 1}\ngate:\n  <<: *b\n"))
    assert "could not determine a constructor" in str(
        _error("gate: !!python/object:os.system {}\n"))


def test_forbid_duplicates_collapse() -> None:
    cfg = parse_config("signatures: {a: x}\ngate: {forbid: [a, a]}\n")
    assert cfg.gate.forbid == ("a",)


def test_plan_section_without_plan_module_is_kept_raw(monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
    monkeypatch.setitem(sys.modules, "bot.core.plan", None)  # import → ModuleNotFoundError
    cfg = parse_config("plan:\n  phases: [a]\n")
    assert cfg.plan is None
    assert cfg.plan_raw == {"phases": ["a"]}


def test_plan_section_is_handed_to_parse_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}
    fake = types.ModuleType("bot.core.plan")

    def parse_plan(data, where, source, *, signatures=None):  # type: ignore[no-untyped-def]
        seen["args"] = (data, where(("plan", "phases", 1)), where(("plan", "nope")), source)
        seen["signatures"] = signatures
        if data.get("bad"):
            raise ConfigError("no good", key="plan.bad", line=where(("plan", "bad")),
                              source=source)
        return ("PLAN", data)

    fake.parse_plan = parse_plan  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bot.core.plan", fake)
    cfg = parse_config("gate: {}\nplan:\n  phases:\n    - a\n    - b\n", source="x.yml")
    assert cfg.plan == ("PLAN", {"phases": ["a", "b"]})
    # where() gives the exact line of a known path and the nearest ancestor's otherwise
    assert seen["args"] == ({"phases": ["a", "b"]}, 5, 2, "x.yml")
    assert seen["signatures"] == []          # the config's signature names (none here)
    err = _error("plan:\n  bad: 1\ngate: {min_tests: x}\n")
    assert [(e.key, e.line) for e in err.errors] == [("plan.bad", 2), ("gate.min_tests", 3)]


def test_section_table_is_the_growth_point() -> None:
    assert set(config_mod.SECTIONS) >= {"signatures", "gate", "evidence"}
    assert "plan" in config_mod.LATER_SECTIONS


YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["gate", "min_tests", "forbid", "signatures", "evidence", "workflows",
                         "name", "shards", "forks", "x", "max_skipped_ratio", "artifacts"]),
        inner, max_size=4),
    max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["gate", "signatures", "evidence", "version", "other"]),
                       YAML_VALUES, max_size=4))
def test_random_structures_give_config_or_config_error(data: dict) -> None:
    try:
        cfg = parse_config(yaml.safe_dump(data))
    except ConfigErrors as err:
        assert err.errors and all(e.line is not None or e.key for e in err.errors)
    else:
        assert 0.0 <= cfg.gate.max_skipped_ratio <= 1.0 and cfg.gate.min_tests >= 0


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_random_text_never_raises_anything_else(text: str) -> None:
    try:
        cfg = parse_config(text)
    except ConfigErrors as err:
        assert str(err).startswith(".github/ci-truth.yml") and err.errors
    else:
        assert cfg.gate.min_tests >= 0


def test_control_character_is_a_config_error_with_line() -> None:
    err = _error("gate:\n  min_tests: 1\x1f\n")
    assert err.line == 2 and "#x001f" in str(err)


@pytest.mark.parametrize(("text", "key", "fragment"), [
    ("gate:\n  min_tests: 010\n", "gate.min_tests", "YAML 1.1 reads it as 8, YAML 1.2 "
     "(GitHub Actions) as 10; write the number you mean in plain decimal"),
    ("gate:\n  min_tests: 1:30\n", "gate.min_tests", "reads it as 90, YAML 1.2 (GitHub "
     "Actions) as the text '1:30'"),
    ("gate:\n  min_tests: 1_000\n", "gate.min_tests", "as the text '1_000'"),
    ("gate:\n  min_tests: 0b11\n", "gate.min_tests", "reads it as 3"),
    ("gate:\n  max_test_drop: 0:0.5\n", "gate.max_test_drop", "a number in base 60"),
    ("gate:\n  allow_failures: yes\n", "gate.allow_failures",
     "'yes' is ambiguous: YAML 1.1 reads it as true, YAML 1.2 (GitHub Actions) as the text "
     "'yes'; write true or false, or quote it if it is text"),
    ("evidence:\n  workflows:\n    - name: CI\n      required: off\n",
     "evidence.workflows[0].required", "reads it as false"),
    ("signatures:\n  on: 'x'\n", "signatures.on", "quote the key ('on')"),
    ("evidence:\n  workflows:\n    - name: 2024-01-31\n", "evidence.workflows[0].name",
     "reads it as a date, YAML 1.2 (GitHub Actions) as the text '2024-01-31'; "
     "quote it ('2024-01-31')"),
])
def test_yaml_1_1_forms_that_yaml_1_2_reads_differently_are_refused(text: str, key: str,
                                                                   fragment: str) -> None:
    err = _error(text)
    assert err.key == key and err.line == text.count("\n")
    assert fragment in str(err)


def test_forms_yaml_1_1_and_1_2_agree_on_are_read() -> None:
    cfg = parse_config("gate:\n  min_tests: 0x10\n  max_test_drop: .5\n"
                       "  max_skipped_ratio: ~\n  allow_failures: True\n"
                       "evidence:\n  workflows:\n    - {name: '2024-01-31', shards: 07}\n")
    assert (cfg.gate.min_tests, cfg.gate.max_test_drop, cfg.gate.max_skipped_ratio,
            cfg.gate.allow_failures) == (16, 0.5, 1.0, True)
    assert (cfg.evidence.workflows[0].name, cfg.evidence.workflows[0].shards) == \
        ("2024-01-31", 7)
    assert "got a string ('010')" in str(_error("gate:\n  min_tests: '010'\n"))


@pytest.mark.parametrize(("text", "key"), [
    ("evidence:\n  workflows:\n    - name: 2024-02-30\n",          # not a day: ValueError
     "evidence.workflows[0].name"),
    ("gate:\n\n  max_test_drop: 1" + ":0" * 200 + ".5\n",          # 60 ** 200: OverflowError
     "gate.max_test_drop"),
    ("gate:\n\n  min_tests: !!int abc\n", "gate.min_tests"),       # ValueError
    ("gate:\n\n  allow_failures: !!bool maybe\n", "gate.allow_failures"),   # KeyError
    ("gate:\n\n  min_tests: !!int\n", "gate.min_tests"),           # IndexError
])
def test_unreadable_scalars_are_config_errors_not_crashes(text: str, key: str) -> None:
    err = _error(text)
    assert (err.key, err.line) == (key, 3)
