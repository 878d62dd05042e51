"""`python -m bot.healthcheck`: the container's HEALTHCHECK (slim images have no curl)."""

from __future__ import annotations

import os
import sys
import urllib.request


def healthy(port: str, *, timeout: float = 4.0) -> bool:
    """True when GET /healthz on this host answers 200 within `timeout` seconds."""
    url = f"http://127.0.0.1:{int(port)}/healthz"
    # No proxy: HTTP(S)_PROXY in the container (Docker injects the client's proxy settings)
    # would send this loopback probe to the proxy, and a healthy App would look dead.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (OSError, ValueError):
        return False


def main() -> int:
    """Exit 0 when healthy, 1 otherwise (Docker's HEALTHCHECK contract)."""
    return 0 if healthy(os.environ.get("PORT", "8080")) else 1


if __name__ == "__main__":
    sys.exit(main())
