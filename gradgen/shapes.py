"""Symbolic shapes: what the simplifier may assume about each value's shape.

A shape is either a tuple of dimensions, where a dimension is an ``int``, a
symbol (``"n"``: equal symbols mean equal sizes) or ``None`` (unknown, equal
to nothing), or an :class:`Opaque` shape: unknown rank, but provably the
same as every other value with the same key (``X * X`` has the shape of
``X``), or ``None``: nothing known.

Facts come from shape annotations (``X: "n d"``, or jaxtyping's
``Float[np.ndarray, "n d"]`` read as text), from example arguments, and from
propagation through every primitive.  ``same_shape`` is the only question
the simplifier asks; it answers True only when equality is proved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradgen import ir


@dataclass(frozen=True)
class Opaque:
    """A shape of unknown rank, identified by what it was derived from."""

    keys: frozenset


def parse_annotation(text: str) -> tuple:
    """``"n d"`` -> ("n", "d"); ``"3 d"`` -> (3, "d"); ``""`` -> () (a scalar)."""
    dims = []
    for token in text.replace(",", " ").split():
        if token.isdigit():
            dims.append(int(token))
        elif token in ("_", "?", "*"):
            dims.append(None)
        else:
            dims.append(token)
    return tuple(dims)


def same_shape(a, b) -> bool:
    """Proved equal: the same opaque shape, or the same known dimensions."""
    if a is None or b is None:
        return False
    if isinstance(a, Opaque) or isinstance(b, Opaque):
        return a == b
    return len(a) == len(b) and all(x is not None and x == y for x, y in zip(a, b))


def broadcast(a, b):
    if a == ():
        return b
    if b == ():
        return a
    if a is None or b is None:
        return None
    if isinstance(a, Opaque) and isinstance(b, Opaque):
        return Opaque(a.keys | b.keys)
    if isinstance(a, Opaque) or isinstance(b, Opaque):
        return None
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + a
    b = (1,) * (n - len(b)) + b
    dims = []
    for x, y in zip(a, b):
        if x == 1:
            dims.append(y)
        elif y == 1 or x == y:
            dims.append(x)
        else:
            dims.append(None)
    return tuple(dims)


STATIC_NAMES = {"np.inf": float("inf"), "np.nan": float("nan")}


def static_value(expr):
    """The Python value of a literal expression (``np.inf`` and ``-np.inf``
    included, as in ``ord=np.inf``), or raise ValueError."""
    if isinstance(expr, ir.Const):
        return expr.value
    if isinstance(expr, ir.Tuple):
        return tuple(static_value(e) for e in expr.elts)
    if isinstance(expr, ir.Name) and expr.id in STATIC_NAMES:
        return STATIC_NAMES[expr.id]
    if isinstance(expr, ir.UnaryOp) and expr.op == "-":
        value = static_value(expr.operand)
        if type(value) in (int, float):
            return -value
    raise ValueError("not a literal")


def _axes(axis, ndim):
    axes = axis if isinstance(axis, tuple) else (axis,)
    if not all(isinstance(a, int) and -ndim <= a < ndim for a in axes):
        raise ValueError("bad axis")
    return sorted(a % ndim for a in axes)


def reduce_shape(shape, axis_expr, keepdims_expr):
    try:
        axis = None if axis_expr is None else static_value(axis_expr)
        keepdims = False if keepdims_expr is None else bool(static_value(keepdims_expr))
    except ValueError:
        return None
    if shape is None:
        return () if axis is None and not keepdims else None
    if isinstance(shape, Opaque):
        if axis is None and not keepdims:
            return ()
        return Opaque(frozenset({f"reduce({sorted(shape.keys)},{axis},{keepdims})"}))
    if axis is None:
        return (1,) * len(shape) if keepdims else ()
    try:
        axes = _axes(axis, len(shape))
    except ValueError:
        return None
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def matmul_shape(a, b):
    if isinstance(a, Opaque) and isinstance(b, (Opaque, tuple)) or (
            isinstance(b, Opaque) and isinstance(a, tuple)):
        # Unknown ranks, but the product of the same operands has one shape.
        return Opaque(frozenset({f"matmul({_key(a)},{_key(b)})"}))
    if not isinstance(a, tuple) or not isinstance(b, tuple) or not a or not b:
        return None
    if len(a) == 1 and len(b) == 1:
        return ()
    if len(a) == 1:
        return b[:-2] + b[-1:]
    if len(b) == 1:
        return a[:-1]
    batch = broadcast(a[:-2], b[:-2])
    return None if batch is None else batch + (a[-2], b[-1])


def _key(shape) -> str:
    return str(sorted(shape.keys)) if isinstance(shape, Opaque) else str(shape)


def ndim(shape) -> int | None:
    return len(shape) if isinstance(shape, tuple) else None


class ShapeEnv:
    """Shapes of names, extended statement by statement; ``dims`` holds the
    values of integer names that are dimensions (``T = x.shape[0]``).  A
    call's shape comes from its primitive's shape family in the registry."""

    def __init__(self, known: dict | None = None, registry=None):
        self.known = dict(known or {})
        self.registry = registry
        self.dims: dict = {}
        self.parameters: tuple = ()  # names whose values live for the whole function
        self.maybe: frozenset = frozenset()  # gradient names that may be the placeholder 0.0

    def dim(self, expr):
        """The size an integer expression denotes: an int, a symbol, or None."""
        if isinstance(expr, ir.Const) and type(expr.value) is int:
            return expr.value
        if isinstance(expr, ir.Name):
            return self.dims.get(expr.id)
        if (isinstance(expr, ir.Subscript) and isinstance(expr.value, ir.Attribute)
                and expr.value.attr == "shape" and isinstance(expr.index, ir.Const)):
            shape = self.of(expr.value.value)
            i = expr.index.value
            if isinstance(shape, tuple) and type(i) is int and -len(shape) <= i < len(shape):
                return shape[i]
        return None

    def __getitem__(self, name):
        return self.known.get(name)

    def define(self, name: str, shape, value=None) -> None:
        self.known[name] = shape
        if value is not None and shape == ():
            size = self.dim(value)
            if size is not None:
                self.dims[name] = size

    def family(self, primitive: str) -> str | None:
        return None if self.registry is None else self.registry.shape_family(primitive)

    def of(self, expr):
        """The shape of ``expr``'s value, or None when nothing can be proved."""
        if self.maybe and ir.names_in(expr) & self.maybe:
            return None  # a gradient that may still be the placeholder 0.0
        if isinstance(expr, ir.Name):
            if expr.id.startswith("np."):
                return ()
            return self.known.get(expr.id)
        if isinstance(expr, ir.Const):
            return () if type(expr.value) in (int, float, bool) else None
        if isinstance(expr, (ir.BinOp, ir.Compare, ir.BoolOp)):
            if getattr(expr, "op", None) == "@":
                return matmul_shape(self.of(expr.left), self.of(expr.right))
            return broadcast(self.of(expr.left), self.of(expr.right))
        if isinstance(expr, ir.UnaryOp):
            return self.of(expr.operand)
        if isinstance(expr, ir.Call):
            return self._call(expr)
        if isinstance(expr, ir.Attribute) and expr.attr in ("ndim", "size"):
            return ()
        if isinstance(expr, ir.Subscript):
            if isinstance(expr.value, ir.Attribute) and expr.value.attr == "shape":
                return () if not isinstance(expr.index, ir.Slice) else None
            return self._subscript(expr)
        return None

    def argument(self, call: ir.Call, name: str, position: int, default=None):
        """The argument of ``call`` for the parameter ``name`` (at ``position``)."""
        value = call.kwarg(name)
        if value is not None:
            return value
        entry = None if self.registry is None else self.registry.entry(call.func)
        params = entry.rule.params if entry is not None and entry.rule is not None else None
        if params is not None and name in params:
            position = params.index(name)
        return call.args[position] if len(call.args) > position else default

    def _call(self, call: ir.Call):
        family = self.family(call.func)
        if family is None:
            return None
        if family == "elementwise":
            shape = ()
            for arg in (*call.args, *(v for _, v in call.kwargs)):
                if arg != ir.Const(None) and not isinstance(arg, ir.Tuple):
                    shape = broadcast(shape, self.of(arg))
            return shape
        if family == "reduction" and call.args:
            return reduce_shape(self.of(call.args[0]), self.argument(call, "axis", 1),
                                self.argument(call, "keepdims", 2))
        if family == "static":
            return ()
        if family.startswith("like:"):
            name, _, position = family[len("like:"):].partition("@")
            arg = self.argument(call, name, int(position or 0))
            return None if arg is None else self.of(arg)
        function = SHAPE_FUNCTIONS.get(family)
        return None if function is None else function(self, call)

    def _subscript(self, expr: ir.Subscript):
        shape = self.of(expr.value)
        if not isinstance(shape, tuple):
            return None
        parts = expr.index.elts if isinstance(expr.index, ir.Tuple) else (expr.index,)
        dims, position = [], 0
        for part in parts:
            if part == ir.Const(None) or part == ir.Name("np.newaxis"):
                dims.append(1)
            elif isinstance(part, ir.Slice):
                if position >= len(shape):
                    return None
                full = part.lower is None and part.upper is None and part.step is None
                dims.append(shape[position] if full else None)
                position += 1
            elif (isinstance(part, ir.Const) and type(part.value) is int) or (
                    not isinstance(part, ir.Const) and self.of(part) == ()):
                position += 1  # an integer index drops its axis
            else:
                return None  # ellipsis, index arrays: not modelled
        return tuple(dims) + shape[position:]


MAX_ROUNDS = 12


def infer(params, shapes: dict, statements, mutable, registry=None) -> ShapeEnv:
    """Shapes of the names the statements (flattened, in order) assign.

    Parameters have their annotated shape (``shapes`` first, then the
    signature's annotation) or an opaque one.  A name assigned several times
    (``mutable``) has a shape only if every assignment provably gives the
    same one: an optimistic fixed point starts from the first assignment's."""
    env = ShapeEnv(registry=registry)
    env.parameters = tuple(p.name for p in params)
    for param in params:
        text = shapes.get(param.name, param.shape)
        env.define(param.name, parse_annotation(text) if text is not None
                   else Opaque(frozenset({param.name})))
    for stmt in statements:
        if isinstance(stmt, ir.For):
            env.define(stmt.target, ())
        elif isinstance(stmt, ir.Assign) and stmt.target not in env.known:
            env.define(stmt.target, env.of(stmt.value))
    for _ in range(MAX_ROUNDS):
        candidates: dict = {}
        for stmt in statements:
            if isinstance(stmt, ir.Assign) and stmt.target in mutable:
                candidates.setdefault(stmt.target, []).append(env.of(stmt.value))
            elif isinstance(stmt, ir.Assign):
                env.define(stmt.target, env.of(stmt.value), stmt.value)
        changed = False
        for name, found in candidates.items():
            agreed = found[0] if all(f == found[0] for f in found) else None
            if agreed != env[name]:
                env.define(name, agreed)
                changed = True
        if not changed:
            return env
    for name in mutable:  # no fixed point within the rounds: claim nothing
        env.define(name, None)
    return env


def scalars(fn, shapes: dict, registry=None) -> frozenset:
    """Names of ``fn`` (in ANF) proved to hold values of shape ``()``."""
    env = infer(fn.params, shapes, list(ir.flatten_stmts(fn.body)), fn.mutable, registry)
    return frozenset(name for name, shape in env.known.items() if shape == ())


# ------------------------------------------------------------ shape functions
# The shape families that are not one of the generic ones above, by name: a
# registry entry names one with ``shape="..."``.


def _matmul(env: ShapeEnv, call: ir.Call):
    if len(call.args) != 2:
        return None
    return matmul_shape(env.of(call.args[0]), env.of(call.args[1]))


def _outer(env: ShapeEnv, call: ir.Call):
    if len(call.args) != 2:
        return None
    a, b = env.of(call.args[0]), env.of(call.args[1])
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b) == 1:
        return (a[0], b[0])
    return None


def _transpose(env: ShapeEnv, call: ir.Call):
    if not call.args:
        return None
    shape = env.of(call.args[0])
    axes = env.argument(call, "axes", 1)
    if axes is None or axes == ir.Const(None):
        if isinstance(shape, tuple):
            return tuple(reversed(shape))
        if isinstance(shape, Opaque):
            return Opaque(frozenset({f"T{sorted(shape.keys)}"}))
        return None
    try:
        perm = static_value(axes)
    except ValueError:
        return None
    if isinstance(shape, tuple) and isinstance(perm, tuple) and sorted(perm) == list(
            range(len(shape))):
        return tuple(shape[p] for p in perm)
    return None


def _reshape(env: ShapeEnv, call: ir.Call):
    target = env.argument(call, "shape", 1)
    if target is None:
        return None
    if isinstance(target, ir.Call) and target.func == "np.shape" and target.args:
        return env.of(target.args[0])
    try:
        dims = static_value(target)
    except ValueError:
        return None
    dims = dims if isinstance(dims, tuple) else (dims,)
    return tuple(d if isinstance(d, int) and d >= 0 else None for d in dims)


def _expand_dims(env: ShapeEnv, call: ir.Call):
    shape = env.of(call.args[0]) if call.args else None
    axis = env.argument(call, "axis", 1)
    if not isinstance(shape, tuple) or axis is None:
        return None
    try:
        value = static_value(axis)
        axes = _axes(value, len(shape) + (len(value) if isinstance(value, tuple) else 1))
    except (ValueError, TypeError):
        return None
    dims = list(shape)
    for a in axes:
        dims.insert(a, 1)
    return tuple(dims)


def _ravel(env: ShapeEnv, call: ir.Call):
    shape = env.of(call.args[0]) if call.args else None
    return shape if isinstance(shape, tuple) and len(shape) == 1 else None


def _constructor(env: ShapeEnv, call: ir.Call):
    """np.zeros(shape), np.full(shape, v): the shape given."""
    target = env.argument(call, "shape", 0)
    if target is None:
        return None
    parts = target.elts if isinstance(target, ir.Tuple) else (target,)
    return tuple(env.dim(p) for p in parts)


def _permute_axes(env: ShapeEnv, call: ir.Call):
    """np.swapaxes, np.moveaxis, np.rot90...: a primitive that only reorders its
    first argument's axes, by literal arguments; the order, from the primitive
    applied to a stand-in (no memory) whose extents are distinct."""
    shape = env.of(call.args[0]) if call.args else None
    function = getattr(np, call.func[len("np."):], None) if call.func.startswith("np.") else None
    if not isinstance(shape, tuple) or function is None:
        return None
    try:
        args = [static_value(a) for a in call.args[1:]]
        kwargs = {k: static_value(v) for k, v in call.kwargs}
        stand_in = np.broadcast_to(np.empty(()), tuple(range(2, len(shape) + 2)))
        order = [n - 2 for n in np.shape(function(stand_in, *args, **kwargs))]
    except (ValueError, TypeError, IndexError):  # np.exceptions.AxisError is both
        return None
    return tuple(shape[k] for k in order) if sorted(order) == list(range(len(shape))) else None


def _along_axis(env: ShapeEnv, call: ir.Call):
    """np.sort, np.cumsum: the first argument's shape along an axis; with
    axis=None (given, or the rule's default), the flattened array."""
    shape = env.of(call.args[0]) if call.args else None
    axis = env.argument(call, "axis", 1)
    if axis is None:
        entry = None if env.registry is None else env.registry.entry(call.func)
        rule = entry.rule if entry is not None else None
        axis = rule.defaults.get("axis") if rule is not None else None
    if axis is None:
        return None
    if axis != ir.Const(None):
        return shape
    return shape if isinstance(shape, tuple) and len(shape) == 1 else None


SHAPE_FUNCTIONS = {
    "permute-axes": _permute_axes,
    "along_axis": _along_axis,
    "matmul": _matmul,
    "outer": _outer,
    "transpose": _transpose,
    "reshape": _reshape,
    "expand_dims": _expand_dims,
    "ravel": _ravel,
    "constructor": _constructor,
}
