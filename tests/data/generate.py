"""Reproduce the real-tool reports under tests/data/generated/ and examples/.

Every file is written by a real test tool run here (pytest, node's test runner, ctest);
nothing is hand-edited. The one exception is documented where it happens: the
"truncated" report is a real pytest report cut at a byte offset, because pytest writes
its report in one go at exit and cannot be killed half-way through writing it.

Usage: python tests/data/generate.py  (from the repository root; needs pytest, node, cmake)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GEN = ROOT / "tests" / "data" / "generated"
EX = ROOT / "examples"
PYTHON = os.environ.get("CI_TRUTH_PYTHON", sys.executable)

HEALTHY = {
    "test_math.py": """
        import math
        import pytest

        def test_sqrt():
            assert math.sqrt(9) == 3

        @pytest.mark.parametrize("n", [1, 2, 3])
        def test_square(n):
            assert n * n == n ** 2

        def test_floor():
            assert math.floor(2.5) == 2
    """,
    "test_text.py": """
        import sys

        def test_upper():
            assert "ci".upper() == "CI"

        def test_prints_to_stderr():
            print("warning: This event loop is already running", file=sys.stderr)
            assert True
    """,
}

FAILING = {
    "test_orders.py": """
        import pytest

        def test_total():
            assert sum([1, 2, 3]) == 6

        def test_discount():
            price = 100
            assert price * 0.9 == 91, "discount is wrong"

        def test_tax():
            raise RuntimeError("tax service unreachable")

        @pytest.fixture
        def broken():
            raise ValueError("fixture exploded")

        def test_uses_broken_fixture(broken):
            assert broken

        @pytest.mark.skip(reason="not ready")
        def test_refund():
            pass

        @pytest.mark.xfail(reason="known bug")
        def test_known_bug():
            assert False

        @pytest.mark.xfail(reason="fixed?", strict=True)
        def test_strict_xpass():
            assert True
    """,
}


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> int:
    print("+", " ".join(cmd), f"(in {cwd.name})", file=sys.stderr)
    full_env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    full_env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(cmd, cwd=cwd, env=full_env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False).returncode


def project(base: Path, name: str, files: dict[str, str]) -> Path:
    where = base / name
    where.mkdir()
    for rel, text in files.items():
        (where / rel).parent.mkdir(parents=True, exist_ok=True)
        (where / rel).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return where


def pytest(where: Path, out: Path, *args: str) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    return run([PYTHON, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={out}", *args],
               where)


def generate_pytest(base: Path) -> None:
    healthy = project(base, "healthy", HEALTHY)
    assert pytest(healthy, EX / "healthy" / "pytest-report.xml") == 0
    assert pytest(healthy, GEN / "pytest-xunit1-file-line.xml", "-o", "junit_family=xunit1",
                  "-o", "junit_logging=system-err") == 0

    # Zero tests: the project names its tests check_*.py, pytest looks for test_*.py (exit 5).
    zero = project(base, "zero", {"check_math.py": "def test_add():\n    assert 1 + 1 == 2\n"})
    assert pytest(zero, EX / "zero-tests" / "pytest-report.xml") == 5
    shutil.copy(EX / "zero-tests" / "pytest-report.xml", GEN / "pytest-pattern-mismatch.xml")

    # Broken discovery: the only test module fails to import (collection error, exit 2).
    broken = project(base, "broken", {"test_app.py": "import app_that_does_not_exist\n\n"
                                                      "def test_app():\n    assert True\n"})
    assert pytest(broken, GEN / "pytest-import-error.xml") == 2

    # importorskip: every module skips itself because a dependency is missing (pytest 9
    # exits 5, "no tests ran"; a workflow that allows exit 5 shows green).
    skipping = project(base, "skipping", {
        "test_gpu.py": "import pytest\ncuda = pytest.importorskip('cuda_not_here')\n\n"
                       "def test_kernel():\n    assert cuda\n",
        "test_db.py": "import pytest\npsycopg = pytest.importorskip('psycopg_not_here')\n\n"
                      "def test_query():\n    assert psycopg\n",
    })
    assert pytest(skipping, GEN / "pytest-importorskip-all.xml") == 5

    # Masked failures: the run fails, the workflow step ran `pytest ... || true`.
    failing = project(base, "failing", FAILING)
    code = pytest(failing, EX / "masked-failures" / "pytest-report.xml")
    assert code == 1, code
    shutil.copy(EX / "masked-failures" / "pytest-report.xml", GEN / "pytest-failures.xml")

    # Sharded: shard 1 runs the suite, shard 2 selected nothing (-k matched no test, exit 5).
    assert pytest(healthy, EX / "sharded" / "shard-1.xml") == 0
    assert pytest(healthy, EX / "sharded" / "shard-2.xml", "-k", "no_such_test") == 5

    # Truncated: a real report cut at a byte offset (see the module docstring).
    whole = (GEN / "pytest-failures.xml").read_bytes()
    (GEN / "pytest-truncated.xml").write_bytes(whole[: len(whole) * 3 // 5])


MANY = {
    "test_many.py": """
        import pytest

        @pytest.mark.parametrize("n", range(120))
        def test_value(n):
            assert n < 0, f"value {n} is not negative"
    """,
}


LEAKY = """
        import pytest


        @pytest.fixture
        def leaky():
            yield
            raise RuntimeError("teardown boom")
"""

TEARDOWN = {
    "test_teardown.py": LEAKY + """

        def test_fails_then_teardown_errors(leaky):
            assert 1 == 2, "the real failure"


        def test_passes_then_teardown_errors(leaky):
            pass


        def test_ok():
            pass
    """,
}

SKIP_TEARDOWN = {
    "test_skip_teardown.py": LEAKY + """

        def test_skips_then_teardown_errors(leaky):
            pytest.skip("not today")


        @pytest.mark.skip(reason="not ready")
        def test_marked_skip():
            pass


        def test_ok():
            pass
    """,
}

HOSTILE = {
    "test_hostile.py": """
        import pytest


        @pytest.mark.parametrize("n", [pytest.param(1, id="x ##[error]forged by the id")])
        def test_named(n):
            assert n == 2, "message ##[add-mask]secret"


        def test_details():
            pytest.fail("details follow\\n::error file=a.py,line=1::forged by the details\\n"
                        "::add-mask::secret\\nthen ##[warning]forged mid-line", pytrace=False)
    """,
}

# One project, one report each: (project, files, report, pytest options, pytest's exit code).
SINGLE_RUNS = [
    # 120 failures: more than two check-run PATCHes of 50 annotations (xunit1: file, line).
    ("many", MANY, "pytest-many-failures.xml", ("-o", "junit_family=xunit1", "--tb=line"), 1),
    # A failure then its teardown error: pytest writes (and declares) two testcases.
    ("teardown", TEARDOWN, "pytest-teardown-errors.xml", (), 1),
    # A skip then a teardown error: one testcase with <skipped> and <error>, which pytest
    # declares both skipped and errored (skipped=2 errors=1 for 3 tests).
    ("skip-teardown", SKIP_TEARDOWN, "pytest-skip-then-teardown-error.xml", (), 1),
    # Workflow commands in a test id, a message and a failure's details (fork-controlled).
    ("hostile", HOSTILE, "pytest-hostile-names.xml", (), 1),
]


def generate_single_runs(base: Path) -> None:
    for name, files, report, options, code in SINGLE_RUNS:
        assert pytest(project(base, name, files), GEN / report, *options) == code, report


FLAKY = {
    "test_flaky.py": """
        import pathlib

        def test_flaky():
            runs = pathlib.Path("runs.txt")
            n = int(runs.read_text()) if runs.exists() else 0
            runs.write_text(str(n + 1))
            assert n >= 1, "fails the first time only"

        def test_always_fails():
            assert False, "broken for good"

        def test_ok():
            pass
    """,
}


# A teardown that fails once: the rerun passes, pytest declares both attempts as tests.
FLAKY_TEARDOWN = {
    "test_flaky_teardown.py": """
        import pathlib

        import pytest

        @pytest.fixture
        def flaky_cleanup():
            yield
            runs = pathlib.Path("runs.txt")
            n = int(runs.read_text()) if runs.exists() else 0
            runs.write_text(str(n + 1))
            assert n >= 1, "cleanup fails the first time only"

        def test_with_flaky_cleanup(flaky_cleanup):
            pass

        def test_ok():
            pass
    """,
}


def generate_reruns(base: Path) -> None:
    """pytest-rerunfailures: set CI_TRUTH_RERUN_PLUGIN to a directory holding it, e.g. after
    `pip install --no-deps --target DIR pytest-rerunfailures` (kept out of the venv)."""
    plugin = os.environ.get("CI_TRUTH_RERUN_PLUGIN")
    if not plugin:
        print("CI_TRUTH_RERUN_PLUGIN not set: skipping pytest-rerunfailures", file=sys.stderr)
        return
    where = project(base, "flaky", FLAKY)
    out = GEN / "pytest-rerunfailures.xml"
    code = run([PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "--reruns", "2",
                f"--junitxml={out}"], where, env={"PYTHONPATH": plugin})
    assert code == 1, code
    where = project(base, "flaky-teardown", FLAKY_TEARDOWN)
    out = GEN / "pytest-rerun-teardown.xml"
    code = run([PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "--reruns", "1",
                f"--junitxml={out}"], where, env={"PYTHONPATH": plugin})
    assert code == 0, code


def generate_node(base: Path) -> None:
    if not shutil.which("node"):
        print("node not found: skipping node --test", file=sys.stderr)
        return
    where = project(base, "node", {"math.test.mjs": """
        import { test, describe } from 'node:test';
        import assert from 'node:assert';

        describe('math', () => {
          test('adds', () => { assert.strictEqual(1 + 1, 2); });
          test('multiplies', () => { assert.strictEqual(2 * 3, 7); });
          test('skipped one', { skip: 'not today' }, () => {});
          test('todo one', { todo: true }, () => {});
        });
        test('top level passes', () => { assert.ok(true); });
    """})
    out = GEN / "node-test-junit.xml"
    run(["node", "--test", "--test-reporter=junit", f"--test-reporter-destination={out}",
         "math.test.mjs"], where)


def generate_c8(base: Path) -> None:
    """Cobertura XML from c8 (istanbul): set CI_TRUTH_C8 to its binary, e.g. after
    `npm install c8` (node_modules/.bin/c8). Kept out of the repository's dependencies."""
    c8 = os.environ.get("CI_TRUTH_C8")
    if not c8:
        print("CI_TRUTH_C8 not set: skipping c8 cobertura", file=sys.stderr)
        return
    where = project(base, "c8", {
        "lib.js": """
            function add(a, b) { return a + b; }
            function unused(x) { if (x) { return 1; } return 2; }
            module.exports = { add, unused };
        """,
        "t.js": "const { add } = require('./lib');\nif (add(1, 2) !== 3) throw new Error('bad');\n",
    })
    assert run([c8, "--reporter=cobertura", "--include=lib.js", "node", "t.js"], where) == 0
    shutil.copy(where / "coverage" / "cobertura-coverage.xml", GEN / "c8-cobertura.xml")


def generate_ctest(base: Path) -> None:
    if not shutil.which("cmake") or not shutil.which("ctest"):
        print("cmake/ctest not found: skipping ctest", file=sys.stderr)
        return
    where = project(base, "ctest", {"CMakeLists.txt": """
        cmake_minimum_required(VERSION 3.16)
        project(ctruth NONE)
        enable_testing()
        add_test(NAME passes COMMAND ${CMAKE_COMMAND} -E true)
        add_test(NAME fails COMMAND ${CMAKE_COMMAND} -E false)
        add_test(NAME prints_and_passes COMMAND ${CMAKE_COMMAND} -E echo hello)
        add_test(NAME disabled_one COMMAND ${CMAKE_COMMAND} -E true)
        set_tests_properties(disabled_one PROPERTIES DISABLED TRUE)
        add_test(NAME skipped_by_code COMMAND ${CMAKE_COMMAND} -E false)
        set_tests_properties(skipped_by_code PROPERTIES SKIP_RETURN_CODE 1)
    """})
    build = where / "build"
    build.mkdir()
    assert run(["cmake", "-S", str(where), "-B", str(build)], where) == 0
    run(["ctest", "--test-dir", str(build), "--output-junit", str(GEN / "ctest-junit.xml")],
        where)


def main() -> None:
    GEN.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ci-truth-gen-") as tmp:
        base = Path(tmp)
        generate_pytest(base)
        generate_reruns(base)
        generate_single_runs(base)
        generate_node(base)
        generate_ctest(base)
        generate_c8(base)
    for path in sorted([*GEN.glob("*.xml"), *EX.rglob("*.xml")]):
        print(path.relative_to(ROOT), path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
