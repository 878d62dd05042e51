"""Cross-check: the committed scenario states equal what the engine measures from the JUnit XML.

Active once the engine (bot.core.engine/config/state) is merged; the plan tests read the
committed state.json files, so this keeps them honest against the real pipeline.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data" / "plan"
CONFIG = 'signatures:\n  event_loop: "This event loop is already running"\n'


@pytest.mark.parametrize("scenario", ["broken", "fixed"])
def test_engine_measures_what_the_scenarios_claim(scenario: str) -> None:
    engine = pytest.importorskip("bot.core.engine")
    config = pytest.importorskip("bot.core.config")
    state = pytest.importorskip("bot.core.state")
    from bot.core.model import Source

    junit = DATA / scenario / "junit.xml"
    result = engine.evaluate([Source(str(junit), chunks=[junit.read_bytes()])],
                             config.parse_config(CONFIG))
    got = state.to_json(result, generator="test")
    want = json.loads((DATA / scenario / "state.json").read_text())
    for key in ("total", "passed", "failed", "errors", "skipped"):
        assert got["tests"][key] == want["tests"][key], key
    assert got["tests"]["pass_rate"] == pytest.approx(want["tests"]["pass_rate"])
    assert got["signatures"]["event_loop"] == want["signatures"]["event_loop"]
