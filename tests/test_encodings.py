"""Source files are read as Python reads them: a UTF-8 BOM, a PEP 263 coding
line (issue #15), by the CLI, the API, the decorator and the inlining of
helpers imported from the user's own modules."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

import gradgen
from tests.test_cli import run

_names = itertools.count()

BODY = "import numpy as np\n\n\ndef f(x):\n    # café, 3 €\n    return np.sum(np.sin(x) * x)\n"
VARIANTS = {
    "bom": b"\xef\xbb\xbf" + BODY.encode("utf-8"),
    "latin-1": ("# -*- coding: latin-1 -*-\n" + BODY.replace(" €", "")).encode("latin-1"),
    "cp1252": ("# vim: set fileencoding=cp1252 :\n" + BODY).encode("cp1252"),
    "bom-and-utf8-cookie": b"\xef\xbb\xbf" + ("# coding: utf-8\n" + BODY).encode("utf-8"),
}
X = np.array([0.3, -1.2, 2.5])


def expected(x):
    return np.cos(x) * x + np.sin(x)


def gradient_of(module_text: str):
    namespace: dict = {}
    exec(compile(module_text, "<generated>", "exec"), namespace)
    return namespace["grad_f"]


@pytest.mark.parametrize("variant", [
    v if v == "bom" else pytest.param(v, marks=pytest.mark.slow)  # a subprocess each
    for v in sorted(VARIANTS)])
def test_cli_reads_bom_and_coding_lines(variant, tmp_path: Path):
    (tmp_path / "model.py").write_bytes(VARIANTS[variant])
    compile(VARIANTS[variant], "model.py", "exec")  # Python reads it
    proc = run("show", "model.py::f", cwd=tmp_path, check_rc=0)
    np.testing.assert_allclose(gradient_of(proc.stdout)(X), expected(X), rtol=1e-12)
    run("generate", "model.py::f", "-o", "gen", cwd=tmp_path, check_rc=0)
    run("check", "model.py::f", "-o", "gen", cwd=tmp_path, check_rc=0)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_api_and_decorator_read_them_too(variant, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(tmp_path / "cache"))
    data = VARIANTS[variant].replace(
        b"def f(x):", b"from gradgen import differentiable\n\n\n@differentiable\ndef f(x):"
    )
    path = tmp_path / f"enc_{variant.replace('-', '_')}.py"
    path.write_bytes(data)
    name = f"_gradgen_enc_{next(_names)}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    np.testing.assert_allclose(module.f.grad(X), expected(X), rtol=1e-12)
    np.testing.assert_allclose(gradient_of(gradgen.source(module.f))(X), expected(X),
                               rtol=1e-12)


def test_a_helper_module_with_a_coding_line_is_inlined(tmp_path: Path):
    (tmp_path / "helpers.py").write_bytes(
        "# -*- coding: latin-1 -*-\nimport numpy as np\n\n\ndef act(v):\n"
        "    # é\n    return np.sin(v) * v\n".encode("latin-1")
    )
    (tmp_path / "model.py").write_text(
        "import numpy as np\nfrom helpers import act\n\n\ndef f(x):\n    return np.sum(act(x))\n",
        encoding="utf-8",
    )
    proc = run("show", "model.py::f", cwd=tmp_path, check_rc=0)
    np.testing.assert_allclose(gradient_of(proc.stdout)(X), expected(X), rtol=1e-12)


def test_an_unknown_coding_is_a_located_usage_error(tmp_path: Path):
    (tmp_path / "model.py").write_bytes(b"# coding: no-such-codec\n" + BODY.encode())
    proc = run("show", "model.py::f", cwd=tmp_path, check_rc=2)
    assert proc.stderr.startswith("model.py:1:1: cannot decode the file"), proc.stderr


def test_bytes_outside_the_declared_encoding_are_located(tmp_path: Path):
    (tmp_path / "model.py").write_bytes(
        b"# coding: ascii\nimport numpy as np\n\n\ndef f(x):\n    # caf\xc3\xa9\n"
        b"    return np.sum(x)\n"
    )
    proc = run("show", "model.py::f", cwd=tmp_path, check_rc=2)
    assert proc.stderr.startswith("model.py:6:"), proc.stderr
    assert "not valid ascii" in proc.stderr


def test_a_pyproject_with_a_bom_is_read(tmp_path: Path):
    (tmp_path / "model.py").write_text(BODY, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_bytes(
        b'\xef\xbb\xbf[tool.gradgen]\noutput = "gen"\ntargets = ["model.py::f"]\n'
    )
    run("generate", cwd=tmp_path, check_rc=0)
    assert (tmp_path / "gen" / "model_grad.py").is_file()
