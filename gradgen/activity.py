"""Stage 4, analyze: which values are active (carry a gradient).

A value is *varied* if it depends differentiably on a ``wrt`` parameter and
*useful* if the returned value depends differentiably on it; it is *active*
if both.  Only active values get gradient variables, so constants, shapes,
masks and computations that do not reach the output produce no backward code.
"""

from __future__ import annotations

from gradgen import ir
from gradgen.normalize import primitive_of
from gradgen.rules import Registry


def carries_gradient(stmt: ir.Assign, registry: Registry) -> bool:
    """Whether a statement's result can depend differentiably on its operands."""
    if isinstance(stmt.value, ir.Name):
        return True  # a copy
    primitive = primitive_of(stmt.value)
    return primitive is not None and registry.rule(primitive) is not None


def active_names(fn: ir.Function, wrt: tuple, registry: Registry) -> frozenset:
    assigns = [s for s in fn.body if isinstance(s, ir.Assign)]
    result = fn.body[-1].value
    varied = set(wrt)
    for stmt in assigns:
        if carries_gradient(stmt, registry) and ir.names_in(stmt.value) & varied:
            varied.add(stmt.target)
    useful = set(ir.names_in(result))
    for stmt in reversed(assigns):
        if stmt.target in useful and carries_gradient(stmt, registry):
            useful |= ir.names_in(stmt.value)
    return frozenset(varied & useful)
