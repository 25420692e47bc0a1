"""Every differentiable entry of the registry, in every mode, from its test
signature (see tests/systematic.py): reverse mode raw, simplified,
shape-annotated and specialised at the call (gradgen.specialize), forward
mode, and Hessian-vector products, each against central differences in
float64; float32 in gives float32 out.

`make test` runs the first case of each entry (simplified and specialised
reverse code, forward mode, HVP, float32); `make test-all` runs them all,
each also raw and with its literal shapes annotated.
An entry whose signature yields no case fails: no primitive goes untested.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradgen
from gradgen.rules import load_registry
from tests.systematic import all_cases, missing_module

ENTRIES = all_cases()
PARAMS = []
for primitive, found in ENTRIES:
    entry = load_registry().entry(primitive)
    if missing_module(primitive):
        PARAMS.append(pytest.param(primitive, None, id=f"{primitive}-not-installed", marks=(
            pytest.mark.skip(reason=f"{missing_module(primitive)} is not installed"),)))
        continue
    if not found and "skip" in (entry.test or {}):
        continue
    if not found:
        PARAMS.append(pytest.param(primitive, None, id=f"{primitive}-no-case"))
    for index, case in enumerate(found):
        marks = () if index == 0 else (pytest.mark.slow,)
        PARAMS.append(pytest.param(primitive, case, id=case.label, marks=marks))


def _central(f, args, k, h=1e-6):
    x = np.asarray(args[k], dtype=float)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        a, b = list(args), list(args)
        a[k] = plus if x.ndim else float(plus)
        b[k] = minus if x.ndim else float(minus)
        grad[index] = (f(*a) - f(*b)) / (2 * h)
    return grad


def _loss(case):
    namespace: dict = {}
    exec(compile(case.source, "<case>", "exec"), namespace)  # the test's own code
    return namespace["loss"]


def _close(got, expected, what):
    assert np.shape(got) == np.shape(expected), f"{what}: shape {np.shape(got)}"
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-6, err_msg=what)


@pytest.mark.parametrize("primitive, case", PARAMS)
def test_reverse_mode(primitive, case, request):
    """Simplified, specialised at the call (and, with ``--run-slow``, raw and
    annotated with the case's literal shapes) against central differences;
    then float32 in gives float32 out, through the same specialised gradient."""
    assert case is not None, f"{primitive} has no systematic case: give it test=dict(...)"
    f = _loss(case)
    expected = [_central(f, case.args, k) for k in case.wrt]
    runs = [("simplified", dict(specialize=False)), ("specialised at the call", {})]
    if request.config.getoption("--run-slow"):  # (the fuzzer checks raw code too)
        runs += [("raw", dict(simplify=False)), ("shapes", dict(shapes=case.shapes))]
    grads = {}
    for label, options in runs:
        grad = grads[label] = gradgen.grad_from_source(case.source, "loss", wrt=case.wrt,
                                                       **options)
        got = grad(*case.args)
        got = got if len(case.wrt) > 1 else (got,)
        for k, g, e in zip(case.wrt, got, expected):
            _close(g, e, f"{label}, argument {k}")
    if case.keeps_float32:
        args = [np.float32(a) if np.ndim(a) == 0 else np.asarray(a, dtype=np.float32)
                for a in case.args]
        got = grads["specialised at the call"](*args)
        got = got if len(case.wrt) > 1 else (got,)
        for k, g in zip(case.wrt, got):
            assert np.asarray(g).dtype == np.float32, f"float32, argument {k}: {np.asarray(g).dtype}"


@pytest.mark.parametrize("primitive, case", PARAMS)
def test_forward_mode(primitive, case):
    assert case is not None, f"{primitive} has no systematic case: give it test=dict(...)"
    f = _loss(case)
    rng = np.random.default_rng(1)
    tangents = [rng.standard_normal(np.shape(case.args[k])) for k in case.wrt]
    tangents = [float(t) if np.ndim(t) == 0 else t for t in tangents]
    jvp = gradgen.jvp_from_source(case.source, "loss", wrt=case.wrt)
    _, got = jvp(*case.args, *tangents)
    h = 1e-6
    plus = list(case.args)
    minus = list(case.args)
    for k, t in zip(case.wrt, tangents):
        plus[k] = case.args[k] + h * t
        minus[k] = case.args[k] - h * t
    _close(got, (f(*plus) - f(*minus)) / (2 * h), "forward mode")


@pytest.mark.parametrize("primitive, case", PARAMS)
def test_hessian_vector_product(primitive, case):
    assert case is not None, f"{primitive} has no systematic case: give it test=dict(...)"
    k = case.wrt[0]
    grad = gradgen.grad_from_source(case.source, "loss", wrt=k, specialize=False)
    hvp = gradgen.hvp_from_source(case.source, "loss", wrt=k)
    rng = np.random.default_rng(2)
    v = rng.standard_normal(np.shape(case.args[k]))
    v = float(v) if np.ndim(v) == 0 else v
    h = 1e-6
    plus, minus = list(case.args), list(case.args)
    plus[k] = case.args[k] + h * v
    minus[k] = case.args[k] - h * v
    expected = (np.asarray(grad(*plus)) - np.asarray(grad(*minus))) / (2 * h)
    _close(hvp(*case.args, v), expected, "HVP")  # the vectors follow f's parameters


