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

from gradgen import ir

ELEMENTWISE_CALLS = frozenset({
    "np.exp", "np.log", "np.log1p", "np.expm1", "np.sqrt", "np.square", "np.abs",
    "np.absolute", "abs", "np.sin", "np.cos", "np.tan", "np.arcsin", "np.arccos",
    "np.arctan", "np.sinh", "np.cosh", "np.tanh", "np.maximum", "np.minimum",
    "np.where", "np.clip", "np.sign", "np.heaviside", "np.add", "np.subtract",
    "np.multiply", "np.divide", "np.true_divide", "np.power", "np.negative",
    "np.positive", "np.floor", "np.ceil", "np.round", "np.rint", "np.trunc",
    "np.isnan", "np.isinf", "np.isfinite", "np.logical_and", "np.logical_or",
    "np.logical_not", "np.greater", "np.less", "np.equal", "np.greater_equal",
    "np.less_equal", "np.not_equal",
})  # fmt: skip
REDUCTIONS = frozenset({"np.sum", "np.mean", "np.max", "np.min", "np.amax", "np.amin",
                        "np.prod", "np.linalg.norm"})
LIKE_FIRST_ARG = frozenset({"np.zeros_like", "np.ones_like", "np.empty_like"})
LIKE_SECOND_ARG = frozenset({"unbroadcast", "unreduce", "unindex"})
SCALAR_CALLS = frozenset({"np.size", "np.ndim", "len"})


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


def static_value(expr):
    """The Python value of a literal expression, or raise ValueError."""
    if isinstance(expr, ir.Const):
        return expr.value
    if isinstance(expr, ir.Tuple):
        return tuple(static_value(e) for e in expr.elts)
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


CONSTRUCTORS = frozenset({"np.zeros", "np.ones", "np.empty", "np.full"})


class ShapeEnv:
    """Shapes of names, extended statement by statement; ``dims`` holds the
    values of integer names that are dimensions (``T = x.shape[0]``)."""

    def __init__(self, known: dict | None = None):
        self.known = dict(known or {})
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

    def _call(self, call: ir.Call):
        f, args = call.func, call.args
        if f in ELEMENTWISE_CALLS:
            shape = ()
            for arg in args:
                if arg != ir.Const(None):
                    shape = broadcast(shape, self.of(arg))
            return shape
        if f in REDUCTIONS and args:
            axis = call.kwarg("axis", args[1] if len(args) > 1 and f != "np.linalg.norm" else None)
            if f == "np.linalg.norm":
                axis = call.kwarg("axis", args[2] if len(args) > 2 else None)
            keepdims = call.kwarg("keepdims")
            return reduce_shape(self.of(args[0]), axis, keepdims)
        if f in LIKE_FIRST_ARG and args:
            return self.of(args[0])
        if f in LIKE_SECOND_ARG and len(args) > 1:
            return self.of(args[1])
        if f == "matmul_grad_a" and len(args) > 1:
            return self.of(args[1])
        if f == "matmul_grad_b" and len(args) > 2:
            return self.of(args[2])
        if f in SCALAR_CALLS:
            return ()
        if f in CONSTRUCTORS and args:
            target = args[0]
            parts = target.elts if isinstance(target, ir.Tuple) else (target,)
            return tuple(self.dim(p) for p in parts)
        if f in ("np.matmul", "np.dot") and len(args) == 2:
            return matmul_shape(self.of(args[0]), self.of(args[1]))
        if f == "np.outer" and len(args) == 2:
            a, b = self.of(args[0]), self.of(args[1])
            if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b) == 1:
                return (a[0], b[0])
            return None
        if f == "np.transpose" and args:
            shape = self.of(args[0])
            if len(args) == 1 and not call.kwargs:
                if isinstance(shape, tuple):
                    return tuple(reversed(shape))
                if isinstance(shape, Opaque):
                    return Opaque(frozenset({f"T{sorted(shape.keys)}"}))
            return None
        if f == "np.reshape" and len(args) == 2:
            target = args[1]
            if isinstance(target, ir.Call) and target.func == "np.shape" and target.args:
                return self.of(target.args[0])
            try:
                dims = static_value(target)
            except ValueError:
                return None
            dims = dims if isinstance(dims, tuple) else (dims,)
            return tuple(d if isinstance(d, int) and d >= 0 else None for d in dims)
        if f == "np.expand_dims" and len(args) == 2:
            shape = self.of(args[0])
            try:
                axis = static_value(args[1])
                axes = _axes(axis, len(shape) + (len(axis) if isinstance(axis, tuple) else 1))
            except (ValueError, TypeError):
                return None
            dims = list(shape)
            for a in axes:
                dims.insert(a, 1)
            return tuple(dims)
        if f == "np.ravel" and args:
            shape = self.of(args[0])
            return shape if isinstance(shape, tuple) and len(shape) == 1 else None
        return None

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


def infer(params, shapes: dict, statements, mutable) -> ShapeEnv:
    """Shapes of the names the statements (flattened, in order) assign.

    Parameters have their annotated shape (``shapes`` first, then the
    signature's annotation) or an opaque one.  A name assigned several times
    (``mutable``) has a shape only if every assignment provably gives the
    same one: an optimistic fixed point starts from the first assignment's."""
    env = ShapeEnv()
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


def scalars(fn, shapes: dict) -> frozenset:
    """Names of ``fn`` (in ANF) proved to hold values of shape ``()``."""
    env = infer(fn.params, shapes, list(ir.flatten_stmts(fn.body)), fn.mutable)
    return frozenset(name for name, shape in env.known.items() if shape == ())
