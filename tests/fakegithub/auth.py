"""GitHub-like authentication: the App's RSA key, App JWT checks and installation tokens."""

from __future__ import annotations

import functools
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakegithub.repo import FakeRepo
from tests.fakegithub.state import Token, World

JWT_SKEW = 60        # GitHub tolerates iat up to this far in the future
JWT_MAX_LIFE = 600   # exp - iat must not exceed 10 minutes
RANK = {"read": 1, "write": 2, "admin": 3}


class AuthError(Exception):
    """A 401 (or 403/404) with GitHub's message."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class AppKey:
    """The fake App's RSA keypair; ``private_pem`` is what the bot under test is configured with."""

    private_pem: str
    public_key: Any

    def jwt(self, iss: int | str, *, iat: float | None = None, exp: float | None = None) -> str:
        """A JWT signed with this key (tests use it to make good and bad tokens)."""
        now = time.time()
        iat = now - 60 if iat is None else iat
        exp = iat + 540 if exp is None else exp
        return jwt.encode({"iat": int(iat), "exp": int(exp), "iss": str(iss)},
                          self.private_pem, algorithm="RS256")


@functools.cache
def app_key() -> AppKey:
    """One RSA key per test process (generating one costs ~50 ms)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return AppKey(pem, key.public_key())


def bearer(header: str | None) -> tuple[str, str] | None:
    """(scheme, credential) from an Authorization header value."""
    if not header or " " not in header:
        return None
    scheme, _, cred = header.partition(" ")
    return scheme.lower(), cred.strip()


def check_app_jwt(world: World, key: AppKey, header: str | None) -> None:
    """Raise AuthError unless ``header`` is ``Bearer <JWT>`` valid for the fake App."""
    parsed = bearer(header)
    if parsed is None:
        raise AuthError("Requires authentication")
    scheme, token = parsed
    if scheme != "bearer":
        raise AuthError("A JSON web token could not be decoded")
    try:
        claims = jwt.decode(token, key.public_key, algorithms=["RS256"],
                            options={"verify_exp": False, "verify_iat": False,
                                     "verify_nbf": False, "verify_aud": False})
    except jwt.PyJWTError:
        raise AuthError("A JSON web token could not be decoded") from None
    now = world.now().timestamp()
    iat, exp, iss = claims.get("iat"), claims.get("exp"), claims.get("iss")
    if not isinstance(iat, int | float) or iat > now + JWT_SKEW:
        raise AuthError("'Issued at' claim ('iat') must be an Integer representing the time "
                        "that the assertion was issued.")
    if not isinstance(exp, int | float) or exp <= now:
        raise AuthError("'Expiration time' claim ('exp') must be a numeric value representing "
                        "the future time at which the assertion expires.")
    if exp - iat > JWT_MAX_LIFE:
        raise AuthError("'Expiration time' claim ('exp') is too far in the future.")
    if str(iss) not in (str(world.app.id), world.app.client_id):
        raise AuthError("'Issuer' claim ('iss') must be an Integer")


def mint_token(world: World, installation_id: int, body: dict[str, Any]) -> Token:
    """A ``ghs_`` token for an installation, optionally down-scoped by repositories/permissions."""
    inst = world.installations[installation_id]
    repo_ids: set[int] | None = None if inst.repo_ids is None else set(inst.repo_ids)
    names = body.get("repositories")
    ids = body.get("repository_ids")
    if names is not None or ids is not None:
        wanted: set[int] = set(ids or ())
        for name in names or ():
            repo = world.repo(inst.account, name)
            if repo is None or (repo_ids is not None and repo.id not in repo_ids):
                raise AuthError("There is at least one repository that does not exist or is "
                                "not accessible to the parent installation.", 422)
            wanted.add(repo.id)
        reachable = repo_ids if repo_ids is not None else {
            r.id for r in world.repos.values() if r.owner == inst.account}
        if not wanted <= reachable:
            raise AuthError("There is at least one repository that does not exist or is not "
                            "accessible to the parent installation.", 422)
        repo_ids = wanted
    perms = dict(inst.permissions)
    asked = body.get("permissions")
    if asked is not None:
        for name, level in asked.items():
            have = inst.permissions.get(name)
            if have is None or RANK.get(level, 9) > RANK.get(have, 0):
                raise AuthError("The permissions requested are not granted to this "
                                "installation.", 422)
        perms = {"metadata": "read", **asked}   # metadata: read comes with every token
    token = Token("ghs_" + secrets.token_urlsafe(27)[:36], installation_id,
                  world.now() + timedelta(hours=1), repo_ids, perms)
    world.tokens[token.token] = token
    return token


def check_installation_token(world: World, header: str | None, repo: FakeRepo | None) -> Token:
    """The Token behind ``header``: AuthError 401 if bad/expired/revoked, 404 if repo uncovered."""
    parsed = bearer(header)
    if parsed is None:
        raise AuthError("Requires authentication")
    scheme, cred = parsed
    token = world.tokens.get(cred)
    if scheme not in ("token", "bearer") or token is None or token.revoked \
            or token.expires_at <= world.now():
        raise AuthError("Bad credentials")
    inst = world.installations.get(token.installation_id)
    if inst is None or inst.suspended:
        raise AuthError("Bad credentials")
    if repo is not None and not covers(world, token, repo):
        raise AuthError("Not Found", 404)
    return token


def covers(world: World, token: Token, repo: FakeRepo) -> bool:
    """Whether ``token`` reaches ``repo``: its down-scoped list, and (like GitHub, at request
    time) the installation's repositories as they are now, so a removed repository is lost."""
    inst = world.installations[token.installation_id]
    if token.repo_ids is not None and repo.id not in token.repo_ids:
        return False
    if inst.repo_ids is None:
        return repo.owner == inst.account
    return repo.id in inst.repo_ids
