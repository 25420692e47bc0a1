"""Tests of gradgen.testing: finite differences and gradient checks.

Every gradient here is written by hand (never produced by gradgen), so these
tests check the checker, not the pipeline.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gradgen import testing
from gradgen.testing import (
    DEFAULT_ATOL,
    DEFAULT_RTOL,
    GradientCheckError,
    check_dot_product,
    check_grads,
    numerical_gradient,
)

RNG = np.random.default_rng(20240601)


@pytest.fixture(autouse=True)
def _fresh_rng():
    """Each test draws the same numbers whatever ran before it (pytest -n
    distributes tests over workers in an order that changes between runs)."""
    global RNG
    RNG = np.random.default_rng(20240601)


def rand(*shape):
    return RNG.uniform(0.5, 1.5, size=shape)


# --- functions and their hand-written gradients (convention: grad(*args, seed)) ---


def f_sin(x):
    return np.sin(x)


def df_sin(x, seed=1.0):
    return seed * np.cos(x)


def f_sumsq(x):
    return np.sum(x * x)


def df_sumsq(x, seed=1.0):
    return 2.0 * x * seed


def f_mul(x, y):
    return x * y


def df_mul(x, y, seed=1.0):
    return seed * y, seed * x


def f_matmul(A, B):
    return A @ B


def df_matmul(A, B, seed=1.0):
    return seed @ B.T, A.T @ seed


def f_pow(x, n):
    return np.sum(x**n)


def df_pow(x, n, seed=1.0):
    return seed * n * x ** (n - 1)


def f_bias(x, b):
    return np.sum((x + b) ** 2)


def df_bias(x, b, seed=1.0):
    g = 2.0 * (x + b) * seed
    return g, np.sum(g, axis=0)


def f_tanh_sum(x, w):
    return np.sum(np.tanh(x @ w))


def df_tanh_sum(x, w, seed=1.0):
    t = np.tanh(x @ w)
    dz = seed * (1.0 - t * t)
    return np.outer(dz, w), x.T @ dz


# --- numerical_gradient ------------------------------------------------------


def test_numerical_gradient_python_float_returns_float():
    g = numerical_gradient(np.sin, (0.3,))
    assert isinstance(g, float)
    assert g == pytest.approx(np.cos(0.3), rel=1e-9)


def test_numerical_gradient_zero_d_array_keeps_shape():
    g = numerical_gradient(f_sin, (np.array(0.7),))
    assert isinstance(g, np.ndarray) and g.shape == ()
    assert float(g) == pytest.approx(np.cos(0.7), rel=1e-9)


@pytest.mark.parametrize("shape", [(1,), (5,), (3, 4), (2, 3, 4)])
def test_numerical_gradient_arrays(shape):
    x = RNG.standard_normal(shape)
    g = numerical_gradient(f_sumsq, (x,))
    assert g.shape == shape
    np.testing.assert_allclose(g, 2 * x, rtol=1e-8, atol=1e-9)


def test_numerical_gradient_wrt_name_and_index():
    x, y = rand(3), rand(3)
    f = lambda x, y: np.sum(x * y)  # noqa: E731
    np.testing.assert_allclose(numerical_gradient(f, (x, y), wrt="y"), x, rtol=1e-8)
    np.testing.assert_allclose(numerical_gradient(f, (x, y), wrt=1), x, rtol=1e-8)
    np.testing.assert_allclose(numerical_gradient(f, (x, y), wrt=-2), y, rtol=1e-8)


def test_numerical_gradient_seed_weights_array_output():
    x, seed = rand(2, 3), RNG.standard_normal((2, 3))
    g = numerical_gradient(f_sin, (x,), seed=seed)
    np.testing.assert_allclose(g, seed * np.cos(x), rtol=1e-8, atol=1e-10)


def test_numerical_gradient_converts_ints_to_float64():
    x = np.array([1, 2, 3])  # an int array cannot hold x + h
    g = numerical_gradient(lambda x: np.sum(x**2), (x,))
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, [2.0, 4.0, 6.0], rtol=1e-9)
    assert numerical_gradient(lambda x: x**3, (2,)) == pytest.approx(12.0, rel=1e-9)


def test_numerical_gradient_float32_input_is_differentiated_in_float64():
    x = np.array([0.1, 0.2], dtype=np.float32)
    g = numerical_gradient(f_sumsq, (x,))
    np.testing.assert_allclose(g, 2 * x.astype(np.float64), rtol=1e-9)


def test_numerical_gradient_explicit_eps_is_an_absolute_step():
    # (2.001**3 - 1.999**3) / 0.002 = 12 + 1e-6 exactly: the step is 1e-3, not 2e-3.
    g = numerical_gradient(lambda x: x**3, (2.0,), eps=1e-3)
    assert g == pytest.approx(12.000001, rel=1e-9)
    assert abs(g - 12.0) > 5e-7


def test_numerical_gradient_default_step_is_scaled_and_accurate():
    assert testing.REL_STEP == pytest.approx(np.finfo(float).eps ** (1 / 3))
    for x in (0.05, 0.5, 3.0, 40.0, 1e4):
        g = numerical_gradient(np.log, (x,))
        assert g == pytest.approx(1 / x, rel=1e-8), x
    # The step is ~6e-6 * max(1, |x|): near a singularity far below 1 it is
    # too coarse (documented), and an explicit eps is the remedy.
    assert numerical_gradient(np.log, (1e-3,)) != pytest.approx(1e3, rel=1e-6)
    assert numerical_gradient(np.log, (1e-3,), eps=1e-8) == pytest.approx(1e3, rel=1e-6)


def test_numerical_gradient_small_entries_next_to_large_outputs():
    # Outputs the perturbed entry does not touch must not add rounding noise.
    x = np.array([0.5, 30.0, 1.0, 35.0])
    g = numerical_gradient(np.exp, (x,))
    np.testing.assert_allclose(g, np.exp(x), rtol=1e-8)


def test_numerical_gradient_does_not_mutate_inputs():
    x, y = rand(3, 2), rand(3, 2)
    x0, y0 = x.copy(), y.copy()

    def mutating(x, y):
        x *= 2.0  # a function that scribbles on its inputs
        y += 1.0
        return np.sum(x * y)

    g = numerical_gradient(mutating, (x, y), wrt=0)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)
    # d/dx sum(2x * (y+1)) on pristine copies at every evaluation
    np.testing.assert_allclose(g, 2 * (y0 + 1), rtol=1e-8)


def test_numerical_gradient_rejects_bad_wrt_and_dtypes():
    with pytest.raises(ValueError, match="'z' is not a positional parameter"):
        numerical_gradient(f_mul, (1.0, 2.0), wrt="z")
    with pytest.raises(ValueError, match="out of range"):
        numerical_gradient(f_mul, (1.0, 2.0), wrt=2)
    with pytest.raises(TypeError, match="real numbers"):
        numerical_gradient(f_sin, (np.array([1j]),))
    with pytest.raises(ValueError, match="positive"):
        numerical_gradient(f_sin, (1.0,), eps=0.0)


# --- check_grads: correct gradients pass ----------------------------------------


def test_check_grads_scalar_argument():
    assert check_grads(np.sin, (0.4,), grad=df_sin) is None


def test_check_grads_zero_d_array():
    check_grads(f_sin, (np.array(1.3),), grad=df_sin)


@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 3, 4)])
def test_check_grads_sum_of_squares_shapes(shape):
    x = RNG.standard_normal(shape)
    check_grads(f_sumsq, (x,), grad=df_sumsq)


@pytest.mark.parametrize("shape", [(4,), (2, 3)])
def test_check_grads_elementwise_output_default_and_explicit_seed(shape):
    x = RNG.standard_normal(shape)
    check_grads(f_sin, (x,), grad=df_sin)
    check_grads(f_sin, (x,), grad=df_sin, seed=RNG.standard_normal(shape))
    check_grads(f_sin, (x,), grad=df_sin, seed=2.5)


def test_check_grads_several_wrt_product():
    x, y = rand(3, 2), rand(3, 2)
    check_grads(f_mul, (x, y), wrt=(0, 1), grad=df_mul)
    check_grads(f_mul, (x, y), wrt=("x", "y"), grad=df_mul, seed=rand(3, 2))


def test_check_grads_matrix_product():
    A, B = RNG.standard_normal((3, 4)), RNG.standard_normal((4, 2))
    check_grads(f_matmul, (A, B), wrt=(0, 1), grad=df_matmul)
    check_grads(f_matmul, (A, B), wrt=(0, 1), grad=df_matmul, seed=rand(3, 2))


def test_check_grads_single_wrt_gets_a_single_gradient():
    A, B = RNG.standard_normal((3, 4)), RNG.standard_normal((4, 2))
    check_grads(f_matmul, (A, B), wrt=1, grad=lambda A, B, s: A.T @ s)
    check_grads(f_matmul, (A, B), wrt=("B",), grad=lambda A, B, s: A.T @ s)


def test_check_grads_wrt_order_is_respected():
    x, y = rand(4), rand(4) + 1.0
    f = lambda x, y: np.sum(x**2 * y)  # noqa: E731
    check_grads(f, (x, y), wrt=(1, 0), grad=lambda x, y, s: (s * x**2, 2 * s * x * y))


def test_check_grads_non_differentiated_argument():
    x = rand(5)
    check_grads(f_pow, (x, 3), wrt=0, grad=df_pow)


def test_check_grads_broadcasting():
    x, b = RNG.standard_normal((3, 4)), RNG.standard_normal(4)
    check_grads(f_bias, (x, b), wrt=(0, 1), grad=df_bias)


def test_check_grads_composite_with_int_inputs():
    x = np.array([[1, 2, 0], [0, -1, 3]])
    w = np.array([0.3, -0.2, 0.1])
    check_grads(f_tanh_sum, (x, w), wrt=(0, 1), grad=df_tanh_sum)


def test_check_grads_large_values_and_wide_ranges():
    x = np.array([1e-2, 0.5, 20.0, 300.0])
    check_grads(np.log, (x,), grad=lambda x, s: s / x)
    check_grads(
        np.exp, (np.array([-5.0, 0.0, 10.0, 30.0]),), grad=lambda x, s: s * np.exp(x)
    )


# --- check_grads: wrong gradients fail with a useful message ----------------------


def off_by_one_percent_at(index):
    def grad(x, seed):
        g = 2.0 * x * seed
        g[index] *= 1.01
        return g

    return grad


def test_entry_off_by_one_percent_is_found_and_named():
    x = rand(3, 4)
    with pytest.raises(GradientCheckError) as info:
        check_grads(f_sumsq, (x,), grad=off_by_one_percent_at((1, 2)))
    err = info.value
    assert isinstance(err, AssertionError)
    assert err.check == "entrywise"
    assert err.index == (1, 2)
    message = str(err)
    assert "'x' (argument 0)" in message
    assert "x[1, 2]" in message and "index (1, 2)" in message
    assert "1 of 12 entries" in message
    assert f"rtol={DEFAULT_RTOL:g}" in message and f"atol={DEFAULT_ATOL:g}" in message
    assert err.analytic == pytest.approx(2.02 * x[1, 2])
    assert err.numerical == pytest.approx(2.0 * x[1, 2], rel=1e-8)
    assert err.rel_error == pytest.approx(0.01, rel=1e-5)
    assert err.abs_error == pytest.approx(0.02 * x[1, 2], rel=1e-5)
    assert f"{err.analytic:.10g}" in message and f"{err.numerical:.10g}" in message


def test_worst_entry_is_reported_among_several():
    x = np.full(6, 0.8)

    def grad(x, seed):
        g = 2.0 * x * seed
        g[1] *= 1.001
        g[4] *= 1.5
        g[5] *= 1.01
        return g

    with pytest.raises(GradientCheckError, match=r"x\[4\]") as info:
        check_grads(f_sumsq, (x,), grad=grad)
    assert info.value.index == (4,)
    assert "3 of 6 entries" in str(info.value)


def test_wrong_sign_scalar():
    with pytest.raises(GradientCheckError) as info:
        check_grads(np.sin, (0.4,), grad=lambda x, s: -s * np.cos(x))
    err = info.value
    assert err.index == ()
    assert err.analytic == pytest.approx(-np.cos(0.4))
    assert err.numerical == pytest.approx(np.cos(0.4))
    assert "rel error: 2" in str(err)


def test_wrong_shape_is_reported():
    x = rand(3, 4)
    with pytest.raises(
        GradientCheckError, match=r"shape \(12,\).*shape \(3, 4\)"
    ) as info:
        check_grads(f_sumsq, (x,), grad=lambda x, s: (2 * x * s).ravel())
    assert info.value.check == "shape"
    # a broadcastable but wrong shape is still wrong
    with pytest.raises(GradientCheckError, match=r"shape \(1, 3, 4\)"):
        check_grads(f_sumsq, (x,), grad=lambda x, s: (2 * x * s)[None])
    # so is an array gradient for a scalar argument
    with pytest.raises(GradientCheckError, match=r"shape \(1,\)"):
        check_grads(np.sin, (0.3,), grad=lambda x, s: np.array([np.cos(x) * s]))


def test_unreduced_broadcast_gradient_fails_on_shape():
    x, b = RNG.standard_normal((3, 4)), RNG.standard_normal(4)
    with pytest.raises(GradientCheckError, match="'b' \\(argument 1\\)") as info:
        check_grads(
            f_bias, (x, b), wrt=(0, 1), grad=lambda x, b, s: (2 * (x + b) * s,) * 2
        )
    assert info.value.check == "shape"


def test_wrong_number_of_gradients():
    x, y = rand(3), rand(3)
    with pytest.raises(GradientCheckError, match="one value for 2 wrt") as info:
        check_grads(f_mul, (x, y), wrt=(0, 1), grad=lambda x, y, s: s * y)
    assert info.value.check == "structure"
    with pytest.raises(GradientCheckError, match="tuple of 2 for one wrt"):
        check_grads(f_mul, (x, y), wrt=0, grad=df_mul)


def test_error_in_second_wrt_names_it():
    x, y = rand(2, 3), rand(2, 3)
    with pytest.raises(GradientCheckError, match="'y' \\(argument 1\\)") as info:
        check_grads(f_mul, (x, y), wrt=(0, 1), grad=lambda x, y, s: (s * y, s * y))
    assert info.value.argument == "'y' (argument 1)"


def test_transposed_matmul_gradient_fails():
    A, B = RNG.standard_normal((3, 3)), RNG.standard_normal((3, 3))
    with pytest.raises(GradientCheckError):
        check_grads(f_matmul, (A, B), wrt=(0, 1), grad=lambda A, B, s: (s @ B, A.T @ s))


def test_nan_gradient_fails():
    def grad(x, s):
        g = 2 * x * s
        g[2] = np.nan
        return g

    with pytest.raises(GradientCheckError) as info:
        check_grads(f_sumsq, (rand(4),), grad=grad)
    assert info.value.index == (2,)
    assert "nan" in str(info.value)


def test_tolerances_are_honoured():
    # A fixed point: the dot-product test compares with the same rtol
    # relative to |<u, J v>|, which a random v can make small by cancellation.
    x = np.linspace(0.5, 1.5, 5)
    grad = off_by_one_percent_at(3)
    check_grads(f_sumsq, (x,), grad=grad, rtol=0.02)  # loose enough: passes
    with pytest.raises(GradientCheckError, match="rtol=0.001"):
        check_grads(f_sumsq, (x,), grad=grad, rtol=1e-3)
    # an error of 1e-7 in a near-zero entry: within atol=1e-6, not within 1e-9
    z = np.array([0.0, 1.0])
    tiny = lambda x, s: 2 * x * s + np.array([1e-7, 0.0])  # noqa: E731
    check_grads(f_sumsq, (z,), grad=tiny)
    with pytest.raises(GradientCheckError, match=r"x\[0\]"):
        check_grads(f_sumsq, (z,), grad=tiny, atol=1e-9)


def test_gradient_that_ignores_the_seed_fails():
    # Right for seed = ones, so only the dot-product test (random u) can see it.
    x = rand(2, 3)
    with pytest.raises(GradientCheckError) as info:
        check_grads(f_sin, (x,), grad=lambda x, s: np.cos(x))
    assert info.value.check == "dot product"
    assert "dot-product test failed for 'x' (argument 0)" in str(info.value)


def test_seed_must_match_output_shape():
    with pytest.raises(ValueError, match="seed has shape"):
        check_grads(f_sin, (rand(3),), grad=df_sin, seed=np.ones(4))


# --- check_dot_product alone -------------------------------------------------------


def counting(func):
    def wrapper(*args):
        wrapper.calls += 1
        return func(*args)

    wrapper.calls = 0
    return wrapper


def test_dot_product_passes_and_is_cheap_for_large_inputs():
    A, B = RNG.standard_normal((60, 80)), RNG.standard_normal((80, 50))
    f = counting(f_matmul)
    check_dot_product(f, (A, B), wrt=(0, 1), grad=df_matmul)
    assert f.calls == 1 + 2 * 2  # the output's shape, then two per argument
    x = RNG.standard_normal(100_000)
    check_dot_product(f_sin, (x,), grad=df_sin)
    check_dot_product(f_sumsq, (x,), grad=df_sumsq)


def test_dot_product_scalar_argument_and_output():
    check_dot_product(np.sin, (0.9,), grad=df_sin)
    check_dot_product(f_pow, (rand(4), 2), grad=df_pow)


def test_dot_product_catches_a_scaled_gradient():
    x = RNG.standard_normal((30, 40))
    with pytest.raises(GradientCheckError) as info:
        check_dot_product(f_sumsq, (x,), grad=lambda x, s: 1.01 * df_sumsq(x, s))
    err = info.value
    assert err.check == "dot product" and err.index is None
    assert "'x' (argument 0)" in str(err)
    assert err.rel_error == pytest.approx(0.01, rel=1e-4)


def test_dot_product_catches_seed_ignored_and_transposes():
    x = rand(50)
    with pytest.raises(GradientCheckError):
        check_dot_product(f_sin, (x,), grad=lambda x, s: np.cos(x))
    A, B = RNG.standard_normal((5, 5)), RNG.standard_normal((5, 5))
    with pytest.raises(GradientCheckError, match="'B' \\(argument 1\\)"):
        check_dot_product(
            f_matmul, (A, B), wrt=(0, 1), grad=lambda A, B, s: (s @ B.T, A @ s)
        )
    # NumPy >= 2.5 gives ufuncs a signature (so the label names 'x'); older ones do not.
    with pytest.raises(GradientCheckError, match="argument 0"):
        check_dot_product(np.sin, (0.9,), grad=lambda x, s: -s * np.cos(x))


def test_dot_product_checks_shapes_too():
    with pytest.raises(GradientCheckError, match="shape") as info:
        check_dot_product(f_sumsq, (rand(2, 3),), grad=lambda x, s: (2 * x * s).T)
    assert info.value.check == "shape"


def test_dot_product_random_state():
    x = RNG.standard_normal((4, 5))
    for state in (0, 1, 12345, np.random.default_rng(7)):
        check_dot_product(f_sin, (x,), grad=df_sin, random_state=state)
    seeds = []

    def recording(x, s):
        seeds.append(np.copy(s))
        return df_sin(x, s)

    check_dot_product(f_sin, (x,), grad=recording, random_state=3)
    check_dot_product(f_sin, (x,), grad=recording, random_state=3)
    np.testing.assert_array_equal(seeds[0], seeds[1])
    assert seeds[0].shape == (4, 5) and np.std(seeds[0]) > 0.1


# --- inputs are never mutated ---------------------------------------------------------


def test_check_grads_does_not_mutate_inputs_even_with_a_scribbling_grad():
    x, y = rand(3, 2), rand(3, 2)
    seed = rand(3, 2)
    saved = x.copy(), y.copy(), seed.copy()

    def scribbling_grad(x, y, s):
        gx, gy = s * y, s * x
        x[...] = 0.0
        y[...] = -1.0
        s[...] = 7.0
        return gx, gy

    check_grads(f_mul, (x, y), wrt=(0, 1), grad=scribbling_grad, seed=seed)
    check_dot_product(f_mul, (x, y), wrt=(0, 1), grad=scribbling_grad)
    for before, after in zip(saved, (x, y, seed)):
        np.testing.assert_array_equal(before, after)


def test_float32_arguments_are_left_alone():
    x = np.array([0.5, 1.5], dtype=np.float32)
    check_grads(f_sumsq, (x,), grad=df_sumsq)
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, np.array([0.5, 1.5], dtype=np.float32))


# --- grad=None builds the gradient with gradgen, lazily -----------------------------


def test_grad_none_uses_gradgen_api_grad(monkeypatch):
    import gradgen.api

    requests = []

    def fake_grad(func, wrt):
        requests.append((func, wrt))
        return df_mul

    monkeypatch.setattr(gradgen.api, "grad", fake_grad)
    x, y = rand(3), rand(3)
    check_grads(f_mul, (x, y), wrt=("x", 1))
    check_dot_product(f_mul, (x, y), wrt=(0, 1))
    assert requests == [(f_mul, ("x", 1)), (f_mul, (0, 1))]


def test_module_depends_on_numpy_only():
    # Loaded on its own, gradgen/testing.py must pull in neither the pipeline
    # nor anything but NumPy (and the standard library).
    path = Path(testing.__file__)
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('gt', {str(path)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in "
        "('gradgen', 'libcst', 'black', 'scipy', 'torch', 'jax'))\n"
        "assert not bad, bad\n"
        "import numpy as np\n"
        "assert abs(m.numerical_gradient(np.sin, (0.0,)) - 1.0) < 1e-9\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the rounding-noise floor ---------------------------------------------------------


def test_large_summed_output_passes_thanks_to_the_noise_floor(monkeypatch):
    # A loss of ~1.5e6 summed from 1000 terms: its rounding error divided by
    # the step exceeds atol for the smallest entries of the gradient.
    x = np.linspace(-5.0, 10.0, 1000)
    f = lambda x: np.sum(np.exp(x))  # noqa: E731
    grad = lambda x, s: s * np.exp(x)  # noqa: E731
    check_grads(f, (x,), grad=grad)
    monkeypatch.setattr(testing, "NOISE_FACTOR", 0.0)
    # (the Richardson refinement's truncation estimate alone does not save it)
    with pytest.raises(GradientCheckError, match="disagrees with central differences"):
        check_grads(f, (x,), grad=grad)


def test_noise_floor_does_not_hide_a_one_percent_error_in_a_small_entry():
    x = np.linspace(-5.0, 10.0, 1000)
    f = lambda x: np.sum(np.exp(x))  # noqa: E731

    def grad(x, s):
        g = s * np.exp(x)
        g[0] *= 1.01  # exp(-5) ~ 0.0067, next to a loss of ~1.5e6
        return g

    with pytest.raises(GradientCheckError) as info:
        check_grads(f, (x,), grad=grad)
    assert info.value.index == (0,)


def test_noise_floor_ignores_outputs_that_did_not_change():
    # Elementwise: a small entry next to huge ones (exp(31) ~ 3e13) is resolved
    # to full accuracy, because the huge outputs cancel exactly.
    x = np.array([-5.0, 30.0, 31.0])

    def grad(x, s):
        g = s * np.exp(x)
        g[0] *= 1.001
        return g

    with pytest.raises(GradientCheckError) as info:
        check_grads(np.exp, (x,), grad=grad, seed=np.ones(3))
    assert info.value.index == (0,)
