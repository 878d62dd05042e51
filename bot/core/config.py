"""`.github/ci-truth.yml` → a frozen, validated Config (signatures, gate, evidence, plan)."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from bot.core.errors import ConfigError
from bot.core.userregex import UserRegex, UserRegexError, compile_user
from bot.core.yamlread import Path, Reader, load

DEFAULT_SOURCE = ".github/ci-truth.yml"
MAX_SIGNATURES = 100
MAX_REGEX = 1000                   # characters per signature regex
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
NAME_WHAT = "a name of letters, digits, '_', '.', '-' (starting with a letter, up to 64)"
FORKS = ("advisory", "trusted", "ignore")


class ConfigErrors(ConfigError):
    """Every problem found in one configuration file; the first is the headline."""

    def __init__(self, errors: list[ConfigError]) -> None:
        first = errors[0]
        super().__init__(first.bare, key=first.key, line=first.line, source=first.source)
        self.errors = list(errors)

    def __str__(self) -> str:
        return "\n".join(ValueError.__str__(e) for e in self.errors)


@dataclass(frozen=True)
class Gate:
    """Thresholds of the verdict rules (docs/verdict-rules.md)."""

    min_tests: int = 1
    max_skipped_ratio: float = 1.0
    max_test_drop: float = 0.0
    forbid: tuple[str, ...] = ()
    allow_failures: bool = False


@dataclass(frozen=True)
class WorkflowEvidence:
    """One workflow whose artifacts carry test reports (used by the App)."""

    name: str
    artifacts: tuple[str, ...] = ("*",)
    shards: int | None = None
    required: bool = True


@dataclass(frozen=True)
class Evidence:
    """Where the App looks for reports and how far it trusts them."""

    workflows: tuple[WorkflowEvidence, ...] = ()
    forks: str = "advisory"


@dataclass(frozen=True)
class Config:
    """The whole validated configuration; `plan` is None when there is no plan section."""

    signatures: Mapping[str, UserRegex] = field(
        default_factory=lambda: MappingProxyType({}))
    gate: Gate = field(default_factory=Gate)
    evidence: Evidence = field(default_factory=Evidence)
    plan: Any = None
    plan_raw: Any = None
    source: str = DEFAULT_SOURCE


def _signatures(value: Any, r: Reader) -> Mapping[str, UserRegex]:
    path: Path = ("signatures",)
    data = r.mapping(value, path)
    if len(data) > MAX_SIGNATURES:
        r.error(path, f"expected at most {MAX_SIGNATURES} signatures, got {len(data)}")
        return MappingProxyType({})
    out: dict[str, UserRegex] = {}
    for name, regex in data.items():
        key = (*path, name)
        if not NAME.fullmatch(name):
            r.error(key, f"expected {NAME_WHAT} as the signature name")
            continue
        text = r.string(regex, key, max_len=MAX_REGEX)
        if text is None:
            continue
        try:
            out[name] = compile_user(text)
        except re.error as exc:
            r.error(key, f"invalid regular expression: {exc}")
        except UserRegexError as exc:
            r.error(key, f"unsupported regular expression: {exc}")
    return MappingProxyType(out)


def _gate(value: Any, r: Reader) -> Gate:
    path: Path = ("gate",)
    data = r.mapping(value, path, [f.name for f in Gate.__dataclass_fields__.values()])
    d = Gate()
    forbid = r.string_list(data.get("forbid"), (*path, "forbid"), pattern=NAME,
                           what=NAME_WHAT)
    return Gate(
        min_tests=r.integer(data.get("min_tests"), (*path, "min_tests"), d.min_tests),
        max_skipped_ratio=r.fraction(data.get("max_skipped_ratio"),
                                     (*path, "max_skipped_ratio"), d.max_skipped_ratio),
        max_test_drop=r.fraction(data.get("max_test_drop"), (*path, "max_test_drop"),
                                 d.max_test_drop),
        forbid=tuple(dict.fromkeys(item for _, item in forbid or ())),
        allow_failures=r.boolean(data.get("allow_failures"), (*path, "allow_failures"),
                                 d.allow_failures),
    )


def _workflow(value: Any, path: Path, r: Reader) -> WorkflowEvidence | None:
    if not isinstance(value, dict):
        r.error(path, "expected a mapping such as {name: CI, artifacts: [test-results-*]}")
        return None
    data = r.mapping(value, path, ["name", "artifacts", "shards", "required"])
    if "name" not in data:
        r.error(path, "missing key `name` (the workflow's name as GitHub shows it)")
        return None
    name = r.string(data["name"], (*path, "name"))
    globs = r.string_list(data.get("artifacts"), (*path, "artifacts"))
    if globs is not None and not globs and "artifacts" in data:
        r.error((*path, "artifacts"), "expected at least one artifact name pattern")
    shards = r.integer(data.get("shards"), (*path, "shards"), None, low=1, high=1000)
    required = r.boolean(data.get("required"), (*path, "required"), True)
    if name is None:
        return None
    return WorkflowEvidence(name=name, artifacts=tuple(g for _, g in globs or ()) or ("*",),
                            shards=shards, required=required)


def _evidence(value: Any, r: Reader) -> Evidence:
    path: Path = ("evidence",)
    data = r.mapping(value, path, ["workflows", "forks"])
    workflows: list[WorkflowEvidence] = []
    raw = data.get("workflows")
    if raw is not None and not isinstance(raw, list):
        r.error((*path, "workflows"), "expected a list of workflows ({name, artifacts, "
                "shards, required})")
    elif raw:
        names: set[str] = set()
        for index, item in enumerate(raw[:100]):
            wf = _workflow(item, (*path, "workflows", index), r)
            if wf is not None:
                if wf.name in names:
                    r.error((*path, "workflows", index, "name"),
                            f"workflow {wf.name!r} is listed twice")
                names.add(wf.name)
                workflows.append(wf)
        if len(raw) > 100:
            r.error((*path, "workflows"), f"expected at most 100 workflows, got {len(raw)}")
    forks = r.choice(data.get("forks"), (*path, "forks"), FORKS, "advisory")
    return Evidence(workflows=tuple(workflows), forks=forks)


def _version(value: Any, r: Reader) -> int:
    if value != 1 or isinstance(value, bool):
        r.error(("version",), f"expected 1 (the only schema version), got {value!r}")
    return 1


# The section table: add a section by adding a parser here and a field on Config.
SECTIONS: dict[str, Callable[[Any, Reader], Any]] = {
    "version": _version,
    "signatures": _signatures,
    "gate": _gate,
    "evidence": _evidence,
}
LATER_SECTIONS = ("plan",)


def _plan(value: Any, r: Reader, signatures: Mapping[str, UserRegex]) -> Any:
    """Hand `plan:` to bot.core.plan.parse_plan when that module exists."""
    try:
        module = importlib.import_module("bot.core.plan")
    except ModuleNotFoundError as exc:
        if exc.name not in ("bot.core.plan", "bot.core"):
            raise
        return None
    parse_plan = getattr(module, "parse_plan", None)
    if parse_plan is None:
        return None
    try:
        return parse_plan(value, r.where, r.source, signatures=list(signatures))
    except ConfigError as exc:
        r.errors.extend(exc.errors if isinstance(exc, ConfigErrors) else [exc])
        return None


def parse_config(text: str, *, source: str = DEFAULT_SOURCE) -> Config:
    """Validate configuration text; raise ConfigErrors listing every problem found."""
    try:
        data, lines = load(text, source)
    except ConfigError as exc:
        raise ConfigErrors([exc]) from None
    r = Reader(lines, source)
    top = r.mapping(data, (), [*SECTIONS, *LATER_SECTIONS])
    if data is not None and not isinstance(data, dict):
        raise ConfigErrors(r.errors)
    parsed = {name: parse(top.get(name), r) for name, parse in SECTIONS.items()
              if name in top or name != "version"}
    gate: Gate = parsed["gate"]
    signatures: Mapping[str, UserRegex] = parsed["signatures"]
    raw_gate = top.get("gate")
    raw_forbid = raw_gate.get("forbid") if isinstance(raw_gate, dict) else None
    for index, name in enumerate(raw_forbid if isinstance(raw_forbid, list) else ()):
        if name in gate.forbid and name not in signatures and not any(
                e.key == f"signatures.{name}" for e in r.errors):
            known = ", ".join(sorted(signatures)) or "none are defined"
            r.error(("gate", "forbid", index),
                    f"{name!r} is not a signature defined under `signatures:` ({known})")
    plan = _plan(top["plan"], r, signatures) if "plan" in top else None
    if r.errors:
        raise ConfigErrors(sorted(r.errors, key=lambda e: e.line or 0))
    return Config(signatures=signatures, gate=gate, evidence=parsed["evidence"],
                  plan=plan, plan_raw=top.get("plan"), source=source)


DEFAULT_CONFIG = parse_config("")
