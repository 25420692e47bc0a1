"""Module-level constants a function reads (issue 13): copied into the
generated code as local constants, in every mode and through every door."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

import gradgen

SOURCE = '''import numpy as np

EPS = 1e-8
SCALE = 2.0 * EPS + 1.0
W0 = np.array([[1.0, 2.0], [3.0, 4.0]])
LIMITS = (0.5, 2.0)


def f(x):
    """The loss."""
    return np.sum(np.log(x * SCALE + EPS)) + np.sum(W0 @ x) * LIMITS[1]
'''
X = np.array([0.5, 2.0])


def _f(x):
    scale = 2.0 * 1e-8 + 1.0
    return (np.sum(np.log(x * scale + 1e-8))
            + np.sum(np.array([[1.0, 2.0], [3.0, 4.0]]) @ x) * 2.0)


def _central(fun, x, h=1e-6):
    out = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        out[i] = (fun(x + e) - fun(x - e)) / (2 * h)
    return out


def test_constants_are_defined_in_the_generated_function_after_its_docstring():
    text = gradgen.source_from_text(SOURCE, "f")
    body = text[text.index("def grad_f"):]
    assert "EPS = 1e-08" in body and "SCALE = 2.0 * EPS + 1.0" in body
    assert body.index('"""') < body.index("EPS = 1e-08")
    namespace: dict = {}
    exec(text, namespace)  # standalone: the module needs nothing of the user's
    np.testing.assert_allclose(namespace["grad_f"](X), _central(_f, X), rtol=1e-6)


@pytest.mark.parametrize("mode", ["forward", "callback", "hvp"])
def test_every_mode_reads_the_constants(mode):
    t = np.array([0.3, -0.7])
    if mode == "forward":
        _, tangent = gradgen.jvp_from_source(SOURCE, "f")(X, t)
        np.testing.assert_allclose(tangent, _central(_f, X) @ t, rtol=1e-6)
    elif mode == "callback":
        _, backprop = gradgen.vjp_from_source(SOURCE, "f")(X)
        np.testing.assert_allclose(backprop(1.0), _central(_f, X), rtol=1e-6)
    else:
        grad = gradgen.grad_from_source(SOURCE, "f", specialize=False)
        expected = (grad(X + 1e-6 * t) - grad(X - 1e-6 * t)) / 2e-6
        np.testing.assert_allclose(gradgen.hvp_from_source(SOURCE, "f")(X, t), expected,
                                   rtol=1e-5)


@pytest.mark.parametrize("module, why", [
    ("import numpy as np\n\nEPS = 1e-8\nEPS = 1e-6\n", "assigned twice"),
    ("import numpy as np\n\nEPS = compute()\n", "not made of literals and NumPy"),
    ("import numpy as np\n\nfor EPS in (1e-8,):\n    pass\n", "bound by a loop"),
])
def test_a_name_that_is_not_a_constant_is_refused(module, why):
    text = module + "\n\ndef f(x):\n    return np.sum(x + EPS)\n"
    with pytest.raises(gradgen.UnsupportedSyntaxError, match="'EPS' is not defined"):
        gradgen.source_from_text(text, "f")


def test_a_local_of_the_same_name_is_the_functions_own():
    text = ("import numpy as np\n\nEPS = 1e-8\n\n\ndef f(x):\n    EPS = 0.5\n"
            "    return np.sum(x * EPS)\n")
    out = gradgen.source_from_text(text, "f")
    assert "1e-08" not in out
    np.testing.assert_allclose(gradgen.grad_from_source(text, "f")(X), [0.5, 0.5])


def _import(tmp_path, monkeypatch, text, name):
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def test_the_api_reads_module_values_and_refuses_big_arrays(tmp_path, monkeypatch):
    text = SOURCE + "\nBIG = np.ones(5000)\n\n\ndef g(x):\n    return np.sum(BIG[:2] * x)\n"
    module = _import(tmp_path, monkeypatch, text, "consts_api")
    np.testing.assert_allclose(gradgen.grad(module.f)(X), _central(_f, X), rtol=1e-6)
    with pytest.raises(gradgen.UnsupportedSyntaxError, match="'BIG' is not defined") as info:
        gradgen.grad(module.g)
    assert "small arrays" in info.value.hint and info.value.location.line == 17


def test_the_decorator_keys_on_the_constants_values(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(tmp_path / "cache"))
    body = ("import numpy as np\nimport gradgen\n\nEPS = {}\n\n\n"
            "@gradgen.differentiable\ndef f(x):\n    return np.sum(np.log(x + EPS))\n")
    first = _import(tmp_path, monkeypatch, body.format("1e-8"), "consts_a").f
    second = _import(tmp_path, monkeypatch, body.format("0.25"), "consts_b").f
    np.testing.assert_allclose(first.grad(X), 1 / (X + 1e-8))
    np.testing.assert_allclose(second.grad(X), 1 / (X + 0.25))


def test_the_cli_writes_the_constants_into_the_module(tmp_path, monkeypatch):
    from gradgen.cli import main

    (tmp_path / ".git").mkdir()
    (tmp_path / "model.py").write_text(SOURCE)
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "-q", "model.py::f"]) == 0
    namespace: dict = {}
    exec((tmp_path / "generated" / "model_grad.py").read_text(), namespace)  # what it wrote
    np.testing.assert_allclose(namespace["grad_f"](X), _central(_f, X), rtol=1e-6)
