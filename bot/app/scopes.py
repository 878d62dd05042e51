"""What each task's installation token may do: one repository and the task's least permissions.

Every handler asks ``gh_for(installation_id, repository_id=..., scope=...)`` with one of these
scopes; the token behind the client is minted with ``repository_ids: [repository_id]`` and
``permissions: scope.body()`` (checklist H12), so a leaked or misused token reaches one
repository with one task's rights. ``metadata: read`` is never listed: GitHub grants it to
every installation token (repository data, the collaborator-permission check of commands).

The App's manifest (app.yml ``default_permissions``) must grant a superset of every scope
here; ``tests/app/test_scopes.py`` checks it, and docs/app.md lists the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

LEVELS = {"read": 1, "write": 2}
Permissions = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Scope:
    """A task's name (for logs) and its GitHub App permissions, sorted by permission name."""

    name: str
    permissions: Permissions

    @classmethod
    def of(cls, name: str, **permissions: str) -> Scope:
        for perm, level in permissions.items():
            if level not in LEVELS:
                raise ValueError(f"{perm}: level must be read or write, not {level!r}")
        return cls(name, tuple(sorted(permissions.items())))

    def body(self) -> dict[str, str]:
        """The ``permissions`` object of the token request."""
        return dict(self.permissions)

    def __or__(self, other: Scope) -> Scope:
        """Both scopes' permissions, each at the higher of the two levels."""
        merged = dict(self.permissions)
        for perm, level in other.permissions:
            if LEVELS[level] > LEVELS.get(merged.get(perm, ""), 0):
                merged[perm] = level
        return Scope.of(f"{self.name}+{other.name}", **merged)

    def within(self, grant: Mapping[str, str]) -> bool:
        """Whether ``grant`` (e.g. the manifest's default_permissions) covers this scope."""
        return all(LEVELS.get(grant.get(perm, ""), 0) >= LEVELS[level]
                   for perm, level in self.permissions)


# workflow_run requested/in_progress: create the CI Truth check run in progress.
START = Scope.of(
    "start",
    checks="write",         # GET commits/{sha}/check-runs (ours already?), POST check-runs
    contents="read",        # GET contents/.github/ci-truth.yml (default branch)
)

# workflow_run completed, the Recheck button, Re-run, /truth recheck: judge and publish.
JUDGE = Scope.of(
    "judge",
    actions="read",         # GET actions/runs/{id}, .../jobs, .../artifacts, artifact download
    checks="write",         # GET commits/{ref}/check-runs (ours, baseline), POST/PATCH check-runs
    contents="read",        # GET contents/.github/ci-truth.yml (default branch)
    pull_requests="write",  # GET commits/{sha}/pulls; the sticky comment on the PR
                            # (GET/POST/PATCH issues/{n}/comments: on a PR GitHub accepts
                            # Pull requests instead of Issues, so the judge gets no Issues)
)

# The master plan: after a default-branch run is judged, on `issues` events, /truth waive.
PLAN = Scope.of(
    "plan",
    checks="read",          # GET commits/{default}/check-runs: the latest evidence
    contents="read",        # GET contents/.github/ci-truth.yml; GET git/trees/{sha} (`files`);
                            # GET compare/{recorded}...{sha} (is the run's commit stale?)
    issues="write",         # list/create/edit phase issues and the dashboard, their comments
)

# issue_comment commands, before any command runs: config check, 👀, dedupe, the reply.
COMMAND = Scope.of(
    "command",
    contents="read",        # GET contents/.github/ci-truth.yml (has a config?)
    issues="write",         # POST reactions (👀), GET issues/{n}/comments, POST the reply
                            # (also in plan issues, where Pull requests would not do)
)

_PR_CHECK = Scope.of(
    "pr-check",
    checks="read",          # our check run on the head SHA, its annotations
    pull_requests="read",   # GET pulls/{n}: the head SHA, never the payload's
)

# What each command adds to COMMAND (names as bot.core.commands.name_of gives them).
COMMANDS: Mapping[str, Scope] = {
    "help": Scope.of("help"),
    "unknown": Scope.of("unknown"),
    "status": _PR_CHECK | PLAN,                 # on a PR: our check; in plan issues: the plan
    "explain": _PR_CHECK,
    "accept-drop": _PR_CHECK | Scope.of("accept-drop", checks="write"),  # PATCH check-runs
    "recheck": _PR_CHECK | JUDGE | PLAN,        # judging may move the plan on
    "plan": PLAN,
    "waive": PLAN,                              # then a plan sync
}


def for_commands(names: Iterable[str]) -> Scope:
    """COMMAND plus what the named commands need (an unknown name adds nothing)."""
    scope = COMMAND
    for name in sorted(set(names)):
        extra = COMMANDS.get(name)
        if extra is not None:
            scope = scope | extra
    return Scope("command", scope.permissions)


ALL: tuple[Scope, ...] = (START, JUDGE, PLAN, COMMAND, *COMMANDS.values())
"""Every scope the App mints (for the manifest check)."""
