"""The GitHub Actions runner protocol: INPUT_*/GITHUB_* environment, output file, summary, commands.

Everything the Action knows about its environment is read here, once, into `ActionEnv`
(built from a Mapping, so tests pass a dict). The writers follow the runner's own rules
(those of @actions/core): heredoc outputs with a random delimiter, workflow-command
escaping, the 1 MiB step-summary cap measured in UTF-8 bytes.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

SUMMARY_LIMIT = 1024 * 1024          # bytes GitHub accepts per step summary (larger is dropped)
ANNOTATIONS_PER_LEVEL = 10           # errors / warnings / notices GitHub shows per step
DEFAULT_CONFIG_PATH = ".github/ci-truth.yml"
INPUTS = ("reports", "config", "baseline", "token", "key", "summary", "annotations", "fail")
OUTPUTS = ("total", "passed", "failed", "errors", "skipped", "conclusion", "reasons", "state")
_TRUE = {"true", "True", "TRUE"}     # YAML 1.2 core booleans, as core.getBooleanInput accepts
_FALSE = {"false", "False", "FALSE"}


class UsageError(ValueError):
    """An input the Action cannot run with; str() names the input (exit 2)."""


def input_key(name: str) -> str:
    """Environment key of an action input: INPUT_ + upper-case, spaces to underscores."""
    return "INPUT_" + name.replace(" ", "_").upper()


def split_patterns(text: str) -> list[str]:
    """Report globs from a newline- or comma-separated input, blanks dropped."""
    out: list[str] = []
    for line in text.replace("\r", "\n").split("\n"):
        out.extend(part.strip() for part in line.split(",") if part.strip())
    return out


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(input_key(name), "").strip()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise UsageError(f"input '{name}': expected true or false, got {raw[:40]!r}")


def _path(environ: Mapping[str, str], key: str) -> Path | None:
    value = environ.get(key, "").strip()
    return Path(value) if value else None


@dataclass(frozen=True)
class ActionEnv:
    """The Action's inputs and the runner's environment, read once from a Mapping."""

    reports: tuple[str, ...]
    config: str | None
    baseline: str | None
    token: str = field(default="", repr=False)
    summary: bool = True
    annotations: bool = True
    fail: bool = True
    workspace: Path = Path(".")
    runner_temp: Path | None = None
    step_summary: Path | None = None
    output: Path | None = None
    event_path: Path | None = None
    event_name: str = ""
    repository: str = ""
    sha: str = ""
    ref: str = ""
    base_ref: str = ""           # a pull request's base branch (GITHUB_BASE_REF)
    server_url: str = "https://github.com"
    api_url: str = "https://api.github.com"
    run_id: str = ""
    run_attempt: str = ""
    workflow: str = ""
    job: str = ""                # the job's id (GITHUB_JOB): the same for every matrix job
    key: str = ""                # the key input: this step's name among the commit's steps

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ActionEnv:
        """Build from os.environ-like data; raises UsageError on an unusable input."""
        workspace = _path(environ, "GITHUB_WORKSPACE") or Path(".")
        config = environ.get(input_key("config"), "").strip() or None
        baseline = environ.get(input_key("baseline"), "").strip() or None
        return cls(
            reports=tuple(split_patterns(environ.get(input_key("reports"), ""))),
            config=config,
            baseline=baseline,
            token=environ.get(input_key("token"), "").strip(),
            summary=_bool(environ, "summary", True),
            annotations=_bool(environ, "annotations", True),
            fail=_bool(environ, "fail", True),
            workspace=workspace,
            runner_temp=_path(environ, "RUNNER_TEMP"),
            step_summary=_path(environ, "GITHUB_STEP_SUMMARY"),
            output=_path(environ, "GITHUB_OUTPUT"),
            event_path=_path(environ, "GITHUB_EVENT_PATH"),
            event_name=environ.get("GITHUB_EVENT_NAME", ""),
            repository=environ.get("GITHUB_REPOSITORY", ""),
            sha=environ.get("GITHUB_SHA", ""),
            ref=environ.get("GITHUB_REF", ""),
            base_ref=environ.get("GITHUB_BASE_REF", ""),
            server_url=(environ.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/"),
            api_url=(environ.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
            run_id=environ.get("GITHUB_RUN_ID", ""),
            run_attempt=environ.get("GITHUB_RUN_ATTEMPT", ""),
            workflow=environ.get("GITHUB_WORKFLOW", ""),
            job=environ.get("GITHUB_JOB", ""),
            key=environ.get(input_key("key"), "").strip(),
        )

    def resolve(self, path: str) -> Path:
        """A user-given path, relative to the workspace unless absolute."""
        p = Path(path)
        return p if p.is_absolute() else self.workspace / p

    @property
    def run_url(self) -> str | None:
        """Link to this workflow run, when the runner told us enough."""
        if self.repository and self.run_id:
            return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"
        return None


# --- outputs -------------------------------------------------------------------------------

def format_output(name: str, value: str, *, delimiter: str | None = None) -> str:
    """One GITHUB_OUTPUT entry in heredoc form; the delimiter never occurs in name or value."""
    if not name or any(c in name for c in "\r\n=<"):
        raise ValueError(f"bad output name {name!r}")
    while True:
        token = delimiter or f"ghadelimiter_{secrets.token_hex(16)}"
        if token not in value and token not in name:
            break
        if delimiter is not None:
            raise ValueError("delimiter occurs in the value")
    return f"{name}<<{token}\n{value}\n{token}\n"


def write_outputs(path: Path | None, outputs: Mapping[str, str]) -> None:
    """Append outputs to the GITHUB_OUTPUT file (nothing to do when not on a runner)."""
    if path is None:
        return
    with path.open("a", encoding="utf-8", newline="\n") as fh:
        for name, value in outputs.items():
            fh.write(format_output(name, value))


# --- step summary --------------------------------------------------------------------------

def _cut_note(omitted: int) -> str:
    return (f"\n\n> **Note:** this summary was cut to fit GitHub's 1 MiB step-summary limit; "
            f"{omitted:,} bytes were left out. The full result is in the `state` output file.\n")


def cut_summary(markdown: str, limit: int = SUMMARY_LIMIT) -> str:
    """Markdown within `limit` UTF-8 bytes: cut at a line end with a visible note, never empty.

    An open code fence or <details> block at the cut is closed so the note renders.
    """
    data = markdown.encode("utf-8")
    if len(data) <= limit:
        return markdown
    reserve = len(_cut_note(len(data)).encode("utf-8")) + 64
    budget = max(limit - reserve, 0)
    head = data[:budget].decode("utf-8", errors="ignore")   # drop a split trailing character
    newline = head.rfind("\n")
    if newline > 0:
        head = head[:newline]
    fence = open_fence(head)
    closers = f"\n{fence}" if fence else ""
    closers += "\n</details>" * max(head.count("<details>") - head.count("</details>"), 0)
    omitted = len(data) - len(head.encode("utf-8"))
    return head + closers + _cut_note(omitted)


def open_fence(markdown: str) -> str | None:
    """The fence (```` ``` ````, `~~~`, or longer) of a code block left open at the end, if any."""
    current: str | None = None
    for line in markdown.split("\n"):
        text = line.strip()
        run = len(text) - len(text.lstrip(text[:1])) if text[:1] in ("`", "~") else 0
        if current is None:
            if run >= 3:
                current = text[:run]
        elif run >= len(current) and text[0] == current[0] and not text[run:].strip():
            current = None
    return current


def append_summary(path: Path | None, markdown: str, limit: int = SUMMARY_LIMIT) -> None:
    """Append to GITHUB_STEP_SUMMARY, keeping the file within the per-step limit."""
    if path is None:
        return
    used = path.stat().st_size if path.exists() else 0
    with path.open("a", encoding="utf-8", newline="\n") as fh:
        fh.write(cut_summary(markdown, max(limit - used, 0)))


# --- workflow commands ---------------------------------------------------------------------

def escape_data(text: str) -> str:
    """Escape workflow-command data (the runner's own rule: % CR LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow-command property value (data rule plus : and ,)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **props: str | int | None) -> str:
    """`::name k=v,...::message` with every part escaped; None properties are left out."""
    rendered = ",".join(f"{k}={escape_property(str(v))}" for k, v in props.items()
                        if v is not None and v != "")
    return f"::{name}{' ' + rendered if rendered else ''}::{escape_data(message)}"


_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


def log_line(text: str) -> str:
    """Untrusted text as one log line (after the caller's prefix) no runner reads as a command.

    Line breaks and other controls become escapes (a `::cmd::` needs a line start), and the
    legacy `##[cmd]` form, which the runner finds anywhere in a line, is broken as the
    runner itself breaks `##[start-action`.
    """
    flat = _CONTROLS.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)
    return flat.replace("##[", "##[\\")


def stop_commands_token() -> str:
    """A fresh token for ::stop-commands:: around untrusted log text."""
    return f"ci-truth-{secrets.token_hex(16)}"
