"""Check-run failure annotations: repository paths, lines, titles, and keys that spot repeats."""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Mapping
from typing import Any

from bot.core.model import FailedTest
from bot.core.textfit import bmp, fit, fit_chars

MAX_TITLE = 255
MAX_ANNOTATION_BYTES = 64_000  # message and raw_details: "64 KB"
MAX_LINE = 2**31 - 1           # a larger "line" is not a source line (and not a 32-bit integer)
REPORT_PREFIX = "Report: "


def annotation(f: FailedTest, *, workspace: str = "", repo: str = "") -> dict[str, Any]:
    """A failure annotation; tests without a source file are annotated on their report's path.

    ``raw_details`` names the report ("Report: <path>"), so readers can tell the two apart. A
    file that is not a repository path (outside the checkout) keeps its text as the path:
    GitHub lists the annotation on the check run without placing it on a file.
    """
    line = f.line if isinstance(f.line, int) and 1 <= f.line <= MAX_LINE else 1
    message = f.message + (f"\n\n{f.details}" if f.details else "")
    path = repo_path(f.file, workspace=workspace, repo=repo) or f.file or f.report
    return {"path": annotation_path(path), "start_line": line, "end_line": line,
            "annotation_level": "failure",
            "title": annotation_title(f.kind, f.id),
            "message": fit(bmp(message) or f.kind, MAX_ANNOTATION_BYTES),
            "raw_details": REPORT_PREFIX + bmp(f.report or "report")[:1024]}


def annotation_path(path: str | None) -> str:
    """The path a failure annotation is placed on: `/`-separated, relative, fit to 1024."""
    out = (path or "report").replace("\\", "/").lstrip("/")
    while out.startswith("./"):
        out = out[2:]
    return bmp(out)[:1024] or "report"


def repo_path(path: str | None, *, workspace: str = "", repo: str = "") -> str | None:
    """A report's file attribute as a repository-relative path, or None when it is not one.

    `file://` URIs are decoded and backslashes read as `/`. An absolute path loses the
    `workspace` prefix; without a workspace (the App), the runners' checkout layout
    `…/work/<repo>/<repo>/` (`_work`, `D:\\a`, container `/__w` alike) is removed when
    `repo` names the repository. Paths outside the checkout give None.
    """
    if not path:
        return None
    p = path
    if p[:7].lower() == "file://":
        p = _unquote(p[7:].removeprefix("localhost"))
        if re.match(r"/[A-Za-z]:/", p):           # file:///D:/a/... → D:/a/...
            p = p[1:]
        elif p[:1] != "/":                        # file://host/share/...: another machine
            return None
    p = p.replace("\\", "/")
    ws = workspace.replace("\\", "/").rstrip("/")
    name = repo.rsplit("/", 1)[-1]
    if ws and ws != "." and _fold(p).startswith(_fold(ws) + "/"):
        p = p[len(ws) + 1:]
    elif name and (layout := re.match(rf"(?:[A-Za-z]:)?/(?:.*?/)?(?:work|_work|a|__w)/"
                                      rf"{re.escape(name)}/{re.escape(name)}/", p)):
        p = p[layout.end():]
    p = posixpath.normpath(p) if p else p
    if not p or p == "." or p.startswith(("/", "../")) or p == ".." or \
            ":" in p.split("/", 1)[0]:
        return None      # outside the checkout (or a Windows drive): GitHub could not place it
    return p


def _unquote(text: str) -> str:
    """A file URI's %-escapes decoded as UTF-8 (urllib.parse.unquote, without the import)."""
    raw = re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), text.encode())
    return raw.decode("utf-8", "replace")


def _fold(path: str) -> str:
    """A path with its Windows drive letter in upper case (`d:/a` and `D:/a` are one place)."""
    return path[0].upper() + path[1:] if re.match(r"[A-Za-z]:/", path) else path


def annotation_title(kind: str, test_id: str) -> str:
    """A failure annotation's title, "failure: <id>": astral characters escaped, fit to 255."""
    return fit_chars(bmp(f"{kind}: {test_id}"), MAX_TITLE)


def annotation_key(a: Mapping[str, Any]) -> str:
    """A short digest of what GitHub shows of an annotation (as sent, or as listed back)."""
    fields = [a.get(k) for k in ("path", "start_line", "end_line", "annotation_level", "title",
                                 "message")]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode()).hexdigest()[:20]
