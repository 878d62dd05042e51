"""baselines.py: where the test-drop baseline is looked for, over real webhook payload shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.core.baselines import Start, base_branch, candidates, start


def payload(corpus: Path, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((corpus / "webhooks" / f"{name}.json").read_text())
    return doc


def test_the_base_branch_is_the_listed_pull_request_s_of_this_repository(corpus: Path) -> None:
    wr = payload(corpus, "workflow_run.completed")
    pulls = wr["workflow_run"]["pull_requests"]           # a PR of repository 186853002
    assert base_branch(pulls, 186853002, "main") == "master"
    assert base_branch(pulls, wr["repository"]["id"], "main") is None    # another repository's
    pr = payload(corpus, "pull_request.opened")["pull_request"]
    release = json.loads(json.dumps(pr))
    release["base"]["ref"] = "release-1.x"
    assert base_branch([release], 186853002, "master") == "release-1.x"
    assert base_branch([release, pr], 186853002, "master") == "master"   # one targets main


def test_where_the_walk_starts() -> None:
    sha = "a" * 40
    pr = start(event="pull_request", head_sha=sha, head_branch="fix", default_branch="main",
               base_branch="release-1.x")
    assert pr == Start("release-1.x", "release-1.x")
    assert start(event="push", head_sha=sha, head_branch="main", default_branch="main",
                 base_branch="release-1.x") == Start("main", sha)    # a main → release PR's head
    assert start(event="push", head_sha=sha, head_branch="fix", default_branch="main",
                 base_branch="release-1.x") == Start("release-1.x", "release-1.x", True)
    assert start(event="push", head_sha=sha, head_branch=None, default_branch="main"
                 ) == Start("main", "main", True)                    # a tag
    listed = [{"sha": s} for s in ("1" * 40, sha, "2" * 40)]
    assert candidates(listed, {sha}) == ["1" * 40, "2" * 40]
    assert candidates({"message": "Not Found"}, set()) == []
