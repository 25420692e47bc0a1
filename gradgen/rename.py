"""Stage 7a, rename: SSA names back to plain Python names.

Every versioned name (``x@2``, ``d_x@acc``) gets its base name back when the
value that held that name is dead by then, so the forward pass reads like
the user's code (``yh = yh + 1e-8``) and an accumulated gradient keeps one
name (``d_X = d_X + ...``).  A version whose predecessor is still needed
later (by the backward pass, typically) keeps a distinct name (``x_2``): this
is exactly the set of overwritten values that must be kept for the backward
pass.  Self-assignments left over (``d_x = d_x``) are dropped.
"""

from __future__ import annotations

from gradgen import ir
from gradgen.normalize import Namer, version_base


def _last_uses(body) -> dict:
    """name -> index of the last top-level statement that reads it (a compound
    statement reads everything its blocks read)."""
    last = {}
    for index, stmt in enumerate(body):
        for inner in ir.flatten_stmts([stmt]):
            for name in ir.names_in(ir.Tuple(ir.stmt_exprs(inner))):
                last[name] = index
    return last


def _rename_stmt(stmt, renames: dict, mapping: dict):
    def expr(e):
        return ir.substitute(e, renames)

    def block(body):
        return tuple(s for s in (_rename_stmt(s, renames, mapping) for s in body) if s is not None)

    if isinstance(stmt, ir.Assign):
        target = mapping.get(stmt.target, stmt.target)
        value = expr(stmt.value)
        return None if value == ir.Name(target) else ir.Assign(target, value, stmt.origins)
    if isinstance(stmt, ir.Return):
        return ir.Return(expr(stmt.value), stmt.origins)
    if isinstance(stmt, ir.SetItem):
        return ir.SetItem(mapping.get(stmt.target, stmt.target), expr(stmt.index),
                          expr(stmt.value), stmt.origins)
    if isinstance(stmt, ir.Push):
        return ir.Push(stmt.stack, expr(stmt.value), stmt.origins)
    if isinstance(stmt, ir.If):
        return ir.If(expr(stmt.test), block(stmt.body), block(stmt.orelse), stmt.origins)
    if isinstance(stmt, ir.For):
        return ir.For(stmt.target, expr(stmt.start), expr(stmt.stop), expr(stmt.step),
                      block(stmt.body), stmt.origins, stmt.reverse,
                      None if stmt.limit is None else expr(stmt.limit))
    if isinstance(stmt, ir.While):
        return ir.While(block(stmt.test_body), expr(stmt.test), block(stmt.body), stmt.origins)
    if isinstance(stmt, ir.Break):
        return stmt
    if isinstance(stmt, ir.Append):
        return ir.Append(mapping.get(stmt.target, stmt.target), expr(stmt.value), stmt.origins)
    if isinstance(stmt, ir.ListPop):
        return ir.ListPop(mapping.get(stmt.target, stmt.target), stmt.origins)
    raise TypeError(stmt)


def coalesce(fn: ir.Function, n_forward: int) -> tuple:
    """``fn`` with SSA versions mapped to plain names (see the module docstring),
    and the new length of its forward pass.  Only top-level assignments carry
    versions: names assigned inside blocks are never versioned."""
    body = fn.body
    last_use = _last_uses(body)
    plain = {p.name for p in fn.params}
    plain |= {version_base(n) for s in ir.flatten_stmts(body) for n in ir.defined_names(s)}
    namer = Namer(plain | {"np"})
    holder = {p.name: p.name for p in fn.params}
    mapping = {p.name: p.name for p in fn.params}
    for index, stmt in enumerate(body):
        if not isinstance(stmt, ir.Assign):
            for inner in ir.flatten_stmts([stmt]):
                for name in ir.defined_names(inner):
                    holder[name] = name
            continue
        base = version_base(stmt.target)
        current = holder.get(base)
        free = current is None or current == stmt.target or last_use.get(current, -1) <= index
        out = base if free else namer.fresh(base)
        mapping[stmt.target] = out
        holder[out] = stmt.target
    renames = {old: ir.Name(new) for old, new in mapping.items() if old != new}
    new_body = []
    new_forward = n_forward
    for index, stmt in enumerate(body):
        renamed = _rename_stmt(stmt, renames, mapping)
        if renamed is None:
            new_forward -= index < n_forward
            continue
        new_body.append(renamed)
    function = ir.Function(fn.name, fn.params, tuple(new_body), fn.docstring, fn.mutable)
    return function, new_forward
