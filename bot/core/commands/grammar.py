"""Command grammar: `/truth <command> [args]` or `@<app-slug> <command> [args]`, allowlisted."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace

from bot.core.commands.lines import command_lines

PREFIX = "/truth"
MAX_COMMANDS = 5          # per comment; the rest are reported, not run
MAX_ARGS = 600            # characters of a command line after the command word
MAX_REASON = 300
MAX_TARGET = 512          # test ids can be long (Limits.max_name)
CRITERION_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Help:
    line: int = 0


@dataclass(frozen=True)
class Status:
    line: int = 0


@dataclass(frozen=True)
class Recheck:
    line: int = 0


@dataclass(frozen=True)
class Plan:
    line: int = 0


@dataclass(frozen=True)
class Explain:
    target: str | None = None     # a rule id or a test id; None: every reason
    line: int = 0


@dataclass(frozen=True)
class AcceptDrop:
    reason: str
    line: int = 0


@dataclass(frozen=True)
class Waive:
    criterion: str
    reason: str
    line: int = 0


@dataclass(frozen=True)
class Unknown:
    word: str                     # what was typed (untrusted: escape before echoing)
    line: int = 0


@dataclass(frozen=True)
class Invalid:
    command: str                  # an allowlisted name whose arguments did not fit
    problem: str                  # a sentence a person can act on (no untrusted text)
    line: int = 0


Command = Help | Status | Recheck | Plan | Explain | AcceptDrop | Waive | Unknown | Invalid

NAMES = ("help", "status", "recheck", "explain", "accept-drop", "waive", "plan")
USAGE = {
    "help": "/truth help",
    "status": "/truth status",
    "recheck": "/truth recheck",
    "explain": "/truth explain [rule-id | test-id]",
    "accept-drop": "/truth accept-drop <reason>",
    "waive": "/truth waive <criterion> <reason>",
    "plan": "/truth plan",
}


def name_of(cmd: Command) -> str:
    """The allowlisted name of a command ("unknown" for Unknown, the command for Invalid)."""
    if isinstance(cmd, Invalid):
        return cmd.command
    if isinstance(cmd, Unknown):
        return "unknown"
    return {Help: "help", Status: "status", Recheck: "recheck", Plan: "plan",
            Explain: "explain", AcceptDrop: "accept-drop", Waive: "waive"}[type(cmd)]


def clean(text: str) -> str:
    """Drop control, format (bidi, zero-width) and unassigned characters; collapse spaces."""
    kept = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return " ".join(kept.split())


def _reason(raw: str, command: str, line: int) -> str | Invalid:
    reason = clean(raw)
    if not reason:
        return Invalid(command, "a reason is required", line)
    if len(reason) > MAX_REASON:
        return Invalid(command, f"the reason is longer than {MAX_REASON} characters", line)
    return reason


def parse_line(text: str, *, slug: str, line: int = 0) -> Command | None:
    """The command on one candidate line, or None when the line is not addressed to us."""
    parts = text.split(None, 2)
    if not parts:
        return None
    head = parts[0].casefold()
    if head != PREFIX and head != f"@{slug}".casefold():
        return None
    if len(parts) == 1:
        return Help(line)
    word = parts[1].casefold()
    raw = parts[2] if len(parts) > 2 else ""
    if word not in NAMES:
        return Unknown(parts[1][:64], line)
    if len(raw) > MAX_ARGS:
        return Invalid(word, f"the arguments are longer than {MAX_ARGS} characters", line)
    simple: dict[str, type[Help | Status | Recheck | Plan]] = {
        "help": Help, "status": Status, "recheck": Recheck, "plan": Plan}
    if word in simple:
        return simple[word](line)   # trailing words are commentary, ignored
    if word == "explain":
        target = clean(raw)   # test ids may hold spaces: the whole rest of the line
        if len(target) > MAX_TARGET:
            return Invalid(word, f"the id is longer than {MAX_TARGET} characters", line)
        return Explain(target or None, line)
    if word == "accept-drop":
        reason = _reason(raw, word, line)
        return reason if isinstance(reason, Invalid) else AcceptDrop(reason, line)
    crit, _, rest = clean(raw).partition(" ")
    if not CRITERION_ID.match(crit):
        return Invalid(word, "the first argument must be a criterion id "
                             "(letters, digits, `_`, `.`, `-`; at most 64)", line)
    reason = _reason(rest, word, line)
    return reason if isinstance(reason, Invalid) else Waive(crit, reason, line)


def parse_commands(body: str, *, slug: str) -> tuple[list[Command], int]:
    """Commands in a comment body, deduplicated, at most MAX_COMMANDS; and how many were cut."""
    found: list[Command] = []
    for lineno, text in command_lines(body):
        cmd = parse_line(text, slug=slug, line=lineno)
        if cmd is None:
            continue
        if any(_same(cmd, seen) for seen in found):
            continue
        found.append(cmd)
    return found[:MAX_COMMANDS], max(0, len(found) - MAX_COMMANDS)


def _same(a: Command, b: Command) -> bool:
    return type(a) is type(b) and replace(a, line=0) == replace(b, line=0)
