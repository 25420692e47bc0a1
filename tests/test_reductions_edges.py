"""Edges of the reduction and selection rules: zeros in products, ties in
sorts and in inf-norms, zero spread, NaN entries, repeated indices, and the
static cases the rules refuse.  Expected values are central differences or
worked out by hand, never computed by the code under test."""

from __future__ import annotations

import numpy as np
import pytest

import gradgen
from gradgen import forward as forward_module
from gradgen.errors import GradgenError

# Forward mode reads explicit @tangent rules (cumprod, average with weights)
# once forward.py does.
HAS_TANGENT_RULES = hasattr(forward_module._Forward, "explicit")


def _loss(body: str, params: str = "x, u") -> str:
    return f"import numpy as np\n\n\ndef f({params}):\n    return np.sum({body} * u)\n"


def _run(source: str):
    namespace: dict = {}
    exec(compile(source, "<edge>", "exec"), namespace)  # the test's own function
    return namespace["f"]


def _central(f, args, k=0, h=1e-6):
    x = np.asarray(args[k], dtype=float)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        a, b = list(args), list(args)
        a[k], b[k] = plus, minus
        grad[index] = (f(*a) - f(*b)) / (2 * h)
    return grad


def _grads(source: str, args, expected=None):
    """The gradient in x, raw and simplified, against central differences
    (and ``expected``, worked out by hand, where given)."""
    f = _run(source)
    reference = _central(f, args)
    for options in (dict(simplify=False), {}):
        got = gradgen.grad_from_source(source, "f", wrt=0, **options)(*args)
        np.testing.assert_allclose(got, reference, rtol=1e-6, atol=1e-7)
        if expected is not None:
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def _forward(source: str, args, tangent):
    f = _run(source)
    _, got = gradgen.jvp_from_source(source, "f", wrt=0)(*args, tangent)
    h = 1e-6
    plus, minus = list(args), list(args)
    plus[0] = args[0] + h * tangent
    minus[0] = args[0] - h * tangent
    np.testing.assert_allclose(got, (f(*plus) - f(*minus)) / (2 * h), rtol=1e-6, atol=1e-7)


def _hvp(source: str, args, v):
    grad = gradgen.grad_from_source(source, "f", wrt=0)
    h = 1e-6
    plus, minus = list(args), list(args)
    plus[0] = args[0] + h * v
    minus[0] = args[0] - h * v
    expected = (np.asarray(grad(*plus)) - np.asarray(grad(*minus))) / (2 * h)
    got = gradgen.hvp_from_source(source, "f", wrt=0)(*args, v)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ prod


@pytest.mark.parametrize("x, expected", [
    ([2.0, 0.0, 3.0], [0.0, 6.0, 0.0]),  # one zero: the product of the others there
    ([0.0, 2.0, 0.0], [0.0, 0.0, 0.0]),  # two zeros: 0 everywhere
    ([2.0, -1.5, 4.0], [-6.0, 8.0, -3.0]),
])
def test_prod_with_zeros(x, expected):
    source = "import numpy as np\n\n\ndef f(x):\n    return np.prod(x)\n"
    _grads(source, (np.array(x),), np.array(expected))


@pytest.mark.parametrize("axis, keepdims", [(None, False), (1, False), (-1, True), (0, True),
                                            ((0, 1), False)])
def test_prod_with_zeros_along_axes(axis, keepdims):
    x = np.array([[2.0, 0.0, 3.0], [0.0, 1.5, 0.0]])
    u = np.random.default_rng(0).standard_normal(np.shape(np.prod(x, axis=axis,
                                                                  keepdims=keepdims)))
    source = _loss(f"np.prod(x, axis={axis!r}, keepdims={keepdims})")
    _grads(source, (x, u))


def test_prod_with_zeros_keeps_float32():
    x = np.array([[2.0, 0.0, 3.0], [0.0, 1.5, 0.0]], dtype=np.float32)
    grad = gradgen.grad_from_source(_loss("x.prod(axis=1)"), "f", wrt=0)
    got = grad(x, np.ones(2, dtype=np.float32))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0]])


# ------------------------------------------------------------------ sort


def test_sort_with_ties_follows_the_stable_permutation():
    # x sorted is [1, 2, 3, 3]: the first 3 (index 0) is sorted to position 2,
    # the second (index 2) to position 3 (a stable sort keeps their order).
    x = np.array([3.0, 1.0, 3.0, 2.0])
    u = np.array([10.0, 20.0, 30.0, 40.0])
    grad = gradgen.grad_from_source(_loss("np.sort(x)"), "f", wrt=0)
    np.testing.assert_array_equal(grad(x, u), [30.0, 10.0, 40.0, 20.0])


@pytest.mark.parametrize("axis", [-1, 0, None])
def test_sort_along_axes(axis):
    x = np.random.default_rng(1).standard_normal((3, 4))
    u = np.random.default_rng(2).standard_normal(np.shape(np.sort(x, axis=axis)))
    source = _loss(f"np.sort(x, axis={axis!r})")
    _grads(source, (x, u))
    _forward(source, (x, u), np.random.default_rng(3).standard_normal(x.shape))


# ------------------------------------------------------------- spreads


def test_std_of_a_constant_row_is_zero_not_nan():
    x = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]])
    u = np.array([1.0, 1.0])
    grad = gradgen.grad_from_source(_loss("np.std(x, axis=1)"), "f", wrt=0)
    got = grad(x, u)
    np.testing.assert_array_equal(got[0], [0.0, 0.0, 0.0])
    # The other row is differentiable: central differences there.
    f = _run(_loss("np.std(x, axis=1)"))
    np.testing.assert_allclose(got[1], _central(f, (x, u))[1], rtol=1e-6)


@pytest.mark.parametrize("ddof", [0, 1])
def test_var_method_with_ddof(ddof):
    x = np.random.default_rng(4).standard_normal((2, 3))
    u = np.random.default_rng(5).standard_normal(3)
    _grads(_loss(f"x.var(axis=0, ddof={ddof})"), (x, u))


def test_ptp_of_a_constant_slice_and_ties():
    x = np.array([[1.0, 1.0, 1.0], [3.0, 0.0, 3.0]])
    grad = gradgen.grad_from_source(_loss("np.ptp(x, axis=1)"), "f", wrt=0)
    # Row 0: max and min are the same entries: 0.  Row 1: the tied max shares.
    np.testing.assert_allclose(grad(x, np.ones(2)), [[0.0, 0.0, 0.0], [0.5, -1.0, 0.5]])


# ------------------------------------------------------------------ NaN


def test_nansum_and_nanmean_skip_nan_entries():
    x = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, 2.0]])
    u = np.array([2.0, 5.0])
    nansum = gradgen.grad_from_source(_loss("np.nansum(x, axis=1)"), "f", wrt=0)
    np.testing.assert_array_equal(nansum(x, u), [[2.0, 0.0, 2.0], [0.0, 0.0, 5.0]])
    nanmean = gradgen.grad_from_source(_loss("np.nanmean(x, axis=1)"), "f", wrt=0)
    np.testing.assert_array_equal(nanmean(x, u), [[1.0, 0.0, 1.0], [0.0, 0.0, 5.0]])


def test_nanmax_ties_and_nan():
    x = np.array([2.0, np.nan, 2.0, 1.0])
    grad = gradgen.grad_from_source(_loss("np.nanmax(x)"), "f", wrt=0)
    np.testing.assert_array_equal(grad(x, 1.0), [0.5, 0.0, 0.5, 0.0])


# ------------------------------------------------------------- gathers


@pytest.mark.parametrize("axis", [0, -1, None])
def test_take_along_axis_in_every_mode(axis):
    x = np.random.default_rng(6).standard_normal((2, 3))
    if axis is None:
        indices = np.array([4, 0, 4, 1])
    else:
        indices = np.array([[0, 1, 0], [1, 1, 0]]) if axis == 0 else np.array([[2, 2], [0, 1]])
    u = np.random.default_rng(7).standard_normal(np.shape(np.take_along_axis(x, indices, axis)))
    source = _loss(f"np.take_along_axis(x, i, axis={axis!r})", "x, i, u")
    _grads(source, (x, indices, u))
    t = np.random.default_rng(8).standard_normal(x.shape)
    _forward(source, (x, indices, u), t)
    _hvp(_loss(f"np.take_along_axis(x, i, axis={axis!r}) ** 2", "x, i, u"),
         (x, indices, u), t)


def test_take_accumulates_repeated_indices():
    x = np.array([1.0, 2.0, 3.0])
    grad = gradgen.grad_from_source(_loss("np.take(x, [2, 0, 2, 2])"), "f", wrt=0)
    np.testing.assert_array_equal(grad(x, np.array([1.0, 10.0, 100.0, 1000.0])),
                                  [10.0, 0.0, 1101.0])


# ------------------------------------------------------- running products


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_cumprod_reverse(axis):
    x = np.random.default_rng(9).uniform(0.5, 2.0, (2, 3))
    u = np.random.default_rng(10).standard_normal(np.shape(np.cumprod(x, axis=axis)))
    _grads(_loss(f"np.cumprod(x, axis={axis!r})"), (x, u))


@pytest.mark.skipif(not HAS_TANGENT_RULES, reason="forward mode does not read @tangent "
                    "rules yet")
@pytest.mark.parametrize("axis", [None, 1])
def test_cumprod_forward(axis):
    x = np.random.default_rng(11).uniform(0.5, 2.0, (2, 3))
    u = np.random.default_rng(12).standard_normal(np.shape(np.cumprod(x, axis=axis)))
    _forward(_loss(f"np.cumprod(x, axis={axis!r})"), (x, u),
             np.random.default_rng(13).standard_normal(x.shape))


# ------------------------------------------------------------------ norms


def test_inf_norm_ties_split_as_max():
    x = np.array([1.0, -3.0, 3.0])
    grad = gradgen.grad_from_source(_loss("np.linalg.norm(x, np.inf)"), "f", wrt=0)
    np.testing.assert_array_equal(grad(x, 1.0), [0.0, -0.5, 0.5])


@pytest.mark.parametrize("ord_, axis", [(-1, (0, 1)), (-1, -1), (-2, 0), ("-np.inf", (1, 0)),
                                        ("np.inf", None), (1, None)])
def test_norm_ords_not_in_the_systematic_signature(ord_, axis):
    x = np.random.default_rng(14).standard_normal((3, 4))
    u = np.random.default_rng(15).standard_normal(np.shape(np.linalg.norm(
        x, eval(str(ord_), {"np": np}), axis)))
    _grads(_loss(f"np.linalg.norm(x, {ord_}, axis={axis!r})"), (x, u))


@pytest.mark.parametrize("call, words", [
    ("np.linalg.norm(x, 'nuc')", "SVD"),
    ("np.linalg.norm(x, 2, axis=(0, 1))", "SVD"),
    ("np.linalg.norm(x, -2, axis=(0, 1))", "SVD"),
    ("np.linalg.norm(x, 2)", "axis="),
    ("np.average(x, axis=0, weights=x)", "axis=None, -1 or a tuple"),
    ("np.diff(x, prepend=0.0)", "prepend"),
    ("np.take(x, [0], mode='clip')", "mode="),
])
def test_refused_static_cases_are_located(call, words):
    source = _loss(call)
    with pytest.raises(GradgenError) as info:
        gradgen.grad_from_source(source, "f", wrt=0)
    assert words in str(info.value)
    assert info.value.location is not None and info.value.location.line == 5


def test_average_with_weights_along_the_last_axis():
    a = np.random.default_rng(16).standard_normal((2, 3))
    w = np.array([1.0, 2.0, 0.5])
    u = np.random.default_rng(17).standard_normal(2)
    source = _loss("np.average(x, axis=-1, weights=w)", "x, w, u")
    _grads(source, (a, w, u))
    f = _run(source)
    grad_w = gradgen.grad_from_source(source, "f", wrt=1)(a, w, u)
    np.testing.assert_allclose(grad_w, _central(f, (a, w, u), 1), rtol=1e-6, atol=1e-7)


# ------------------------------------------------------ lists of choices


CHOOSE = ("import numpy as np\n\n\ndef f(x, y, a, u):\n"
          "    return np.sum(np.choose(a, [x * x, y, 2.0 * x]) * u)\n")
SELECT = ("import numpy as np\n\n\ndef f(x, y, z, u):\n"
          "    return np.sum(np.select([x > 0.5, x > -0.5], [x * x, y * x], z * z) * u)\n")


def _every_mode(source, args, wrt, forward_wrt=None):
    """Reverse mode (raw and simplified), forward mode (in each argument of
    ``wrt``, or jointly in each tuple of ``forward_wrt``) and HVPs in each
    argument of ``wrt``, against central differences."""
    f = _run(source)
    rng = np.random.default_rng(20)
    for k in wrt:
        reference = _central(f, args, k)
        for options in (dict(simplify=False), {}):
            got = gradgen.grad_from_source(source, "f", wrt=k, **options)(*args)
            np.testing.assert_allclose(got, reference, rtol=1e-6, atol=1e-7)
        t = rng.standard_normal(np.shape(args[k]))
        h = 1e-6
        plus, minus = list(args), list(args)
        plus[k], minus[k] = args[k] + h * t, args[k] - h * t
        grad = gradgen.grad_from_source(source, "f", wrt=k)
        expected = (np.asarray(grad(*plus)) - np.asarray(grad(*minus))) / (2 * h)
        got = gradgen.hvp_from_source(source, "f", wrt=k)(*args, t)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    for joint in forward_wrt or [(k,) for k in wrt]:
        tangents = [rng.standard_normal(np.shape(args[k])) for k in joint]
        _, jvp = gradgen.jvp_from_source(source, "f", wrt=joint)(*args, *tangents)
        plus, minus = list(args), list(args)
        for k, t in zip(joint, tangents):
            plus[k], minus[k] = args[k] + h * t, args[k] - h * t
        np.testing.assert_allclose(jvp, (f(*plus) - f(*minus)) / (2 * h), rtol=1e-6)


def test_choose_in_every_mode():
    rng = np.random.default_rng(21)
    x, u = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    y = rng.standard_normal((2, 3))
    a = np.array([[0, 1, 2], [2, 2, 0]])
    _every_mode(CHOOSE, (x, y, a, u), (0, 1))


def test_choose_by_hand():
    grad = gradgen.grad_from_source(CHOOSE, "f", wrt=1)
    a = np.array([[0, 1, 1], [1, 1, 0]])
    got = grad(np.ones((2, 3)), np.zeros((2, 3)), a, np.array([[1.0, 2.0, 3.0],
                                                               [4.0, 5.0, 6.0]]))
    np.testing.assert_array_equal(got, [[0.0, 2.0, 3.0], [4.0, 5.0, 0.0]])


def test_select_in_every_mode():
    rng = np.random.default_rng(22)
    x = np.array([[-1.2, -0.2, 0.3], [0.9, 1.4, -0.7]])
    y, u = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    z = rng.standard_normal(3)  # the default broadcasts
    # Forward mode in the default alone is left out: forward.py gives an
    # inactive choicelist the tangent 0, which np.select cannot take.
    _every_mode(SELECT, (x, y, z, u), (0, 1, 2), [(0,), (1,), (0, 2), (0, 1, 2)])


def test_select_by_hand():
    # x > 0.5 at entry 2, else x > -0.5 at entry 1, else the default at entry 0.
    x = np.array([-1.0, 0.0, 1.0])
    z = np.array([3.0, 4.0, 5.0])
    grads = gradgen.grad_from_source(SELECT, "f", wrt=(0, 1, 2))(x, 2 * np.ones(3), z,
                                                                np.ones(3))
    np.testing.assert_array_equal(grads[0], [0.0, 2.0, 2.0])  # y at entry 1, 2 x at 2
    np.testing.assert_array_equal(grads[1], [0.0, 0.0, 0.0])  # y * x with x = 0
    np.testing.assert_array_equal(grads[2], [6.0, 0.0, 0.0])
