"""Forward mode (issue 6): every tangent rule against finite differences, and
against the reverse rule of the same primitive.

Each case of tests/test_primitives.py (every primitive, broadcasting, axis and
keepdims variants) is differentiated in forward mode, raw, simplified and
specialised on exact shapes, and its tangent compared with the central
difference ``(f(x + h t) - f(x - h t)) / 2h`` along a random direction.  The
consistency test then checks ``<u, J t> == <J^T u, t>`` between the generated
JVP and the generated gradient on random ``u`` and ``t``: the two rules of a
primitive (derived or declared, see templates/forward_rules.py) cannot drift
apart without failing it.  Both are float64.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gradgen
from gradgen import ir
from gradgen.errors import GradgenError, UnknownPrimitiveError, UnsupportedSyntaxError
from gradgen.forward import forward
from gradgen.rules import load_registry
from tests.golden import expected_path, mode_case_files, options_of, render
from tests.test_callback import generated
from tests.test_control_flow import CASES as FLOW_CASES
from tests.test_control_flow import NAMESPACE as FLOW_NAMESPACE
from tests.test_primitives import CASES, _sample, build

ROOT = Path(__file__).resolve().parent.parent

def _jvp(text, wrt, mode, arg_shapes):
    if mode == "raw":
        return gradgen.jvp_from_source(text, "f", wrt=wrt, simplify=False)
    if mode == "simplified":
        return gradgen.jvp_from_source(text, "f", wrt=wrt)
    shapes = {k: " ".join(map(str, v)) for k, v in arg_shapes.items()}
    return gradgen.jvp_from_source(text, "f", wrt=wrt, shapes=shapes)


def _setup(case):
    name, body, arg_shapes, domain, wrt = case
    text, params = build(body, arg_shapes)
    rng = np.random.default_rng(sum(map(ord, name)))
    args = [_sample(shape, domain, rng) for shape in arg_shapes.values()]
    if "idx" in params:
        args.append(np.array([0, 2, 2, 3, 0]))
    namespace: dict = {}
    exec(compile(text, "<case>", "exec"), namespace)
    index = [params.index(w) for w in wrt]
    tangents = [rng.standard_normal(np.shape(args[i])) for i in index]
    tangents = [float(t) if np.shape(t) == () else t for t in tangents]
    return namespace["f"], text, params, args, index, tangents, rng


def directional_difference(f, args, index, tangents, h=1e-6):
    """``(f(x + h t) - f(x - h t)) / 2h``, moving every ``wrt`` argument at once."""
    plus, minus = list(args), list(args)
    for i, t in zip(index, tangents):
        plus[i] = args[i] + h * np.asarray(t)
        minus[i] = args[i] - h * np.asarray(t)
    return (np.asarray(f(*plus)) - np.asarray(f(*minus))) / (2 * h)


def call_jvp(jvp, args, params, tangents):
    """Tangents come after the parameters without defaults (``idx`` has none)."""
    return jvp(*args, *tangents)


@pytest.mark.parametrize("mode", ["raw", "shapes"])  # "simplified": the next test
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_tangent_matches_finite_differences(case, mode):
    f, text, params, args, index, tangents, _ = _setup(case)
    jvp = _jvp(text, case[4], mode, case[2])
    value, tangent = call_jvp(jvp, args, params, tangents)
    expected_value = f(*args)
    np.testing.assert_allclose(value, expected_value, rtol=1e-12)
    assert np.shape(tangent) == np.shape(expected_value), "a tangent has its primal's shape"
    numerical = directional_difference(f, args, index, tangents)
    np.testing.assert_allclose(tangent, numerical, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_forward_and_reverse_rules_agree(case):
    """<u, J t> (forward code) == <J^T u, t> (reverse code), to rounding; and the
    simplified JVP against finite differences."""
    f, text, params, args, index, tangents, rng = _setup(case)
    wrt = case[4]
    _, tangent = call_jvp(gradgen.jvp_from_source(text, "f", wrt=wrt), args, params, tangents)
    np.testing.assert_allclose(tangent, directional_difference(f, args, index, tangents),
                               rtol=1e-5, atol=1e-6)
    u = rng.standard_normal(np.shape(tangent))
    grads = gradgen.grad_from_source(text, "f", wrt=wrt)(*args, float(u) if u.ndim == 0 else u)
    grads = grads if len(wrt) > 1 else (grads,)
    forward_side = np.sum(u * tangent)
    terms = [np.asarray(g) * np.asarray(t) for g, t in zip(grads, tangents)]
    reverse_side = sum(np.sum(term) for term in terms)
    scale = np.sum(np.abs(u * tangent)) + sum(np.sum(np.abs(term)) for term in terms)
    assert abs(forward_side - reverse_side) <= 1e-10 * max(scale, 1.0), (
        f"{case[0]}: <u, J t> = {forward_side!r} but <J^T u, t> = {reverse_side!r}")


def _primitive_call(primitive: str, args: tuple):
    operators = {"operator.add": "+", "operator.sub": "-", "operator.mul": "*",
                 "operator.truediv": "/", "operator.pow": "**", "operator.matmul": "@"}
    if primitive in operators:
        return ir.BinOp(operators[primitive], *args[:2])
    if primitive in ("operator.neg", "operator.pos"):
        return ir.UnaryOp("-" if primitive.endswith("neg") else "+", args[0])
    if primitive == "operator.getitem":
        return ir.Subscript(args[0], ir.Const(0))
    return ir.Call(primitive, args)


# Rules whose body refuses every case, with a located error (templates/building.py).
REFUSED_IN_EVERY_CASE = {"np.split", "np.array_split", "np.hsplit", "np.vsplit", "np.dsplit"}


def test_every_primitive_with_a_reverse_rule_has_a_tangent_rule():
    """Declared linear, or derivable from its reverse rule: instantiate each."""
    registry = load_registry()
    checked = 0
    for primitive, rule in sorted(registry.rules.items()):
        params = [p for p in rule.params if p not in rule.defaults]
        active = [p for p in params if p in rule.differentiable]
        if primitive == "np.transpose":
            params = ["x"]
        args = tuple(ir.Name(p) for p in params)
        if primitive == "unindex":
            args = (ir.Name("g"), ir.Name("x"), ir.Const(0))
        body = (ir.Assign("y", _primitive_call(primitive, args),
                          (ir.Origin("y = ...", 1, 0),)), ir.Return(ir.Name("y")))
        fn = ir.Function("f", tuple(ir.Param(p) for p in params), body)
        if primitive in REFUSED_IN_EVERY_CASE:
            with pytest.raises(UnsupportedSyntaxError, match="list of arrays"):
                forward(fn, tuple(active), registry)
            continue
        tangent = forward(fn, tuple(active), registry)
        assert any(isinstance(s, ir.Assign) and s.target.startswith("t_y")
                   for s in tangent.function.body), primitive
        checked += 1
    assert checked >= 60


def test_a_rule_forward_mode_cannot_transpose_is_a_located_error(tmp_path):
    rules = tmp_path / "my_rules.py"
    rules.write_text("import numpy as np\n\n\n@adjoint(np.cumsum)\ndef cumsum(y, x):\n"
                     "    d[x] = np.flip(np.cumsum(np.flip(d[y])))\n")
    registry = load_registry((str(rules),))
    origin = (ir.Origin("y = np.cumsum(x)", 3, 4),)
    fn = ir.Function("f", (ir.Param("x"),),
                     (ir.Assign("y", ir.Call("np.cumsum", (ir.Name("x"),)), origin),
                      ir.Return(ir.Name("y"))))
    with pytest.raises(UnknownPrimitiveError) as info:
        forward(fn, ("x",), registry, "model.py")
    message = str(info.value)
    assert "model.py:3:5" in message and "np.cumsum" in message and "linear(" in message


def test_a_user_rule_declared_linear_gets_its_tangent(tmp_path):
    rules = tmp_path / "my_rules.py"
    rules.write_text("import numpy as np\n\n\n@adjoint(np.cumsum)\ndef cumsum(y, x):\n"
                     "    d[x] = np.flip(np.cumsum(np.flip(d[y])))\n\n\n"
                     "linear(np.cumsum, args=(\"x\",))\n")
    registry = load_registry((str(rules),))
    fn = ir.Function("f", (ir.Param("x"),),
                     (ir.Assign("y", ir.Call("np.cumsum", (ir.Name("x"),)), ()),
                      ir.Return(ir.Name("y"))))
    tangent = forward(fn, ("x",), registry)
    assert ir.Call("np.cumsum", (ir.Name("t_x@in"),)) in [
        s.value for s in tangent.function.body if isinstance(s, ir.Assign)]


def test_a_linear_declaration_must_name_parameters_of_the_rule(tmp_path):
    rules = tmp_path / "bad_rules.py"
    rules.write_text("import numpy as np\n\nlinear(np.sum, args=(\"z\",))\n")
    with pytest.raises(GradgenError, match="no parameter 'z'"):
        load_registry((str(rules),))


# ------------------------------------------------------------------ the output


L2 = "import numpy as np\n\n\ndef L2_norm(X):\n    XX = X * X\n    XX_sum = np.sum(XX)\n" \
     "    XX_sqrt = np.sqrt(XX_sum)\n    return XX_sqrt\n"


def test_jvp_of_seed_000_l2_norm_reads_like_the_source():
    text = gradgen.source_from_text(L2, "L2_norm", mode="forward")
    body = text[text.index("def jvp_L2_norm"):]
    assert body.startswith("def jvp_L2_norm(X, t_X):")
    assert "    XX = X * X\n    # Tangent of: XX = X * X\n    t_XX = 2 * t_X * X\n" in body
    assert "    t_XX_sum = np.sum(t_XX)\n" in body
    assert "return XX_sqrt, t_XX_sum / (2 * XX_sqrt)" in body
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "gradgen" not in code and "import numpy as np" in code


def test_tangent_parameters_come_before_defaulted_parameters():
    text = "import numpy as np\n\ndef f(x, y, eps=1e-3):\n    return np.sum(x * y + eps)\n"
    jvp = gradgen.jvp_from_source(text, "f", wrt=("x", "y"))
    x, y = np.arange(3.0), np.ones(3)
    value, tangent = jvp(x, y, np.ones(3), np.zeros(3))
    assert np.isclose(value, np.sum(x * y + 1e-3)) and np.isclose(tangent, np.sum(y))
    assert "def jvp_f(x, y, t_x, t_y, eps=0.001):" in gradgen.source_from_text(
        text, "f", wrt=("x", "y"), mode="forward")


def test_an_inactive_output_has_a_zero_tangent():
    text = "import numpy as np\n\ndef f(x, y):\n    return np.sin(y)\n"
    value, tangent = gradgen.jvp_from_source(text, "f")(np.ones(2), np.ones(3), np.ones(2))
    assert np.array_equal(tangent, np.zeros(3))


def test_jvp_is_deterministic():
    first = gradgen.source_from_text(L2, "L2_norm", mode="forward")
    assert gradgen.source_from_text(L2, "L2_norm", mode="forward") == first


def test_jvp_through_a_loop_and_a_branch_matches_finite_differences():
    text = '''import numpy as np


def f(x, n):
    y = x
    for i in range(n):
        if np.sum(y) > 0:
            y = np.sin(y) * x
        else:
            y = y * y + x
    return np.sum(y)
'''
    namespace: dict = {}
    exec(text, namespace)
    rng = np.random.default_rng(3)
    for simplify in (True, False):
        jvp = gradgen.jvp_from_source(text, "f", simplify=simplify)
        for n in (0, 1, 4):
            x, t = rng.standard_normal(4), rng.standard_normal(4)
            value, tangent = jvp(x, n, t)
            expected = directional_difference(namespace["f"], [x, n], [0], [t])
            np.testing.assert_allclose(tangent, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name, args, wrt", FLOW_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(FLOW_CASES)])
def test_jvp_through_every_control_flow_case(name, args, wrt):
    """tests/test_control_flow.py's cases: branches, loops, element writes, calls."""
    index = [w for w in wrt if not isinstance(args[w], int)]
    rng = np.random.default_rng(len(name))
    tangents = [rng.standard_normal(np.shape(args[i])) for i in index]
    tangents = [float(t) if np.shape(t) == () else t for t in tangents]
    value, tangent = generated("forward", name, tuple(index))(*args, *tangents)
    np.testing.assert_allclose(value, FLOW_NAMESPACE[name](*args), rtol=1e-13)
    expected = directional_difference(FLOW_NAMESPACE[name], list(args), index, tangents)
    finer = directional_difference(FLOW_NAMESPACE[name], list(args), index, tangents, h=1e-7)
    if not np.allclose(expected, finer, rtol=1e-3, atol=1e-5):
        pytest.skip("a branch flips along this direction: no derivative to compare with")
    np.testing.assert_allclose(tangent, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.slow  # subprocesses per mode; make test-all
def test_every_mode_gives_the_same_bytes_under_any_hash_seed():
    script = ("import gradgen\nfrom tests.test_control_flow import SOURCE\n"
              "for mode in ('forward', 'callback', 'hvp'):\n"
              "    print(gradgen.source_from_text(SOURCE, 'rnn', wrt=(1, 2), mode=mode))\n")
    outputs = set()
    for seed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              env=env, cwd=ROOT, check=True)
        outputs.add(done.stdout)
    assert len(outputs) == 1


# -------------------------------------------------------------- the doors


def test_api_jvp_of_a_python_function():
    from examples.cosine import cosine_loss

    jvp = gradgen.jvp(cosine_loss, wrt=("X", "Y"))
    rng = np.random.default_rng(0)
    X, Y, tX, tY = (rng.standard_normal(5) for _ in range(4))
    value, tangent = jvp(X, Y, tX, tY)
    assert np.isclose(value, cosine_loss(X, Y))
    np.testing.assert_allclose(tangent, directional_difference(cosine_loss, [X, Y], [0, 1],
                                                               [tX, tY]), rtol=1e-6)


def load_module(tmp_path, monkeypatch, name: str, text: str):
    """A user's module file, imported (the decorator reads its source)."""
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DECORATED = """
import numpy as np
from gradgen import differentiable


@differentiable(mode="forward")
@differentiable
def f(x):
    return np.sum(np.sin(x) * x)
"""


def test_decorator_attaches_jvp_and_stacks_with_grad(tmp_path, monkeypatch):
    module = load_module(tmp_path, monkeypatch, "forward_decorated", DECORATED)
    x = np.array([0.3, -1.2, 2.0])
    value, tangent = module.f.jvp(x, np.ones(3))
    assert np.isclose(value, module.f(x))
    np.testing.assert_allclose(tangent, np.sum(np.cos(x) * x + np.sin(x)), rtol=1e-12)
    np.testing.assert_allclose(module.f.grad(x), np.cos(x) * x + np.sin(x), rtol=1e-12)
    assert "def jvp_f(x, t_x):" in module.f.jvp_source
    assert "def grad_f(x" in module.f.grad_source
    again = load_module(tmp_path, monkeypatch, "forward_decorated", DECORATED)  # from the cache
    assert again.f.jvp_source == module.f.jvp_source


def test_cli_writes_forward_mode_modules(tmp_path, monkeypatch, capsys):
    from gradgen.cli import main

    (tmp_path / "model.py").write_text(L2)
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "model.py::L2_norm", "--mode", "forward", "-o", "out"]) == 0
    text = (tmp_path / "out" / "model_jvp.py").read_text()
    assert "def jvp_L2_norm(X, t_X):" in text
    assert "# Regenerate with: gradgen generate model.py::L2_norm --mode forward -o out" in text
    assert main(["check", "model.py::L2_norm", "--mode", "forward", "-o", "out"]) == 0
    assert not (tmp_path / "out" / "model_grad.py").exists()


def test_config_mode_per_target(tmp_path, monkeypatch):
    from gradgen.cli import main

    (tmp_path / "model.py").write_text(L2)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.gradgen]\ntargets = ["model.py::L2_norm", '
        '{ target = "model.py::L2_norm", mode = "forward" }]\n')
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "-q"]) == 0
    assert "def grad_L2_norm" in (tmp_path / "generated" / "model_grad.py").read_text()
    assert "def jvp_L2_norm" in (tmp_path / "generated" / "model_jvp.py").read_text()
    (tmp_path / "pyproject.toml").write_text(
        '[tool.gradgen]\ntargets = [{ target = "model.py::L2_norm", mode = "sideways" }]\n')
    assert main(["generate", "-q"]) == 2


# ------------------------------------------------------------ golden files

FORWARD_CASES = mode_case_files("forward")


@pytest.mark.parametrize("path", FORWARD_CASES, ids=[p.stem for p in FORWARD_CASES])
def test_forward_golden_file(path):
    """Byte for byte (``make golden`` rewrites it), and a correct JVP."""
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
    shapes = {k: tuple({"n": 4, "d": 3, "h": 5}.get(t, 1) for t in v.split("_"))
              for k, v in options.get("shapes", {}).items()}
    rng = np.random.default_rng(5)
    args = [rng.uniform(0.2, 1.0, shapes.get(p, (3,))) for p in params]
    wrt = options.get("wrt", (params[0],))
    index = [params.index(w) for w in wrt]
    tangents = [rng.standard_normal(args[i].shape) for i in index]
    value, tangent = getattr(module, f"jvp_{options['function']}")(*args, *tangents)
    np.testing.assert_allclose(tangent, directional_difference(func, args, index, tangents),
                               rtol=1e-5, atol=1e-7)
