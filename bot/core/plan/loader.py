"""YAML text → plan, with key-path line numbers (used until config.py parses the whole file)."""

from __future__ import annotations

from typing import Any

import yaml

from bot.core.errors import ConfigError
from bot.core.plan.model import Plan
from bot.core.plan.schema import Path, parse_plan

MAX_CONFIG = 1_000_000


def _lines(node: yaml.Node, path: Path, out: dict[Path, int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else str(k)
            out[(*path, key)] = k.start_mark.line + 1
            _lines(v, (*path, key), out)
            out[(*path, key)] = k.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*path, i), out)


def load_config_text(text: str, source: str = ".github/ci-truth.yml",
                     ) -> tuple[Any, dict[Path, int]]:
    """Safe-load YAML and index the line of every key path; ConfigError on bad YAML."""
    if len(text) > MAX_CONFIG:
        raise ConfigError(f"larger than {MAX_CONFIG} bytes", source=source)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise ConfigError(f"not valid YAML: {getattr(err, 'problem', err)}",
                          line=mark.line + 1 if mark else None, source=source) from None
    lines: dict[Path, int] = {}
    if node is not None:
        _lines(node, (), lines)
    return data, lines


def plan_from_text(text: str, source: str = ".github/ci-truth.yml",
                   ) -> tuple[Plan | None, list[str]]:
    """(plan or None when there is no `plan:` section, configured signature names)."""
    data, lines = load_config_text(text, source)
    if data is None:
        return None, []
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping at the top level", line=1, source=source)
    sigs = data.get("signatures") or {}
    names = [str(k) for k in sigs] if isinstance(sigs, dict) else []
    if "plan" not in data or data["plan"] is None:
        return None, names
    return parse_plan(data["plan"], lines.get, source, signatures=names), names
