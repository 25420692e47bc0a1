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
    last = {}
    for index, stmt in enumerate(body):
        for name in ir.names_in(stmt.value):
            last[name] = index
    return last


def coalesce(fn: ir.Function, n_forward: int) -> tuple:
    """``fn`` with SSA versions mapped to plain names (see the module docstring),
    and the new length of its forward pass."""
    body = fn.body
    last_use = _last_uses(body)
    plain = {p.name for p in fn.params}
    plain |= {version_base(s.target) for s in body if isinstance(s, ir.Assign)}
    namer = Namer(plain | {"np"})
    holder = {p.name: p.name for p in fn.params}
    mapping = {p.name: p.name for p in fn.params}
    for index, stmt in enumerate(body):
        if not isinstance(stmt, ir.Assign):
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
        value = ir.substitute(stmt.value, renames)
        if isinstance(stmt, ir.Assign):
            target = mapping[stmt.target]
            if value == ir.Name(target):
                new_forward -= index < n_forward
                continue
            new_body.append(ir.Assign(target, value, stmt.origins))
        else:
            new_body.append(ir.Return(value, stmt.origins))
    return ir.Function(fn.name, fn.params, tuple(new_body), fn.docstring), new_forward
