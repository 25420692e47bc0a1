"""Each simplifier rewrite, before and after, and where it must not fire."""

from __future__ import annotations

import libcst as cst
import pytest

from gradgen import ir, simplify
from gradgen.lowering import lower_expr
from gradgen.rules import load_registry
from gradgen.shapes import Opaque, ShapeEnv, parse_annotation

REGISTRY = load_registry()


def parse(text: str):
    return lower_expr(cst.parse_expression(text), {"np": "np"}, REGISTRY)


def env_of(**shapes) -> ShapeEnv:
    env = ShapeEnv(registry=REGISTRY)
    env.parameters = tuple(k for k in shapes if k.startswith("p"))
    for name, shape in shapes.items():
        env.define(name, Opaque(frozenset({shape[1:]})) if shape.startswith("@")
                   else parse_annotation(shape))
    return env


# (rule, before, after or None when it must not fire, shapes)
CASES = [
    ("rule_arithmetic_identity", "x * 1", "x", {}),
    ("rule_arithmetic_identity", "1 * x", "x", {}),
    ("rule_arithmetic_identity", "x + 0", "x", {}),
    ("rule_arithmetic_identity", "0 - x", "-x", {}),
    ("rule_arithmetic_identity", "x ** 1", "x", {}),
    ("rule_arithmetic_identity", "2 - 1", "1", {}),
    ("rule_arithmetic_identity", "1 / 3", None, {}),  # not exact: left alone
    ("rule_arithmetic_identity", "x * 0", None, {}),  # shape-unsafe: left alone
    ("rule_negation", "-(-x)", "x", {}),
    ("rule_negation", "-x * y", "-(x * y)", {}),
    ("rule_negation", "-x * -y", "x * y", {}),
    ("rule_negation", "a - -b", "a + b", {}),
    ("rule_negation", "a + -b", "a - b", {}),
    ("rule_product_constants", "d * 2 * x", "2 * d * x", {}),
    ("rule_product_constants", "2 * d * 3", "6 * d", {}),
    ("rule_product_constants", "d * -1", "-d", {}),
    ("rule_reciprocal", "a * (1 / b)", "a / b", {}),
    ("rule_negation_out_of_sum", "np.sum(-(a * b), axis=1)", "-np.sum(a * b, axis=1)", {}),
    ("rule_negation_out_of_sum", "np.sum(a, axis=1)", None, {}),
    ("rule_factor_out_of_sum", "np.sum(a * y / Z, axis=1, keepdims=True)",
     "np.sum(a * y, axis=1, keepdims=True) / Z", {"a": "n c", "y": "n c", "Z": "n 1"}),
    ("rule_factor_out_of_sum", "np.sum(a / Z, axis=1, keepdims=True)", None,
     {"a": "n c", "Z": "n c"}),  # Z varies along the summed axis
    ("rule_factor_out_of_sum", "np.sum(a / Z, axis=0, keepdims=True)", None,
     {"a": "n c", "Z": "n 1"}),
    ("rule_factor_out_of_sum", "np.sum(a / Z, axis=1)", None, {"a": "n c", "Z": "n 1"}),
    ("rule_fold_terms", "a * x + a * x", "2 * (a * x)", {}),
    ("rule_fold_terms", "a + b + a", "2 * a + b", {}),
    ("rule_fold_terms", "a + b", None, {}),
    ("rule_unbroadcast", "unbroadcast(g * x, x)", "g * x", {"g": "@x", "x": "@x"}),
    ("rule_unbroadcast", "unbroadcast(g, x)", None, {"g": "@y", "x": "@x"}),
    ("rule_unbroadcast", "unbroadcast(g, b)", "np.sum(g, axis=0)", {"g": "n k", "b": "k"}),
    ("rule_unbroadcast", "unbroadcast(g, b)", "np.sum(g, axis=0, keepdims=True)",
     {"g": "n k", "b": "1 k"}),
    ("rule_unbroadcast", "unbroadcast(g, s)", "np.sum(g)", {"g": "n k", "s": ""}),
    ("rule_unbroadcast", "unbroadcast(g, b)", None, {"g": "n k", "b": "m"}),  # unprovable
    ("rule_reshape_identity", "np.reshape(g, np.shape(x))", "g", {"g": "n", "x": "n"}),
    ("rule_reshape_identity", "np.reshape(g, np.shape(x))", None, {"g": "n 1", "x": "n"}),
    ("rule_reshape_identity", "np.ravel(b)", "b", {"b": "n"}),
    ("rule_double_transpose", "np.transpose(np.transpose(x))", "x", {}),
    ("rule_size_of_scalar", "np.size(y)", "1", {"y": ""}),
    ("rule_size_of_scalar", "np.size(y)", None, {"y": "n"}),
    ("rule_matmul_grad", "matmul_grad_a(g, a, b)", "g @ b.T", {"a": "n d", "b": "d k"}),
    ("rule_matmul_grad", "matmul_grad_b(g, a, b)", "a.T @ g", {"a": "n d", "b": "d k"}),
    ("rule_matmul_grad", "matmul_grad_a(g, a, b)", "np.outer(g, b)", {"a": "n d", "b": "d"}),
    ("rule_matmul_grad", "matmul_grad_b(g, a, b)", "np.outer(a, g)", {"a": "d", "b": "d k"}),
    ("rule_matmul_grad", "matmul_grad_a(g, a, b)", "g * b", {"a": "d", "b": "d"}),
    ("rule_matmul_grad", "matmul_grad_a(g, a, b)", None, {"a": "@a", "b": "@b"}),
    ("rule_shape_from_parameter", "np.size(t)", "np.size(p)", {"t": "n 1", "p": "n 1"}),
    ("rule_shape_from_parameter", "unbroadcast(g, t)", "unbroadcast(g, p)",
     {"t": "@x", "p": "@x"}),
    ("rule_shape_from_parameter", "np.size(t)", None, {"t": "n 1", "p": "n"}),
]


@pytest.mark.parametrize("rule, before, after, shapes", CASES,
                         ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_rule(rule, before, after, shapes):
    result = getattr(simplify, rule)(parse(before), env_of(**shapes))
    if after is None:
        assert result is None or result == parse(before)
    else:
        assert result is not None and ir.to_source(result) == after


def test_unreduce_becomes_plain_broadcasting_in_elementwise_code():
    env = env_of(g="", x="@x")
    expr = parse("unreduce(g, x, None, False) * x")
    assert ir.to_source(simplify.eliminate_unreduce(expr, env)) == "g * x"


def test_unreduce_with_an_axis_keeps_the_axis():
    env = env_of(g="n", x="n k")
    expr = parse("unreduce(g, x, 1, False) * x")
    assert ir.to_source(simplify.eliminate_unreduce(expr, env)) == "np.expand_dims(g, 1) * x"


def test_unreduce_is_kept_where_broadcasting_would_change_the_shape():
    env = env_of(g="", x="@x", y="@y")
    expr = parse("unreduce(g, x, None, False) * y")  # y may be smaller than x
    assert simplify.eliminate_unreduce(expr, env) == expr
    assert ir.to_source(simplify.lower_unreduce(expr, env)) == "g * np.ones_like(x) * y"


def test_rewrites_are_logged_when_asked():
    import examples.cosine as c
    import gradgen

    log: list = []
    gradgen.source(c.L2_norm, explain=log)
    assert any(line.startswith("rule_unbroadcast") for line in log)
    assert any(line.startswith("rule_fold_terms") for line in log)
