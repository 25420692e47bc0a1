"""Every gradient rule against central finite differences, autograd-style.

One line per case: a function body over arguments of given shapes.  Each case
runs three ways: the raw adjoint (no simplifier), the simplified adjoint
without shape facts, and the simplified adjoint specialised on the exact
shapes (which exercises the shape-dependent rewrites: explicit sums for
unbroadcast, plain products for matmul).  The comparison is gradgen.testing's
check_grads: entrywise central differences in float64 plus the dot-product
test with a random output cotangent.
"""

from __future__ import annotations

import numpy as np
import pytest

import gradgen
from gradgen.testing import check_grads

POSITIVE = "positive"
UNIT = "unit"  # inside (-1, 1)
ANY = "any"

# (id, body, {arg: shape}, domain, wrt)
UNARY = [
    "np.exp", "np.log", "np.log1p", "np.expm1", "np.sqrt", "np.square", "np.abs",
    "np.sin", "np.cos", "np.tan", "np.arcsin", "np.arccos", "np.arctan", "np.sinh",
    "np.cosh", "np.tanh", "-",
]  # fmt: skip
DOMAIN = {"np.log": POSITIVE, "np.log1p": POSITIVE, "np.sqrt": POSITIVE,
          "np.arcsin": UNIT, "np.arccos": UNIT, "np.tan": UNIT}
SHAPES = [(), (3,), (2, 3)]

CASES = []
for fn in UNARY:
    for shape in SHAPES:
        call = "-x" if fn == "-" else f"{fn}(x)"
        CASES.append((f"{fn}-{shape}", f"return {call}", {"x": shape}, DOMAIN.get(fn, ANY), ("x",)))

BROADCAST_PAIRS = [((2, 3), (2, 3)), ((), (2, 3)), ((2, 3), ()), ((2, 1), (1, 3)),
                   ((3,), (2, 3)), ((2, 3), (3,)), ((4, 1, 3), (2, 1))]
BINARY = {"+": "x + y", "-": "x - y", "*": "x * y", "/": "x / y", "**": "x ** y",
          "maximum": "np.maximum(x, y)", "minimum": "np.minimum(x, y)",
          "where": "np.where(x > y, x * 2, y * 3)"}
for name, expr in BINARY.items():
    for sx, sy in BROADCAST_PAIRS:
        domain = POSITIVE if name == "**" else ANY
        CASES.append((f"{name}-{sx}-{sy}", f"return {expr}", {"x": sx, "y": sy}, domain, ("x", "y")))

CASES += [
    ("pow-const", "return x ** 3 + x ** 0.5", {"x": (2, 3)}, POSITIVE, ("x",)),
    ("const-pow", "return 2.0 ** x", {"x": (3,)}, ANY, ("x",)),
    ("scalar-mix", "return 1 - 2 * x / 3 + x", {"x": (3,)}, ANY, ("x",)),
    ("clip", "return np.clip(x, -0.5, 0.5)", {"x": (2, 5)}, ANY, ("x",)),
    ("clip-none", "return np.clip(x, None, 0.3) + np.clip(x, -0.2, None)", {"x": (7,)}, ANY, ("x",)),
    ("clip-arrays", "return np.clip(3 * x, -(lo * lo), hi * hi)", {"x": (6,), "lo": (6,), "hi": (6,)}, ANY, ("x", "lo", "hi")),
    ("sign-abs", "return np.sign(x) * x + abs(x)", {"x": (4,)}, ANY, ("x",)),
    ("relu", "return np.maximum(x, 0)", {"x": (3, 4)}, ANY, ("x",)),
    ("aug-assign", "y = x * 2\n    y += x\n    y *= x\n    y -= 1\n    y /= 2\n    y **= 2\n    return y",
     {"x": (3,)}, ANY, ("x",)),
    ("reassign", "x = x * x\n    x = np.sin(x)\n    return x * x", {"x": (3,)}, ANY, ("x",)),
    ("tuple-unpack", "a, b = x * 2, np.exp(x)\n    return a * b", {"x": (3,)}, ANY, ("x",)),
    ("copy", "a = x\n    b = a\n    return a * b", {"x": (3,)}, ANY, ("x",)),
]

REDUCE_AXES = [None, 0, 1, -1, (0, 2), (-1, 0)]
for fn in ["np.sum", "np.mean", "np.max", "np.min", "np.prod"]:
    for axis in REDUCE_AXES:
        for keepdims in (False, True):
            body = f"return {fn}(x, axis={axis!r}, keepdims={keepdims})"
            domain = POSITIVE if fn == "np.prod" else ANY
            CASES.append((f"{fn}-{axis}-{keepdims}", body, {"x": (2, 3, 4)}, domain, ("x",)))
for axis in [None, 0, 1, -1]:
    for keepdims in (False, True):
        CASES.append((f"norm-{axis}-{keepdims}",
                      f"return np.linalg.norm(x, axis={axis!r}, keepdims={keepdims})",
                      {"x": (3, 4)}, ANY, ("x",)))
CASES += [
    ("norm-vector", "return np.linalg.norm(x)", {"x": (5,)}, ANY, ("x",)),
    ("norm-matrix-fro", "return np.linalg.norm(x)", {"x": (3, 4)}, ANY, ("x",)),
    ("sum-positional-axis", "return np.sum(x, 1)", {"x": (2, 3)}, ANY, ("x",)),
    ("method-sum", "return x.sum(axis=1, keepdims=True) * x", {"x": (2, 3)}, ANY, ("x",)),
    ("method-mean", "return x.mean() + x.mean(axis=0)", {"x": (2, 3)}, ANY, ("x",)),
    ("method-max", "return x.max(axis=0) + x.min()", {"x": (3, 4)}, ANY, ("x",)),
    ("method-prod", "return x.prod(axis=-1)", {"x": (3, 4)}, POSITIVE, ("x",)),
    ("method-T", "return x.T @ y", {"x": (3, 2), "y": (3, 4)}, ANY, ("x", "y")),
    ("method-reshape", "return x.reshape(3, 2) * y.reshape((3, 2))", {"x": (2, 3), "y": (6,)}, ANY, ("x", "y")),
    ("method-dot", "return x.dot(y)", {"x": (2, 3), "y": (3,)}, ANY, ("x", "y")),
    ("transpose", "return np.transpose(x)", {"x": (2, 3)}, ANY, ("x",)),
    ("transpose-axes", "return np.transpose(x, (1, 2, 0))", {"x": (2, 3, 4)}, ANY, ("x",)),
    ("method-transpose-axes", "return x.transpose(2, 0, 1)", {"x": (2, 3, 4)}, ANY, ("x",)),
    ("reshape", "return np.reshape(x, (3, -1))", {"x": (2, 3, 2)}, ANY, ("x",)),
    ("expand-dims", "return np.expand_dims(x, 1) * y", {"x": (2, 3), "y": (2, 4, 3)}, ANY, ("x", "y")),
    ("squeeze", "return np.squeeze(x)", {"x": (3, 1, 2)}, ANY, ("x",)),
    ("squeeze-axis", "return np.squeeze(x, axis=1)", {"x": (3, 1, 2)}, ANY, ("x",)),
    ("ravel", "return np.ravel(x)", {"x": (3, 2)}, ANY, ("x",)),
    ("shape-static", "n = x.shape[0]\n    return np.sum(x) / n + x.shape[1] * x", {"x": (2, 3)}, ANY, ("x",)),
    ("ones-like", "return np.ones_like(x) * x + np.zeros_like(x)", {"x": (3,)}, ANY, ("x",)),
]
MATMUL_SHAPES = [((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,)), ((3,), (3,)),
                 ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4))]
for sa, sb in MATMUL_SHAPES:
    CASES.append((f"matmul-{sa}-{sb}", "return a @ b", {"a": sa, "b": sb}, ANY, ("a", "b")))
    if len(sa) <= 2 and len(sb) <= 2:
        CASES.append((f"dot-{sa}-{sb}", "return np.dot(a, b)", {"a": sa, "b": sb}, ANY, ("a", "b")))
        CASES.append((f"matmul-fn-{sa}-{sb}", "return np.matmul(a, b)", {"a": sa, "b": sb}, ANY, ("a", "b")))
CASES += [
    ("outer", "return np.outer(a, b)", {"a": (3,), "b": (4,)}, ANY, ("a", "b")),
    ("index-int", "return x[1]", {"x": (3, 4)}, ANY, ("x",)),
    ("index-column", "return x[:, 0]", {"x": (3, 4)}, ANY, ("x",)),
    ("index-slice", "return x[1:]", {"x": (4, 2)}, ANY, ("x",)),
    ("index-step", "return x[::2]", {"x": (5,)}, ANY, ("x",)),
    ("index-newaxis", "return x[None, :] * y", {"x": (3,), "y": (2, 3)}, ANY, ("x", "y")),
    ("index-ellipsis", "return x[..., 1]", {"x": (2, 3, 4)}, ANY, ("x",)),
    ("index-array-repeats", "return x[idx] * 2", {"x": (4,)}, ANY, ("x",)),
    ("index-negative", "return x[-1, 1:] + x[-2, 1:]", {"x": (3, 3)}, ANY, ("x",)),
]


def _sample(shape, domain, rng):
    x = rng.standard_normal(shape)
    if domain == POSITIVE:
        x = np.abs(x) + 0.5
    elif domain == UNIT:
        x = np.tanh(x) * 0.8
    return float(x) if shape == () else x


def build(body: str, arg_shapes: dict, extra=("idx",)):
    params = list(arg_shapes)
    if "idx" in body:
        params.append("idx")
    return "import numpy as np\n\n\ndef f(" + ", ".join(params) + "):\n    " + body + "\n", params


MODES = ["raw", "simplified", "shapes"]


def _grad(text, wrt, mode, arg_shapes):
    if mode == "raw":
        return gradgen.grad_from_source(text, "f", wrt=wrt, simplify=False)
    if mode == "simplified":
        return gradgen.grad_from_source(text, "f", wrt=wrt)
    shapes = {k: " ".join(map(str, v)) for k, v in arg_shapes.items()}
    return gradgen.grad_from_source(text, "f", wrt=wrt, shapes=shapes)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rule_matches_finite_differences(case, mode):
    name, body, arg_shapes, domain, wrt = case
    text, params = build(body, arg_shapes)
    rng = np.random.default_rng(sum(map(ord, name)))
    args = [_sample(shape, domain, rng) for shape in arg_shapes.values()]
    if "idx" in params:
        args.append(np.array([0, 2, 2, 3, 0]))
    namespace: dict = {}
    exec(compile(text, "<case>", "exec"), namespace)
    func = namespace["f"]
    grad = _grad(text, wrt, mode, arg_shapes)
    check_grads(func, tuple(args), wrt=wrt, grad=grad)


@pytest.mark.parametrize("case", ["np.sum(np.exp(x) * x)", "np.mean(x * x, axis=0)",
                                  "np.max(x, axis=1)", "x @ x.T", "np.where(x > 0, x, 0)",
                                  "np.maximum(x, 0.1) * x", "x[0] * 2"])
@pytest.mark.parametrize("simplify", [True, False])
def test_float32_in_float32_out(case, simplify):
    text = f"import numpy as np\n\ndef f(x):\n    return {case}\n"
    x = np.random.default_rng(0).standard_normal((3, 3)).astype(np.float32)
    grad = gradgen.grad_from_source(text, "f", simplify=simplify)
    namespace: dict = {}
    exec(text, namespace)
    seed = np.ones_like(namespace["f"](x))
    assert grad(x, seed).dtype == np.float32


def test_float64_stays_float64_and_values_match_float32():
    text = "import numpy as np\n\ndef f(x):\n    return np.sum(np.tanh(x) * x)\n"
    grad = gradgen.grad_from_source(text, "f")
    x = np.random.default_rng(1).standard_normal(5)
    g64 = grad(x)
    g32 = grad(x.astype(np.float32))
    assert g64.dtype == np.float64
    np.testing.assert_allclose(g32, g64, rtol=1e-5)


def test_integer_inputs_get_the_true_gradient_not_zero():
    # Tangent returned zeros for int inputs; gradgen promotes like NumPy does.
    text = "import numpy as np\n\ndef f(x):\n    return np.sum(x * x) + np.sum(x)\n"
    grad = gradgen.grad_from_source(text, "f")
    x = np.array([1, 2, 3])
    np.testing.assert_allclose(grad(x), 2.0 * x + 1.0)


@pytest.mark.parametrize("header", ["import numpy", "import numpy as xp", "from numpy import exp, sum"])
def test_numpy_aliases(header):
    alias = {"import numpy": "numpy.", "import numpy as xp": "xp."}.get(header, "")
    text = f"{header}\n\ndef f(x):\n    return {alias}sum({alias}exp(x))\n"
    grad = gradgen.grad_from_source(text, "f")
    x = np.array([0.1, 0.2])
    np.testing.assert_allclose(grad(x), np.exp(x))


def test_keyword_arguments_and_wrt_by_name():
    text = "import numpy as np\n\ndef f(x, y, scale=2.0):\n    return np.sum(scale * x * y)\n"
    grad = gradgen.grad_from_source(text, "f", wrt=("y", "x"))
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    dy, dx = grad(x, y)
    np.testing.assert_allclose(dy, 2.0 * x)
    np.testing.assert_allclose(dx, 2.0 * y)


def test_preserve_result_returns_value_and_gradient():
    text = "import numpy as np\n\ndef f(x, y):\n    return np.sum(np.sin(x) * y)\n"
    x, y = np.array([0.3, 0.4]), np.array([1.5, -2.0])
    value, (dx, dy) = gradgen.grad_from_source(text, "f", wrt=(0, 1), preserve_result=True)(x, y)
    np.testing.assert_allclose(value, np.sum(np.sin(x) * y))
    np.testing.assert_allclose(dx, np.cos(x) * y)
    np.testing.assert_allclose(dy, np.sin(x))


def test_gradient_of_an_unused_parameter_is_zero():
    text = "import numpy as np\n\ndef f(x, y):\n    return np.sum(x * 2)\n"
    dx, dy = gradgen.grad_from_source(text, "f", wrt=(0, 1))(np.ones(2), np.ones(3))
    np.testing.assert_allclose(dx, [2.0, 2.0])
    np.testing.assert_allclose(dy, np.zeros(3))


def test_seed_scales_the_gradient():
    text = "import numpy as np\n\ndef f(x):\n    return x * x\n"
    grad = gradgen.grad_from_source(text, "f")
    x = np.array([1.0, 2.0, 3.0])
    seed = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(grad(x, seed), 2 * x * seed)
