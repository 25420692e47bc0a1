"""Callback style (issue 6): ``vjp_f(*args) -> (output, backprop)``, as in Thinc.

``backprop(d_output)`` must give exactly the gradient ``grad_f`` gives, on the
seed functions and through every control-flow case of
tests/test_control_flow.py (branches, loops with tapes, element writes,
several outputs), any number of times; two generated layers must compose
with seed 000's ``chain`` into the gradient of the composed function.
"""

from __future__ import annotations

import functools
import importlib.util

import numpy as np
import pytest

import gradgen
from gradgen.testing import check_grads
from tests.golden import expected_path, mode_case_files, options_of, render
from tests.test_control_flow import CASES as FLOW_CASES
from tests.test_control_flow import MULTI, NAMESPACE, SOURCE

rng = np.random.default_rng(11)


@functools.cache
def generated(mode: str, name: str, wrt: tuple, simplify: bool = True):
    """A generated function of tests/test_control_flow.py's SOURCE (cached:
    several cases share one function)."""
    make = {"reverse": gradgen.grad_from_source, "callback": gradgen.vjp_from_source,
            "hvp": gradgen.hvp_from_source, "forward": gradgen.jvp_from_source}[mode]
    return make(SOURCE, name, wrt=wrt, simplify=simplify)


def _seed_cases():
    from examples import cosine, logistic, network, recurrent, scalar, softmax

    X, Y = rng.standard_normal(5), rng.standard_normal(5)
    n, d, h = 6, 3, 4
    return [
        (cosine.L2_norm, (X,), ("X",)),
        (cosine.cosine_loss, (X, Y), ("X", "Y")),
        (cosine.cossim_loss_batched, (rng.standard_normal((4, 3)), rng.standard_normal((4, 3))),
         ("yh", "y")),
        (cosine.cosine_similarity, (X, Y), ("x", "y")),
        (softmax.softmax_cross_entropy,
         (rng.standard_normal((4, 3)), np.eye(3)[[0, 2, 1, 2]]), ("X",)),
        (network.mlp_log_loss,
         (rng.standard_normal((d, h)), rng.standard_normal(h), rng.standard_normal((h, 1)),
          rng.standard_normal(1), rng.standard_normal((n, d)),
          (rng.uniform(size=(n, 1)) > 0.5).astype(float)), ("W1", "b1", "W2", "b2")),
        (scalar.sin_plus_xy, (0.7, -1.3), ("x", "y")),
        (logistic.logistic_loss,
         (rng.standard_normal(d), 0.3, rng.standard_normal((n, d)),
          (rng.uniform(size=n) > 0.5).astype(float)), ("w", "b")),
        (recurrent.rnn_loss,
         (rng.standard_normal((4, 3)), rng.standard_normal((3, 2)) * 0.5,
          rng.standard_normal((2, 2)) * 0.5, rng.standard_normal(2)), ("x", "W", "U", "h0")),
    ]


SEED_CASES = _seed_cases()


def as_grad(vjp):
    """``vjp`` with ``grad``'s calling convention: ``(*args, seed)``."""

    def grad(*args):
        _, backprop = vjp(*args[:-1])
        return backprop(args[-1])

    return grad


@pytest.mark.parametrize("func, args, wrt", SEED_CASES, ids=[c[0].__name__ for c in SEED_CASES])
def test_backprop_is_the_gradient_of_the_seed_functions(func, args, wrt):
    vjp = gradgen.vjp(func, wrt=wrt)
    output, backprop = vjp(*args)
    np.testing.assert_allclose(output, func(*args), rtol=1e-14)
    check_grads(func, args, wrt=wrt, grad=as_grad(vjp))
    u = rng.standard_normal(np.shape(output))
    u = float(u) if np.ndim(u) == 0 else u
    expected = gradgen.grad(func, wrt=wrt)(*args, u)
    for _ in range(2):  # backprop can be called again
        got = backprop(u)
        got, want = (got, expected) if len(wrt) > 1 else ((got,), (expected,))
        for g, e in zip(got, want):
            np.testing.assert_allclose(g, e, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name, args, wrt", FLOW_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(FLOW_CASES)])
def test_backprop_through_control_flow_is_the_gradient(name, args, wrt):
    wrt = tuple(w for w in wrt if not isinstance(args[w], int))
    simplify = len(name) % 2 == 0  # raw or simplified: half the functions each
    vjp = generated("callback", name, wrt, simplify)
    grad = generated("reverse", name, wrt, simplify)
    frozen = [np.copy(a) for a in args]
    output, backprop = vjp(*args)
    np.testing.assert_allclose(output, NAMESPACE[name](*args), rtol=1e-14)
    expected = grad(*args)
    expected = expected if len(wrt) > 1 else (expected,)
    for _ in range(2):  # tapes are copied: a second call gives the same gradient
        got = backprop()
        got = got if len(wrt) > 1 else (got,)
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=1e-13, atol=1e-15)
    for a, b in zip(args, frozen):
        np.testing.assert_array_equal(a, b)  # the inputs are not written into


def test_backprop_of_a_loop_copies_its_tapes_and_rebound_names():
    text = gradgen.source_from_text(SOURCE, "power_loop", mode="callback")
    body = text[text.index("def backprop"):]
    assert "y_tape_b = list(y_tape)" in body and "y_b = y_tape_b.pop()" in body
    assert "for i_b in reversed(range(n)):" in body


def test_several_outputs_get_one_seed_each():
    namespace: dict = {}
    exec(MULTI, namespace)
    x, w = rng.standard_normal((4, 3)), rng.standard_normal(3)
    (loss, aux), backprop = gradgen.vjp_from_source(MULTI, "loss_and_aux", wrt="w")(x, w)
    grad = gradgen.grad_from_source(MULTI, "loss_and_aux", wrt="w")
    np.testing.assert_allclose(backprop(2.0, 3.0), grad(x, w, 2.0, 3.0), rtol=1e-13)
    np.testing.assert_allclose(backprop(), grad(x, w), rtol=1e-13)


# ----------------------------------------------------------------- the output

L2 = "import numpy as np\n\n\ndef L2_norm(X):\n    XX = X * X\n    XX_sum = np.sum(XX)\n" \
     "    XX_sqrt = np.sqrt(XX_sum)\n    return XX_sqrt\n"


def test_seed_000_callback_shape():
    text = gradgen.source_from_text(L2, "L2_norm", mode="callback")
    body = text[text.index("def vjp_L2_norm"):]
    assert body.startswith("def vjp_L2_norm(X):")
    assert "    def backprop(d_XX_sqrt=1.0):\n" in body
    assert "        # Grad of: XX_sqrt = np.sqrt(XX_sum)\n" \
           "        d_XX_sum = d_XX_sqrt / (2 * XX_sqrt)\n" in body
    assert "        return 2 * d_XX_sum * X\n\n    return XX_sqrt, backprop\n" in body
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "gradgen" not in code


def test_a_user_name_backprop_is_not_shadowed():
    text = "import numpy as np\n\ndef f(x):\n    backprop = np.sin(x)\n    return np.sum(backprop)\n"
    source = gradgen.source_from_text(text, "f", mode="callback")
    assert "def backprop_2(" in source and "return result, backprop_2" in source
    output, backprop = gradgen.vjp_from_source(text, "f")(np.arange(3.0))
    np.testing.assert_allclose(backprop(), np.cos(np.arange(3.0)))


# --------------------------------------------------------------- composition


def test_generated_layers_compose_with_seed_000_chain():
    from examples import compose

    assert compose.main(seed=3) < 1e-12
    rng_x = np.random.default_rng(4).standard_normal((5, 3))
    model = compose.chain(gradgen.vjp(compose.unit_rows), gradgen.vjp(compose.logsumexp_rows))
    loss, backprop = model(rng_x)
    assert np.isclose(loss, compose.unit_rows_logsumexp(rng_x))
    check_grads(compose.unit_rows_logsumexp, (rng_x,), grad=lambda X, u: backprop(u))


# -------------------------------------------------------------------- doors


def test_decorator_attaches_vjp(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "callback_decorated.py"
    path.write_text("import numpy as np\nfrom gradgen import differentiable\n\n\n"
                    "@differentiable(mode='callback', wrt=('x', 'y'))\n"
                    "def f(x, y):\n    return np.sum(np.sin(x) * y)\n")
    spec = importlib.util.spec_from_file_location("callback_decorated", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x, y = np.array([0.1, 0.5]), np.array([2.0, -1.0])
    output, backprop = module.f.vjp(x, y)
    d_x, d_y = backprop(1.0)
    np.testing.assert_allclose(d_x, np.cos(x) * y)
    np.testing.assert_allclose(d_y, np.sin(x))
    assert "def vjp_f(x, y):" in module.f.vjp_source


def test_cli_writes_callback_modules(tmp_path, monkeypatch):
    from gradgen.cli import main

    (tmp_path / "model.py").write_text(L2)
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "-q", "model.py::L2_norm", "--mode", "callback"]) == 0
    assert "def vjp_L2_norm(X):" in (tmp_path / "generated" / "model_vjp.py").read_text()
    assert main(["check", "-q", "model.py::L2_norm", "--mode", "callback"]) == 0


CALLBACK_CASES = mode_case_files("callback")


@pytest.mark.parametrize("path", CALLBACK_CASES, ids=[p.stem for p in CALLBACK_CASES])
def test_callback_golden_file(path):
    expected = expected_path(path)
    assert render(path) == expected.read_text(encoding="utf-8"), \
        f"{path.name} generates different code: run `make golden` and review the diff"
    options = options_of(path)
    spec = importlib.util.spec_from_file_location(f"golden_{path.stem}", expected)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    namespace: dict = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec", dont_inherit=True), namespace)
    func = namespace[options["function"]]
    params = list(func.__code__.co_varnames[: func.__code__.co_argcount])
    args = tuple(3 if func.__annotations__.get(p) == "int" else rng.uniform(0.2, 1.0, 4)
                 for p in params)
    wrt = options.get("wrt", (params[0],))
    check_grads(func, args, wrt=wrt, grad=as_grad(getattr(module, f"vjp_{func.__name__}")))
