"""`ci-truth serve`: run the GitHub App webhook service (settings from the environment)."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the service's imports (aiohttp, gidgethub, ...) load only when serving
    from bot.app.ports import Handler
    from bot.app.settings import Settings

log = logging.getLogger(__name__)
# In-flight webhooks at a stop (answered in milliseconds); aiohttp may wait twice this (answer,
# then cancel), then running jobs get CI_TRUTH_SHUTDOWN_GRACE: 2·2 + 5 s fit docker's 10 s.
HTTP_SHUTDOWN_TIMEOUT = 2.0

DESCRIPTION = """Run the GitHub App: POST /webhook, GET /healthz, GET /metrics.
Configuration comes from the environment only (see docs/app.md): GITHUB_APP_ID,
GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH, GITHUB_WEBHOOK_SECRET, GITHUB_API_URL,
CI_TRUTH_DB, HOST, PORT and the CI_TRUTH_* tuning variables.
Exit status: 0 after a clean stop (SIGTERM or SIGINT: running jobs get
CI_TRUTH_SHUTDOWN_GRACE seconds, then are queued again), 2 on invalid settings or
when HOST:PORT cannot be bound."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``serve`` subcommand on an argparse subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve", help="run the GitHub App webhook service", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check-config", action="store_true",
                        help="validate the environment and exit (0 valid, 2 invalid)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the service until SIGINT/SIGTERM; 0 after a clean stop, 2 on configuration errors."""
    from bot.app import logs
    from bot.app.settings import Settings, SettingsError

    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        print(f"ci-truth serve: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "check_config", False):
        print("ci-truth serve: settings are valid")
        return 0
    logs.setup(settings.log_level, secrets=[settings.webhook_secret])
    try:  # the business logic, loaded only when serving
        handle: Handler = importlib.import_module("bot.app.handlers").handle
    except (ImportError, AttributeError) as exc:
        print(f"ci-truth serve: the handlers are not available ({exc})", file=sys.stderr)
        return 2
    return serve(settings, handle)


def serve(settings: Settings, handler: Handler) -> int:
    """Run ``create_app(settings, handler=handler)`` on HOST:PORT until a stop signal."""
    from aiohttp import web

    from bot.app.server import create_app
    from bot.app.store import StoreError

    log.info("starting app_id=%s api=%s db=%s on %s:%s workers=%s", settings.app_id,
             settings.api_url, settings.db_path, settings.host, settings.port, settings.workers)
    try:
        # No access log: one INFO line per request costs a third of intake throughput
        # (docs/app.md); deliveries are counted in /metrics and logged by the worker.
        web.run_app(create_app(settings, handler=handler), host=settings.host,
                    port=settings.port, access_log=None, print=None,
                    shutdown_timeout=HTTP_SHUTDOWN_TIMEOUT)
    except (StoreError, OSError) as exc:  # OSError: HOST:PORT cannot be bound (in use, bad)
        print(f"ci-truth serve: {exc}", file=sys.stderr)
        return 2
    log.info("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.app.serve [--check-config]``: the subcommand on its own."""
    parser = argparse.ArgumentParser(prog="ci-truth")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    return run(parser.parse_args(["serve", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    raise SystemExit(main())
