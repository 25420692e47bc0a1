"""Shaping and building entries that the systematic tests cannot reach (they
take or return sequences, or a dtype), the methods and constants user code
writes around them, the refusals, and a review of every nondifferentiable
entry: each one taking floats must be piecewise constant in them.

Every expected value here is a central difference of the function itself.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradgen
from gradgen.errors import GradgenError
from gradgen.rules import load_registry

H = 1e-6


def _source(body: str, params: str) -> str:
    return f"import numpy as np\n\n\ndef f({params}):\n    {body}\n"


def _function(source: str):
    namespace: dict = {}
    exec(compile(source, "<case>", "exec"), namespace)  # the test's own code
    return namespace["f"]


def _central(f, args, k):
    x = np.asarray(args[k], dtype=float)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += H
        minus[index] -= H
        a, b = list(args), list(args)
        a[k] = plus if x.ndim else float(plus)
        b[k] = minus if x.ndim else float(minus)
        grad[index] = (f(*a) - f(*b)) / (2 * H)
    return grad


def _close(got, expected, what):
    assert np.shape(got) == np.shape(expected), f"{what}: shape {np.shape(got)}"
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-6, err_msg=what)


def _inputs(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [float(rng.uniform(0.3, 1.5)) if s == () else rng.uniform(0.3, 1.5, size=s)
            for s in shapes]


def check_every_mode(body: str, shapes: list, float32: bool = True, hvp: bool = True):
    """Reverse mode (raw, simplified, specialised), forward mode, the HVP and
    float32 against central differences of ``f`` (a nonlinear loss)."""
    params = ", ".join(f"x{k}" for k in range(len(shapes)))
    source = _source(body, params)
    f = _function(source)
    args = _inputs(shapes)
    wrt = tuple(range(len(shapes)))
    expected = [_central(f, args, k) for k in wrt]
    for label, options in [("raw", dict(simplify=False)), ("simplified", dict(specialize=False)),
                           ("specialised", {})]:
        got = gradgen.grad_from_source(source, "f", wrt=wrt, **options)(*args)
        got = got if len(wrt) > 1 else (got,)
        for k in wrt:
            _close(got[k], expected[k], f"{label}, argument {k}")
    rng = np.random.default_rng(1)
    tangents = [rng.standard_normal(np.shape(a)) for a in args]
    _, jvp = gradgen.jvp_from_source(source, "f", wrt=wrt)(*args, *tangents)
    plus = [a + H * t for a, t in zip(args, tangents)]
    minus = [a - H * t for a, t in zip(args, tangents)]
    _close(jvp, (f(*plus) - f(*minus)) / (2 * H), "forward mode")
    if not hvp:
        return
    grad0 = gradgen.grad_from_source(source, "f", wrt=0, specialize=False)
    v = rng.standard_normal(np.shape(args[0]))
    hvp = gradgen.hvp_from_source(source, "f", wrt=0)(*args, v)
    up, down = list(args), list(args)
    up[0], down[0] = args[0] + H * v, args[0] - H * v
    _close(hvp, (np.asarray(grad0(*up)) - np.asarray(grad0(*down))) / (2 * H), "HVP")
    if float32:
        got = gradgen.grad_from_source(source, "f", wrt=wrt)(
            *[np.asarray(a, dtype=np.float32) for a in args])
        got = got if len(wrt) > 1 else (got,)
        for k in wrt:
            assert np.asarray(got[k]).dtype == np.float32, f"float32, argument {k}"


# ------------------------------------------------------ functions of sequences

SEQUENCES = [
    ("np.hstack([x0, x1])", [(3,), (2,)]),
    ("np.hstack((x0, x1))", [(2, 3), (2, 1)]),
    ("np.hstack([x0, x1, x0])", [(), ()]),
    ("np.vstack([x0, x1])", [(3,), (3,)]),
    ("np.vstack([x0, x1])", [(2, 3), (3,)]),
    ("np.vstack([x0, x1])", [(2, 3), (1, 3)]),
    ("np.dstack([x0, x1])", [(2, 3), (2, 3)]),
    ("np.dstack([x0, x1])", [(3,), (3,)]),
    ("np.dstack([x0, x1])", [(2, 3, 1), (2, 3)]),
    ("np.column_stack([x0, x1])", [(3,), (3,)]),
    ("np.column_stack((x0, x1))", [(3, 2), (3,)]),
    ("np.concatenate([x0, x1], axis=1)", [(2, 3), (2, 1)]),
]


@pytest.mark.parametrize("expr, shapes", SEQUENCES, ids=[f"{e}{s}" for e, s in SEQUENCES])
def test_functions_of_sequences_in_every_mode(expr, shapes):
    check_every_mode(f"return np.sum(np.sin({expr}) * {expr})", shapes)


def test_a_sequence_with_a_constant_piece_in_every_mode():
    # Only x0 is differentiated: the constant piece's gradient is never formed.
    # (The float64 constants make the results float64.)
    check_every_mode("return np.sum(np.sin(np.vstack([x0, np.ones(3)])) ** 2)", [(3,)],
                     float32=False)
    check_every_mode("return np.sum(np.sin(np.hstack([2.0, x0])) ** 2)", [(2,)],
                     float32=False)


@pytest.mark.parametrize("call", ["np.append(x0, x1)", "np.append(x0, x1, axis=0)"])
def test_append_with_both_arguments(call):
    # The HVP runs forward mode with x1 constant: see the test below.
    check_every_mode(f"return np.sum(np.sin({call}) ** 2)", [(2, 3), (1, 3)], hvp=False)


def test_append_of_a_constant_number_in_every_mode():
    check_every_mode("return np.sum(np.sin(np.append(x0, 2.0)) ** 2)", [(2, 3)], float32=False)


@pytest.mark.parametrize("call", ["np.append(x0, np.ones(4))", "np.append(np.ones(4), x0)",
                                  "np.append(x0, np.ones((1, 3)), axis=0)"])
def test_append_of_a_constant_array_is_never_a_silent_forward_mode(call):
    # Forward mode replaces the constant argument of a linear primitive by 0,
    # which np.append joins as one number: a wrong shape, which fails loudly
    # (until forward mode gives it zeros of its shape).
    source = _source(f"return np.sum(np.sin({call}) ** 2)", "x0")
    f = _function(source)
    x, t = _inputs([(2, 3)])[0], np.ones((2, 3))
    try:
        _, got = gradgen.jvp_from_source(source, "f")(x, t)
    except (ValueError, GradgenError):
        return
    _close(got, (f(x + H * t) - f(x - H * t)) / (2 * H), "forward mode")


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("body", [
    "p = np.split(x0, [1, 3], axis=1)\n    return np.sum(p[0])",
    "p = np.array_split(x0, 3, axis=1)\n    return np.sum(p[0])",
    "p = np.hsplit(x0, 5)\n    return np.sum(p[0])",
    "p = np.vsplit(x0, 2)\n    return np.sum(p[0])",
    "p = np.dsplit(np.atleast_3d(x0), 1)\n    return np.sum(p[0])",
])
def test_splits_are_refused_with_their_location(body):
    source = _source(body, "x0")
    for mode in (gradgen.grad_from_source, gradgen.jvp_from_source):
        with pytest.raises(GradgenError, match="list of arrays") as error:
            mode(source, "f")
        assert ":5:" in str(error.value)  # the line of the call


@pytest.mark.parametrize("index", ["np.r_[x0, x0]", "np.c_[x0, x0]", "np.r_[x0, 1.0]"])
def test_r_and_c_are_refused_never_a_zero_gradient(index):
    source = _source(f"return np.sum({index} ** 2)", "x0")
    with pytest.raises(GradgenError, match="np.[rc]_") as error:
        gradgen.grad_from_source(source, "f")
    assert ":5:" in str(error.value)


def test_pad_refuses_the_modes_it_has_no_rule_for():
    for call in ["np.pad(x0, 1, mode='reflect')", "np.pad(x0, 1, constant_values=1.0)"]:
        source = _source(f"return np.sum(np.sin({call}))", "x0")
        with pytest.raises(GradgenError, match="mode='constant'") as error:
            gradgen.grad_from_source(source, "f")
        assert ":5:" in str(error.value)


@pytest.mark.parametrize("body", [
    "return np.sum(x0 * np.random.normal(0.0, 1.0, 3))",
    "return np.sum(x0 * np.random.default_rng(0).normal(size=3))",
    "return np.sum(np.unique(x0))",
    "return np.sum(x0) * np.finfo(x0.dtype).eps",
])
def test_what_has_no_entry_is_refused_with_its_location(body):
    with pytest.raises(GradgenError) as error:
        gradgen.grad_from_source(_source(body, "x0"), "f")
    assert ":5:" in str(error.value)


# --------------------------------------------------------------- methods


@pytest.mark.parametrize("expr", [
    "x0.flatten()", "x0.copy()", "np.copy(x0)", "x0.swapaxes(0, 1)", "x0.repeat(2)",
    "x0.repeat((1, 0, 2), axis=1)", "x0.clip(0.5, 1.0)", "np.float64(x0)",
])
def test_methods_and_casts_in_every_mode(expr):
    check_every_mode(f"return np.sum(np.sin({expr}) * {expr})", [(2, 3)])


@pytest.mark.parametrize("expr", ["x0.astype(np.float64)", "x0.astype('float64')",
                                  "np.astype(x0, np.float64)"])
def test_astype_in_every_mode(expr):
    # A float32 x cast up to float64 keeps a float64 gradient (see the rule).
    check_every_mode(f"return np.sum(np.sin({expr}) * {expr})", [(2, 3)], float32=False)
    source = _source("return np.sum(np.sin(x0.astype(np.float32)))", "x0")
    x32 = np.array([0.3, 1.6], dtype=np.float32)
    assert gradgen.grad_from_source(source, "f")(x32).dtype == np.float32


def test_a_cast_to_an_integer_dtype_has_a_zero_gradient_in_every_mode():
    # Piecewise constant: x -> np.sin(int(x)) has derivative 0 between integers.
    check_every_mode("return np.sum(np.sin(x0.astype(np.int64)) * x0)", [(2, 3)],
                     float32=False)
    x = np.array([0.3, 1.6, 2.4])
    source = _source("return np.sum(np.sin(x0.astype(np.int64)))", "x0")
    np.testing.assert_array_equal(gradgen.grad_from_source(source, "f")(x), np.zeros(3))


@pytest.mark.parametrize("cast", ["x0.astype(np.float32)", "np.float32(x0)"])
def test_a_cast_to_float32_keeps_the_gradient_in_the_inputs_dtype(cast):
    source = _source(f"return np.sum(np.sin({cast}))", "x0")
    x = np.array([0.3, 1.6, 2.4])
    got = gradgen.grad_from_source(source, "f")(x)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, np.cos(x), rtol=1e-6)  # float32 rounding only
    _, t = gradgen.jvp_from_source(source, "f")(x, np.ones(3))
    np.testing.assert_allclose(t, np.sum(np.cos(x)), rtol=1e-6)
    got32 = gradgen.grad_from_source(source, "f")(x.astype(np.float32))
    assert got32.dtype == np.float32


# -------------------------------------------------------------- constants


@pytest.mark.parametrize("body", [
    "return np.sum(x0) * np.pi + np.e",
    "return np.sum(np.minimum(x0, np.inf) ** 2)",
    "return np.sum(np.where(x0 > 10.0, np.nan, x0) ** 2)",
    "return np.sum(x0[np.newaxis] * x0[:, np.newaxis])",
    "return np.sum(x0 * np.float64(2.0))",
    "return np.sum(x0 ** 2 + np.zeros(3, dtype=np.float32))",
    "return np.sum(x0 * np.random.rand(3) * 0.0 + x0 ** 2)",
    pytest.param("return np.sum(x0 ** 2) * math.pi", marks=pytest.mark.xfail(
        strict=True, reason="the generated gradient does not import math (not a registry "
                            "matter: reported)")),
])
def test_constants(body):
    source = "import math\n\n" + _source(body, "x0")
    namespace: dict = {}
    exec(compile(source, "<case>", "exec"), namespace)  # the test's own code
    x = _inputs([(3,)])[0]
    np.random.seed(0)
    got = gradgen.grad_from_source(source, "f")(x)
    np.random.seed(0)
    _close(got, _central(namespace["f"], [x], 0), body)


# --------------------------------------- the nondifferentiable entries, reviewed

# How to call each nondifferentiable entry with floats: a random point x (and
# a second float array y where it takes two).  Entries taking no float are
# listed apart, with why.
FLOAT_CALLS = {
    "np.all": lambda x, y: np.all(x > 0.1), "np.any": lambda x, y: np.any(x > 1.2),
    "np.count_nonzero": lambda x, y: np.count_nonzero(x > 0.7, axis=0),
    "np.isclose": lambda x, y: np.isclose(x, y), "np.allclose": lambda x, y: np.allclose(x, y),
    "np.array_equal": lambda x, y: np.array_equal(x, y),
    "np.digitize": lambda x, y: np.digitize(x, np.sort(y.ravel())),
    "np.searchsorted": lambda x, y: np.searchsorted(np.sort(y.ravel()), x),
    "np.argwhere": lambda x, y: np.argwhere(x > 0.7), "np.nonzero": lambda x, y: np.nonzero(
        x > 0.7), "np.flatnonzero": lambda x, y: np.flatnonzero(x > 0.7),
    "np.argmax": lambda x, y: np.argmax(x), "np.argmin": lambda x, y: np.argmin(x, axis=0),
    "np.argsort": lambda x, y: np.argsort(x, axis=1),
    "np.sign": lambda x, y: np.sign(x - 1), "np.floor": lambda x, y: np.floor(3 * x),
    "np.ceil": lambda x, y: np.ceil(3 * x), "np.round": lambda x, y: np.round(x, 1),
    "np.rint": lambda x, y: np.rint(3 * x), "np.trunc": lambda x, y: np.trunc(3 * x),
    "np.isnan": lambda x, y: np.isnan(x), "np.isinf": lambda x, y: np.isinf(x),
    "np.isfinite": lambda x, y: np.isfinite(x),
    "np.logical_and": lambda x, y: np.logical_and(x - 1, y - 1),
    "np.logical_or": lambda x, y: np.logical_or(x - 1, y - 1),
    "np.logical_not": lambda x, y: np.logical_not(x - 1),
    "np.greater": lambda x, y: np.greater(x, y), "np.less": lambda x, y: np.less(x, y),
    "np.equal": lambda x, y: np.equal(x, y), "np.not_equal": lambda x, y: np.not_equal(x, y),
    "np.greater_equal": lambda x, y: np.greater_equal(x, y),
    "np.less_equal": lambda x, y: np.less_equal(x, y),
    "np.zeros_like": lambda x, y: np.zeros_like(x), "np.ones_like": lambda x, y: np.ones_like(x),
    "np.shape": lambda x, y: np.shape(x), "np.ndim": lambda x, y: np.ndim(x),
    "np.size": lambda x, y: np.size(x), "len": lambda x, y: len(x),
    "np.floor_divide": lambda x, y: np.floor_divide(3 * x, y + 0.5),
    "operator.floordiv": lambda x, y: (3 * x) // (y + 0.5),
    "math.floor": lambda x, y: math.floor(3 * x[0, 0]),
    "math.ceil": lambda x, y: math.ceil(3 * x[0, 0]),
    "math.trunc": lambda x, y: math.trunc(3 * x[0, 0]),
}
NO_FLOAT = {
    "np.empty_like": "its values are unspecified, never read; its shape is x's",
    "np.zeros": "takes a shape", "np.ones": "takes a shape", "np.empty": "takes a shape",
    "np.eye": "takes sizes", "np.random.rand": "takes a shape", "np.random.randn":
    "takes a shape", "np.random.randint": "takes integers",
    "operator.and_": "& of masks or integers", "operator.or_": "| of masks or integers",
    "operator.xor": "^ of masks or integers", "operator.not_": "not of a truth value",
    "slice": "slices of generated indices",
    "int": "truncates to an integer", "round": "rounds to an integer",
    "bool": "a truth value", "isinstance": "a truth value about a type",
    "np.unravel_index": "takes integer indices", "np.ravel_multi_index": "takes integer indices",
}


def test_every_nondifferentiable_entry_is_reviewed():
    entries = set(load_registry().nondifferentiable)
    assert entries == set(FLOAT_CALLS) | set(NO_FLOAT), (
        f"unreviewed: {sorted(entries - set(FLOAT_CALLS) - set(NO_FLOAT))}; "
        f"gone: {sorted((set(FLOAT_CALLS) | set(NO_FLOAT)) - entries)}")


def _same(a, b) -> bool:
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(p, q) for p, q in zip(a, b))
    return np.shape(a) == np.shape(b) and np.array_equal(a, b)


@pytest.mark.parametrize("primitive", sorted(FLOAT_CALLS))
def test_each_nondifferentiable_entry_taking_floats_is_piecewise_constant(primitive):
    # A smooth function declared here by mistake moves by ~1e-7: it fails.
    call = FLOAT_CALLS[primitive]
    rng = np.random.default_rng(abs(hash(primitive)) % 2**32)
    for _ in range(5):
        x, y = rng.uniform(0.0, 1.5, size=(2, 3)), rng.uniform(0.0, 1.5, size=(2, 3))
        dx, dy = rng.choice([-1e-7, 1e-7], size=(2, 3)), rng.choice([-1e-7, 1e-7], size=(2, 3))
        assert _same(call(x, y), call(x + dx, y + dy)), primitive


def test_the_review_catches_a_smooth_function():
    # The check itself can fail: np.sin is not piecewise constant.
    x = np.random.default_rng(0).uniform(size=3)
    assert not _same(np.sin(x), np.sin(x + 1e-7))


def test_broadcast_to_gives_its_shape_to_the_annotated_gradient():
    source = _source("return np.sum(np.broadcast_to(x0, (4, 2, 3)) * u)", "x0, u")
    text = gradgen.source_from_text(source, "f", wrt=(0,), shapes={"x0": "2 1", "u": "4 2 3"})
    body = text.split("def grad_f")[1]
    assert "unbroadcast(" not in body


@pytest.mark.parametrize("call, shape", [
    ("np.rollaxis(x0, 2)", "4 2 3"), ("np.rollaxis(x0, 0, 3)", "3 4 2"),
    ("np.rot90(x0, 1, axes=(1, 2))", "2 4 3"),
])
def test_axis_permutations_give_their_shape_to_the_annotated_gradient(call, shape):
    source = _source(f"return np.sum({call} * u)", "x0, u")
    text = gradgen.source_from_text(source, "f", wrt=(0,), shapes={"x0": "2 3 4", "u": shape})
    assert "unbroadcast(" not in text.split("def grad_f")[1]
    x0, u = _inputs([(2, 3, 4), tuple(int(n) for n in shape.split())])
    got = gradgen.grad_from_source(source, "f", shapes={"x0": "2 3 4", "u": shape})(x0, u)
    _close(got, _central(_function(source), [x0, u], 0), call)
