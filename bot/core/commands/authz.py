"""Who may run which command: the permission table, as data, and the one check that reads it.

Permissions come from GET /repos/{o}/{r}/collaborators/{user}/permission (never from
``author_association``): ``permission`` is the legacy base role (admin, write, read, none;
maintain maps to write, triage to read). The Recheck button uses this same check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

RANK = {"none": 0, "read": 1, "triage": 1, "write": 2, "maintain": 2, "admin": 3}

REQUIRED: Mapping[str, str] = {
    "help": "read",
    "status": "read",
    "explain": "read",
    "plan": "read",
    "unknown": "read",
    "recheck": "write",
    "accept-drop": "write",
    "waive": "write",
}
"""Command name → the least legacy permission it needs (write includes maintain and admin)."""

PRIVILEGED = frozenset(name for name, need in REQUIRED.items() if RANK[need] >= RANK["write"])


def level(permission_doc: Mapping[str, Any] | None) -> str:
    """The legacy permission of a permission API answer; None (404, not a collaborator) → none."""
    if not permission_doc:
        return "none"
    perm = permission_doc.get("permission")
    return perm if isinstance(perm, str) and perm in RANK else "none"


def allowed(command: str, permission: str, *, public_repo: bool = False) -> bool:
    """Whether someone with `permission` may run `command`.

    Everyone can read a public repository, so read-level commands are open there; on a
    private one they need read. Unknown commands and unknown permissions fail closed.
    """
    need = REQUIRED.get(command)
    if need is None:
        return False
    have = RANK.get(permission, 0)
    if public_repo:
        have = max(have, RANK["read"])
    return have >= RANK[need]


def needs_lookup(command: str, *, public_repo: bool) -> bool:
    """Whether the permission API must be asked (read commands on public repos need not)."""
    return not (public_repo and REQUIRED.get(command) == "read")
