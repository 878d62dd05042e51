"""`ci-truth serve` as a command: configuration errors exit 2 with every problem listed."""

from __future__ import annotations

import argparse
import socket
from dataclasses import replace

import pytest

from bot.app import serve
from bot.app.ports import AppContext, Delivery, GitHubFor
from bot.app.settings import Settings


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ci-truth")
    serve.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_missing_settings_exit_2_listing_problems(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "GITHUB_PRIVATE_KEY_PATH",
                 "GITHUB_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    assert serve.run(_parse(["serve"])) == 2
    err = capsys.readouterr().err
    assert "GITHUB_WEBHOOK_SECRET" in err and "GITHUB_APP_ID" in err


def test_check_config_accepts_valid_settings(monkeypatch: pytest.MonkeyPatch, private_pem: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GITHUB_APP_ID", "7")
    monkeypatch.setenv("GITHUB_PRIVATE_KEY", private_pem)
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "x" * 32)
    assert serve.run(_parse(["serve", "--check-config"])) == 0
    out = capsys.readouterr()
    assert "valid" in out.out and private_pem not in out.out + out.err


def test_a_port_in_use_exits_2_with_the_reason(settings: Settings,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    async def handle(delivery: Delivery, gh_for: GitHubFor, ctx: AppContext) -> None:
        raise AssertionError("no delivery reaches it")

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        assert serve.serve(replace(settings, host="127.0.0.1", port=port), handle) == 2
    err = capsys.readouterr().err
    assert any(line.startswith("ci-truth serve: ") and "address already in use" in line
               for line in err.splitlines()), err
    assert "Traceback" not in err
