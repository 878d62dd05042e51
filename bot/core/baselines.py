"""Where the `test-drop` baseline is looked for: the rule the App and the Action share.

Pure: each adapter makes the requests (docs/checks.md, "Baseline (`test-drop`)").
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.core import markdown as md

WALK = 10          # commits of the baseline branch a usable result is looked for in


@dataclass(frozen=True)
class Start:
    """Where the walk begins for one judged commit."""

    branch: str                # the branch the baseline comes from (its label)
    ref: str                   # read first: the branch's head by name, or the judged commit
    merge_base: bool = False   # start at the merge base of `branch...<judged commit>` instead


def start(*, event: str, head_sha: str, head_branch: str | None, default_branch: str,
          base_branch: str | None = None) -> Start:
    """A pull request's run tests its merge into its base branch: that branch's head. A push
    to the default branch (or to the base branch): its ancestors. A push elsewhere: its
    merge base with the base branch (the pull request's, else the default branch)."""
    branch = base_branch or default_branch
    if event != "push":
        return Start(branch, branch)
    if head_branch in (default_branch, branch):
        return Start(str(head_branch), head_sha)
    return Start(branch, branch, merge_base=True)


def base_branch(pulls: Iterable[Any], repo_id: int | None, default_branch: str) -> str | None:
    """The base branch of this repository's pull requests among `pulls` (REST or webhook
    shapes): the default branch when one of them targets it, else the first one's."""
    bases: list[str] = []
    for p in pulls:
        base = p.get("base") if isinstance(p, Mapping) else None
        repo = base.get("repo") if isinstance(base, Mapping) else None
        ref = base.get("ref") if isinstance(base, Mapping) else None
        if (isinstance(ref, str) and ref and isinstance(repo, Mapping)
                and (repo_id is None or repo.get("id") == repo_id)):
            bases.append(ref)
    if not bases:
        return None
    return default_branch if default_branch in bases else bases[0]


def candidates(listed: Any, skip: Collection[str]) -> list[str]:
    """The shas of a `GET commits` page (newest first), at most WALK, minus those in `skip`."""
    if not isinstance(listed, list):
        return []
    return [str(c["sha"]) for c in listed[:WALK] if isinstance(c, Mapping)
            and isinstance(c.get("sha"), str) and c["sha"] not in skip]


def merge_base(compare: Any) -> str | None:
    """The merge base sha of a `GET compare/{base}...{head}` answer (None when absent)."""
    base = compare.get("merge_base_commit") if isinstance(compare, Mapping) else None
    sha = base.get("sha") if isinstance(base, Mapping) else None
    return sha if isinstance(sha, str) else None


def labelled(found: dict[str, Any], branch: str) -> dict[str, Any]:
    """A found baseline document, its `source` naming the branch it came from."""
    found["source"]["ref"] = branch
    return found


def note(found: Mapping[str, Any] | None, branch: str) -> str:
    """The summary's line saying which commit the `test-drop` baseline came from, if any."""
    if found is None:
        return (f"No baseline for `test-drop`: no usable CI Truth result among the last {WALK} "
                f"commits of {md.code(branch, max_chars=100)}.")
    total = (found.get("tests") or {}).get("total")
    sha = str((found.get("source") or {}).get("head_sha") or "?")
    return (f"Baseline for `test-drop`: {total:,} tests at commit {md.code(sha[:12])} on "
            f"{md.code(branch, max_chars=100)}.")
