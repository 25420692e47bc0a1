"""Linear algebra (templates/linalg.py) through the public doors: gradients,
JVPs, callback VJPs and HVPs of functions that chain several rules, against
central differences in float64; explicit tangent rules with inactive
arguments (symbolic zeros); and the cases gradgen refuses, with a location.

The systematic tests (tests/test_systematic.py) check each entry alone.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradgen
from gradgen.errors import GradgenError

H = 1e-6


def _central(f, args, k, h=H):
    x = np.asarray(args[k], dtype=float)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = [np.array(a, dtype=float) for a in args], [np.array(a, dtype=float)
                                                                 for a in args]
        plus[k][index] += h
        minus[k][index] -= h
        grad[index] = (f(*plus) - f(*minus)) / (2 * h)
    return grad


def _directional(f, args, tangents, h=H):
    plus = [a + h * t for a, t in zip(args, tangents)]
    minus = [a - h * t for a, t in zip(args, tangents)]
    return (f(*plus) - f(*minus)) / (2 * h)


def _function(source, name="f"):
    namespace: dict = {}
    exec(compile(source, "<test>", "exec"), namespace)  # the test's own code
    return namespace[name]


def _close(got, expected, what=""):
    assert np.shape(got) == np.shape(expected), f"{what}: shape {np.shape(got)}"
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, err_msg=what)


RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 3)) * 0.3 + np.eye(3)
B = RNG.standard_normal((3, 2))
V = RNG.standard_normal(3)

# Each: source, arguments; every mode is checked on every argument.
CHAINS = {
    "solve-det-inv": ("""import numpy as np

def f(a, b):
    x = np.linalg.solve(a, b)
    return np.sum(x * x) + np.log(np.abs(np.linalg.det(a))) + np.trace(np.linalg.inv(a) @ b[:, :1])
""", (A, B)),
    "solve-vector": ("""import numpy as np

def f(a, v):
    return np.sum(np.sin(np.linalg.solve(a, v)))
""", (A, V)),
    "cholesky-of-gram": ("""import numpy as np

def f(x):
    s = x @ x.T + 3 * np.eye(3)
    return np.sum(np.tril(np.linalg.cholesky(s), -1) ** 2) + np.sum(np.diag(np.linalg.cholesky(s)))
""", (A,)),
    "pinv-tensordot-kron": ("""import numpy as np

def f(x, b):
    p = np.linalg.pinv(b)
    k = np.kron(x[:2, :2], p)
    return np.sum(np.tensordot(k, k, axes=((0,), (0,))) * 0.1) + np.inner(x[0], x[1])
""", (A, B)),
    "diagonals-and-cross": ("""import numpy as np

def f(x, v):
    c = np.cross(x, v)
    return np.sum(np.diagonal(c, 1) * np.diag(x)[:2]) + np.vdot(np.triu(x), c) + np.trace(x, 1)
""", (A, V)),
    "stacked": ("""import numpy as np

def f(a, b):
    x = np.linalg.solve(a, b)
    return np.sum(np.linalg.det(a) * np.sum(x, axis=(-2, -1))) + np.sum(np.linalg.inv(a) ** 2)
""", (np.stack([A, A.T + 0.1]), np.stack([B, -B]))),
}


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_gradient(name):
    source, args = CHAINS[name]
    f = _function(source)
    wrt = tuple(range(len(args)))
    grad = gradgen.grad_from_source(source, "f", wrt=wrt)
    got = grad(*args)
    got = got if len(wrt) > 1 else (got,)
    for k in wrt:
        _close(got[k], _central(f, args, k), f"{name}, argument {k}")


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_forward_mode(name):
    source, args = CHAINS[name]
    f = _function(source)
    rng = np.random.default_rng(1)
    tangents = [rng.standard_normal(np.shape(a)) for a in args]
    jvp = gradgen.jvp_from_source(source, "f", wrt=tuple(range(len(args))))
    value, got = jvp(*args, *tangents)
    _close(value, f(*args), "value")
    _close(got, _directional(f, args, tangents), name)


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_forward_mode_one_argument_active(name):
    """An explicit tangent rule with an inactive argument: its tangent is a
    symbolic zero, folded away (solve with a constant a or a constant b)."""
    source, args = CHAINS[name]
    f = _function(source)
    rng = np.random.default_rng(3)
    for k in range(len(args)):
        tangent = rng.standard_normal(np.shape(args[k]))
        jvp = gradgen.jvp_from_source(source, "f", wrt=k)
        _, got = jvp(*args, tangent)
        tangents = [tangent if i == k else np.zeros_like(a) for i, a in enumerate(args)]
        _close(got, _directional(f, args, tangents), f"{name}, argument {k}")


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_callback(name):
    source, args = CHAINS[name]
    f = _function(source)
    vjp = gradgen.vjp_from_source(source, "f", wrt=0)
    value, backprop = vjp(*args)
    _close(value, f(*args), "value")
    _close(backprop(2.0), 2.0 * _central(f, args, 0), name)


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_hvp(name):
    source, args = CHAINS[name]
    grad = gradgen.grad_from_source(source, "f", wrt=0)
    hvp = gradgen.hvp_from_source(source, "f", wrt=0)
    v = np.random.default_rng(2).standard_normal(np.shape(args[0]))
    plus, minus = list(args), list(args)
    plus[0], minus[0] = args[0] + H * v, args[0] - H * v
    expected = (np.asarray(grad(*plus)) - np.asarray(grad(*minus))) / (2 * H)
    np.testing.assert_allclose(hvp(*args, v), expected, rtol=1e-4, atol=1e-5)


def test_cholesky_reads_the_lower_triangle():
    """NumPy's cholesky reads only x's lower triangle: the gradient is that
    of the lower triangle, zero above the diagonal, on a nonsymmetric input."""
    source = """import numpy as np

def f(x, u):
    return np.sum(np.linalg.cholesky(x) * u)
"""
    f = _function(source)
    x = A @ A.T + 3 * np.eye(3)
    x[0, 2] += 0.7  # above the diagonal: not read
    u = RNG.standard_normal((3, 3))
    got = gradgen.grad_from_source(source, "f")(x, u)
    expected = _central(f, (x, u), 0)
    _close(got, expected)
    assert np.all(np.triu(got, 1) == 0)
    t = RNG.standard_normal((3, 3))
    _, tangent = gradgen.jvp_from_source(source, "f")(x, u, t)
    _close(tangent, _directional(lambda x: f(x, u), (x,), (t,)))


@pytest.mark.parametrize("name", ["solve-vector", "cholesky-of-gram", "stacked"])
def test_float32_stays_float32(name):
    # (A sum of terms whose output shape inference cannot prove scalar gets
    # the seed through np.sum(1.0), a float64: a limitation of the seed, not
    # of these rules; the chains here avoid it.)
    source, args = CHAINS[name]
    grad = gradgen.grad_from_source(source, "f", wrt=tuple(range(len(args))))
    got = grad(*(np.asarray(a, np.float32) for a in args))
    got = got if isinstance(got, tuple) else (got,)
    assert all(np.asarray(g).dtype == np.float32 for g in got)


def test_shape_annotated_gradient_has_no_helper_for_2d_tensordot():
    source = """import numpy as np

def f(a: "2 3", b: "3 4"):
    return np.sum(np.tensordot(a, b, axes=1))
"""
    grad = gradgen.grad_from_source(source, "f", wrt=(0, 1))
    a, b = RNG.standard_normal((2, 3)), RNG.standard_normal((3, 4))
    f = _function(source)
    got = grad(a, b)
    _close(got[0], _central(f, (a, b), 0))
    _close(got[1], _central(f, (a, b), 1))


REFUSED = {
    "two-vectors": ("""import numpy as np

def f(a, b):
    return np.sum(np.cross(a, b))
""", (np.ones((2, 2)), np.ones((2, 2))), ValueError),
}


def test_cross_of_2_vectors_is_refused_at_run_time():
    """np.cross of 2-vectors (deprecated by NumPy 2.0) has no gradient rule:
    the gradient raises instead of returning a wrong value."""
    source, args, error = REFUSED["two-vectors"]
    grad = gradgen.grad_from_source(source, "f", wrt=(0, 1))
    with pytest.raises(error):
        grad(*args)


@pytest.mark.parametrize("body", [
    "y = np.cross(a, a, axisa=0)\n    return np.sum(y)",
    "s, l = np.linalg.slogdet(a)\n    return l",
    "return np.linalg.slogdet(a).logabsdet",
    "return np.sum(np.linalg.eigh(a)[0])",
    "return np.sum(np.einsum('ij,jk->ik', a, a))",
])
def test_refused_with_a_location(body):
    """What linalg.py does not differentiate (yet) is a located error, never
    a wrong or zero gradient."""
    source = f"import numpy as np\n\ndef f(a):\n    {body}\n"
    with pytest.raises(GradgenError) as info:
        gradgen.grad_from_source(source, "f", filename="f.py")(np.eye(3))
    assert "f.py" in str(info.value) and ":4:" in str(info.value)
