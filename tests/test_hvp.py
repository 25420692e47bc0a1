"""Higher order (issue 6): Hessian-vector products and gradients of gradients.

``hvp_f`` is forward mode run over the generated gradient (forward over
reverse).  It is checked against central differences of the generated
gradient along the same vector, ``(grad(x + h v) - grad(x - h v)) / 2h``, on
the seed functions and on every control-flow case of
tests/test_control_flow.py (loops with tapes, branches, element writes).  The
gradient of a gradient is gradgen run on its own output text: the generated
module is in gradgen's subset.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import gradgen
from tests.golden import expected_path, mode_case_files, options_of, render
from tests.test_callback import SEED_CASES, generated
from tests.test_control_flow import CASES as FLOW_CASES
from tests.test_control_flow import SOURCE

rng = np.random.default_rng(21)


def _tuple(value, n):
    return tuple(value) if n > 1 else (value,)


def gradient_difference(grad, args, index, vectors, h=1e-5):
    """``(grad(x + h v) - grad(x - h v)) / 2h``, every ``wrt`` argument moved."""
    plus, minus = list(args), list(args)
    for i, v in zip(index, vectors):
        plus[i] = args[i] + h * np.asarray(v)
        minus[i] = args[i] - h * np.asarray(v)
    n = len(index)
    return tuple((np.asarray(a) - np.asarray(b)) / (2 * h)
                 for a, b in zip(_tuple(grad(*plus), n), _tuple(grad(*minus), n)))


def _vectors(args, index):
    vectors = [rng.standard_normal(np.shape(args[i])) for i in index]
    return [float(v) if np.shape(v) == () else v for v in vectors]


def _check(hv, expected, n):
    for got, want in zip(_tuple(hv, n), expected):
        assert np.shape(got) == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("func, args, wrt", SEED_CASES, ids=[c[0].__name__ for c in SEED_CASES])
def test_hvp_of_the_seed_functions(func, args, wrt):
    params = list(func.__code__.co_varnames[: func.__code__.co_argcount])
    index = [params.index(w) for w in wrt]
    vectors = _vectors(args, index)
    hv = gradgen.hvp(func, wrt=wrt)(*args, *vectors)
    _check(hv, gradient_difference(gradgen.grad(func, wrt=wrt), args, index, vectors), len(wrt))


@pytest.mark.parametrize("name, args, wrt", FLOW_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(FLOW_CASES)])
def test_hvp_through_control_flow(name, args, wrt):
    index = [w for w in wrt if not isinstance(args[w], int)]
    vectors = _vectors(args, index)
    hv = generated("hvp", name, tuple(index))(*args, *vectors)
    grad = generated("reverse", name, tuple(index))
    _check(hv, gradient_difference(grad, args, index, vectors), len(index))


def test_hvp_of_a_loop_raw_and_simplified_agree():
    x = rng.standard_normal(4)
    v = rng.standard_normal(4)
    raw = gradgen.hvp_from_source(SOURCE, "power_loop", simplify=False)(x, 3, v)
    simplified = gradgen.hvp_from_source(SOURCE, "power_loop")(x, 3, v)
    np.testing.assert_allclose(raw, simplified, rtol=1e-12)
    assert np.allclose(raw, gradient_difference(
        gradgen.grad_from_source(SOURCE, "power_loop"), [x, 3], [0], [v])[0], rtol=1e-5)


def test_hvp_preserve_result_returns_the_gradient_too():
    from examples.cosine import cosine_similarity

    x, y, vx, vy = (rng.standard_normal(4) for _ in range(4))
    (gx, gy), (hx, hy) = gradgen.hvp(cosine_similarity, wrt=("x", "y"),
                                     preserve_result=True)(x, y, vx, vy)
    ex, ey = gradgen.grad(cosine_similarity, wrt=("x", "y"))(x, y)
    np.testing.assert_allclose(gx, ex, rtol=1e-13)
    np.testing.assert_allclose(gy, ey, rtol=1e-13)


def test_the_hessian_of_logistic_regression_is_x_t_s_x():
    """A closed form: H = X^T diag(p (1 - p)) X / n, so H v is known exactly."""
    from examples.logistic import logistic_loss

    n, d = 7, 3
    w, b = rng.standard_normal(d), 0.2
    X, y = rng.standard_normal((n, d)), (rng.uniform(size=n) > 0.5).astype(float)
    v = rng.standard_normal(d)
    p = 1 / (1 + np.exp(-(X @ w + b)))
    expected = X.T @ (p * (1 - p) * (X @ v)) / n
    np.testing.assert_allclose(gradgen.hvp(logistic_loss, wrt="w")(w, b, X, y, v), expected,
                               rtol=1e-12)


# ------------------------------------------------------ gradient of a gradient


SHAPES = {  # shapes let the simplifier remove every helper call (see below)
    "L2_norm": {"X": "n"}, "cosine_loss": {"X": "n", "Y": "n"},
    "cossim_loss_batched": {"yh": "n d", "y": "n d"}, "cosine_similarity": {"x": "n", "y": "n"},
    "softmax_cross_entropy": {"X": "n c", "T": "n c"}, "sin_plus_xy": {"x": "", "y": ""},
    "logistic_loss": {"w": "d", "b": "", "X": "n d", "y": "n"},
}
GRAD_OF_GRAD = [c for c in SEED_CASES if c[0].__name__ in SHAPES]


@pytest.mark.parametrize("func, args, wrt", GRAD_OF_GRAD, ids=[c[0].__name__ for c in GRAD_OF_GRAD])
def test_gradient_of_the_generated_gradient(func, args, wrt):
    """gradgen differentiates its own output: d/dx <u, grad f(x)> = H u."""
    name = func.__name__
    first = gradgen.source(func, wrt=wrt[0], shapes=SHAPES[name])
    grad_of_grad = gradgen.grad_from_source(first, f"grad_{name}", wrt=wrt[0])
    params = list(func.__code__.co_varnames[: func.__code__.co_argcount])
    index = params.index(wrt[0])
    u = rng.standard_normal(np.shape(args[index]))
    u = float(u) if np.shape(u) == () else u
    got = grad_of_grad(*args, 1.0, u)
    expected = gradient_difference(gradgen.grad(func, wrt=wrt[0]), args, [index], [u])[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)  # H symmetric: H u
    hv = gradgen.hvp(func, wrt=wrt[0])(*args, u)
    np.testing.assert_allclose(got, hv, rtol=1e-9, atol=1e-12)


def test_gradient_of_a_generated_gradient_that_defines_helpers():
    from examples.cosine import cosine_loss

    first = gradgen.source(cosine_loss)
    assert "def unbroadcast(" in first
    X, Y, u = (rng.standard_normal(4) for _ in range(3))
    got = gradgen.grad_from_source(first, "grad_cosine_loss")(X, Y, 1.0, u)
    np.testing.assert_allclose(got, gradgen.hvp(cosine_loss)(X, Y, u), rtol=1e-9)


def test_third_order_forward_over_forward_over_reverse():
    """hvp output is in the subset too: its JVP is a third derivative."""
    text = "import numpy as np\n\n\ndef f(x):\n    return np.sum(np.sin(x) * x * x)\n"
    module = gradgen.source_from_text(text, "f", mode="hvp")
    jvp_of_hvp = gradgen.jvp_from_source(module, "hvp_f", wrt="x")
    x, v, w = rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal(3)
    hvp = gradgen.compile_module(module)["hvp_f"]
    _, third = jvp_of_hvp(x, v, w)
    h = 1e-5
    expected = (hvp(x + h * w, v) - hvp(x - h * w, v)) / (2 * h)
    np.testing.assert_allclose(third, expected, rtol=1e-5, atol=1e-8)


# ------------------------------------------------------------------- doors


def test_hvp_signature_and_names():
    text = gradgen.source_from_text(SOURCE, "power_loop", mode="hvp")
    assert "def hvp_power_loop(x, n, t_x, d_result=1.0):" in text
    assert "t_y_tape" in text and "# Tangent of grad of:" in text
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "gradgen" not in code


def test_decorator_and_cli_generate_hvp(tmp_path, monkeypatch):
    from gradgen.cli import main

    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "model.py"
    path.write_text("import numpy as np\nfrom gradgen import differentiable\n\n\n"
                    "@differentiable(mode='hvp')\ndef f(x):\n    return np.sum(np.exp(x))\n")
    spec = importlib.util.spec_from_file_location("hvp_decorated", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x, v = np.array([0.1, -0.4]), np.array([1.0, 2.0])
    np.testing.assert_allclose(module.f.hvp(x, v), np.exp(x) * v, rtol=1e-14)
    assert "def hvp_f(x, t_x, d_result=1.0):" in module.f.hvp_source
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "-q", "model.py::f", "--mode", "hvp"]) == 0
    assert "def hvp_f(" in (tmp_path / "generated" / "model_hvp.py").read_text()


HVP_CASES = mode_case_files("hvp")


@pytest.mark.parametrize("path", HVP_CASES, ids=[p.stem for p in HVP_CASES])
def test_hvp_golden_file(path):
    expected = expected_path(path)
    assert render(path) == expected.read_text(encoding="utf-8"), \
        f"{path.name} generates different code: run `make golden` and review the diff"
    options = options_of(path)
    spec = importlib.util.spec_from_file_location(f"golden_{path.stem}", expected)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    namespace: dict = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec", dont_inherit=True),
         namespace)
    func = namespace[options["function"]]
    params = list(func.__code__.co_varnames[: func.__code__.co_argcount])
    sizes = {"n": 4, "d": 3}
    shapes = {k: tuple(sizes.get(t, 1) for t in v.split("_") if t)
              for k, v in options.get("shapes", {}).items()}
    args = [3 if func.__annotations__.get(p) == "int" else
            rng.uniform(0.2, 1.0, shapes.get(p, (3,))) for p in params]
    wrt = options.get("wrt", (params[0],))
    index = [params.index(w) for w in wrt]
    vectors = _vectors(args, index)
    hv = getattr(module, f"hvp_{func.__name__}")(*args, *vectors)
    grad = gradgen.grad_from_source(path.read_text(encoding="utf-8"), func.__name__, wrt=wrt)
    _check(hv, gradient_difference(grad, args, index, vectors), len(wrt))
