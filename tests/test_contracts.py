"""Architecture contracts: the core stays pure."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "bot" / "core"
FORBIDDEN = {"aiohttp", "gidgethub", "os", "socket", "time", "asyncio", "subprocess",
             "requests", "urllib", "http", "sqlite3", "shutil", "tempfile", "pathlib"}
FORBIDDEN_CALLS = {"open", "input", "print", "eval", "exec"}


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            if name.split(".")[0] in FORBIDDEN:
                found.append(f"{path.name}:{node.lineno} imports {name}")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in FORBIDDEN_CALLS):
            found.append(f"{path.name}:{node.lineno} calls {node.func.id}()")
    return found


def test_core_is_pure() -> None:
    files = sorted(CORE.rglob("*.py"))
    assert files, "no core modules found"
    problems = [v for f in files for v in _violations(f)]
    assert problems == []


def test_contract_checker_catches_io(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom aiohttp import web\nopen('x')\n", encoding="utf-8")
    assert len(_violations(bad)) == 3
