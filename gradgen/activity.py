"""Stage 4, analyze: which values are active (carry a gradient).

A value is *varied* if it depends differentiably on a ``wrt`` parameter and
*useful* if the returned value depends differentiably on it; it is *active*
if both.  Only active values get gradient variables, so constants, shapes,
masks and computations that do not reach the output produce no backward code.
"""

from __future__ import annotations

from gradgen import ir
from gradgen.normalize import BUILTIN_STATIC, is_static, primitive_of
from gradgen.rules import Registry


def carries_gradient(stmt, registry: Registry) -> bool:
    """Whether a statement's result can depend differentiably on its operands."""
    if isinstance(stmt, (ir.SetItem, ir.Append)):
        return True
    if not isinstance(stmt, ir.Assign):
        return False
    if isinstance(stmt.value, (ir.Name, ir.Tuple)) or _is_list(stmt):
        return True  # a copy, or a tuple or list of values
    if isinstance(stmt.value, (ir.Const, ir.Compare, ir.BoolOp)) or is_static(
            stmt.value, static_calls=registry.static_calls | BUILTIN_STATIC):
        return False  # literals, shapes, and comparisons (piecewise constant)
    # Fail closed: a primitive without a rule carries a gradient too, so that
    # the transform meets it and refuses it; only reviewed ones carry none.
    primitive = primitive_of(stmt.value)
    return primitive not in registry.nondifferentiable


def _operands(stmt) -> set:
    if isinstance(stmt, (ir.SetItem, ir.Append)):
        return ir.names_in(stmt.value) | {stmt.target}
    return ir.names_in(stmt.value)


def active_names(fn: ir.Function, wrt: tuple, registry: Registry) -> frozenset:
    """Varied and useful names; loops make this a fixed point over all statements."""
    defs = [s for s in ir.flatten_stmts(fn.body)
            if isinstance(s, (ir.Assign, ir.SetItem, ir.Append)) and (
                carries_gradient(s, registry) or _is_list(s))]
    result = fn.body[-1].value
    varied = set(wrt)
    useful = set(ir.names_in(result))
    changed = True
    while changed:
        changed = False
        for stmt in defs:
            if stmt.target not in varied and _operands(stmt) & varied:
                varied.add(stmt.target)
                changed = True
        for stmt in reversed(defs):
            if stmt.target in useful and not _operands(stmt) <= useful:
                useful |= _operands(stmt)
                changed = True
    return frozenset(varied & useful)


def _is_list(stmt) -> bool:
    return (isinstance(stmt, ir.Assign) and isinstance(stmt.value, ir.Call)
            and stmt.value.func == ir.LIST_LITERAL)
