"""The public API is typed (issue #15): gradgen ships py.typed, every function
exported by gradgen/__init__.py is annotated, and a user's code calling it
type-checks with mypy (slow)."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gradgen

ROOT = Path(gradgen.__file__).resolve().parent.parent


def test_py_typed_is_shipped():
    assert (ROOT / "gradgen" / "py.typed").is_file()
    assert '"gradgen" = ["py.typed"]' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", [n for n in gradgen.__all__
                                  if inspect.isfunction(getattr(gradgen, n))])
def test_every_exported_function_is_annotated(name):
    func = getattr(gradgen, name)
    signature = inspect.signature(func)
    missing = [p.name for p in signature.parameters.values()
               if p.annotation is inspect.Parameter.empty]
    assert not missing, f"{name}: parameters without annotations: {missing}"
    assert signature.return_annotation is not inspect.Signature.empty, name


USER_CODE = '''
from typing import Callable
import numpy as np
import gradgen


def f(x: np.ndarray, c: float = 0.0) -> float:
    return float(np.sum(np.sin(x) * x)) + c


text: str = gradgen.source(f, wrt="x", shapes={"x": "n"})
text2: str = gradgen.source_from_text("def g(x):\\n    return x\\n", "g", wrt=(0,))
df: Callable[..., object] = gradgen.grad(f, wrt=0)
jvp = gradgen.jvp(f)
ns: dict = gradgen.compile_module(text)
opts: gradgen.Options = gradgen.Options.make(wrt=("x",))


@gradgen.differentiable
def h(x: np.ndarray) -> float:
    return float(np.sum(x * x))


@gradgen.differentiable(wrt="x")
def k(x: np.ndarray) -> float:
    return float(np.sum(x * x))


value: float = h(np.ones(3))   # the decorator keeps the function's type
value2: float = k(np.ones(3))
try:
    gradgen.source(f)
except gradgen.GradgenError as err:
    message: str = err.message
'''


# Each line misuses the API; mypy must flag every one (it can only if typed).
MISUSES = [
    'wrong1: int = gradgen.source(f)',
    'wrong2: int = gradgen.source_from_text("x", "g")',
    'wrong3: str = h(np.ones(3))  # the decorator keeps f\'s return type',
    'wrong4: int = gradgen.compile_module("x")',
    'gradgen.source(f, simplify="yes", preserve_result=1.5)',
    'gradgen.grad(f, shapes=3)',
]


def _mypy(tmp_path, code: str) -> subprocess.CompletedProcess:
    path = tmp_path / "user.py"
    path.write_text(code, encoding="utf-8")
    env = dict(os.environ, MYPYPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--disallow-untyped-calls",
         "--python-version", "3.10", "--ignore-missing-imports", "--follow-imports=silent",
         "--show-error-codes", str(path)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )


@pytest.mark.slow
def test_user_code_type_checks(tmp_path):
    pytest.importorskip("mypy")
    proc = _mypy(tmp_path, textwrap.dedent(USER_CODE))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_misuses_are_caught_by_mypy(tmp_path):
    pytest.importorskip("mypy")
    code = textwrap.dedent(USER_CODE) + "\n" + "\n".join(MISUSES) + "\n"
    proc = _mypy(tmp_path, code)
    first = len(textwrap.dedent(USER_CODE).splitlines()) + 2
    flagged = {int(line.split(":")[1]) for line in proc.stdout.splitlines()
               if ": error:" in line}
    for number, misuse in enumerate(MISUSES, first):
        assert number in flagged, f"mypy did not flag {misuse!r}:\n{proc.stdout}"
