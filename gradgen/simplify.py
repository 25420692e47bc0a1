"""Stage 6, simplify: remove the noise of the raw adjoint, and only provably.

The transform emits exact but noisy code: every broadcast is undone by
``unbroadcast``, every reduction by ``unreduce``, partials are added as they
come.  This stage rewrites it to what a person would write, using shape
facts (:mod:`gradgen.shapes`) as the only licence:

* ``unbroadcast(g, x)`` disappears when ``g`` provably has ``x``'s shape, and
  becomes an explicit ``np.sum(g, axis=...)`` when shapes say which axes were
  broadcast; otherwise it stays (a helper copied into the module).
* ``unreduce(g, x, ...)`` is replaced by ``g`` itself inside elementwise code
  whose result keeps its shape (NumPy broadcasting does the rest), and
  otherwise by plain ``g * np.ones_like(x)``.
* Algebra: ``x * 1``, ``x + 0``, ``-(-x)``, ``x ** 1``, constants folded and
  moved to the front of products, equal partials folded (``a + a`` -> ``2 * a``).
* Dataflow: copies propagated, dead code (forward and backward) removed,
  single-use gradients inlined into their accumulation or the return,
  sub-expressions the forward pass already computed reused.

Every rewrite is a small function returning the new expression or None; the
passes run to a fixed point (capped).  A rewrite that is not provably safe
for all inputs of the annotated shapes is not done.
"""

from __future__ import annotations

import dataclasses

from gradgen import ir
from gradgen.shapes import (
    Opaque,
    ShapeEnv,
    broadcast,
    infer,
    ndim,
    parse_annotation,
    same_shape,
    static_value,
)
from gradgen.transform import Adjoint

MAX_ROUNDS = 12
ELEMENTWISE_OPS = frozenset({"+", "-", "*", "/", "**"})


# ------------------------------------------------------------------- shapes


def shape_env(adjoint: Adjoint, shapes: dict, registry=None) -> ShapeEnv:
    """Shapes of every name of the raw adjoint (parameters, primal, gradients).

    A name assigned several times (in a loop or branches) has a shape only if
    every assignment provably gives the same one."""
    body = adjoint.function.body
    forward = [s for s in ir.flatten_stmts(body[: adjoint.n_forward])
               if not (isinstance(s, ir.Assign) and s.value == ir.Const(None))]  # tape slots
    env = infer(adjoint.primal.params, shapes, forward, adjoint.function.mutable, registry)
    maybe = adjoint.maybe
    env.maybe = maybe
    for seed, output in adjoint.seeds or ((adjoint.seed, adjoint.result),):
        env.define(seed, None if seed in maybe else env[output])
    for stmt in ir.flatten_stmts(body[adjoint.n_forward:]):
        if isinstance(stmt, ir.Assign):
            var = adjoint.grad_of.get(stmt.target)
            if stmt.target in maybe:
                env.define(stmt.target, None)  # may still be the placeholder 0.0
            elif var is not None:
                env.define(stmt.target, env[var])
            elif stmt.target not in env.known:
                env.define(stmt.target, env.of(stmt.value))
    return env


def is_elementwise(expr, env) -> bool:
    if isinstance(expr, ir.BinOp):
        return expr.op in ELEMENTWISE_OPS
    if isinstance(expr, (ir.UnaryOp, ir.Compare)):
        return True
    return isinstance(expr, ir.Call) and env.family(expr.func) == "elementwise"


# ------------------------------------------------------- local expression rules


def _number(expr) -> bool:
    return isinstance(expr, ir.Const) and type(expr.value) in (int, float)


def _is(expr, value) -> bool:
    return _number(expr) and expr.value == value


def _neg(expr):
    if _number(expr):
        return ir.Const(-expr.value)
    if isinstance(expr, ir.UnaryOp) and expr.op == "-":
        return expr.operand
    return ir.UnaryOp("-", expr)


def _flatten(expr, op: str) -> list:
    if isinstance(expr, ir.BinOp) and expr.op == op:
        return _flatten(expr.left, op) + _flatten(expr.right, op)
    return [expr]


def _chain(op: str, items: list):
    result = items[0]
    for item in items[1:]:
        result = ir.BinOp(op, result, item)
    return result


def _fold_constants(op: str, a, b):
    x, y = a.value, b.value
    if op == "+":
        return ir.Const(x + y)
    if op == "-":
        return ir.Const(x - y)
    if op == "*":
        return ir.Const(x * y)
    if op == "/" and y != 0 and (x / y) * y == x and float(x / y).is_integer():
        return ir.Const(x / y)
    if op == "**" and type(x) is int and type(y) is int and 0 <= y <= 8:
        return ir.Const(x**y)
    return None


def rule_arithmetic_identity(expr, env):
    """x * 1, 1 * x, x / 1, x + 0, 0 + x, x - 0 -> x;  0 - x -> -x;  x ** 1 -> x."""
    if not isinstance(expr, ir.BinOp):
        return None
    op, a, b = expr.op, expr.left, expr.right
    if _number(a) and _number(b):
        return _fold_constants(op, a, b)
    if (op == "*" and _is(b, 1)) or (op == "/" and _is(b, 1)) or (op in "+-" and _is(b, 0)):
        return a
    if (op == "*" and _is(a, 1)) or (op == "+" and _is(a, 0)):
        return b
    if op == "-" and _is(a, 0):
        return _neg(b)
    if op == "**" and _is(b, 1):
        return a
    return None


def rule_negation(expr, env):
    """-(-x) -> x; (-a) * b -> -(a * b); a - (-b) -> a + b; a + (-b) -> a - b."""
    if isinstance(expr, ir.UnaryOp) and expr.op == "-":
        inner = expr.operand
        if _number(inner) or (isinstance(inner, ir.UnaryOp) and inner.op == "-"):
            return _neg(inner)
        return None
    if not isinstance(expr, ir.BinOp):
        return None
    a, b = expr.left, expr.right
    a_neg = isinstance(a, ir.UnaryOp) and a.op == "-"
    b_neg = isinstance(b, ir.UnaryOp) and b.op == "-"
    if expr.op in ("*", "/") and (a_neg or b_neg):
        inner = ir.BinOp(expr.op, a.operand if a_neg else a, b.operand if b_neg else b)
        return inner if a_neg and b_neg else ir.UnaryOp("-", inner)
    if expr.op == "-" and b_neg:
        return ir.BinOp("+", a, b.operand)
    if expr.op == "+" and b_neg:
        return ir.BinOp("-", a, b.operand)
    if expr.op == "+" and a_neg:
        return ir.BinOp("-", b, a.operand)
    return None


def rule_product_constants(expr, env):
    """Numeric factors of a product multiplied together and written first."""
    if not (isinstance(expr, ir.BinOp) and expr.op == "*"):
        return None
    factors = _flatten(expr, "*")
    numbers = [f for f in factors if _number(f)]
    others = [f for f in factors if not _number(f)]
    if not numbers or not others:
        return None
    value = 1
    for n in numbers:
        value *= n.value
    if value == 1:
        new = _chain("*", others)
    elif value == -1:
        new = _neg(_chain("*", others))
    else:
        new = _chain("*", [ir.Const(value), *others])
    return None if new == expr else new


def rule_negation_out_of_sum(expr, env):
    """np.sum(-e, ...) -> -np.sum(e, ...): negate the small result, not the big operand."""
    if (isinstance(expr, ir.Call) and expr.func in ("np.sum", "np.mean") and expr.args
            and isinstance(expr.args[0], ir.UnaryOp) and expr.args[0].op == "-"):
        inner = ir.Call(expr.func, (expr.args[0].operand, *expr.args[1:]), expr.kwargs)
        return ir.UnaryOp("-", inner)
    return None


def rule_factor_out_of_sum(expr, env):
    """np.sum(a / c, axis=k, keepdims=True) -> np.sum(a, axis=k, keepdims=True) / c
    when c is constant along the summed axes (length 1 there): one full-size
    pass fewer.  Same for a product with such a c."""
    if not (isinstance(expr, ir.Call) and expr.func == "np.sum" and len(expr.args) == 1
            and expr.kwarg("keepdims") == ir.Const(True) and expr.kwarg("axis") is not None):
        return None
    inner = expr.args[0]
    if not (isinstance(inner, ir.BinOp) and inner.op in ("*", "/")):
        return None
    try:
        axis = static_value(expr.kwarg("axis"))
    except ValueError:
        return None
    axes = axis if isinstance(axis, tuple) else (axis,)
    full = ndim(env.of(inner))
    candidates = [(inner.right, inner.left)] + ([(inner.left, inner.right)] if inner.op == "*" else [])
    for constant, rest in candidates:
        shape = env.of(constant)
        if (full is not None and isinstance(shape, tuple) and len(shape) == full
                and all(isinstance(a, int) and -full <= a < full and shape[a % full] == 1
                        for a in axes)):
            summed = ir.Call("np.sum", (rest,), expr.kwargs)
            return ir.BinOp(inner.op, summed, constant)
    return None


def rule_shape_from_parameter(expr, env):
    """np.size(t), np.shape(t), unbroadcast(g, t) read only t's shape: read it
    from a parameter of the same proven shape, so that t can die early."""
    if not isinstance(expr, ir.Call):
        return None
    position = {"np.size": 0, "np.shape": 0, "unbroadcast": 1}.get(expr.func)
    if position is None or len(expr.args) <= position:
        return None
    target = expr.args[position]
    if not isinstance(target, ir.Name) or target.id in env.parameters:
        return None
    for param in env.parameters:
        if same_shape(env[param], env.of(target)):
            args = list(expr.args)
            args[position] = ir.Name(param)
            return ir.Call(expr.func, tuple(args), expr.kwargs)
    return None


def rule_reciprocal(expr, env):
    """a * (1 / b) -> a / b."""
    if isinstance(expr, ir.BinOp) and expr.op == "*":
        b = expr.right
        if isinstance(b, ir.BinOp) and b.op == "/" and _is(b.left, 1):
            return ir.BinOp("/", expr.left, b.right)
    return None


def rule_fold_terms(expr, env):
    """Equal terms of a sum folded: a + b + a -> 2 * a + b."""
    if not (isinstance(expr, ir.BinOp) and expr.op == "+"):
        return None
    terms = _flatten(expr, "+")
    counts: dict = {}
    for term in terms:
        counts[term] = counts.get(term, 0) + 1
    if len(counts) == len(terms):
        return None
    folded = [term if n == 1 else ir.BinOp("*", ir.Const(n), term) for term, n in counts.items()]
    return _chain("+", folded)


def rule_unbroadcast(expr, env):
    """unbroadcast(g, x): g when shapes are equal; np.sum over the broadcast axes
    when shapes say which they are."""
    if not (isinstance(expr, ir.Call) and expr.func == "unbroadcast"):
        return None
    g, x = expr.args
    sg, sx = env.of(g), env.of(x)
    if same_shape(sg, sx):
        return g
    if sx == ():
        return ir.Call("np.sum", (g,))
    if not (isinstance(sg, tuple) and isinstance(sx, tuple)) or len(sg) < len(sx):
        return None
    lead = len(sg) - len(sx)
    axes = []
    for i, (dx, dg) in enumerate(zip(sx, sg[lead:])):
        if dx == 1:
            if dg != 1:
                axes.append(i)
        elif dx is None or dx != dg:
            return None  # cannot prove which axes were broadcast
    result = g
    if lead:
        result = ir.Call("np.sum", (result,), (("axis", _axis_const(tuple(range(lead)))),))
    if axes:
        result = ir.Call("np.sum", (result,), (("axis", _axis_const(tuple(axes))),
                                               ("keepdims", ir.Const(True))))
    return result


def _axis_const(axes: tuple):
    return ir.Const(axes[0]) if len(axes) == 1 else ir.Tuple(tuple(ir.Const(a) for a in axes))


def rule_reshape_identity(expr, env):
    """np.reshape(e, np.shape(x)) -> e when e already has x's shape; same for ravel."""
    if isinstance(expr, ir.Call) and expr.func == "np.reshape" and len(expr.args) == 2:
        target = expr.args[1]
        if isinstance(target, ir.Call) and target.func == "np.shape":
            if same_shape(env.of(expr.args[0]), env.of(target.args[0])):
                return expr.args[0]
    if isinstance(expr, ir.Call) and expr.func == "np.ravel" and len(expr.args) == 1:
        if ndim(env.of(expr.args[0])) == 1:
            return expr.args[0]
    return None


def rule_double_transpose(expr, env):
    if (isinstance(expr, ir.Call) and expr.func == "np.transpose" and len(expr.args) == 1
            and isinstance(expr.args[0], ir.Call) and expr.args[0].func == "np.transpose"
            and len(expr.args[0].args) == 1):
        return expr.args[0].args[0]
    return None


def rule_size_of_scalar(expr, env):
    """np.size(y) -> 1 when y is provably a scalar."""
    if isinstance(expr, ir.Call) and expr.func == "np.size" and len(expr.args) == 1:
        if env.of(expr.args[0]) == ():
            return ir.Const(1)
    return None


def _transpose(e):
    return ir.Call("np.transpose", (e,))


def rule_matmul_grad(expr, env):
    """matmul_grad_a/b written as plain products when the operands' ranks are known."""
    if not (isinstance(expr, ir.Call) and expr.func in ("matmul_grad_a", "matmul_grad_b")):
        return None
    g, a, b = expr.args
    ranks = (ndim(env.of(a)), ndim(env.of(b)))
    left = expr.func == "matmul_grad_a"
    if ranks == (2, 2):
        return ir.BinOp("@", g, _transpose(b)) if left else ir.BinOp("@", _transpose(a), g)
    if ranks == (2, 1):
        return ir.Call("np.outer", (g, b)) if left else ir.BinOp("@", _transpose(a), g)
    if ranks == (1, 2):
        return ir.BinOp("@", b, g) if left else ir.Call("np.outer", (a, g))
    if ranks == (1, 1):
        return ir.BinOp("*", g, b) if left else ir.BinOp("*", g, a)
    return None


def rule_helper_positional(expr, env):
    """A helper called with keywords (generated code differentiated again):
    every argument in position, as the rules below read them."""
    registry = env.registry
    if not (isinstance(expr, ir.Call) and expr.kwargs and registry is not None
            and expr.func in registry.helpers and registry.rule(expr.func) is not None):
        return None
    rule = registry.rule(expr.func)
    bound = dict(zip(rule.params, expr.args), **dict(expr.kwargs))
    if not set(bound) <= set(rule.params):
        return None
    args = tuple(bound.get(p, rule.defaults.get(p)) for p in rule.params)
    return None if None in args else ir.Call(expr.func, args)


LOCAL_RULES = (
    rule_helper_positional,
    rule_arithmetic_identity,
    rule_negation,
    rule_product_constants,
    rule_reciprocal,
    rule_negation_out_of_sum,
    rule_factor_out_of_sum,
    rule_shape_from_parameter,
    rule_fold_terms,
    rule_unbroadcast,
    rule_reshape_identity,
    rule_double_transpose,
    rule_size_of_scalar,
    rule_matmul_grad,
)


def rewrite(expr, env, log: list | None = None):
    """``expr`` with the local rules applied bottom-up until none applies."""
    expr = ir.map_children(expr, lambda e: rewrite(e, env, log))
    for _ in range(MAX_ROUNDS):
        for rule in LOCAL_RULES:
            new = rule(expr, env)
            if new is not None and new != expr:
                if log is not None:
                    log.append(f"{rule.__name__}: {ir.to_source(expr)} -> {ir.to_source(new)}")
                expr = ir.map_children(new, lambda e: rewrite(e, env, log))
                break
        else:
            return expr
    return expr


# ------------------------------------------------------- unreduce elimination


def _reduced(call: ir.Call, env):
    """What ``unreduce(g, x, axis, keepdims)`` broadcasts: ``g``, with the
    reduced axes restored as length-1 axes where needed."""
    call = rule_helper_positional(call, env) or call
    g, _x, axis, keepdims = (*call.args, ir.Const(None), ir.Const(False))[:4]
    if env.of(g) == () or axis == ir.Const(None) or keepdims == ir.Const(True):
        return g
    return ir.Call("np.expand_dims", (g, axis))


def _unreduce_calls(expr, env) -> list:
    """unreduce calls reachable from ``expr`` through elementwise operations only."""
    if isinstance(expr, ir.Call) and expr.func == "unreduce":
        return [expr]
    if is_elementwise(expr, env):
        return [c for child in ir.children(expr) for c in _unreduce_calls(child, env)]
    return []


def eliminate_unreduce(expr, env):
    """Let NumPy broadcasting do the unreduce wherever the elementwise region
    around it keeps its shape."""
    if is_elementwise(expr, env):
        calls = _unreduce_calls(expr, env)
        if calls:
            before = env.of(expr)
            for candidate_set in ([calls], [[c] for c in calls]):
                for group in candidate_set:
                    new = expr
                    for call in group:
                        new = ir.replace_subexpr(new, call, _reduced(call, env))
                    if same_shape(env.of(new), before):
                        expr = new
                        break
                else:
                    continue
                break
    return ir.map_children(expr, lambda e: eliminate_unreduce(e, env)) if not (
        isinstance(expr, ir.Call) and expr.func == "unreduce") else expr


def lower_unreduce(expr, env):
    """Remaining unreduce calls as plain broadcasting against ``ones_like``."""
    expr = ir.map_children(expr, lambda e: lower_unreduce(e, env))
    if isinstance(expr, ir.Call) and expr.func == "unreduce":
        g, x = expr.args[0], expr.args[1]
        if ir.names_in(g) & env.maybe:
            return expr  # the helper also takes the placeholder 0.0
        reduced = _reduced(expr, env)
        if same_shape(env.of(reduced), env.of(x)):
            return reduced
        return ir.BinOp("*", reduced, ir.Call("np.ones_like", (x,)))
    return expr


# ------------------------------------------------------------- dataflow passes


def _uses(body) -> dict:
    counts: dict = {}
    for stmt in body:
        for e in ir.walk(stmt.value):
            if isinstance(e, ir.Name):
                counts[e.id] = counts.get(e.id, 0) + 1
    return counts


def _merge_origins(first, second) -> tuple:
    return tuple(dict.fromkeys(first + second))


def _replace_stmt(stmt, value, origins=None):
    return dataclasses.replace(stmt, value=value,
                               origins=stmt.origins if origins is None else origins)


class _Program:
    """The adjoint's statements split into forward and backward, being rewritten."""

    def __init__(self, adjoint: Adjoint, env: ShapeEnv, log):
        body = adjoint.function.body
        self.forward = list(body[: adjoint.n_forward])
        self.backward = list(body[adjoint.n_forward:])  # ends with the Return
        self.env = env
        self.log = log
        self.params = {p.name for p in adjoint.function.params}

    def all(self):
        return self.forward + self.backward

    def note(self, message):
        if self.log is not None:
            self.log.append(message)

    def rewrite_expressions(self) -> bool:
        changed = False
        for i, stmt in enumerate(self.backward):
            new = rewrite(eliminate_unreduce(stmt.value, self.env), self.env, self.log)
            if new != stmt.value:
                self.backward[i] = _replace_stmt(stmt, new)
                changed = True
        return changed

    def propagate_copies(self) -> bool:
        """d_a = d_b (or a constant) in the backward pass: use d_b directly."""
        for i, stmt in enumerate(self.backward):
            if isinstance(stmt, ir.Assign) and isinstance(stmt.value, (ir.Name, ir.Const)):
                self.note(f"propagate_copy: {stmt.target} -> {ir.to_source(stmt.value)}")
                del self.backward[i]
                self._substitute(stmt.target, stmt.value, stmt.origins, merge=False)
                return True
        return False

    def _substitute(self, name, value, origins, merge=True):
        for j, other in enumerate(self.backward):
            if name in ir.names_in(other.value):
                new_origins = _merge_origins(other.origins, origins) if merge else None
                self.backward[j] = _replace_stmt(
                    other, ir.substitute(other.value, {name: value}), new_origins)

    def inline_unreduce(self) -> bool:
        """Inline a gradient defined by an unreduce into uses where it then vanishes."""
        changed = False
        for i, stmt in enumerate(list(self.backward)):
            if not isinstance(stmt, ir.Assign) or not _unreduce_calls(stmt.value, self.env):
                continue
            for j, use in enumerate(self.backward):
                if stmt.target not in ir.names_in(use.value):
                    continue
                inlined = ir.substitute(use.value, {stmt.target: stmt.value})
                new = eliminate_unreduce(inlined, self.env)
                if _count_unreduce(new) <= _count_unreduce(use.value):
                    self.note(f"inline_unreduce: {stmt.target} into {_label(use)}")
                    self.backward[j] = _replace_stmt(
                        use, new, _merge_origins(use.origins, stmt.origins))
                    changed = True
        return changed

    def inline_single_use(self) -> bool:
        """A gradient used once, by an accumulation or the return: inline it there."""
        uses = _uses(self.all())
        for i, stmt in enumerate(self.backward):
            if not isinstance(stmt, ir.Assign) or uses.get(stmt.target) != 1:
                continue
            for use in self.backward[i + 1:]:
                if stmt.target in ir.names_in(use.value):
                    accumulation = isinstance(use, ir.Assign) and isinstance(
                        use.value, ir.BinOp) and use.value.op == "+" and ir.Name(
                        stmt.target) in _flatten(use.value, "+")
                    into_return = isinstance(use, ir.Return) and (
                        use.value == ir.Name(stmt.target)
                        or (isinstance(use.value, ir.Tuple)
                            and ir.Name(stmt.target) in use.value.elts))
                    if accumulation or into_return:
                        self.note(f"inline_single_use: {stmt.target} into {_label(use)}")
                        del self.backward[i]
                        self._substitute(stmt.target, stmt.value, stmt.origins)
                        return True
                    break
        return False

    def reuse_forward(self) -> bool:
        """A backward sub-expression the forward pass computed: use its name."""
        computed = {s.value: s.target for s in self.forward
                    if isinstance(s.value, (ir.Call, ir.BinOp, ir.UnaryOp))}
        changed = False

        def reuse(expr):
            if expr in computed:
                return ir.Name(computed[expr])
            return ir.map_children(expr, reuse)

        for i, stmt in enumerate(self.backward):
            new = reuse(stmt.value)
            if new != stmt.value:
                self.note(f"reuse_forward: in {_label(stmt)}")
                self.backward[i] = _replace_stmt(stmt, new)
                changed = True
        return changed

    def remove_dead(self) -> bool:
        live: set = set()
        kept_backward, kept_forward = [], []
        changed = False
        for stmt in reversed(self.backward):
            if isinstance(stmt, ir.Return) or stmt.target in live:
                live |= ir.names_in(stmt.value)
                kept_backward.append(stmt)
            else:
                self.note(f"remove_dead: {stmt.target}")
                changed = True
        for stmt in reversed(self.forward):
            if stmt.target in live:
                live |= ir.names_in(stmt.value)
                kept_forward.append(stmt)
            else:
                changed = True
        self.backward = kept_backward[::-1]
        self.forward = kept_forward[::-1]
        return changed


def _count_unreduce(expr) -> int:
    return sum(1 for e in ir.walk(expr) if isinstance(e, ir.Call) and e.func == "unreduce")


def _label(stmt) -> str:
    return stmt.target if isinstance(stmt, ir.Assign) else "return"


def simplify(adjoint: Adjoint, shapes: dict | None = None, log: list | None = None,
             registry=None) -> Adjoint:
    """The adjoint with provably needless noise removed (see the module docstring).

    ``shapes`` maps parameter names to shape annotations (``"n d"``); they add
    to the annotations in the function's signature.  Each rewrite applied is
    appended to ``log`` when one is given.
    """
    env = shape_env(adjoint, shapes or {}, registry)
    body = adjoint.function.body
    if adjoint.function.mutable or not all(
            isinstance(s, ir.Assign) for s in body[:adjoint.n_forward]) or not all(
            isinstance(s, (ir.Assign, ir.Return)) for s in body[adjoint.n_forward:]):
        # Reassigned names: the dataflow passes assume one assignment per name.
        return _simplify_expressions(adjoint, env, log)
    program = _Program(adjoint, env, log)
    passes = (program.rewrite_expressions, program.inline_unreduce, program.propagate_copies,
              program.inline_single_use, program.reuse_forward, program.remove_dead)
    for _ in range(MAX_ROUNDS):
        if not any([p() for p in passes]):
            break
    program.backward = [_replace_stmt(s, rewrite(lower_unreduce(s.value, env), env, log))
                        for s in program.backward]
    program.remove_dead()
    body = tuple(program.forward + program.backward)
    function = dataclasses.replace(adjoint.function, body=body)
    return dataclasses.replace(adjoint, function=function, n_forward=len(program.forward))


def _simplify_expressions(adjoint: Adjoint, env: ShapeEnv, log) -> Adjoint:
    """With loops or branches, names are reassigned, so the dataflow passes
    (which assume one assignment per name) are not provably safe: only the
    expression rewrites run, on every backward statement."""

    def expression(e):
        return rewrite(lower_unreduce(rewrite(eliminate_unreduce(e, env), env, log), env), env, log)

    def statement(stmt):
        if isinstance(stmt, (ir.Assign, ir.Return)):
            return dataclasses.replace(stmt, value=expression(stmt.value))
        if isinstance(stmt, ir.SetItem):
            return dataclasses.replace(stmt, value=expression(stmt.value))
        if isinstance(stmt, ir.If):
            return dataclasses.replace(stmt, body=block(stmt.body), orelse=block(stmt.orelse))
        if isinstance(stmt, (ir.For, ir.While)):
            return dataclasses.replace(stmt, body=block(stmt.body))
        return stmt

    def block(body):
        return tuple(statement(s) for s in body)

    body = adjoint.function.body
    forward, backward = drop_unread_tapes(body[: adjoint.n_forward],
                                          block(body[adjoint.n_forward:]))
    forward, backward = remove_dead_top_level(forward, backward)
    function = dataclasses.replace(adjoint.function, body=forward + backward)
    return dataclasses.replace(adjoint, function=function, n_forward=len(forward))


def _pop_stack(stmt):
    value = getattr(stmt, "value", None)
    if isinstance(stmt, (ir.Assign, ir.SetItem)) and isinstance(value, ir.Call) and (
            value.func.endswith(".pop") and not value.args):
        return value.func[: -len(".pop")]
    return None


def drop_unread_tapes(forward: tuple, backward: tuple) -> tuple:
    """Stop saving values that the simplified backward pass no longer reads:
    their pushes, pops, list and placeholder go."""
    stack_of = {s.stack: s for s in ir.flatten_stmts(forward) if isinstance(s, ir.Push)}
    var_of = {stack: (push.value.id if isinstance(push.value, ir.Name)
                      else push.value.args[0].value.id) for stack, push in stack_of.items()}
    read = set()
    for stmt in ir.flatten_stmts(backward):
        if _pop_stack(stmt) is None:
            read |= ir.names_in(ir.Tuple(ir.stmt_exprs(stmt)))
    unread = {stack for stack, var in var_of.items() if var not in read}
    if not unread:
        return forward, backward
    placeholders = {var_of[s] for s in unread}

    def keep(stmt) -> bool:
        if isinstance(stmt, ir.Push):
            return stmt.stack not in unread
        if _pop_stack(stmt) in unread:
            return False
        if isinstance(stmt, ir.Assign) and stmt.target in unread:
            return False  # the list itself
        if isinstance(stmt, ir.Assign) and stmt.value == ir.Const(None) and (
                stmt.target in placeholders):
            return False
        return True

    def block(body):
        out = []
        for stmt in body:
            if keep(stmt):
                out.append(_map_nested(stmt, block))
        return tuple(out)

    return block(forward), block(backward)


def _map_nested(stmt, fn):
    if isinstance(stmt, ir.If):
        return dataclasses.replace(stmt, body=fn(stmt.body), orelse=fn(stmt.orelse))
    if isinstance(stmt, ir.For):
        return dataclasses.replace(stmt, body=fn(stmt.body))
    if isinstance(stmt, ir.While):
        return dataclasses.replace(stmt, test_body=fn(stmt.test_body), body=fn(stmt.body))
    return stmt


def remove_dead_top_level(forward: tuple, backward: tuple) -> tuple:
    """Drop top-level assignments whose value nothing after them reads.

    Sound with loops and branches: a top-level statement runs once, and only
    statements after it (nested ones included) can read what it assigns."""
    body = list(forward + backward)
    n_forward = len(forward)
    while True:
        read_after: set = set()
        dead = None
        for index in range(len(body) - 1, -1, -1):
            stmt = body[index]
            if (isinstance(stmt, ir.Assign) and stmt.target not in read_after
                    and not _has_side_effect(stmt.value)):
                dead = index
                break
            for inner in ir.flatten_stmts([stmt]):
                read_after |= ir.names_in(ir.Tuple(ir.stmt_exprs(inner)))
        if dead is None:
            return tuple(body[:n_forward]), tuple(body[n_forward:])
        del body[dead]
        n_forward -= dead < n_forward


def _has_side_effect(expr) -> bool:
    return any(isinstance(e, ir.Call) and e.func.endswith(".pop") for e in ir.walk(expr))
