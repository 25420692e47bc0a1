"""Errors raised through the decorator point at the user's code (issue #15).

The traceback of a GradgenError raised at import (decoration) time shows the
user's file: the decorated line, then the offending line of the function, with
at most one gradgen frame between them (the decorator itself), instead of the
pipeline's internal frames; and it chains no internal exception.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path

import pytest

import gradgen
from gradgen.errors import GradgenError, UnsupportedSyntaxError, UsageError

ROOT = Path(gradgen.__file__).resolve().parent.parent
PACKAGE = os.path.dirname(os.path.abspath(gradgen.__file__))
_names = itertools.count()

BAD = """
import numpy as np
from gradgen import differentiable


@differentiable
def bad(x):
    y = np.sin(x)
    with open("f") as fh:
        return y
"""

BAD_CALLED = BAD.replace("@differentiable\n", "").rstrip() + "\n\n\nbad = differentiable(bad)\n"
BAD_WITH_OPTIONS = BAD.replace("@differentiable", "@differentiable(wrt=0)")
BAD_OPTION = BAD.replace("@differentiable", "@differentiable(wrt=1.5)")


@pytest.fixture(autouse=True)
def cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(tmp_path / "cache"))


def import_error(tmp_path: Path, body: str, monkeypatch) -> BaseException:
    path = tmp_path / "usermod.py"
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    name = f"_gradgen_tb_{next(_names)}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    with pytest.raises(GradgenError) as info:
        spec.loader.exec_module(module)
    return info.value


def user_frames(exc: BaseException, path: Path):
    frames = traceback.extract_tb(exc.__traceback__)
    # This test and Python's import machinery come first: from the user's file on.
    first = next(i for i, f in enumerate(frames) if os.path.abspath(f.filename) == str(path))
    frames = frames[first:]
    inside = [f for f in frames if os.path.abspath(f.filename).startswith(PACKAGE + os.sep)]
    return frames, inside


@pytest.mark.parametrize("body", [BAD, BAD_CALLED, BAD_WITH_OPTIONS],
                         ids=["decorator", "called", "with-options"])
def test_the_traceback_ends_at_the_offending_line(body, tmp_path, monkeypatch):
    exc = import_error(tmp_path, body, monkeypatch)
    assert isinstance(exc, UnsupportedSyntaxError)
    path = tmp_path / "usermod.py"
    frames, inside = user_frames(exc, path)
    assert len(inside) <= 1, [f"{f.filename}:{f.lineno}" for f in inside]
    last = frames[-1]
    assert os.path.abspath(last.filename) == str(path)
    line = textwrap.dedent(body).lstrip().splitlines().index('    with open("f") as fh:') + 1
    assert last.lineno == line and last.line.strip() == 'with open("f") as fh:'
    assert last.name == "bad"
    assert exc.__cause__ is None and exc.__suppress_context__


def test_an_option_error_has_no_internal_frames_below_the_decorator(tmp_path, monkeypatch):
    exc = import_error(tmp_path, BAD_OPTION, monkeypatch)
    assert isinstance(exc, UsageError) and "wrt=1.5" in exc.message
    frames, inside = user_frames(exc, tmp_path / "usermod.py")
    assert len(inside) <= 1
    assert os.path.abspath(frames[0].filename) == str(tmp_path / "usermod.py")


def test_as_printed_by_python(tmp_path):
    (tmp_path / "usermod.py").write_text(textwrap.dedent(BAD).lstrip(), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]),
               GRADGEN_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-c", "import usermod"], env=env,
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1
    err = proc.stderr
    assert err.count(f"{os.sep}gradgen{os.sep}") <= 1, err
    assert 'File "' + str(tmp_path / "usermod.py") + '", line 8, in bad' in err, err
    assert 'with open("f") as fh:' in err
    assert "During handling" not in err and "direct cause" not in err
    assert "\ngradgen.errors.UnsupportedSyntaxError: usermod.py:8:5:" in err, err
    assert "^^^" not in err.split("UnsupportedSyntaxError")[0].split("line 8, in bad")[1]
