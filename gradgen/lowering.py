"""libcst expressions -> IR expressions, with calls resolved to canonical names.

Shared by the normalizer (user code) and the rule loader (templates/), so a
rule and the code it applies to are read the same way.  Canonical names:
NumPy functions are ``np.<name>`` whatever the user's alias; methods and
attributes that the registry declares as aliases become their function
(``x.sum(axis=1)`` -> ``np.sum(x, axis=1)``, ``x.T`` -> ``np.transpose(x)``);
Python operators are ``operator.<name>``.
"""

from __future__ import annotations

import ast
from typing import Mapping

import libcst as cst

from gradgen import ir
from gradgen.parse import dotted_name, resolve_numpy

BINARY_OPERATORS = {
    cst.Add: "+", cst.Subtract: "-", cst.Multiply: "*", cst.Divide: "/",
    cst.Power: "**", cst.MatrixMultiply: "@", cst.FloorDivide: "//", cst.Modulo: "%",
    cst.BitAnd: "&", cst.BitOr: "|", cst.BitXor: "^",
}  # fmt: skip
OPERATOR_PRIMITIVES = {
    "+": "operator.add", "-": "operator.sub", "*": "operator.mul",
    "/": "operator.truediv", "**": "operator.pow", "@": "operator.matmul",
    "//": "operator.floordiv", "%": "operator.mod",
    "&": "operator.and_", "|": "operator.or_", "^": "operator.xor",
}  # fmt: skip
COMPARISONS = {
    cst.LessThan: "<", cst.LessThanEqual: "<=", cst.GreaterThan: ">",
    cst.GreaterThanEqual: ">=", cst.Equal: "==", cst.NotEqual: "!=",
    cst.Is: "is", cst.IsNot: "is not",
}  # fmt: skip
STATIC_ATTRIBUTES = frozenset({"shape", "ndim", "size", "dtype"})
BUILTINS = frozenset({"abs", "len", "range", "float", "int", "min", "max", "sum"})


class LoweringError(Exception):
    """Raised with the offending node; callers turn it into a located error."""

    def __init__(self, node, message: str, hint: str = ""):
        super().__init__(message)
        self.node = node
        self.message = message
        self.hint = hint


def literal(node) -> object:
    return ast.literal_eval(node.value)


def call_name(func: cst.BaseExpression, aliases: Mapping) -> str | None:
    """The canonical name of a called function, or None for a method call."""
    dotted = dotted_name(func)
    numpy = resolve_numpy(dotted, aliases)
    if numpy is not None:
        return numpy
    if isinstance(func, cst.Name):
        return func.value
    if dotted is not None and dotted.split(".")[0] == "operator":
        return dotted
    return None


def lower_expr(node: cst.BaseExpression, aliases: Mapping, registry=None) -> ir.Expr:
    """The IR form of a libcst expression (not yet one primitive per statement).

    ``registry`` gives the method and attribute aliases (none without it)."""

    def lower(n):
        return lower_expr(n, aliases, registry)

    if isinstance(node, cst.Name):
        if node.value in ("None", "True", "False"):
            return ir.Const({"None": None, "True": True, "False": False}[node.value])
        numpy = resolve_numpy(node.value, aliases)
        if numpy is not None and numpy != "np":
            return ir.Name(numpy)  # a from-import like `from numpy import pi`
        return ir.Name(node.value)
    if isinstance(node, (cst.Integer, cst.Float)):
        return ir.Const(literal(node))
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        return ir.Const(node.evaluated_value)
    if isinstance(node, cst.Ellipsis):
        return ir.Const(Ellipsis)
    if isinstance(node, cst.BinaryOperation):
        op = BINARY_OPERATORS.get(type(node.operator))
        if op is None:
            raise LoweringError(node, "this operator is not supported")
        return ir.BinOp(op, lower(node.left), lower(node.right))
    if isinstance(node, cst.UnaryOperation):
        operand = lower(node.expression)
        if isinstance(node.operator, cst.Minus):
            if isinstance(operand, ir.Const) and type(operand.value) in (int, float):
                return ir.Const(-operand.value)
            return ir.UnaryOp("-", operand)
        if isinstance(node.operator, cst.Plus):
            return operand
        if isinstance(node.operator, cst.Not):
            return ir.UnaryOp("not", operand)
        raise LoweringError(node, "the ~ operator is not supported")
    if isinstance(node, cst.BooleanOperation):
        op = "and" if isinstance(node.operator, cst.And) else "or"
        return ir.BoolOp(op, lower(node.left), lower(node.right))
    if isinstance(node, cst.Comparison):
        if len(node.comparisons) != 1:
            raise LoweringError(node, "chained comparisons are not supported",
                                "split it: `a < b and b < c`")
        target = node.comparisons[0]
        op = COMPARISONS.get(type(target.operator))
        if op is None:
            raise LoweringError(node, "`in` comparisons are not supported")
        return ir.Compare(op, lower(node.left), lower(target.comparator))
    if isinstance(node, cst.Attribute):
        dotted = dotted_name(node)
        numpy = resolve_numpy(dotted, aliases)
        if numpy is not None:
            return ir.Name(numpy)  # np.pi, np.newaxis, np.float32
        value = lower(node.value)
        attributes = registry.attributes if registry is not None else {}
        if node.attr.value in attributes:
            return ir.Call(attributes[node.attr.value], (value,))
        if node.attr.value in STATIC_ATTRIBUTES:
            return ir.Attribute(value, node.attr.value)
        supported = sorted(set(attributes) | STATIC_ATTRIBUTES)
        raise LoweringError(node, f"the attribute .{node.attr.value} is not supported",
                            f"supported: {', '.join('.' + a for a in supported)}")
    if isinstance(node, cst.Subscript):
        parts = []
        for element in node.slice:
            s = element.slice
            if isinstance(s, cst.Index):
                parts.append(lower(s.value))
            else:
                parts.append(ir.Slice(*(None if p is None else lower(p)
                                         for p in (s.lower, s.upper, s.step))))
        index = parts[0] if len(parts) == 1 else ir.Tuple(tuple(parts))
        return ir.Subscript(lower(node.value), index)
    if isinstance(node, cst.Tuple):
        return ir.Tuple(tuple(lower(e.value) for e in node.elements))
    if isinstance(node, cst.List):
        return ir.Call(ir.LIST_LITERAL, tuple(lower(e.value) for e in node.elements))
    if isinstance(node, cst.Call):
        return _lower_call(node, aliases, registry)
    raise LoweringError(node, f"{type(node).__name__} expressions are not supported")


def _lower_call(node: cst.Call, aliases: Mapping, registry) -> ir.Expr:
    args, kwargs = [], []
    for arg in node.args:
        if arg.star:
            raise LoweringError(arg, "*args and **kwargs in calls are not supported")
        value = lower_expr(arg.value, aliases, registry)
        if arg.keyword is not None:
            kwargs.append((arg.keyword.value, value))
        else:
            args.append(value)
    name = call_name(node.func, aliases)
    if name is not None:
        return ir.Call(name, tuple(args), tuple(kwargs))
    if not isinstance(node.func, cst.Attribute):
        raise LoweringError(node.func, "only named functions can be called")
    method = node.func.attr.value
    methods = registry.methods if registry is not None else {}
    if method not in methods:
        raise LoweringError(node.func.attr, f"the method .{method}() is not supported",
                            f"supported methods: {', '.join(sorted(methods))}")
    primitive, packed = methods[method]
    obj = lower_expr(node.func.value, aliases, registry)
    if packed is not None and len(args) > 1:  # x.reshape(2, 3) is np.reshape(x, (2, 3))
        args = [ir.Tuple(tuple(args))]
    return ir.Call(primitive, (obj, *args), tuple(kwargs))
