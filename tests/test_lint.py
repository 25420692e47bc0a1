"""The generated modules stay ruff-clean under the project's rule set, and the
lint configuration is the one `make lint` and `make test` run (issue #15)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _ruff() -> list[str]:
    exe = Path(sys.executable).parent / "ruff"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("ruff")
    if found is None:
        pytest.skip("ruff is not installed")
    return [found]


def test_generated_modules_are_ruff_clean():
    proc = subprocess.run([*_ruff(), "check", "--no-cache", "generated"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_make_test_runs_the_linters_before_pytest():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    test = makefile.split("\ntest:")[1].split("\n\n")[0]
    lines = [line.strip() for line in test.splitlines()[1:]]
    assert lines.index("$(BIN)/ruff check .") < lines.index("$(BIN)/python -m pytest -n auto")
    assert lines.index("$(BIN)/mypy gradgen") < lines.index("$(BIN)/python -m pytest -n auto")
    assert "\nlint:" in makefile
