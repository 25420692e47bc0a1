"""Callback-style emission (Thinc): a forward pass returning ``(output, backprop)``.

The reverse pipeline runs as for ``grad_f`` (with the output preserved); this
module moves its backward pass into a nested function.  For seed 000's
``L2_norm``::

    def vjp_L2_norm(X):
        XX = X * X
        XX_sum = np.sum(XX)
        XX_sqrt = np.sqrt(XX_sum)

        def backprop(d_XX_sqrt=1.0):
            # Grad of: XX_sqrt = np.sqrt(XX_sum)
            d_XX_sum = d_XX_sqrt / (2 * XX_sqrt)
            ...
            return 2 * d_XX_sum * X

        return XX_sqrt, backprop

``backprop`` closes over the forward values it reads and returns the
gradient (a tuple in ``wrt`` order for several).  It can be called any
number of times: where the backward pass of code with loops rebinds a
forward name or pops a tape, ``backprop`` first takes its own copy
(``y_b = y``, ``y_tape_b = list(y_tape)``, ``x_b = np.copy(x)`` for arrays
written into), so the forward values it closes over never change.
"""

from __future__ import annotations

import dataclasses

from gradgen import ir
from gradgen.errors import UnsupportedSyntaxError
from gradgen.forward import (
    _BLOCK_FIELDS,
    _EXPRESSIONS,
    _SETITEM,
    GeneratedFunction,
    blocks,
    defined,
    flatten,
    names_read,
    popped_stack,
    stmt_expressions,
)
from gradgen.normalize import Namer

BACKPROP = "backprop"


# ------------------------------------------------------------- re-entrancy


def _rename_expr(expr, mapping: dict):
    if isinstance(expr, ir.Name):
        return ir.Name(mapping.get(expr.id, expr.id))
    if isinstance(expr, ir.Call) and "." in expr.func and not expr.func.startswith("np."):
        head, _, rest = expr.func.partition(".")
        if head in mapping:
            renamed = ir.map_children(expr, lambda e: _rename_expr(e, mapping))
            return dataclasses.replace(renamed, func=f"{mapping[head]}.{rest}")
    return ir.map_children(expr, lambda e: _rename_expr(e, mapping))


def _rename_stmt(stmt, mapping: dict):
    changes = {}
    for f in dataclasses.fields(stmt):
        value = getattr(stmt, f.name)
        if f.name in ("target", "stack") and isinstance(value, str):
            changes[f.name] = mapping.get(value, value)
        elif f.name in _BLOCK_FIELDS and isinstance(value, tuple):
            changes[f.name] = tuple(_rename_stmt(s, mapping) for s in value)
        elif isinstance(value, _EXPRESSIONS):
            changes[f.name] = _rename_expr(value, mapping)
    return dataclasses.replace(stmt, **changes)


def _maybe_read_first(body, definite: set, found: set) -> None:
    """Names that some path may read in ``body`` before it assigns them."""
    definite = set(definite)
    for stmt in body:
        found |= names_read(stmt) - definite
        if blocks(stmt):
            inner = definite | defined(stmt)  # a for loop's index is bound in its body
            for block in blocks(stmt):
                _maybe_read_first(block, inner, found)
        elif not isinstance(stmt, _SETITEM):
            definite |= defined(stmt)


def reentrant(backward: tuple, outer: set, namer: Namer) -> tuple:
    """(entry statements, backward statements) such that the nested function
    neither rebinds a name of the enclosing function nor changes its values."""
    rebound, popped, written = set(), set(), set()
    for stmt in flatten(backward):
        if isinstance(stmt, _SETITEM):
            written |= defined(stmt) & outer
        else:
            rebound |= defined(stmt) & outer
        for expr in stmt_expressions(stmt):  # tape.pop() anywhere
            for e in ir.walk(expr):
                stack = popped_stack(e)
                if stack in outer:
                    popped.add(stack)
        if type(stmt).__name__ == "Pop" and stmt.stack in outer:
            popped.add(stmt.stack)
        if isinstance(stmt, ir.ListPop) and stmt.target in outer:
            popped.add(stmt.target)  # a list of the forward pass, undone
    names = sorted(rebound | popped | written)
    if not names:
        return (), backward
    mapping = {n: namer.fresh(f"{n}_b") for n in names}
    read_first: set = set()
    _maybe_read_first(backward, set(), read_first)
    entry = []
    for n in names:
        if n in popped:
            value = ir.Call("list", (ir.Name(n),))
        elif n in written:
            value = ir.Call("np.copy", (ir.Name(n),))
        elif n in read_first:
            value = ir.Name(n)
        else:
            continue  # assigned before any read: a plain local of backprop
        entry.append(ir.Assign(mapping[n], value, ()))
    renamed = tuple(_rename_stmt(s, mapping) for s in backward)
    return tuple(entry), _copy_restored(renamed, {mapping[n] for n in written})


def _if_bound(stmt, unbound) -> object:
    """``copy = list(x)`` as ``if x is not None: ...`` for an ``x`` that the
    forward pass may not have bound (then the copy is None too)."""
    read = names_read(stmt) & set(unbound)
    if not read or isinstance(stmt.value, ir.Name):
        return stmt
    (name,) = read
    test = ir.Compare("is not", ir.Name(name), ir.Const(None))
    return ir.If(test, (stmt,), (ir.Assign(stmt.target, ir.Const(None), ()),), ())


def _copy_restored(body, written: set) -> tuple:
    """An array the backward pass writes into, restored from a tape, is
    restored as a copy: the tape's object belongs to the forward pass, which
    the next call of backprop reads again."""
    out = []
    for stmt in body:
        if (isinstance(stmt, ir.Assign) and stmt.target in written
                and popped_stack(stmt.value) is not None):
            stmt = dataclasses.replace(stmt, value=ir.Call("np.copy", (stmt.value,)))
        changes = {f: _copy_restored(getattr(stmt, f), written) for f in _BLOCK_FIELDS
                   if isinstance(getattr(stmt, f, None), tuple)}
        out.append(dataclasses.replace(stmt, **changes) if changes else stmt)
    return tuple(out)


# ------------------------------------------------------------------- door


def vjp_function(text: str, function: str, options, filename: str = "<string>",
                 line_offset: int = 0) -> GeneratedFunction:
    """``vjp_<function>``: the forward pass, returning ``(output, backprop)``."""
    from gradgen import driver, emit, rename, simplify, transform
    from gradgen.api import function_name

    primal, registry = driver.front(text, function, options, filename, line_offset)
    adjoint = transform.reverse(primal, options.wrt, registry, True, filename,
                                dict(options.shapes))
    if options.simplify:
        adjoint = simplify.simplify(adjoint, dict(options.shapes), registry=registry)
    fn, n_forward = rename.coalesce(adjoint.function, adjoint.n_forward)
    ret = fn.body[-1]
    if not (isinstance(ret, ir.Return) and isinstance(ret.value, ir.Tuple)
            and len(ret.value.elts) == 2):
        raise UnsupportedSyntaxError(f"callback style: unexpected gradient of {function}()")
    value, gradient = ret.value.elts
    forward_body, backward = fn.body[:n_forward], fn.body[n_forward:-1]
    n_seeds = len(getattr(adjoint, "seeds", ()) or ()) or 1  # one per output
    seeds, params = fn.params[-n_seeds:], fn.params[:-n_seeds]

    outer = {p.name for p in params}
    for stmt in flatten(forward_body):
        outer |= defined(stmt)
    taken = set(outer) | {seed.name for seed in seeds} | {"np"}
    for stmt in flatten(fn.body):
        taken |= defined(stmt) | names_read(stmt)
    namer = Namer(taken)
    final = ir.Return(gradient, ret.origins)
    entry, statements = reentrant(backward + (final,), outer, namer)
    backprop = namer.fresh(BACKPROP)
    # backprop copies these on entry, whether or not a branch or a loop that
    # ran bound them: a name bound only there starts as None.
    surely = {p.name for p in params} | {st.target for st in forward_body
                                          if isinstance(st, ir.Assign)}
    unbound = sorted(set().union(*(names_read(st) for st in entry)) - surely) if entry else []
    forward_body = tuple(ir.Assign(n, ir.Const(None), ()) for n in unbound) + forward_body
    entry = tuple(_if_bound(st, unbound) for st in entry)

    wrt = ", ".join(adjoint.wrt)
    name = function_name(function, "callback")
    several = len(adjoint.wrt) > 1
    names = ", ".join(seed.name for seed in seeds)
    outputs = "the gradient of the output" if n_seeds == 1 else "the gradients of the outputs"
    docstring = (f"Forward pass of {function}, with a callback for its gradient.\n\n"
                 f"    Returns (output, {backprop}); {backprop}({names}) returns the "
                 f"gradient{'s' if several else ''}\n"
                 f"    with respect to {wrt}{' (a tuple)' if several else ''}, given "
                 f"{names}, {outputs}.\n    ")
    inner_doc = f"The gradient of {function} with respect to {wrt}."
    lines = [emit.signature(name, params), f'    """{docstring}"""']
    lines += emit.body_lines(forward_body, len(forward_body))
    lines += ["", f"    {emit.signature(backprop, seeds)}", f'        """{inner_doc}"""']
    lines += emit.body_lines(entry, len(entry), indent="        ")
    lines += emit.body_lines(statements, 0, indent="        ")
    lines += ["", f"    return {ir.to_source(value)}, {backprop}"]
    source = "\n".join(lines) + "\n"
    return GeneratedFunction(name, fn, f"{function} (callback style, wrt {wrt})", source)
