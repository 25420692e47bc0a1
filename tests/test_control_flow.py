"""Control flow, overwriting, element writes and calls: generated gradients
against central finite differences, on inputs that take every branch and on
several trip counts, zero included, in raw and simplified form."""

from __future__ import annotations

import numpy as np
import pytest

import gradgen
from gradgen.testing import check_grads

SOURCE = '''
import numpy as np


def branch(x):
    s = np.sum(x)
    if s > 0:
        z = np.sin(x) * s
    else:
        z = x * x
    return np.sum(z)


def elif_chain(x, a):
    if a > 1.0:
        y = x * a
    elif a > 0.0:
        y = np.exp(x) + a
    else:
        y = -x
    return np.sum(y * y)


def nested_branch(x):
    m = np.max(x)
    y = x
    if m > 0.5:
        if np.min(x) < 0.0:
            y = y * m
        y = y + 1.0
    return np.sum(y * y)


def ternary(x, a):
    y = x * a if a > 0 else x - a
    return np.sum(y ** 2)


def boolean_condition(x, a):
    y = x
    if a > 0 and np.sum(x) > 0:
        y = np.tanh(x) * a
    return np.sum(y)


def power_loop(x, n):
    y = x
    for i in range(n):
        y = y * x
    return np.sum(y)


def loop_start_stop_step(x, n):
    acc = np.zeros_like(x)
    for i in range(1, n, 2):
        acc = acc + x ** i / i
    return np.sum(acc)


def overwrite_square(x, n):
    a = x
    for i in range(n):
        a = a * a
        a = a / np.sum(a)
    return np.sum(a * x)


def rows(X, w):
    total = 0.0
    for row in X:
        total = total + np.tanh(row @ w)
    return total


def enumerate_rows(X, w):
    total = 0.0
    for i, row in enumerate(X):
        total = total + (i + 1) * np.sum(row * w)
    return total


def nested_loops(x, n, m):
    y = x
    for i in range(n):
        for j in range(m):
            y = np.sin(y) + x * j
        y = y * 0.5
    return np.sum(y)


def loop_with_branch(x, n):
    y = x
    for i in range(n):
        if np.sum(y) > 0:
            y = y * 0.5 - x
        else:
            y = np.cos(y)
    return np.sum(y * y)


def while_loop(x):
    y = x
    while np.sum(y * y) < 50.0:
        y = y * 1.5 + 0.1
    return np.sum(y)


def rnn(x, W, U, h0):
    T = x.shape[0]
    h = np.zeros((T + 1, h0.shape[0]))
    h[0] = h0
    for t in range(T):
        h[t + 1] = np.tanh(x[t] @ W + h[t] @ U)
    return np.sum(h[T] * h[T])


def fill_then_reduce(x):
    out = np.zeros_like(x)
    for i in range(x.shape[0]):
        out[i] = np.sin(x[i]) * x[i]
    out[0] += x[1]
    return np.sum(out * out)


def column_write(X):
    Y = np.zeros_like(X)
    for j in range(X.shape[1]):
        Y[:, j] = X[:, j] * (j + 1)
    return np.sum(np.exp(Y))


def logsumexp(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


def softplus(z):
    return np.log1p(np.exp(z))


def uses_helper(x, w):
    h = softplus(x @ w)
    return np.sum(softplus(h) * h)


def square(v):
    return v * v


def helper_in_loop(x, n):
    y = x
    for i in range(n):
        y = square(y) * 0.5
    return np.sum(y)


def branch_in_helper(v):
    if np.sum(v) > 0:
        r = v * 2.0
    else:
        r = v * v
    return r


def calls_branchy(x):
    return np.sum(branch_in_helper(x) + branch_in_helper(-x))


def with_continue(x, n):
    y = x
    for i in range(n):
        if i % 2 == 1:
            continue
        y = np.sin(y) * x
    return np.sum(y)


def with_break(x, n):
    y = x
    for i in range(n):
        y = y * 1.5 + x
        if np.sum(y * y) > 40.0:
            break
        y = np.tanh(y)
    return np.sum(y)


def while_break(x):
    y = x
    while np.sum(y) < 100.0:
        y = y * 2.0
        if np.max(y) > 20.0:
            break
    return np.sum(y * x)


def nested_helper(x, w):
    scale = np.sum(w * w)

    def act(v):
        return np.tanh(v) * scale

    h = act(x * w)
    scale = scale + 1.0
    return np.sum(act(h) * h)


def nested_in_loop(x, n):
    def step(v):
        return np.sin(v) * 0.9 + x

    y = x
    for i in range(n):
        y = step(y)
    return np.sum(y * y)


def aug_assign_in_loop(x, n):
    y = x * 1.0
    for i in range(n):
        y += np.sin(y)
        y *= 0.9
    return np.sum(y)
'''

NAMESPACE: dict = {}
exec(compile(SOURCE, "<control-flow>", "exec"), NAMESPACE)
rng = np.random.default_rng(0)
X3 = rng.standard_normal(3)


def _cases():
    pos, neg = np.abs(X3) + 0.1, -np.abs(X3) - 0.1
    return [
        ("branch", (pos,), (0,)), ("branch", (neg,), (0,)),
        ("elif_chain", (X3, 2.0), (0, 1)), ("elif_chain", (X3, 0.5), (0, 1)),
        ("elif_chain", (X3, -0.5), (0, 1)),
        ("nested_branch", (np.array([0.9, -0.2, 0.3]),), (0,)),
        ("nested_branch", (np.array([0.9, 0.2, 0.3]),), (0,)),
        ("nested_branch", (np.array([0.1, 0.2, 0.3]),), (0,)),
        ("ternary", (X3, 1.5), (0, 1)), ("ternary", (X3, -1.5), (0, 1)),
        ("boolean_condition", (pos, 2.0), (0, 1)), ("boolean_condition", (neg, 2.0), (0, 1)),
        *[("power_loop", (X3, n), (0,)) for n in (0, 1, 3)],
        *[("loop_start_stop_step", (pos, n), (0,)) for n in (0, 1, 2, 6)],
        *[("overwrite_square", (pos, n), (0,)) for n in (0, 1, 3)],
        ("rows", (rng.standard_normal((4, 3)), X3), (0, 1)),
        ("rows", (np.zeros((0, 3)), X3), (0, 1)),
        ("enumerate_rows", (rng.standard_normal((4, 3)), X3), (0, 1)),
        *[("nested_loops", (X3, n, m), (0,)) for n, m in ((0, 2), (2, 0), (2, 3))],
        *[("loop_with_branch", (X3, n), (0,)) for n in (0, 1, 4)],
        ("while_loop", (np.array([0.5, 1.0, 1.5]),), (0,)),
        ("while_loop", (np.array([5.0, 5.0, 5.0]),), (0,)),
        ("rnn", (rng.standard_normal((5, 3)), rng.standard_normal((3, 4)) * 0.5,
                 rng.standard_normal((4, 4)) * 0.5, rng.standard_normal(4)), (0, 1, 2, 3)),
        ("rnn", (np.zeros((0, 3)), rng.standard_normal((3, 4)),
                 rng.standard_normal((4, 4)), rng.standard_normal(4)), (1, 2, 3)),
        ("fill_then_reduce", (X3 * 0.5,), (0,)),
        ("column_write", (rng.standard_normal((2, 3)) * 0.3,), (0,)),
        ("logsumexp", (rng.standard_normal(5),), (0,)),
        ("uses_helper", (rng.standard_normal((4, 3)), X3), (0, 1)),
        *[("helper_in_loop", (pos * 0.5, n), (0,)) for n in (0, 2)],
        ("calls_branchy", (pos,), (0,)), ("calls_branchy", (neg,), (0,)),
        *[("aug_assign_in_loop", (X3, n), (0,)) for n in (0, 3)],
        *[("with_continue", (X3, n), (0,)) for n in (0, 1, 4)],
        ("nested_helper", (X3, X3[::-1] * 0.5), (0, 1)),
        *[("nested_in_loop", (X3, n), (0,)) for n in (0, 3)],
        *[("with_break", (np.array([0.5, 1.0, 1.5]) * k, n), (0,)) for k in (0.5, 3.0) for n in (0, 5)],
        ("while_break", (np.array([0.5, 1.0, 1.5]),), (0,)),
        ("while_break", (np.array([3.0, 0.1, 0.2]),), (0,)),
    ]


CASES = _cases()


@pytest.mark.parametrize("simplify", [True, False])
@pytest.mark.parametrize("name, args, wrt", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_gradient_matches_finite_differences(name, args, wrt, simplify):
    grad = gradgen.grad_from_source(SOURCE, name, wrt=wrt, simplify=simplify)
    differentiable = tuple(w for w in wrt if not isinstance(args[w], int))
    check_grads(NAMESPACE[name], args, wrt=differentiable,
                grad=_select(grad, wrt, differentiable))


def _select(grad, wrt, keep):
    def call(*args):
        out = grad(*args)
        out = out if len(wrt) > 1 else (out,)
        chosen = tuple(g for w, g in zip(wrt, out) if w in keep)
        return chosen if len(keep) > 1 else chosen[0]
    return call


def test_the_forward_pass_of_a_loop_is_a_loop_and_its_adjoint_a_reversed_loop():
    text = gradgen.source_from_text(SOURCE, "power_loop")
    assert "for i in range(n):" in text
    assert "for i in reversed(range(n)):" in text
    assert "# Grad of: for i in range(n):" in text


def test_a_branch_adjoint_is_a_branch_and_needs_no_tape():
    text = gradgen.source_from_text(SOURCE, "branch")
    assert text.count("if s_gt_zero:") == 2
    assert "_tape" not in text  # each value is assigned once on any path


def test_only_overwritten_values_that_the_backward_pass_reads_are_taped():
    text = gradgen.source_from_text(SOURCE, "power_loop")
    # y is overwritten each trip and read by d(y * x)/dx; the product is not read.
    assert "y_tape" in text and "y_times_x_tape" not in text


def test_tape_memory_grows_linearly_with_trips():
    grad = gradgen.grad_from_source(SOURCE, "power_loop")
    namespace = gradgen.compile_module(gradgen.source_from_text(SOURCE, "power_loop"))
    assert namespace  # the module compiles standalone
    x = np.full(4, 1.0 + 1e-5)
    for n in (10, 1000):
        assert np.isfinite(grad(x, n)).all()


def test_unsupported_constructs_are_refused_with_a_location():
    bad = {
        "    if x > 1:\n        break\n    return x\n": "`break` outside a loop",
        "    if x > 0:\n        return x\n": "reaches its end without a `return`",
        "    with open('f') as h:\n        pass\n    return x\n": "`with` blocks",
        "    return f(x)\n": "recursion",
    }
    for body, words in bad.items():
        text = "import numpy as np\n\n\ndef f(x):\n" + body
        with pytest.raises(gradgen.GradgenError) as info:
            gradgen.source_from_text(text, "f", filename="m.py")
        assert words in str(info.value) and str(info.value).startswith("m.py:"), str(info.value)


MULTI = '''
import numpy as np


def loss_and_aux(x, w):
    pred = np.tanh(x @ w)
    loss = np.sum(pred * pred)
    norm = np.sum(w * w)
    return loss, norm


def pair(x):
    return np.sum(np.sin(x)), np.sum(x * x)
'''


@pytest.mark.parametrize("simplify", [True, False])
def test_several_outputs_first_by_default_or_any_mix_by_seeds(simplify):
    ns: dict = {}
    exec(MULTI, ns)
    x, w = rng.standard_normal((4, 3)), rng.standard_normal(3)
    grad = gradgen.grad_from_source(MULTI, "loss_and_aux", wrt="w", simplify=simplify)
    first = lambda x, w: ns["loss_and_aux"](x, w)[0]  # noqa: E731
    second = lambda x, w: ns["loss_and_aux"](x, w)[1]  # noqa: E731
    check_grads(first, (x, w), wrt=1, grad=lambda x, w, s: grad(x, w, s))
    check_grads(second, (x, w), wrt=1, grad=lambda x, w, s: grad(x, w, 0.0, s))
    mix = lambda x, w: 2.0 * first(x, w) + 3.0 * second(x, w)  # noqa: E731
    check_grads(mix, (x, w), wrt=1, grad=lambda x, w, s: grad(x, w, 2.0 * s, 3.0 * s))
    value, dw = gradgen.grad_from_source(MULTI, "pair", preserve_result=True)(w)
    assert len(value) == 2
    np.testing.assert_allclose(dw, np.cos(w))


def test_api_inlines_helpers_of_the_module_and_imported_ones(tmp_path, monkeypatch):
    (tmp_path / "mylib.py").write_text(
        "import numpy as xp\n\n\ndef softplus(z):\n    return xp.log1p(xp.exp(z))\n")
    (tmp_path / "model.py").write_text(
        "import numpy as np\nfrom mylib import softplus\n\n\n"
        "def scaled(v):\n    return 2.0 * softplus(v)\n\n\n"
        "def loss(x, w):\n    return np.sum(scaled(x * w))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    model = importlib.import_module("model")
    x, w = rng.standard_normal(4), rng.standard_normal(4)
    check_grads(model.loss, (x, w), wrt=(0, 1), grad=gradgen.grad(model.loss, wrt=(0, 1)))
    assert "def grad_loss" in gradgen.source(model.loss)


def test_cli_inlines_functions_imported_from_the_users_modules(tmp_path):
    import subprocess
    import sys

    (tmp_path / "mylib.py").write_text(
        "import numpy as np\n\n\ndef softplus(z):\n    return np.log1p(np.exp(z))\n")
    (tmp_path / "model.py").write_text(
        "import numpy as np\nfrom mylib import softplus\n\n\n"
        "def loss(x):\n    return np.sum(softplus(x))\n")
    out = subprocess.run([sys.executable, "-m", "gradgen", "show", "model.py::loss"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    namespace = gradgen.compile_module(out.stdout)
    x = rng.standard_normal(3)
    np.testing.assert_allclose(namespace["grad_loss"](x), 1 / (1 + np.exp(-x)))


LISTS = '''
import numpy as np


def rnn_list(x, W, U, h0):
    hs = []
    h = h0
    for t in range(x.shape[0]):
        h = np.tanh(x[t] @ W + h @ U)
        hs.append(h)
    H = np.stack(hs)
    return np.sum(H * H) + np.sum(hs[-1])


def literals(a, b):
    pair = [a * 2.0, np.sin(b)]
    return np.sum(np.concatenate(pair) ** 2) + np.sum(np.array([a, b]) * 3.0)


def grow(x, n):
    items = []
    for i in range(n):
        items.append(x * (i + 1.0))
    total = 0.0
    for i in range(len(items)):
        total = total + np.sum(np.sin(items[i]))
    return total


def stack_axis(x):
    rows = [x, x * x, np.exp(x)]
    return np.sum(np.stack(rows, axis=1) * np.arange(3.0))
'''
LIST_NS: dict = {}
exec(compile(LISTS, "<lists>", "exec"), LIST_NS)


@pytest.mark.parametrize("simplify", [True, False])
@pytest.mark.parametrize("name, args, wrt", [
    ("rnn_list", (rng.standard_normal((4, 3)), rng.standard_normal((3, 5)) * 0.5,
                  rng.standard_normal((5, 5)) * 0.5, rng.standard_normal(5)), (0, 1, 2, 3)),
    ("literals", (X3, X3[::-1].copy()), (0, 1)),
    ("grow", (X3, 0), (0,)), ("grow", (X3, 3), (0,)),
    ("stack_axis", (X3,), (0,)),
])
def test_lists_append_stack_concatenate_index(name, args, wrt, simplify):
    grad = gradgen.grad_from_source(LISTS, name, wrt=wrt, simplify=simplify)
    check_grads(LIST_NS[name], args, wrt=wrt, grad=grad)


def test_an_append_is_undone_by_popping_its_gradient():
    text = gradgen.source_from_text(LISTS, "rnn_list", wrt="W")
    assert "d_hs = [0.0] * len(hs)" in text
    assert "d_h = d_h + d_hs.pop()" in text
