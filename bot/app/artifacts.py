"""Artifact download: the API's 302 followed by hand to an allowlisted blob host, no credentials."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from urllib.parse import urljoin, urlsplit

import aiohttp
from yarl import URL

from bot.app.logs import describe
from bot.app.ports import ArtifactError
from bot.app.settings import is_loopback, origin_of

CHUNK = 64 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)
API_HOPS = 3  # redirects followed on the API origin (with the token) before the blob's
_SHA256 = re.compile(r"sha256:([0-9a-fA-F]{64})")


class ArtifactRefused(ArtifactError):
    """The API answered the zip request 401, 403 or 429: the caller decides whether that is a
    rate limit or a stale token to retry (``status``, ``headers``, GitHub's ``message``)."""

    def __init__(self, reason: str, *, status: int, headers: Mapping[str, str],
                 message: str) -> None:
        super().__init__(reason)
        self.status, self.headers, self.message = status, headers, message


def digest_problem(listed: object, data: bytes) -> str | None:
    """Why downloaded bytes cannot be trusted against the artifact's listed ``digest``, or None.

    GitHub lists ``"sha256:<hex>"`` for artifacts uploaded with upload-artifact v4 or newer
    and null for older ones: absent means nothing to check (None). A digest in any other
    form cannot be checked, so it is refused like a mismatch rather than skipped.
    """
    if listed is None or listed == "":
        return None
    found = _SHA256.fullmatch(listed) if isinstance(listed, str) else None
    if found is None:
        shown = repr(listed)[:80]
        return (f"GitHub lists a digest for it that is not sha256:<64 hex digits> ({shown}), so "
                "its bytes cannot be verified; the artifact was not used")
    actual = hashlib.sha256(data).hexdigest()
    if actual == found.group(1).lower():
        return None
    return (f"its downloaded bytes (sha256:{actual[:12]}…) do not match the digest GitHub lists "
            f"for it (sha256:{found.group(1).lower()[:12]}…), so it was not used; re-run the "
            "workflow to upload it again, and find out what altered it if this happens again")


def check_location(location: str, *, allowed_hosts: Sequence[str],
                   allow_loopback_http: bool = False) -> str:
    """The redirect target if it is safe to fetch without credentials; ArtifactError otherwise.

    https only (http only to a loopback host when explicitly enabled for tests), no userinfo,
    and the host must equal an allowlisted name or end with ``"." + name``.
    """
    parts = urlsplit(location)
    host = (parts.hostname or "").lower()
    if parts.username is not None or parts.password is not None:
        raise ArtifactError("artifact redirect carries credentials in the URL; refused")
    if parts.scheme != "https" and not (parts.scheme == "http" and allow_loopback_http
                                        and is_loopback(host)):
        raise ArtifactError(f"artifact redirect is not https ({parts.scheme or 'no scheme'}); "
                            "refused")
    if not any(host == h or host.endswith("." + h) for h in allowed_hosts):
        raise ArtifactError(f"artifact redirect goes to {host or 'no host'}, which is not an "
                            "allowed artifact host (CI_TRUTH_ARTIFACT_HOSTS)")
    return location


async def download_artifact(session: aiohttp.ClientSession, url: str, *, authorization: str,
                            max_bytes: int, allowed_hosts: Sequence[str],
                            allow_loopback_http: bool = False, timeout: float = 60.0,
                            user_agent: str = "ci-truth") -> bytes:
    """Bytes of ``GET …/actions/artifacts/{id}/zip``; raises ArtifactError with a reason.

    The API answers 302 with a short-lived blob URL; that URL is fetched without
    Authorization or cookies, without further redirects, with a timeout and a byte cap.
    A redirect that stays on the API origin (a renamed or transferred repository's old name
    answers 301 to ``/repositories/{id}/…``) is followed first, with the token.
    """
    limit = aiohttp.ClientTimeout(total=timeout)
    api = origin_of(url)
    try:
        for _hop in range(API_HOPS + 1):
            async with session.get(url, headers={"Authorization": authorization,
                                                 "Accept": "application/vnd.github+json",
                                                 "User-Agent": user_agent},
                                   allow_redirects=False, timeout=limit) as resp:
                if resp.status == 200:  # served directly by the API origin (some GHES setups)
                    return await _read_capped(resp, max_bytes)
                if resp.status in (404, 410):
                    raise ArtifactError(f"artifact not found or expired (HTTP {resp.status})")
                if resp.status in (401, 403, 429):
                    raise ArtifactRefused(
                        f"not allowed to download the artifact (HTTP {resp.status}; "
                        "the App needs Actions: read)" if resp.status != 429 else
                        "artifact download answered HTTP 429", status=resp.status,
                        headers=resp.headers, message=await _message(resp))
                if resp.status not in _REDIRECTS:
                    raise ArtifactError(f"artifact download answered HTTP {resp.status}")
                location = resp.headers.get("Location", "")
            if not location:
                raise ArtifactError("artifact download redirect has no Location")
            target = urljoin(url, location)
            if not _on_origin(target, api):
                break
            url = target  # a renamed or transferred repository: /repositories/{id}/… (301, 307)
        else:
            raise ArtifactError(f"artifact download redirected more than {API_HOPS} times "
                                "on the API")
        target = check_location(target, allowed_hosts=allowed_hosts,
                                allow_loopback_http=allow_loopback_http)
        async with session.get(URL(target, encoded=True), headers={"User-Agent": user_agent},
                               allow_redirects=False, timeout=limit) as blob:
            if blob.status != 200:
                raise ArtifactError(f"artifact storage answered HTTP {blob.status}")
            return await _read_capped(blob, max_bytes)
    except ArtifactError:
        raise
    except TimeoutError:
        raise ArtifactError(f"artifact download timed out after {timeout:g} s") from None
    except aiohttp.ClientError as exc:
        raise ArtifactError(f"artifact download failed: {describe(exc)}") from None


def _on_origin(url: str, origin: tuple[str, str, int]) -> bool:
    """Whether ``url`` is on the API origin without userinfo: the token may follow it."""
    parts = urlsplit(url)
    try:
        same = origin_of(url) == origin
    except ValueError:  # an unreadable port: check_location refuses it
        return False
    return same and parts.username is None and parts.password is None


async def _message(resp: aiohttp.ClientResponse) -> str:
    """GitHub's error ``message`` (a secondary rate limit is told apart by it), or ""."""
    try:
        data = json.loads(await resp.content.read(CHUNK))
    except (ValueError, aiohttp.ClientError):
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    return message if isinstance(message, str) else ""


async def _read_capped(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    declared = resp.content_length
    if declared is not None and declared > max_bytes:
        raise ArtifactError(f"artifact is {declared} bytes, above the {max_bytes}-byte cap")
    parts: list[bytes] = []
    total = 0
    async for chunk in resp.content.iter_chunked(CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise ArtifactError(f"artifact exceeds the {max_bytes}-byte cap")
        parts.append(chunk)
    return b"".join(parts)
