"""Call-time shape specialisation (gradgen.specialize): every version is
checked against central differences, a call that breaks a version's shape
facts never runs it, and the dispatcher keeps the gradient's signature."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import gradgen
from gradgen import specialize

SOURCE = """
import numpy as np

def f(x, y):
    return np.sum(np.sin(x) + x * y)

def h(x):
    return np.sum(np.sin(x) * 2.0)

def g(X, w, b, scale=2.0):
    z = X @ w + b
    return scale * np.mean(np.log1p(np.exp(-z)))
"""


def _central(fun, args, k, h=1e-6):
    x = np.asarray(args[k], dtype=float)
    out = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        a, b = list(args), list(args)
        a[k] = plus if x.ndim else float(plus)
        b[k] = minus if x.ndim else float(minus)
        out[index] = (fun(*a) - fun(*b)) / (2 * h)
    return out


def _primal(name):
    namespace: dict = {}
    exec(SOURCE, namespace)  # the test's own function
    return namespace[name]


def _check(grad, name, args, wrt):
    got = grad(*args)
    got = got if len(wrt) > 1 else (got,)
    for k, g in zip(wrt, got):
        expected = _central(_primal(name), args, k)
        assert np.shape(g) == np.shape(args[k]), (k, np.shape(g), np.shape(args[k]))
        np.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-8)


BROADCASTS = [
    (0.5, 2.0),
    (np.linspace(0.1, 1, 3), np.linspace(-1, 1, 3)),
    (np.linspace(0.1, 1, 3), np.array([0.7])),
    (np.array([0.3]), np.linspace(0.1, 1, 4)),
    (np.ones((2, 3)) * 0.4, np.linspace(0.1, 1, 3).reshape(1, 3)),
    (np.ones((2, 1)) * 0.4, np.linspace(0.1, 1, 3)),
    (0.25, np.linspace(0.1, 1, 3)),
    (np.linspace(0.1, 1, 3), 1.5),
]


def test_every_signature_gets_a_correct_version():
    grad = gradgen.grad_from_source(SOURCE, "f", wrt=(0, 1))
    for x, y in BROADCASTS:
        _check(grad, "f", (x, y), (0, 1))
    assert len(grad.versions) == len(BROADCASTS)
    # Back to the first signatures: the versions are reused, none regenerated.
    for x, y in BROADCASTS[:3]:
        _check(grad, "f", (x, y), (0, 1))
    assert len(grad.versions) == len(BROADCASTS)


def test_a_call_that_breaks_a_versions_shape_facts_does_not_run_it():
    grad = gradgen.grad_from_source(SOURCE, "f", wrt=(0, 1))
    x = np.linspace(0.1, 1, 3)
    grad(x, x + 1)  # a version for two vectors of equal size: no unbroadcast
    # y of size 1 broadcasts: that version would return a gradient of shape (3,)
    d_y = grad(x, np.array([2.0]))[1]
    assert d_y.shape == (1,)
    np.testing.assert_allclose(d_y, [np.sum(x)])
    # sizes that differ, and ranks that differ
    with pytest.raises(ValueError):
        grad(x, np.ones(4))  # NumPy cannot broadcast them: the primal cannot either
    _check(grad, "f", (np.ones((2, 3)), x), (0, 1))


def test_versions_are_the_code_annotations_give():
    grad = gradgen.grad_from_source(SOURCE, "f", wrt=(0, 1))
    grad(0.5, 2.0)
    assert grad.versions == {("float", "float"): {"x": "", "y": ""}}
    annotated = gradgen.source_from_text(SOURCE, "f", wrt=(0, 1), shapes={"x": "", "y": ""})
    assert "unbroadcast" not in annotated
    assert "unbroadcast" in gradgen.source_from_text(SOURCE, "f", wrt=(0, 1))


def test_defaults_keywords_and_the_seed_pass_through():
    grad = gradgen.grad_from_source(SOURCE, "g", wrt=(1, 2))
    rng = np.random.default_rng(0)
    X, w = rng.standard_normal((5, 3)), rng.standard_normal(3)
    _check(grad, "g", (X, w, 0.1), (1, 2))
    d_w, d_b = grad(X, w, b=0.1, scale=2.0, d_result=3.0)
    np.testing.assert_allclose(d_w, 3 * _central(_primal("g"), (X, w, 0.1), 1), rtol=1e-6)
    assert str(inspect.signature(grad)) == str(inspect.signature(grad.generic))
    # a Python int where a float was seen is another signature, not a reuse
    grad(X, w, 1)
    assert {key[2] for key in grad.versions} == {"float", "int"}


def test_arguments_it_cannot_specialise_run_generic_code():
    grad = gradgen.grad_from_source(SOURCE, "h")
    d_x = grad([0.1, 0.2])  # a list: no annotation can describe it
    np.testing.assert_allclose(d_x, 2 * np.cos([0.1, 0.2]))
    assert grad.versions == {}
    # NumPy scalars and 0-d arrays: generic too
    np.testing.assert_allclose(grad(np.float32(0.5)), 2 * np.cos(0.5), rtol=1e-6)
    np.testing.assert_allclose(grad(np.array(0.5)), 2 * np.cos(0.5))
    assert grad.versions == {}


def test_the_number_of_versions_is_bounded():
    grad = gradgen.grad_from_source(SOURCE, "f", wrt=(0, 1))
    for rank in range(1, specialize.MAX_VERSIONS + 3):
        x = np.full((2,) * rank, 0.3)
        _check(grad, "f", (x, x), (0, 1))
    assert len(grad.versions) == specialize.MAX_VERSIONS


def test_specialize_false_and_explicit_shapes_give_the_plain_function():
    plain = gradgen.grad_from_source(SOURCE, "f", wrt=(0, 1), specialize=False)
    annotated = gradgen.grad_from_source(SOURCE, "f", wrt=(0, 1), shapes={"x": "n", "y": "n"})
    assert not hasattr(plain, "versions") and not hasattr(annotated, "versions")


def test_shape_signatures_and_guards_state_the_same_facts():
    x, y = np.ones((4, 1, 3)), np.ones((3,))
    sig = specialize.shape_signature([x, y, 2.0, [1.0]])
    assert sig == ((0, specialize.UNIT, 1), (1,), "float", None)
    params = ["x", "y", "c", "l"]
    assert specialize.shape_annotations(params, sig) == {"x": "n0 1 n1", "y": "n1", "c": ""}
    condition = specialize.guard(params, sig)
    check = eval(f"lambda x, y, c, l: {condition}", {"_ndarray": np.ndarray})  # its own text
    assert check(x, y, 2.0, [1.0])
    assert check(np.ones((5, 1, 2)), np.ones(2), 1.5, None)  # the same facts, other sizes
    assert not check(x, np.ones(4), 2.0, None)  # sizes no longer equal
    assert not check(np.ones((4, 2, 3)), y, 2.0, None)  # no longer a unit axis
    assert not check(x, y, np.float64(2.0), None)  # not a Python float
    assert not check(x[None], y, 2.0, None)  # another rank


def test_the_decorator_specialises_and_caches_versions(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(tmp_path / "cache"))
    module = tmp_path / "model_spec.py"
    module.write_text(SOURCE.replace("def f(", "@gradgen.differentiable(wrt=(0, 1))\ndef f(")
                      .replace("import numpy as np", "import numpy as np\nimport gradgen"))
    namespace: dict = {"__name__": "model_spec", "__file__": str(module)}
    exec(compile(module.read_text(), str(module), "exec"), namespace)  # the test's own module
    f = namespace["f"]
    for x, y in BROADCASTS[:4]:
        got = f.grad(x, y)
        for k in (0, 1):
            np.testing.assert_allclose(got[k], _central(_primal("f"), (x, y), k), rtol=1e-6,
                                       atol=1e-8)
    assert len(f.grad.versions) == 4
    entries = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert len(entries) >= 5  # the generic module and one per version
