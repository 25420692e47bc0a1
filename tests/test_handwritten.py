"""The hand-written gradients in examples/handwritten.py against central differences.

These are the references gradgen's output is compared with, so they are
checked here first, independently of gradgen: each against a central finite
difference of the example function itself (float64, fixed seeds, several
shapes).  The finite-difference helper is local on purpose.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples import handwritten as hw  # noqa: E402
from examples.cosine import (  # noqa: E402
    L2_norm,
    cosine_loss,
    cosine_similarity,
    cossim_loss_batched,
)
from examples.logistic import logistic_loss  # noqa: E402
from examples.network import mlp_log_loss  # noqa: E402
from examples.scalar import sin_plus_xy  # noqa: E402
from examples.softmax import softmax_cross_entropy  # noqa: E402

# Central differences with h = 1e-6 on O(1) inputs are good to ~1e-9 here;
# these tolerances are loose enough for that and far tighter than any real
# mistake in a formula (a wrong sign or factor is an O(1) relative error).
RTOL = 1e-5
ATOL = 1e-7


def numerical_grad(f, args, argnum, eps=1e-6):
    """Central-difference gradient of scalar ``f(*args)`` w.r.t. ``args[argnum]``.

    Works on a float64 copy of the arguments; a scalar argument gives a 0-d array.
    """
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


def one_hot(rng, n, c):
    T = np.zeros((n, c))
    T[np.arange(n), rng.integers(0, c, size=n)] = 1.0
    return T


def test_numerical_grad_helper_is_right():
    # The helper itself, on a function whose gradient is known in closed form.
    rng = np.random.default_rng(0)
    A = rng.normal(size=(3, 4))
    B = rng.normal(size=(3, 4))
    assert_allclose(
        numerical_grad(lambda a, b: np.sum(a * a * b), [A, B], 0),
        2 * A * B,
        rtol=RTOL,
        atol=ATOL,
    )
    assert_allclose(
        numerical_grad(lambda a, b: np.sum(a * a * b), [A, B], 1),
        A * A,
        rtol=RTOL,
        atol=ATOL,
    )
    assert numerical_grad(lambda s: s**3, [2.0], 0).shape == ()
    assert_allclose(numerical_grad(lambda s: s**3, [2.0], 0), 12.0, rtol=RTOL)


# --- seed 000: L2 norm and cosine loss ------------------------------------------


@pytest.mark.parametrize("shape", [(7,), (128,), (3, 4), (2, 3, 4)])
def test_L2_norm_grad(shape):
    X = np.random.default_rng(1).normal(size=shape)
    assert_allclose(
        hw.L2_norm_grad(X), numerical_grad(L2_norm, [X], 0), rtol=RTOL, atol=ATOL
    )
    assert hw.L2_norm_grad(X).shape == shape


@pytest.mark.parametrize("shape", [(128,), (5,), (3, 4)])
def test_cosine_loss_grads(shape):
    rng = np.random.default_rng(2)
    X = rng.normal(size=shape)
    Y = rng.normal(size=shape)
    assert_allclose(
        hw.cosine_loss_grad_X(X, Y),
        numerical_grad(cosine_loss, [X, Y], 0),
        rtol=RTOL,
        atol=ATOL,
    )
    assert_allclose(
        hw.cosine_loss_grad_Y(X, Y),
        numerical_grad(cosine_loss, [X, Y], 1),
        rtol=RTOL,
        atol=ATOL,
    )


@pytest.mark.parametrize("shape", [(128,), (6,), (2, 5)])
def test_sx_cosine_loss(shape):
    rng = np.random.default_rng(3)
    yh = rng.uniform(size=shape)  # seed 000 uses np.random.uniform(size=128)
    y = rng.uniform(size=shape)
    loss, grad = hw.sx_cosine_loss(yh, y)
    # The returned gradient is the gradient of the returned loss (shift included).
    assert_allclose(
        grad,
        numerical_grad(lambda a, b: hw.sx_cosine_loss(a, b)[0], [yh, y], 0),
        rtol=RTOL,
        atol=ATOL,
    )
    # ... and, up to the 1e-8 shift, the gradient of cosine_loss, as seed 000
    # checked with assert_almost_equal (7 decimals) against Tangent.
    assert_allclose(loss, cosine_loss(yh, y), rtol=0, atol=1e-7)
    assert_allclose(grad, hw.cosine_loss_grad_X(yh, y), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shape", [(4, 3), (10, 16), (1, 5)])
def test_get_cossim_loss(shape):
    rng = np.random.default_rng(4)
    yh = rng.normal(size=shape)
    y = rng.normal(size=shape)
    loss, grad = hw.get_cossim_loss(yh, y)
    assert grad.shape == yh.shape
    assert_allclose(loss, cossim_loss_batched(yh, y), rtol=1e-12)
    fd = numerical_grad(cossim_loss_batched, [yh, y], 0)
    # The sign convention: the second result, -d_yh, is the gradient of the loss.
    assert_allclose(grad, fd, rtol=RTOL, atol=ATOL)
    assert not np.allclose(-grad, fd, rtol=RTOL, atol=ATOL)


def test_get_cossim_loss_parallel_rows():
    # Rows where yh is parallel to y sit at the loss's minimum (cosine == 1,
    # where |1 - cosine| has its kink only if rounding pushes cosine above 1):
    # there the seed's formula and the finite difference both give ~0.
    rng = np.random.default_rng(5)
    y = rng.uniform(0.5, 1.5, size=(3, 4))
    yh = y.copy()
    yh[1] = rng.normal(size=4)  # only row 1 is not parallel
    loss, grad = hw.get_cossim_loss(yh, y)
    fd = numerical_grad(cossim_loss_batched, [yh, y], 0)
    assert_allclose(grad, fd, rtol=RTOL, atol=ATOL)
    assert_allclose(grad[[0, 2]], 0.0, atol=1e-7)
    assert np.abs(grad[1]).max() > 1e-3


# --- seed 001: cosine similarity, both arguments -----------------------------------


@pytest.mark.parametrize("shape", [(16, 1), (16,), (3, 5)])
def test_cosine_similarity_grads(shape):
    rng = np.random.default_rng(6)
    x = rng.normal(size=shape)
    y = rng.normal(size=shape)
    gx, gy = hw.cosine_similarity_grads(x, y)
    assert_allclose(
        gx, numerical_grad(cosine_similarity, [x, y], 0), rtol=RTOL, atol=ATOL
    )
    assert_allclose(
        gy, numerical_grad(cosine_similarity, [x, y], 1), rtol=RTOL, atol=ATOL
    )


def test_cosine_similarity_grads_at_seed_point():
    # Seed 001 runs gradcheck at x = y = ones(16, 1): the maximum, gradient 0.
    x = np.ones((16, 1))
    y = np.ones((16, 1))
    gx, gy = hw.cosine_similarity_grads(x, y)
    assert_allclose(gx, numerical_grad(cosine_similarity, [x, y], 0), atol=1e-7)
    assert_allclose(gy, numerical_grad(cosine_similarity, [x, y], 1), atol=1e-7)


# --- seed 002: softmax cross-entropy -------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 3), (8, 10), (1, 5)])
def test_softmax_cross_entropy_grad(shape):
    rng = np.random.default_rng(7)
    X = rng.normal(size=shape)
    T = one_hot(rng, *shape)
    assert_allclose(
        hw.softmax_cross_entropy_grad(X, T),
        numerical_grad(softmax_cross_entropy, [X, T], 0),
        rtol=RTOL,
        atol=ATOL,
    )


def test_softmax_cross_entropy_grad_float32():
    # Seed 002 runs in float32 too: same dtype out, close to the float64 result.
    rng = np.random.default_rng(8)
    X = rng.normal(size=(32, 10))
    T = one_hot(rng, 32, 10)
    g32 = hw.softmax_cross_entropy_grad(X.astype(np.float32), T.astype(np.float32))
    assert g32.dtype == np.float32
    assert_allclose(g32, hw.softmax_cross_entropy_grad(X, T), rtol=1e-4, atol=1e-6)


# --- seed 003: a one-hidden-layer network, and logistic regression -------------------


def mlp_inputs(rng, n, d, h):
    W1 = 0.5 * rng.normal(size=(d, h))
    b1 = 0.5 * rng.normal(size=(h,))
    W2 = 0.5 * rng.normal(size=(h, 1))
    b2 = 0.5 * rng.normal(size=(1,))
    X = rng.normal(size=(n, d))
    y = rng.integers(0, 2, size=(n, 1)).astype(np.float64)
    return [W1, b1, W2, b2, X, y]


@pytest.mark.parametrize("n,d,h", [(6, 3, 4), (10, 5, 7), (1, 2, 3)])
def test_mlp_log_loss_grads(n, d, h):
    args = mlp_inputs(np.random.default_rng(9), n, d, h)
    grads = hw.mlp_log_loss_grads(*args)
    assert len(grads) == 4
    for i, g in enumerate(grads):
        assert g.shape == args[i].shape
        assert_allclose(g, numerical_grad(mlp_log_loss, args, i), rtol=RTOL, atol=ATOL)


def logistic_inputs(rng, n, d):
    w = rng.normal(size=(d,))
    b = float(rng.normal())
    X = rng.normal(size=(n, d))
    y = rng.integers(0, 2, size=(n,)).astype(np.float64)
    return [w, b, X, y]


@pytest.mark.parametrize("n,d", [(8, 3), (20, 5), (1, 1)])
def test_logistic_loss_grads(n, d):
    args = logistic_inputs(np.random.default_rng(10), n, d)
    dw, db = hw.logistic_loss_grads(*args)
    assert dw.shape == (d,)
    assert np.ndim(db) == 0
    assert_allclose(dw, numerical_grad(logistic_loss, args, 0), rtol=RTOL, atol=ATOL)
    assert_allclose(db, numerical_grad(logistic_loss, args, 1), rtol=RTOL, atol=ATOL)


# --- seed 004: sin(x) + x*y ------------------------------------------------------------


@pytest.mark.parametrize("x,y", [(1.0, 2.0), (-0.3, 0.7), (4.0, -1.5)])
def test_sin_plus_xy_grads_scalar(x, y):
    gx, gy = hw.sin_plus_xy_grads(x, y)
    assert_allclose(gx, numerical_grad(sin_plus_xy, [x, y], 0), rtol=RTOL, atol=ATOL)
    assert_allclose(gy, numerical_grad(sin_plus_xy, [x, y], 1), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("shape", [(5,), (2, 3)])
def test_sin_plus_xy_grads_elementwise(shape):
    # For arrays the formulas are the gradient of sum(sin(x) + x*y).
    rng = np.random.default_rng(11)
    x = rng.normal(size=shape)
    y = rng.normal(size=shape)
    gx, gy = hw.sin_plus_xy_grads(x, y)
    total = lambda a, b: np.sum(sin_plus_xy(a, b))  # noqa: E731
    assert_allclose(gx, numerical_grad(total, [x, y], 0), rtol=RTOL, atol=ATOL)
    assert_allclose(gy, numerical_grad(total, [x, y], 1), rtol=RTOL, atol=ATOL)


def test_sin_plus_xy_gradient_descent_matches_seed():
    # Seed 004's loop (x=1, y=2, lr=1e-2, 1000 steps) and the values it prints.
    x, y, lr = 1.0, 2.0, 1e-2
    assert_allclose(sin_plus_xy(x, y), 2.8414709848078967, rtol=1e-12)
    for _ in range(1000):
        gx, gy = hw.sin_plus_xy_grads(x, y)
        x, y = x - lr * gx, y - lr * gy
    assert_allclose(x, -13928.111031430128, rtol=1e-9)
    assert_allclose(y, 13928.148130601208, rtol=1e-9)
    assert_allclose(sin_plus_xy(x, y), -193992792.6350034, rtol=1e-9)
