"""The one authorisation check for comment commands and the check run's Recheck button.

Permissions come from GET /repos/{o}/{r}/collaborators/{user}/permission (never from
``author_association``), cached per process for a minute: the worker builds a fresh
AppContext for every job, so the cache cannot live there. The cache is keyed by the user's
id as well as the login: after a rename another account may take the login at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gidgethub
from cachetools import TTLCache

from bot.app.ports import AppContext, GitHub
from bot.core.commands import allowed, level, needs_lookup
from bot.core.commands.authz import REQUIRED

PERMISSION_TTL = 60.0            # seconds a permission answer is trusted
_Key = tuple[int, int, int, int | None, str]
_cache: TTLCache[_Key, str] = TTLCache(maxsize=4096, ttl=PERMISSION_TTL)


def forget_permissions() -> None:
    """Drop every cached permission (tests; a new process starts empty too)."""
    _cache.clear()


def _key(gh: GitHub, ctx: AppContext, repository: Mapping[str, Any], user: str,
         user_id: int | None) -> _Key:
    return (ctx.app_id, gh.installation_id, int(repository["id"]), user_id, user.casefold())


async def permission(gh: GitHub, ctx: AppContext, repository: Mapping[str, Any],
                     user: str, *, user_id: int | None = None, fresh: bool = False) -> str:
    """The user's legacy permission (admin/write/read/none) from the API, cached briefly."""
    owner, name = repository["owner"]["login"], repository["name"]
    key = _key(gh, ctx, repository, user, user_id)
    if key in _cache and not fresh:
        return _cache[key]
    try:
        doc = await gh.getitem("/repos/{owner}/{repo}/collaborators/{user}/permission",
                               {"owner": owner, "repo": name, "user": user})
    except gidgethub.HTTPException as exc:
        if exc.status_code.value not in (403, 404):
            raise
        doc = None                       # not a collaborator, or we may not ask: fail closed
    _cache[key] = level(doc if isinstance(doc, Mapping) else None)
    return _cache[key]


async def authorise(gh: GitHub, ctx: AppContext, *, command: str,
                    repository: Mapping[str, Any], user: str,
                    user_id: int | None = None) -> bool:
    """Whether `user` (account `user_id`) may run `command` in `repository` (the signed
    payload's object).

    Read-level commands are open on public repositories (everyone can read them); anything
    else asks the permission API. A cached answer only ever grants: when it falls short the
    API is asked again, so a new maintainer is honoured at once (a revoked one may keep
    access for up to PERMISSION_TTL). Unknown commands and malformed repositories fail closed.
    """
    if command not in REQUIRED or not isinstance(user, str) or not user:
        return False
    try:
        public = repository.get("private") is False
        if not needs_lookup(command, public_repo=public):
            return allowed(command, "none", public_repo=public)
        cached = _key(gh, ctx, repository, user, user_id) in _cache
        perm = await permission(gh, ctx, repository, user, user_id=user_id)
        if cached and not allowed(command, perm, public_repo=public):
            perm = await permission(gh, ctx, repository, user, user_id=user_id, fresh=True)
    except (KeyError, TypeError, ValueError):
        return False
    return allowed(command, perm, public_repo=public)
