"""gradgen's gradients of the examples/ functions, checked numerically.

For every example: the gradient gradgen generates matches (a) central finite
differences in float64 and (b) the hand-written gradient of
examples/handwritten.py (itself checked in tests/test_handwritten.py).  Also
the seed-000 comparison with the StackExchange formula, several ``wrt`` at
once, the output seed, float32, and the checked-in modules in generated/.

gradgen is imported lazily, inside the tests that use it: the generated/
modules are standalone and are tested without it.
"""

import ast
import functools
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples import cosine, logistic, network, scalar, softmax  # noqa: E402
from examples import handwritten as hw  # noqa: E402

# Against finite differences (h = 1e-6, float64): good to ~1e-9 here.
FD_RTOL = 1e-5
FD_ATOL = 1e-7
# Against the hand-written formulas: both are exact up to rounding.
HW_RTOL = 1e-7
HW_ATOL = 1e-12


def numerical_grad(f, args, argnum, eps=1e-6):
    """Central-difference gradient of scalar ``f(*args)`` w.r.t. ``args[argnum]`` (float64)."""
    args = [np.array(a, dtype=np.float64) for a in args]
    x = args[argnum]
    flat = x.reshape(-1)  # a view: x is a fresh contiguous copy
    grad = np.zeros(x.shape, dtype=np.float64)
    gflat = grad.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        f_plus = float(f(*args))
        flat[i] = orig - eps
        f_minus = float(f(*args))
        flat[i] = orig
        gflat[i] = (f_plus - f_minus) / (2 * eps)
    return grad


@functools.cache
def gradgen_grad(func, wrt, preserve_result=False):
    """``gradgen.grad`` (cached: generating is the slow part)."""
    import gradgen

    return gradgen.grad(func, wrt=wrt, preserve_result=preserve_result)


def as_tuple(result, n):
    """A gradient callable's result as a tuple of ``n`` gradients."""
    if n == 1:
        assert not isinstance(
            result, tuple
        ), "one wrt must give one gradient, not a tuple"
        return (result,)
    assert (
        isinstance(result, tuple) and len(result) == n
    ), f"expected a tuple of {n} gradients"
    return result


# --- the examples and how to feed them -----------------------------------------------


def one_hot(rng, n, c):
    T = np.zeros((n, c))
    T[np.arange(n), rng.integers(0, c, size=n)] = 1.0
    return T


def _pair(dist):
    def make(rng, shape):
        return [getattr(rng, dist)(size=shape), getattr(rng, dist)(size=shape)]

    return make


def _softmax_args(rng, shape):
    return [rng.normal(size=shape), one_hot(rng, *shape)]


def _mlp_args(rng, shape):
    n, d, h = shape
    return [
        0.5 * rng.normal(size=(d, h)),
        0.5 * rng.normal(size=(h,)),
        0.5 * rng.normal(size=(h, 1)),
        0.5 * rng.normal(size=(1,)),
        rng.normal(size=(n, d)),
        rng.integers(0, 2, size=(n, 1)).astype(np.float64),
    ]


def _logistic_args(rng, shape):
    n, d = shape
    return [
        rng.normal(size=(d,)),
        float(rng.normal()),
        rng.normal(size=(n, d)),
        rng.integers(0, 2, size=(n,)).astype(np.float64),
    ]


def _scalar_args(rng, shape):
    if shape == "seed":
        return [1.0, 2.0]  # seed 004's starting point
    return [float(rng.normal()), float(rng.normal())]


@dataclass(frozen=True)
class Case:
    func: Callable
    make_args: Callable  # (rng, shape) -> list of arguments
    shapes: tuple
    wrt: tuple  # the arguments that are differentiated
    handwritten: Callable  # args -> {wrt index: gradient}
    module: str  # examples/<module>.py and generated/<module>_grad.py

    @property
    def name(self):
        return self.func.__name__


CASES = [
    Case(
        cosine.L2_norm,
        lambda rng, shape: [rng.normal(size=shape)],
        ((7,), (128,), (3, 4)),
        (0,),
        lambda X: {0: hw.L2_norm_grad(X)},
        "cosine",
    ),
    Case(
        cosine.cosine_loss,
        _pair("normal"),
        ((128,), (5,), (3, 4)),
        (0, 1),
        lambda X, Y: {0: hw.cosine_loss_grad_X(X, Y), 1: hw.cosine_loss_grad_Y(X, Y)},
        "cosine",
    ),
    Case(
        cosine.cossim_loss_batched,
        _pair("normal"),
        ((4, 3), (10, 16), (1, 5)),
        (0, 1),
        lambda yh, y: {0: hw.get_cossim_loss(yh, y)[1]},
        "cosine",
    ),
    Case(
        cosine.cosine_similarity,
        _pair("normal"),
        ((16, 1), (16,), (3, 5)),
        (0, 1),
        lambda x, y: dict(enumerate(hw.cosine_similarity_grads(x, y))),
        "cosine",
    ),
    Case(
        softmax.softmax_cross_entropy,
        _softmax_args,
        ((4, 3), (8, 10), (1, 5)),
        (0,),
        lambda X, T: {0: hw.softmax_cross_entropy_grad(X, T)},
        "softmax",
    ),
    Case(
        network.mlp_log_loss,
        _mlp_args,
        ((6, 3, 4), (10, 5, 7), (1, 2, 3)),
        (0, 1, 2, 3),
        lambda *args: dict(enumerate(hw.mlp_log_loss_grads(*args))),
        "network",
    ),
    Case(
        scalar.sin_plus_xy,
        _scalar_args,
        ("seed", "random"),
        (0, 1),
        lambda x, y: dict(enumerate(hw.sin_plus_xy_grads(x, y))),
        "scalar",
    ),
    Case(
        logistic.logistic_loss,
        _logistic_args,
        ((8, 3), (20, 5), (1, 1)),
        (0, 1),
        lambda *args: dict(enumerate(hw.logistic_loss_grads(*args))),
        "logistic",
    ),
]

CASES_BY_NAME = {case.name: case for case in CASES}


def case_shape_params():
    return [
        pytest.param(
            case,
            shape,
            id=f"{case.name}-{'x'.join(map(str, shape)) if isinstance(shape, tuple) else shape}",
        )
        for case in CASES
        for shape in case.shapes
    ]


def case_arg_params():
    return [
        pytest.param(case, i, id=f"{case.name}-arg{i}")
        for case in CASES
        for i in case.wrt
    ]


def rng_for(case, shape):
    """A generator seeded from (example, shape): fixed, and independent of test order."""
    text = f"{case.name}:{shape}"
    return np.random.default_rng(sum((i + 1) * ord(c) for i, c in enumerate(text)))


# --- gradgen.grad against finite differences and the hand-written formulas -------------


@pytest.mark.parametrize("case,shape", case_shape_params())
def test_matches_finite_differences(case, shape):
    args = case.make_args(rng_for(case, shape), shape)
    grads = as_tuple(gradgen_grad(case.func, case.wrt)(*args), len(case.wrt))
    for i, g in zip(case.wrt, grads):
        assert np.shape(g) == np.shape(
            args[i]
        ), f"gradient of argument {i} has the wrong shape"
        assert_allclose(
            g,
            numerical_grad(case.func, args, i),
            rtol=FD_RTOL,
            atol=FD_ATOL,
            err_msg=f"argument {i}",
        )


@pytest.mark.parametrize("case,shape", case_shape_params())
def test_matches_handwritten(case, shape):
    args = case.make_args(rng_for(case, shape), shape)
    grads = dict(
        zip(case.wrt, as_tuple(gradgen_grad(case.func, case.wrt)(*args), len(case.wrt)))
    )
    expected = case.handwritten(*args)
    assert expected, "no hand-written gradient to compare with"
    for i, g in expected.items():
        assert_allclose(
            grads[i], g, rtol=HW_RTOL, atol=HW_ATOL, err_msg=f"argument {i}"
        )


@pytest.mark.parametrize("case,argnum", case_arg_params())
def test_one_argument_at_a_time(case, argnum):
    # wrt=(i,) gives one gradient, not a 1-tuple, and it is the same gradient.
    shape = case.shapes[0]
    args = case.make_args(rng_for(case, shape), shape)
    g = gradgen_grad(case.func, (argnum,))(*args)
    assert not isinstance(g, tuple)
    assert_allclose(
        g, numerical_grad(case.func, args, argnum), rtol=FD_RTOL, atol=FD_ATOL
    )


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
def test_output_seed_scales_the_gradient(case):
    shape = case.shapes[0]
    args = case.make_args(rng_for(case, shape), shape)
    dfunc = gradgen_grad(case.func, case.wrt)
    unit = as_tuple(dfunc(*args), len(case.wrt))
    explicit = as_tuple(dfunc(*args, 1.0), len(case.wrt))
    scaled = as_tuple(dfunc(*args, -2.5), len(case.wrt))
    for u, e, s in zip(unit, explicit, scaled):
        assert_allclose(e, u, rtol=1e-15, atol=0)
        assert_allclose(s, -2.5 * np.asarray(u), rtol=1e-12, atol=1e-15)


def test_wrt_by_parameter_name():
    x, y = _pair("normal")(np.random.default_rng(20), (16, 1))
    gx, gy = gradgen_grad(cosine.cosine_similarity, ("x", "y"))(x, y)
    hx, hy = hw.cosine_similarity_grads(x, y)
    assert_allclose(gx, hx, rtol=HW_RTOL, atol=HW_ATOL)
    assert_allclose(gy, hy, rtol=HW_RTOL, atol=HW_ATOL)
    args = _mlp_args(np.random.default_rng(21), (6, 3, 4))
    db2, dW1 = gradgen_grad(network.mlp_log_loss, ("b2", "W1"))(
        *args
    )  # wrt order, not signature order
    hW1, _, _, hb2 = hw.mlp_log_loss_grads(*args)
    assert_allclose(dW1, hW1, rtol=HW_RTOL, atol=HW_ATOL)
    assert_allclose(db2, hb2, rtol=HW_RTOL, atol=HW_ATOL)


def test_preserve_result_returns_value_and_gradient():
    X, Y = _pair("normal")(np.random.default_rng(22), (5,))
    value, g = gradgen_grad(cosine.cosine_loss, (0,), preserve_result=True)(X, Y)
    assert_allclose(value, cosine.cosine_loss(X, Y), rtol=1e-14)
    assert_allclose(g, hw.cosine_loss_grad_X(X, Y), rtol=HW_RTOL, atol=HW_ATOL)


# --- the seeds' own checks ---------------------------------------------------------------


@pytest.mark.parametrize("size", [128, 7])
def test_cosine_loss_against_stackexchange_formula(size):
    # Seed 000: vec1, vec2 = uniform(size=128); the StackExchange gradient (which
    # shifts its inputs by 1e-8) agrees with Tangent's to 7 decimals.
    rng = np.random.default_rng(23)
    vec1 = rng.uniform(size=size)
    vec2 = rng.uniform(size=size)
    sx_loss, sx_grad = hw.sx_cosine_loss(vec1, vec2)
    g = gradgen_grad(cosine.cosine_loss, (0,))(vec1, vec2)
    # The shift moves the gradient by ~1e-8 * |second derivative|: far below 1e-7.
    assert_allclose(g, sx_grad, rtol=1e-6, atol=1e-7)
    np.testing.assert_almost_equal(g, sx_grad)  # the seed's own check, 7 decimals
    assert_allclose(sx_loss, cosine.cosine_loss(vec1, vec2), atol=1e-7)


def test_cosine_similarity_at_seed_001_point():
    # Seed 001's gradcheck point x = y = ones(16, 1): the maximum, gradient 0.
    x = np.ones((16, 1))
    y = np.ones((16, 1))
    gx, gy = gradgen_grad(cosine.cosine_similarity, (0, 1))(x, y)
    assert_allclose(gx, numerical_grad(cosine.cosine_similarity, [x, y], 0), atol=1e-6)
    assert_allclose(gy, numerical_grad(cosine.cosine_similarity, [x, y], 1), atol=1e-6)


def test_sin_plus_xy_gradient_descent_matches_seed_004():
    dfunc = gradgen_grad(scalar.sin_plus_xy, (0, 1))
    x, y, lr = 1.0, 2.0, 1e-2
    for _ in range(1000):
        gx, gy = dfunc(x, y)
        x, y = x - lr * gx, y - lr * gy
    # The values seed 004 prints.
    assert_allclose(x, -13928.111031430128, rtol=1e-9)
    assert_allclose(y, 13928.148130601208, rtol=1e-9)
    assert_allclose(scalar.sin_plus_xy(x, y), -193992792.6350034, rtol=1e-9)


@pytest.mark.parametrize(
    "xshape,yshape", [((5,), (5,)), ((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 4), ())]
)
def test_sin_plus_xy_on_arrays_with_output_seed(xshape, yshape):
    # A non-scalar output: the trailing seed is the output's cotangent, and the
    # gradient of a broadcast argument is summed back to its own shape.
    rng = np.random.default_rng(24)
    x = rng.normal(size=xshape)
    y = rng.normal(size=yshape)
    seed = rng.normal(size=np.broadcast_shapes(xshape, yshape))
    gx, gy = gradgen_grad(scalar.sin_plus_xy, (0, 1))(x, y, seed)
    weighted = lambda a, b: np.sum(seed * scalar.sin_plus_xy(a, b))  # noqa: E731
    assert np.shape(gx) == xshape and np.shape(gy) == yshape
    assert_allclose(gx, numerical_grad(weighted, [x, y], 0), rtol=FD_RTOL, atol=FD_ATOL)
    assert_allclose(gy, numerical_grad(weighted, [x, y], 1), rtol=FD_RTOL, atol=FD_ATOL)


def test_logistic_regression_trains():
    # Seed 003 trains with its gradients: a few steps of gradient descent with
    # the generated ones lower the loss, and track the hand-written descent.
    rng = np.random.default_rng(25)
    X = rng.normal(size=(50, 3))
    y = (X @ np.array([1.5, -2.0, 0.5]) + 0.3 > 0).astype(np.float64)
    dfunc = gradgen_grad(logistic.logistic_loss, (0, 1))
    w, b = np.zeros(3), 0.0
    hw_w, hw_b = np.zeros(3), 0.0
    start = logistic.logistic_loss(w, b, X, y)
    for _ in range(100):
        dw, db = dfunc(w, b, X, y)
        w, b = w - 0.5 * dw, b - 0.5 * db
        hdw, hdb = hw.logistic_loss_grads(hw_w, hw_b, X, y)
        hw_w, hw_b = hw_w - 0.5 * hdw, hw_b - 0.5 * hdb
    assert logistic.logistic_loss(w, b, X, y) < 0.5 * start
    assert_allclose(w, hw_w, rtol=1e-9, atol=1e-12)
    assert_allclose(b, hw_b, rtol=1e-9, atol=1e-12)


# --- float32 in, float32 out ----------------------------------------------------------------

FLOAT32_CASES = [
    "softmax_cross_entropy",
    "logistic_loss",
    "cosine_loss",
    "mlp_log_loss",
]


def _to_float32(a):
    return np.float32(a) if np.ndim(a) == 0 else np.asarray(a, dtype=np.float32)


@pytest.mark.parametrize("name", FLOAT32_CASES)
def test_float32_in_float32_out(name):
    case = CASES_BY_NAME[name]
    shape = case.shapes[1]
    args64 = case.make_args(rng_for(case, shape), shape)
    args32 = [_to_float32(a) for a in args64]
    grads = as_tuple(gradgen_grad(case.func, case.wrt)(*args32), len(case.wrt))
    expected = case.handwritten(*args64)
    for i, g in zip(case.wrt, grads):
        assert (
            np.asarray(g).dtype == np.float32
        ), f"argument {i}: float32 in gave {np.asarray(g).dtype} out"
        assert_allclose(g, expected[i], rtol=1e-3, atol=1e-5, err_msg=f"argument {i}")


# --- the checked-in modules in generated/ ------------------------------------------------------


def load_generated(module):
    path = ROOT / "generated" / f"{module}_grad.py"
    if not path.exists():
        pytest.skip(
            f"{path.relative_to(ROOT)} does not exist yet (it is written by `make generate`)"
        )
    spec = importlib.util.spec_from_file_location(f"_generated_{module}_grad", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, path


@pytest.mark.parametrize("module", sorted({case.module for case in CASES}))
def test_generated_module_imports_only_numpy(module):
    _, path = load_generated(module)
    tree = ast.parse(path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= {
        "numpy",
        "__future__",
    }, f"{path.name} imports {sorted(imported)}"


@pytest.mark.parametrize("case,shape", case_shape_params())
def test_generated_module_is_right(case, shape):
    mod, path = load_generated(case.module)
    fname = f"grad_{case.name}"
    assert hasattr(mod, fname), f"{path.name} defines no {fname}()"
    args = case.make_args(rng_for(case, shape), shape)
    result = getattr(mod, fname)(*args)
    # The module was generated with some wrt; every sensible choice for these
    # examples is a prefix of the parameters (k gradients -> the first k).
    grads = result if isinstance(result, tuple) else (result,)
    assert 1 <= len(grads) <= len(args)
    for i, g in enumerate(grads):
        assert np.shape(g) == np.shape(
            args[i]
        ), f"{fname}: gradient {i} has the wrong shape"
        assert_allclose(
            g,
            numerical_grad(case.func, args, i),
            rtol=FD_RTOL,
            atol=FD_ATOL,
            err_msg=f"{fname}, argument {i}",
        )
