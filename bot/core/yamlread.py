"""Line-aware YAML loading and typed getters that turn bad values into ConfigErrors."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import yaml

from bot.core.errors import ConfigError

Path = tuple[str | int, ...]
Where = Callable[[Path], int | None]
T = TypeVar("T")

MAX_TEXT = 1024 * 1024          # characters of YAML accepted at all
MAX_NODES = 100_000             # YAML nodes visited, aliases expanded (alias bombs)
MAX_DEPTH = 64                  # nested mappings and lists (deep nesting, recursive aliases)
MAX_INT_CHARS = 100             # characters of one integer scalar (4,301 digits crash int(),
                                # and a long sexagesimal 1:0:0:… costs quadratic time)
_INT_TAG = "tag:yaml.org,2002:int"
_TAG = "tag:yaml.org,2002:"
# YAML 1.2 core schema (GitHub Actions, yq, most tools): the plain scalars that are not text
_CORE_BOOL = {"true": True, "True": True, "TRUE": True,
              "false": False, "False": False, "FALSE": False}
_CORE_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_CORE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?"
                         r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")
_CONSTRUCT = yaml.constructor.SafeConstructor()   # construct_yaml_*: one scalar node


def dotted(path: Path) -> str:
    """`("gate", "forbid", 0)` → `gate.forbid[0]`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load(text: str, source: str) -> tuple[Any, dict[Path, int]]:
    """Parse YAML text safely; return the data and the 1-based line of every key path.

    Rejects syntax errors, duplicate keys, non-string keys and alias bombs with a
    ConfigError that names the line.
    """
    if len(text) > MAX_TEXT:
        raise ConfigError(f"the file is larger than {MAX_TEXT} characters", source=source)
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        at = text.count("\n", 0, exc.position) + 1
        raise ConfigError(f"invalid YAML: unacceptable character #x{exc.character:04x} "
                          "(control characters are not allowed)", line=at,
                          source=source) from None
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:  # PyYAML composes nested collections recursively
            raise ConfigError(f"invalid YAML: nested more than {MAX_DEPTH} levels deep",
                              line=loader.get_mark().line + 1, source=source) from None
        lines: dict[Path, int] = {}
        if node is not None:
            _walk(node, (), lines, source, [0])
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"invalid YAML: {problem}", line=line, source=source) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", source=source) from None
    finally:
        loader.dispose()
    return data, lines


def _walk(node: yaml.Node, path: Path, lines: dict[Path, int], source: str,
          budget: list[int]) -> None:
    budget[0] += 1
    if budget[0] > MAX_NODES:
        raise ConfigError(f"the document expands to more than {MAX_NODES} YAML nodes "
                          "(too many aliases?)", line=node.start_mark.line + 1, source=source)
    if len(path) > MAX_DEPTH:  # also ends a recursive alias (&a [*a]), walked forever
        raise ConfigError(f"the document is nested more than {MAX_DEPTH} levels deep",
                          key=dotted(path[:MAX_DEPTH]), line=node.start_mark.line + 1,
                          source=source)
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode) and node.tag == _INT_TAG and \
            len(node.value) > MAX_INT_CHARS:
        raise ConfigError(f"a number longer than {MAX_INT_CHARS} characters",
                          key=dotted(path) or "(top)", line=node.start_mark.line + 1,
                          source=source)
    _check_scalar(node, path, source)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            _check_scalar(key_node, (*path, str(key_node.value)), source, key=True)
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ConfigError("YAML merge keys (<<) are not supported",
                                  key=dotted(path) or "(top)", line=line, source=source)
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != \
                    "tag:yaml.org,2002:str":
                raise ConfigError("keys must be plain strings", key=dotted(path) or "(top)",
                                  line=line, source=source)
            key = str(key_node.value)
            if key in seen:
                raise ConfigError("duplicate key", key=dotted((*path, key)), line=line,
                                  source=source)
            seen.add(key)
            lines[(*path, key)] = line
            _walk(value_node, (*path, key), lines, source, budget)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, source, budget)


def _check_scalar(node: yaml.Node, path: Path, source: str, *, key: bool = False) -> None:
    """Refuse a scalar YAML 1.1 (PyYAML) and YAML 1.2 (GitHub) read differently, or unreadable."""
    kind = node.tag.removeprefix(_TAG)
    if not isinstance(node, yaml.ScalarNode) or kind not in ("int", "float", "bool", "timestamp"):
        return
    text = str(node.value)
    key_text, line = dotted(path) or "(top)", node.start_mark.line + 1
    new = _core_value(text)
    if kind == "float" and isinstance(new, int) and not isinstance(new, bool):
        new = float(new)
    if kind == "timestamp":
        old = "a date"
    elif ":" in text and kind == "float":   # not constructed: 60 ** n overflows a float
        old = "a number in base 60"
    else:
        try:
            value = getattr(_CONSTRUCT, f"construct_yaml_{kind}")(node)
        except (ValueError, KeyError, IndexError, OverflowError):
            raise ConfigError(f"invalid YAML: {_show(text)} is not a valid !!{kind}",
                              key=key_text, line=line, source=source) from None
        if type(value) is type(new) and repr(value) == repr(new):
            return
        old = str(value).lower() if kind == "bool" else str(value)
    if key or kind == "timestamp":
        fix = f"quote {'the key' if key else 'it'} ({_show(text)})"
    else:
        fix = ("write true or false" if kind == "bool" else
               "write the number you mean in plain decimal") + ", or quote it if it is text"
    meant = f"the text {_show(text)}" if isinstance(new, str) else str(new).lower()
    raise ConfigError(f"{_show(text)} is ambiguous: YAML 1.1 reads it as {old}, YAML 1.2 "
                      f"(GitHub Actions) as {meant}; {fix}", key=key_text, line=line,
                      source=source)


def _core_value(text: str) -> bool | int | float | str:
    """What the YAML 1.2 core schema makes of a plain scalar."""
    if text in _CORE_BOOL:
        return _CORE_BOOL[text]
    if _CORE_INT.fullmatch(text):
        base = {"0o": 8, "0x": 16}.get(text[:2], 10)
        return int(text if base == 10 else text[2:], base)
    if _CORE_FLOAT.fullmatch(text):
        special = text.lstrip("+-").lower() in (".inf", ".nan")
        return float(text.replace(".", "", 1) if special else text)
    return text


@dataclass
class Reader:
    """Typed, line-aware access to loaded YAML; collects errors instead of stopping at one."""

    lines: Mapping[Path, int]
    source: str
    errors: list[ConfigError] = field(default_factory=list)

    def where(self, path: Path) -> int | None:
        """The YAML line of a key path (nearest known ancestor), or None."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def error(self, path: Path, message: str) -> None:
        self.errors.append(ConfigError(message, key=dotted(path) or "(top)",
                                       line=self.where(path), source=self.source))

    def mapping(self, value: Any, path: Path, allowed: Iterable[str] | None = None
                ) -> dict[str, Any]:
        """A mapping (None → {}); unknown keys are reported with a close-match hint."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.error(path, f"expected a mapping, got {_kind(value)}")
            return {}
        if allowed is not None:
            known = list(allowed)
            for key in value:
                if key not in known:
                    hint = difflib.get_close_matches(str(key), known, n=1)
                    extra = f"; did you mean {hint[0]!r}?" if hint else \
                        f"; known keys: {', '.join(known)}"
                    self.error((*path, key), f"unknown key{extra}")
        return value

    def integer(self, value: Any, path: Path, default: T, *, low: int = 0,
                high: int | None = None) -> int | T:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(path, f"expected a whole number, got {_kind(value)}")
            return default
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
            self.error(path, f"expected a whole number {bound}, got {value}")
            return default
        return value

    def fraction(self, value: Any, path: Path, default: float) -> float:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(path, f"expected a number from 0 to 1, got {_kind(value)}")
            return default
        if not 0.0 <= float(value) <= 1.0:
            self.error(path, f"expected a number from 0 to 1, got {value}")
            return default
        return float(value)

    def boolean(self, value: Any, path: Path, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.error(path, f"expected true or false, got {_kind(value)}")
            return default
        return value

    def string(self, value: Any, path: Path, *, max_len: int = 256,
               pattern: re.Pattern[str] | None = None, what: str = "") -> str | None:
        if not isinstance(value, str):
            self.error(path, f"expected a string, got {_kind(value)}")
            return None
        if not value or len(value) > max_len:
            self.error(path, f"expected 1 to {max_len} characters, got {len(value)}")
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.error(path, f"expected {what or pattern.pattern}, got {value!r}")
            return None
        return value

    def choice(self, value: Any, path: Path, options: tuple[str, ...], default: str) -> str:
        if value is None:
            return default
        if value not in options:
            self.error(path, f"expected one of {', '.join(options)}, got {_show(value)}")
            return default
        return str(value)

    def string_list(self, value: Any, path: Path, *, max_items: int = 100,
                    max_len: int = 256, pattern: re.Pattern[str] | None = None,
                    what: str = "") -> list[tuple[int, str]] | None:
        """A list of strings (a single string is not a list); returns (index, item) pairs."""
        if value is None:
            return None
        if not isinstance(value, list):
            self.error(path, f"expected a list of strings, got {_kind(value)}")
            return None
        if len(value) > max_items:
            self.error(path, f"expected at most {max_items} items, got {len(value)}")
            return None
        out = []
        for index, item in enumerate(value):
            text = self.string(item, (*path, index), max_len=max_len, pattern=pattern,
                               what=what)
            if text is not None:
                out.append((index, text))
        return out


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({_show(value)})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
