"""The program generator: a table of constructs, each a small generator function.

A generated program is a module: ``import numpy as np``, module constants
(``C0 = 0.75``, ``C1 = np.array([...])``, read by name), zero to two helper
functions, and the function under test ``f``, whose parameters are float
arrays (shapes from :data:`SHAPES`), Python floats and small ints.  Each
construct is registered with :func:`construct` under a name, a *kind* and a
*feature* flag:

=========  ==============================================  ==================
kind       signature                                       returns
=========  ==============================================  ==================
``expr``   ``fn(g, shape, depth, lo) -> Expr | None``      an expression of
                                                           exactly ``shape``
``stmt``   ``fn(g, depth) -> list[str] | None``            source lines
``cond``   ``fn(g, depth) -> str | None``                  a scalar test
``def``    ``fn(g) -> Helper | None``                      a helper function
``return`` ``fn(g) -> list[Expr] | None``                  the outputs
=========  ==============================================  ==================

``None`` means "not applicable here" (no list in scope, not inside a loop...):
the generator then picks another construct.  ``g`` is the :class:`Generator`,
which keeps the scope and offers :meth:`Generator.expr`, :meth:`Generator.cond`,
:meth:`Generator.block`, :meth:`Generator.fresh` and friends.

Safe domains.  Every expression carries bounds: ``hi`` (an estimate of the
largest ``|value|`` over the sampled inputs) and ``lo`` (``None``, or a
positive lower bound on every entry).  Constructs that need a domain ask for
it (``g.expr(shape, depth, lo=0.1)`` for the argument of ``np.log``; ``hi=3``
for ``np.exp``) and :meth:`Generator.coerce` wraps an expression that does
not satisfy it (``np.exp(np.tanh(e))``, ``np.square(e) + 0.5``,
``np.tanh(e)``...).  Inside loops, a value carried from one trip to the next
keeps its bounds by construction (see :meth:`Generator.loop`).  Kinks (abs,
maximum, where, data-dependent branches) are not avoided statically: inputs
are continuous and random, and the finite-difference oracle notices a kink
within its step and calls the case undecided (see :mod:`tests.fuzz.oracles`).

Aliasing.  ``y += e`` and ``z[i] = e`` mutate an array in place, which Python
makes visible through every other name of the same array (``w = y``,
``r = y[0]``, ``hs.append(y)``).  The generator tracks which names own their
array (:attr:`Var.owned`) and mutates only owned ones, so that every program
means the same thing under Python's semantics as under value semantics.
"""

from __future__ import annotations

import ast
import dataclasses
import itertools
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tests.fuzz.draw import Draw

# ------------------------------------------------------------------ shapes

SHAPES = [(), (1,), (2,), (3,), (2, 1), (1, 3), (3, 1), (2, 3), (3, 2), (2, 2), (3, 3)]
#: weights when the generator picks a shape freely (the issue's favourites first)
SHAPE_WEIGHTS = {(): 4, (3,): 4, (2, 3): 4, (2, 1): 2, (1, 3): 2, (2,): 2, (1,): 0.5,
                 (3, 1): 1, (3, 2): 1, (2, 2): 1, (3, 3): 1}

HI_CAP = 20.0  # any expression whose bound exceeds this is squashed


def shape_text(shape: tuple) -> str:
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(map(str, shape)) + ")"


def size(shape: tuple) -> int:
    return int(np.prod(shape)) if shape else 1


def broadcast(*shapes):
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        return None


#: shapes that broadcast into ``s`` without changing it
SUB = {s: [t for t in SHAPES if broadcast(t, s) == s] for s in SHAPES}
#: operand shape pairs whose broadcast is exactly ``s``
PAIRS = {s: [(a, b) for a in SUB[s] for b in SUB[s] if broadcast(a, b) == s] for s in SHAPES}


def _evaluates(text: str, **values):
    try:
        with np.errstate(all="ignore"):
            return eval(text, {"np": np}, values)  # noqa: S307 - our own templates
    except Exception:
        return None


def _table(sources, templates):
    """{result shape: [(source shape, template)]} for the templates that evaluate."""
    table: dict = {s: [] for s in SHAPES}
    for src in sources:
        for template in templates(src):
            value = _evaluates(template.format(e="e"), e=np.zeros(src))
            if value is None:
                continue
            shape = np.shape(value)
            if shape in table:
                table[shape].append((src, template))
    return table


_AXES_1D = ["", "None", "0", "-1", "(0,)"]
_AXES_2D = ["", "None", "0", "1", "-1", "-2", "(0, 1)", "(1,)", "(-1, 0)"]


def _reduce_forms():
    forms = {s: [] for s in SHAPES}
    for src in SHAPES:
        if not src:
            continue
        for axis in (_AXES_1D if len(src) == 1 else _AXES_2D):
            for keepdims in (False, True):
                kwargs = {} if axis == "" else {"axis": eval(axis)}
                shape = np.sum(np.zeros(src), keepdims=keepdims, **kwargs).shape
                if shape in forms:
                    forms[shape].append((src, axis, keepdims))
    return forms


REDUCE = _reduce_forms()

_INDEX = ["0", "1", "-1", "2", ":", "1:", ":1", ":2", "::2", "::-1", "-1:", "None", "None, :",
          ":, None", "...", "..., 0", "..., -1", "0, 1", "1, 0", "-1, -1", "0, :", ":, 0",
          ":, 1", ":, -1", "1:, :", ":, 1:", ":, :2", "1:, 0", "0, 1:", "None, 0", "0, None",
          "np.array([0, 1, 1])", "np.array([1, 0])", ":, np.array([0, 0])",
          "np.array([0, 1]), :", "np.array([1, 1, 0])"]
INDEX = _table([s for s in SHAPES if s], lambda src: ["{e}[" + i + "]" for i in _INDEX])
_WRITE = [i for i in _INDEX if "None" not in i and "np.array" not in i and "::" not in i]
WRITE = {src: [(i, np.shape(_evaluates("e[" + i + "]", e=np.zeros(src)))) for i in _WRITE
               if _evaluates("e[" + i + "]", e=np.zeros(src)) is not None
               and np.shape(_evaluates("e[" + i + "]", e=np.zeros(src))) in SHAPES]
         for src in SHAPES if src}


def _shape_templates(src):
    out = ["{e}.T", "np.transpose({e})", "{e}.transpose()", "np.squeeze({e})", "{e}.squeeze()",
           "np.squeeze({e}, axis=0)", "np.squeeze({e}, axis=-1)", "np.ravel({e})", "{e}.ravel()",
           "{e}.flatten()", "np.expand_dims({e}, 0)", "np.expand_dims({e}, axis=-1)",
           "np.expand_dims({e}, axis=1)", "{e}.reshape(-1)"]
    if len(src) == 2:
        out.append("np.transpose({e}, (1, 0))")
    for dst in SHAPES:
        if dst and dst != src and size(dst) == size(src):
            out.append("np.reshape({e}, " + shape_text(dst) + ")")
            out.append("{e}.reshape(" + ", ".join(map(str, dst)) + ")")
    return out


SHAPE_OPS = _table([s for s in SHAPES if s], _shape_templates)
_COPYING = ("flatten",)


def _matmul_forms():
    forms = {s: [] for s in SHAPES}
    for a, b in itertools.product([s for s in SHAPES if s], repeat=2):
        value = _evaluates("a @ b", a=np.zeros(a), b=np.zeros(b))
        if value is not None and np.shape(value) in forms:
            forms[np.shape(value)].append((a, b))
    return forms


MATMUL = _matmul_forms()

# ------------------------------------------------------------------ values


@dataclass
class Expr:
    """A generated expression: its text, shape and bounds (see module docstring)."""

    text: str
    shape: tuple
    lo: float | None = None
    hi: float = 1.0
    atom: bool = False
    aliases: frozenset = frozenset()  # names whose array this value may be (a view of)

    def __post_init__(self):
        self.hi = abs(self.hi) if math.isfinite(self.hi) else HI_CAP * 10
        if self.lo is not None and not (math.isfinite(self.lo) and self.lo > 0):
            self.lo = None

    def p(self) -> str:
        """The text, parenthesised unless it is an atom (name, call, subscript)."""
        return self.text if self.atom else f"({self.text})"


@dataclass
class Var:
    kind: str  # "float", "int" or "list"
    shape: tuple = ()  # for a list: the shape of its elements
    lo: float | None = None
    hi: float = 1.0
    owned: bool = True  # no other live name refers to this array
    writable: bool = False  # created by np.zeros/np.zeros_like: element writes allowed
    ilo: int = 0  # int range
    ihi: int = 0
    indexes: str | None = None  # an int loop variable over range(len(<list>))
    readonly: bool = False  # an enclosing name read by a nested helper
    min_len: int = 0  # list lengths
    max_len: int = 0

    def copy(self) -> Var:
        return dataclasses.replace(self)


@dataclass
class Helper:
    name: str
    params: list  # [(name, shape, lo required, hi allowed)]
    outputs: list  # [Expr] (text unused: shapes and bounds of the returned values)
    lines: list
    free: dict = field(default_factory=dict)  # nested helpers: {name: Var} read at call


@dataclass
class Loop:
    kind: str
    has_continue: bool = False


@dataclass
class Frame:
    scope: dict
    constraints: dict = field(default_factory=dict)
    loops: list = field(default_factory=list)
    mutated: set = field(default_factory=set)  # mutated in place in the enclosing loops
    nested: dict = field(default_factory=dict)
    in_helper: bool = False
    recent: list = field(default_factory=list)


# ------------------------------------------------------------------ the table


@dataclass(frozen=True)
class Construct:
    name: str
    kind: str
    feature: str
    weight: float
    fn: Callable


CONSTRUCTS: list = []
KINDS = ("expr", "stmt", "cond", "def", "return", "flag")


def construct(name: str, kind: str, feature: str, weight: float = 1.0):
    """Register a construct (see the module docstring for the signatures)."""
    assert kind in KINDS, kind

    def register(fn):
        assert all(c.name != name for c in CONSTRUCTS), f"duplicate construct {name}"
        CONSTRUCTS.append(Construct(name, kind, feature, weight, fn))
        return fn

    return register


def features() -> list:
    return sorted({c.feature for c in CONSTRUCTS})


# ------------------------------------------------------------------ generator

FLOAT_PARAMS = ["x", "y", "w", "u", "v"]
INT_PARAMS = ["n", "m"]
LOCALS = list("ahpqrsgcde") + [f"{c}{k}" for k in range(1, 9) for c in "ahpqrsgcde"]
LOOP_VARS = ["i", "j", "k", "t", "l2", "l3", "l4"]
TRICKY = ["d_x", "t_x", "x_tape", "result", "result_1", "backprop", "d_result_1", "x_b",
          "d_y", "t_y", "y_tape", "unbroadcast", "grad_f", "d_result", "tape", "x_2", "i_b"]
RESERVED = {"np", "f", "len", "range", "abs", "min", "max", "sum", "float", "int", "enumerate",
            "reversed", "list", "tuple", "print", "True", "False", "None", "pass"}


class Generator:
    """The state of one program's generation: the draw, the scope, the helpers."""

    def __init__(self, draw: Draw, enabled=None, disabled=()):
        self.draw = draw
        self.enabled = set(features() if enabled is None else enabled)
        self.disabled = set(disabled)
        self.used: Counter = Counter()
        self.helpers: list = []
        self.constants: list = []  # (name, value text, Expr) of module constants
        self.taken: set = set(RESERVED)
        self.frame = Frame(scope={})
        self.params: list = []  # [(name, kind, shape, positive)]
        self.loop_has_continue = False
        self.max_depth = 2  # of expressions; drawn per program

    # -------------------------------------------------------------- choices

    def on(self, name: str) -> bool:
        return any(c.name == name and self._enabled(c) for c in CONSTRUCTS)

    def _enabled(self, c: Construct) -> bool:
        return c.feature in self.enabled and c.name not in self.disabled

    def table(self, kind: str) -> list:
        return [c for c in CONSTRUCTS if c.kind == kind and self._enabled(c)]

    def attempt(self, kind: str, *args, tries: int = 6, exclude=()):
        """Run constructs of ``kind`` picked by weight until one applies."""
        table = [c for c in self.table(kind) if c.name not in exclude and c.weight > 0]
        for _ in range(tries):
            if not table:
                return None
            c = self.draw.weighted(table, [c.weight for c in table])
            out = c.fn(self, *args)
            if out is not None:
                self.used[c.name] += 1
                return out
            table = [t for t in table if t is not c]
        return None

    def shape(self, among=None) -> tuple:
        """A shape: often one a variable in scope has (so values combine), else
        one of ``among`` (default :data:`SHAPES`) by :data:`SHAPE_WEIGHTS`."""
        existing = [self.scope[n].shape for n in self.floats()]
        if among is not None:
            existing = [s for s in existing if s in among]
        if existing and self.draw.boolean(0.5):
            return self.draw.choice(existing)
        among = list(SHAPES if among is None else among)
        return self.draw.weighted(among, [SHAPE_WEIGHTS.get(s, 1) for s in among])

    # -------------------------------------------------------------- names

    def fresh(self, pool=None) -> str:
        if pool is None and self.on("tricky_names") and self.draw.boolean(0.12):
            options = [t for t in TRICKY if t not in self.taken]
            if options:
                self.used["tricky_names"] += 1
                return self._take(self.draw.choice(options))
        for name in (pool or LOCALS):
            if name not in self.taken:
                return self._take(name)
        k = len(self.taken)
        while f"v{k}" in self.taken:
            k += 1
        return self._take(f"v{k}")

    def _take(self, name):
        self.taken.add(name)
        return name

    # -------------------------------------------------------------- scope

    @property
    def scope(self) -> dict:
        return self.frame.scope

    def floats(self, shape=None, pred=None) -> list:
        return [n for n, v in self.scope.items() if v.kind == "float"
                and (shape is None or v.shape == shape) and (pred is None or pred(v))]

    def assignable(self, shape=None, pred=None) -> list:
        """Float names a statement may assign (not the enclosing names a nested
        helper reads: assigning one would make it local to the helper)."""
        return self.floats(shape, lambda v: not v.readonly and (pred is None or pred(v)))

    def ints(self, pred=None) -> list:
        return [n for n, v in self.scope.items() if v.kind == "int" and (pred is None or pred(v))]

    def lists(self, pred=None) -> list:
        return [n for n, v in self.scope.items() if v.kind == "list" and (pred is None or pred(v))]

    def pick_var(self, names: list) -> str:
        """A name, favouring recently assigned ones (so that statements feed each other)."""
        recent = self.frame.recent
        weights = [1.0 + 3.0 * (recent.index(n) + 1) / (len(recent) or 1) if n in recent
                   else 1.0 for n in names]
        return self.draw.weighted(names, weights)

    def touch(self, name: str) -> None:
        recent = self.frame.recent
        if name in recent:
            recent.remove(name)
        recent.append(name)

    def bind(self, name: str, e: Expr) -> Expr:
        """Assign ``e`` to ``name`` in the scope (aliasing and recency kept); returns
        the expression to print (a fresh copy where an alias would be unsafe)."""
        if e.aliases & self.frame.mutated:
            e = Expr(f"1.0 * {e.p()}", e.shape, e.lo, e.hi)
        for source in e.aliases:
            if source in self.scope:
                self.scope[source].owned = False
        self.scope[name] = Var("float", e.shape, e.lo, e.hi, owned=not e.aliases)
        self.touch(name)
        return e

    def need(self, name: str) -> tuple:
        """(lo, hi) an expression assigned to ``name`` must satisfy (loop invariants)."""
        inv = self.frame.constraints.get(name)
        if inv is None:
            return None, HI_CAP
        return inv.lo, 2.0 * inv.hi

    def can_alias(self, names) -> bool:
        return not (set(names) & self.frame.mutated)

    def mutate(self, name: str) -> None:
        if self.frame.loops:
            self.frame.mutated.add(name)

    # -------------------------------------------------------------- expressions

    def expr(self, shape: tuple, depth: int, lo: float | None = None,
             hi: float = HI_CAP) -> Expr:
        """An expression of exactly ``shape``, entries >= ``lo`` if given, |.| <~ ``hi``."""
        e = None
        depth = min(depth, self.max_depth)
        if depth > 0 and self.draw.boolean(0.7):
            e = self.attempt("expr", shape, depth - 1, lo)
        if e is None:
            e = self.leaf(shape, lo)
        return self.coerce(e, lo, hi)

    def leaf(self, shape: tuple, lo: float | None = None) -> Expr:
        names = self.floats(shape)
        if lo is not None:
            good = [n for n in names if (self.scope[n].lo or 0) >= lo]
            names = good or names
        if shape == () and ((not names and self.draw.boolean(0.4)) or self.draw.boolean(0.15)):
            value = self.draw.choice([0.5, 2.0, 1.5, 3.0, -0.75, -2.0, 0.25])
            return Expr(repr(value), (), value if value > 0 else None, abs(value), atom=value > 0)
        if names:
            name = self.pick_var(names)
            v = self.scope[name]
            return Expr(name, shape, v.lo, v.hi, atom=True, aliases=frozenset([name]))
        return self.convert(shape, lo)

    def convert(self, shape: tuple, lo=None) -> Expr:
        """A value of ``shape`` made from some variable of another shape."""
        sources = self.floats()
        options = []
        for name in sources:
            s = self.scope[name].shape
            options += [("reduce", name, f) for f in REDUCE[shape] if f[0] == s]
            options += [("index", name, t) for src, t in INDEX[shape] if src == s]
            if broadcast(s, shape) == shape:
                options.append(("ones", name, None))
        if not options:
            return Expr(f"np.ones({shape_text(shape)})", shape, 1.0, 1.0, atom=True)
        if any(o[0] != "ones" for o in options) and self.draw.boolean(0.85):
            options = [o for o in options if o[0] != "ones"]
        how, name, form = self.draw.choice(options)
        v = self.scope[name]
        var = Expr(name, v.shape, v.lo, v.hi, atom=True, aliases=frozenset([name]))
        self.used[f"convert:{how}"] += 1
        if how == "reduce":
            src, axis, keepdims = form
            return reduction("np.sum", var, axis, keepdims, shape, self.draw)
        if how == "index":
            return Expr(form.format(e=name), shape, v.lo, v.hi, atom=True,
                        aliases=frozenset() if "np.array" in form else var.aliases)
        return Expr(f"np.ones({shape_text(shape)}) * {name}", shape, v.lo, v.hi)

    def coerce(self, e: Expr, lo=None, hi=HI_CAP) -> Expr:
        if e.hi > hi:
            how = self.draw.choice(["tanh", "sin", "arctan"])
            self.used[f"coerce:{how}"] += 1
            bound = {"tanh": min(1.0, e.hi), "sin": min(1.0, e.hi), "arctan": 1.58}[how]
            e = Expr(f"np.{how}({e.text})", e.shape,
                     math.tanh(e.lo) if how == "tanh" and e.lo else None, bound, atom=True)
        if lo is not None and (e.lo is None or e.lo < lo):
            e = self.positive(e, lo, hi)
        return e

    def positive(self, e: Expr, lo: float, hi: float) -> Expr:
        """``e`` made >= ``lo`` (at most 0.5) and <= ``hi``, by one of several wrappings."""
        t, p, h = e.text, e.p(), e.hi
        wrappings = [  # (text, lo, hi, atom)
            (f"np.exp(np.tanh({t}))", 0.36, 2.72, True),
            (f"np.square({t}) + 0.5", 0.5, h * h + 0.5, False),
            (f"np.abs({t}) + 0.5", 0.5, h + 0.5, False),
            (f"1.0 + np.square(np.sin({t}))", 1.0, 2.0, False),
            (f"np.exp(np.sin({t}))", 0.36, 2.72, True),
            (f"np.sqrt({p} * {p} + 1.0)", 1.0, math.sqrt(h * h + 1), True),
            (f"0.5 + 0.5 * np.square(np.tanh({t}))", 0.5, 1.0, False),
        ]
        fits = [w for w in wrappings if w[1] >= lo and w[2] <= hi] or wrappings[-1:]
        text, new_lo, new_hi, atom = self.draw.choice(fits)
        self.used[f"coerce:positive{wrappings.index((text, new_lo, new_hi, atom))}"] += 1
        return Expr(text, e.shape, new_lo, new_hi, atom=atom)

    def cond(self, depth: int = 1) -> str:
        out = self.attempt("cond", depth)
        if out is None:
            return cond_reduce(self, depth)
        return out

    # -------------------------------------------------------------- statements

    def block(self, depth: int, count: int, forced=()) -> list:
        """``count`` statements, plus the ``forced`` ones (callables returning
        lines) at random positions.  Never empty."""
        slots = [None] * count + list(forced)
        order = list(range(len(slots)))
        for i in range(len(order) - 1, 0, -1):  # Fisher-Yates with the draw
            j = self.draw.integer(0, i)
            order[i], order[j] = order[j], order[i]
        lines = []
        for index in order:
            make = slots[index]
            if make is None:
                out = self.attempt("stmt", depth)
            else:
                out = make()
            if out:
                lines += out
        if not lines:
            lines = assign_new(self, depth) or ["pass"]
        return lines

    def branch_scopes(self, make_then, make_else=None):
        """Generate two branches on copies of the scope; merge them afterwards."""
        entry = self.frame.scope
        recent = list(self.frame.recent)
        self.frame.scope = {k: v.copy() for k, v in entry.items()}
        then = make_then()
        after_then = self.frame.scope
        self.frame.scope = {k: v.copy() for k, v in entry.items()}
        other = make_else() if make_else is not None else None
        after_else = self.frame.scope
        self.frame.scope = merge(after_then, after_else)
        self.frame.recent = [n for n in recent if n in self.frame.scope] + [
            n for n in self.frame.recent if n in self.frame.scope and n not in recent]
        return then, other

    def loop(self, kind: str, header: str, bound_vars: dict, body_count: int,
             depth: int, forced=(), carried: bool = True, prelude=()) -> list:
        """A loop: the body keeps every outer float value within its invariant
        (its bounds at entry, widened: lo <= 0.3, hi >= 3), so that any number of
        trips stays in the safe domain; names first bound in the body are local."""
        frame = self.frame
        entry = frame.scope
        saved_constraints = dict(frame.constraints)
        saved_mutated = set(frame.mutated)
        body_scope = {}
        for name, v in entry.items():
            v = v.copy()
            if v.kind == "float":
                v.lo = min(v.lo, 0.3) if v.lo is not None else None
                v.hi = max(v.hi, 3.0)
                frame.constraints[name] = v.copy()
            elif v.kind == "list":
                v.max_len = v.max_len + 9
            body_scope[name] = v
        body_scope.update(bound_vars)
        frame.scope = body_scope
        frame.loops.append(Loop(kind))
        forced = list(forced)
        if carried:
            targets = [n for n in self.assignable() if n not in bound_vars]
            if targets:
                target = self.pick_var(targets)
                forced.append(lambda: update(self, target, depth + 1))
        body = list(prelude) + self.block(depth + 1, body_count, forced)
        loop = frame.loops.pop()
        end = frame.scope
        merged = {}
        for name, v in entry.items():
            w = end.get(name)
            if w is None or w.kind != v.kind or w.shape != v.shape:
                continue
            m = body_scope[name].copy() if name in body_scope else v.copy()
            if v.kind == "float":
                m.hi = max(m.hi, w.hi)
                m.lo = m.lo if (m.lo is not None and w.lo is not None) else None
                m.owned = v.owned and w.owned
                m.writable = v.writable and w.writable
            elif v.kind == "list":
                m.min_len = min(v.min_len, w.min_len)
                m.max_len = max(v.max_len, w.max_len)
                m.hi = max(v.hi, w.hi)
                m.lo = min(v.lo, w.lo) if (v.lo is not None and w.lo is not None) else None
            merged[name] = m
        frame.scope = merged
        frame.constraints = saved_constraints
        frame.mutated = saved_mutated
        frame.recent = [n for n in frame.recent if n in merged]
        self.loop_has_continue = loop.has_continue
        return [header] + indent(body)

    # -------------------------------------------------------------- program

    def program(self) -> dict:
        draw = self.draw
        self.max_depth = draw.weighted([1, 2, 3], [4, 5, 1])
        n_float = draw.weighted([1, 2, 3], [3, 4, 2])
        names = list(FLOAT_PARAMS)
        params = []
        for _ in range(n_float):
            name = names.pop(draw.integer(0, len(names) - 1))
            shape = self.shape()
            positive = draw.boolean(0.25)
            params.append((name, "float", shape, positive))
        if self.on("int_param") and draw.boolean(0.45):
            params.insert(draw.integer(0, len(params)), (draw.choice(INT_PARAMS), "int", (), False))
            self.used["int_param"] += 1
        for name, *_ in params:
            self.taken.add(name)
        self.params = params
        # module-level helpers
        n_helpers = draw.weighted([0, 1, 2], [5, 3, 1]) if self.on("module_helper") else 0
        for _ in range(n_helpers):
            self.helpers.append(module_helper(self))
            self.used["module_helper"] += 1
        # the function
        scope = {}
        for name, kind, shape, positive in params:
            if kind == "int":
                scope[name] = Var("int", ilo=0, ihi=3)
            else:
                scope[name] = Var("float", shape, 0.5 if positive else None, 1.5)
        self.frame = Frame(scope=scope)
        lines = []
        if self.on("nested_helper") and draw.boolean(0.2):
            nested = nested_helper(self)
            if nested is not None:
                self.used["nested_helper"] += 1
                self.frame.nested[nested.name] = nested
                lines += nested.lines
        lines += self.block(0, draw.weighted([1, 2, 3, 4, 5], [2, 4, 4, 3, 2]))
        outputs = self.attempt("return") or return_single(self)
        lines.append("return " + ", ".join(o.text for o in outputs))
        header = "def f(" + ", ".join(p[0] for p in params) + "):"
        text = "import numpy as np\n\n"
        if self.constants:
            text += "".join(f"{name} = {value}\n" for name, value, _ in self.constants) + "\n"
        for helper in self.helpers:
            text += "\n" + "\n".join(helper.lines) + "\n\n"
        text += "\n" + header + "\n" + "\n".join(indent(lines)) + "\n"
        ast.parse(text)  # a generator bug must fail here, loudly
        return {"source": text, "params": params, "constructs": dict(self.used)}


def indent(lines: list) -> list:
    return ["    " + line if line else line for line in lines]


def merge(a: dict, b: dict) -> dict:
    """The scope after an if/else: the names bound on both paths, bounds joined."""
    out = {}
    for name, v in a.items():
        w = b.get(name)
        if w is None or w.kind != v.kind or w.shape != v.shape:
            continue
        m = v.copy()
        m.hi = max(v.hi, w.hi)
        m.lo = min(v.lo, w.lo) if (v.lo is not None and w.lo is not None) else None
        m.owned = v.owned and w.owned
        m.writable = v.writable and w.writable
        m.ilo, m.ihi = min(v.ilo, w.ilo), max(v.ihi, w.ihi)
        m.min_len, m.max_len = min(v.min_len, w.min_len), max(v.max_len, w.max_len)
        if v.indexes != w.indexes:
            m.indexes = None
        out[name] = m
    return out


# ================================================================== expressions
# Each: fn(g, shape, depth, lo) -> Expr | None.  ``lo`` is a request (the caller
# coerces anyway); honouring it where natural keeps programs readable.


def _operands(g, shape, depth, lo=None):
    a_shape, b_shape = g.draw.choice(PAIRS[shape]) if g.draw.boolean(0.5) else (shape, shape)
    if g.draw.boolean(0.3):
        a_shape, b_shape = b_shape, a_shape
    a = g.expr(a_shape, depth, lo=lo)
    b = g.expr(b_shape, depth, lo=lo)
    return a, b


@construct("add", "expr", "elementwise", 3)
def add(g, shape, depth, lo):
    a, b = _operands(g, shape, depth, lo / 2 if lo else None)
    both = a.lo is not None and b.lo is not None
    return Expr(f"{a.text} + {b.p() if b.text.startswith('-') else b.text}", shape,
                a.lo + b.lo if both else None, a.hi + b.hi)


@construct("sub", "expr", "elementwise", 2)
def sub(g, shape, depth, lo):
    a, b = _operands(g, shape, depth)
    return Expr(f"{a.text} - {b.p()}", shape, None, a.hi + b.hi)


@construct("mul", "expr", "elementwise", 3)
def mul(g, shape, depth, lo):
    a, b = _operands(g, shape, depth, lo)
    both = a.lo is not None and b.lo is not None
    return Expr(f"{a.p()} * {b.p()}", shape, a.lo * b.lo if both else None, a.hi * b.hi)


@construct("div", "expr", "elementwise", 1.5)
def div(g, shape, depth, lo):
    a_shape, b_shape = g.draw.choice(PAIRS[shape])
    a = g.expr(a_shape, depth, lo=lo)
    b = g.expr(b_shape, depth, lo=0.3)
    return Expr(f"{a.p()} / {b.p()}", shape, a.lo / b.hi if a.lo else None, a.hi / b.lo)


@construct("neg", "expr", "elementwise", 0.7)
def neg(g, shape, depth, lo):
    a = g.expr(shape, depth)
    return Expr(f"-{a.p()}", shape, None, a.hi)


@construct("pow_int", "expr", "elementwise", 1)
def pow_int(g, shape, depth, lo):
    k = g.draw.choice(["2", "3", "2.0"])
    a = g.expr(shape, depth, hi=3.0)
    p = float(k)
    return Expr(f"{a.p()} ** {k}", shape, a.lo**p if a.lo else None, a.hi**p)


@construct("pow_const", "expr", "elementwise", 0.7)
def pow_const(g, shape, depth, lo):
    k = g.draw.choice([0.5, 1.5, -0.5, -1.0, 2.5])
    a = g.expr(shape, depth, lo=0.3, hi=4.0)
    values = [a.lo**k, a.hi**k]
    return Expr(f"{a.p()} ** {k}", shape, min(values), max(values))


@construct("pow_data", "expr", "elementwise", 0.5)
def pow_data(g, shape, depth, lo):
    """A power with a data exponent: ``b ** e``, base kept in [0.3, 3]."""
    b_shape, e_shape = g.draw.choice(PAIRS[shape])
    if g.draw.boolean(0.3):
        base = Expr("2.0", (), 2.0, 2.0, atom=True)
        e_shape = shape
    else:
        base = g.expr(b_shape, depth, lo=0.3, hi=3.0)
    ex = g.expr(e_shape, depth, hi=2.0)
    if broadcast(base.shape, ex.shape) != shape:
        return None
    top = max(base.hi, 1 / base.lo) ** ex.hi
    return Expr(f"{base.p()} ** {ex.p()}", shape, 1 / top, top)


def _bounds_exp(lo, hi):
    return math.exp(-hi), math.exp(hi)


def _bounds_log(lo, hi):
    return (math.log(lo) if lo > 1.05 else None), max(abs(math.log(lo)), abs(math.log(hi)), 0.1)


#: name, requested argument lo, allowed argument hi, bounds of the result
UFUNCS = [
    ("np.exp", None, 3.0, _bounds_exp),
    ("np.log", 0.1, HI_CAP, _bounds_log),
    ("np.log1p", 0.1, HI_CAP, lambda lo, hi: (math.log1p(lo), math.log1p(hi))),
    ("np.expm1", None, 3.0, lambda lo, hi: (math.expm1(lo) if lo else None, math.expm1(hi))),
    ("np.sqrt", 0.1, HI_CAP, lambda lo, hi: (math.sqrt(lo), math.sqrt(hi))),
    ("np.square", None, 4.0, lambda lo, hi: (lo * lo if lo else None, hi * hi)),
    ("np.abs", None, HI_CAP, lambda lo, hi: (lo, hi)),
    ("abs", None, HI_CAP, lambda lo, hi: (lo, hi)),
    ("np.sin", None, HI_CAP, lambda lo, hi: (None, min(1.0, hi))),
    ("np.cos", None, HI_CAP, lambda lo, hi: (math.cos(hi) if hi < 1.2 else None, 1.0)),
    ("np.tan", None, 1.0, lambda lo, hi: (math.tan(lo) if lo else None, math.tan(hi))),
    ("np.arcsin", None, 0.9, lambda lo, hi: (math.asin(lo) if lo else None, math.asin(min(hi, 0.9)))),
    ("np.arccos", None, 0.9, lambda lo, hi: (math.acos(min(hi, 0.9)), math.pi)),
    ("np.arctan", None, HI_CAP, lambda lo, hi: (math.atan(lo) if lo else None, min(math.atan(hi), 1.58))),
    ("np.sinh", None, 3.0, lambda lo, hi: (math.sinh(lo) if lo else None, math.sinh(hi))),
    ("np.cosh", None, 3.0, lambda lo, hi: (1.0, math.cosh(hi))),
    ("np.tanh", None, HI_CAP, lambda lo, hi: (math.tanh(lo) if lo else None, min(1.0, hi))),
]


def _ufunc(name, need_lo, max_hi, bounds):
    def make(g, shape, depth, lo):
        a = g.expr(shape, depth, lo=need_lo, hi=max_hi)
        if name in ("np.arcsin", "np.arccos") and a.hi > 0.9:
            a = Expr(f"0.9 * np.tanh({a.text})", shape, None, 0.9)
        new_lo, new_hi = bounds(a.lo, a.hi)
        return Expr(f"{name}({a.text})", shape, new_lo, new_hi, atom=True)

    return make


for _name, _lo, _hi, _bounds in UFUNCS:
    construct(_name, "expr", "elementwise", 0.6 if _name in ("np.sin", "np.tanh", "np.exp", "np.log") else 0.3)(
        _ufunc(_name, _lo, _hi, _bounds))


@construct("module_constant", "expr", "module_constants", 0.4)
def module_constant(g, shape, depth, lo):
    """A constant of the module (``C0 = 0.75``, ``C1 = np.array([...])``) read
    by name, in the function or a helper."""
    for _name, _value, e in g.constants:
        if e.shape == shape and g.draw.boolean(0.6):
            return e
    values = [0.5 + g.draw.integer(0, 100) / 100 for _ in range(size(shape))]
    literal = np.array(values).reshape(shape).tolist()
    name = g._take(f"C{len(g.constants)}")
    text = repr(literal) if shape == () else f"np.array({literal!r})"
    # an alias of the module's array: never updated in place
    e = Expr(name, shape, 0.5, 1.5, atom=True, aliases=frozenset([name]))
    g.constants.append((name, text, e))
    return e


@construct("np.maximum", "expr", "elementwise", 0.8)
def maximum(g, shape, depth, lo):
    a, b = _operands(g, shape, depth)
    los = [x.lo for x in (a, b) if x.lo is not None]
    fn = g.draw.choice(["np.maximum", "np.fmax"]) if False else "np.maximum"
    return Expr(f"{fn}({a.text}, {b.text})", shape, max(los) if los else None,
                max(a.hi, b.hi), atom=True)


@construct("np.minimum", "expr", "elementwise", 0.8)
def minimum(g, shape, depth, lo):
    a, b = _operands(g, shape, depth)
    both = a.lo is not None and b.lo is not None
    return Expr(f"np.minimum({a.text}, {b.text})", shape, min(a.lo, b.lo) if both else None,
                max(a.hi, b.hi), atom=True)


@construct("np.where", "expr", "elementwise", 0.8)
def where(g, shape, depth, lo):
    c_shape = g.draw.choice(SUB[shape])
    a_shape, b_shape = g.draw.choice(PAIRS[shape])
    if broadcast(c_shape, a_shape, b_shape) != shape:
        c_shape = shape
    left = g.expr(c_shape, max(depth - 1, 0))
    op = g.draw.choice([">", "<", ">=", "<="])
    right = g.draw.choice(["0.0", "0.5", "-0.25"]) if g.draw.boolean(0.6) else \
        g.expr(g.draw.choice(SUB[c_shape]), 0).text
    a = g.expr(a_shape, depth, lo=lo)
    b = g.expr(b_shape, depth, lo=lo)
    both = a.lo is not None and b.lo is not None
    return Expr(f"np.where({left.p()} {op} {right}, {a.text}, {b.text})", shape,
                min(a.lo, b.lo) if both else None, max(a.hi, b.hi), atom=True)


@construct("np.clip", "expr", "elementwise", 0.4)
def clip(g, shape, depth, lo):
    low, high = g.draw.choice([(-0.5, 0.5), (0.2, 1.0), (-1.0, 2.0)])
    a = g.expr(shape, depth)
    if g.draw.boolean(0.3) and a.atom and shape:  # a Python float has no methods
        text = f"{a.text}.clip({low}, {high})"
        g.used["x.clip()"] += 1
    else:
        text = f"np.clip({a.text}, {low}, {high})"
    return Expr(text, shape, low if low > 0 else None, max(abs(low), abs(high)), atom=True)


@construct("np.sign", "expr", "elementwise", 0.3)
def sign(g, shape, depth, lo):
    """A piecewise-constant factor: ``np.sign(a) * b``."""
    a_shape, b_shape = g.draw.choice(PAIRS[shape])
    a = g.expr(a_shape, depth)
    b = g.expr(b_shape, depth)
    return Expr(f"np.sign({a.text}) * {b.p()}", shape, None, b.hi)


def reduction(fn: str, a: Expr, axis: str, keepdims: bool, shape: tuple, draw: Draw,
              method: bool = False) -> Expr:
    k = size(a.shape) // max(size(shape), 1)
    name = fn.split(".")[-1]
    if name in ("amax", "amin"):
        name = name[1:]
    args = []
    if axis != "":
        positional = draw.boolean(0.25) and fn != "np.linalg.norm"
        args.append(axis if positional else f"axis={axis}")
    if keepdims:
        args.append("keepdims=True")
    if method:
        text = f"{a.p()}.{name}({', '.join(args)})"
    else:
        text = f"{fn}({', '.join([a.text] + args)})"
    if name == "sum":
        lo, hi = (a.lo * k if a.lo else None), a.hi * k
    elif name == "prod":
        lo, hi = a.lo**k, a.hi**k
    elif name == "norm":
        lo, hi = a.lo * math.sqrt(k), a.hi * math.sqrt(k)
    else:
        lo, hi = a.lo, a.hi
    return Expr(text, shape, lo, hi, atom=True)


def _reduce(fn: str, method: bool):
    def make(g, shape, depth, lo):
        forms = REDUCE[shape]
        if fn == "np.linalg.norm":
            forms = [f for f in forms if f[1] not in ("(0,)", "(1,)", "(-1, 0)")]
        if not forms:
            return None
        src, axis, keepdims = g.draw.choice(forms)
        need = 0.3 if fn in ("np.prod", "np.linalg.norm") or "prod" in fn else lo
        top = 1.3 if "prod" in fn else HI_CAP
        a = g.expr(src, depth, lo=need, hi=top)
        return reduction(fn, a, axis, keepdims, shape, g.draw, method)

    return make


for _fn, _w in [("np.sum", 2.5), ("np.mean", 1), ("np.max", 0.8), ("np.min", 0.6),
                ("np.prod", 0.4), ("np.linalg.norm", 0.5), ("np.amax", 0.2)]:
    construct(_fn, "expr", "reductions", _w)(_reduce(_fn, False))
for _fn, _w in [("sum", 0.8), ("mean", 0.4), ("max", 0.3), ("min", 0.2), ("prod", 0.15)]:
    construct(f"x.{_fn}()", "expr", "reductions", _w)(_reduce(f"np.{_fn}", True))


def _matmul(form: str):
    def make(g, shape, depth, lo):
        if not MATMUL[shape]:
            return None
        a_shape, b_shape = g.draw.choice(MATMUL[shape])
        a = g.expr(a_shape, depth, lo=lo, hi=3.0)
        b = g.expr(b_shape, depth, lo=lo, hi=3.0)
        k = a_shape[-1]
        both = a.lo is not None and b.lo is not None
        text = form.format(a=a.p() if "@" in form or ".dot" in form else a.text,
                           b=b.p() if "@" in form else b.text)
        return Expr(text, shape, a.lo * b.lo * k if both else None, a.hi * b.hi * k,
                    atom="@" not in form)

    return make


for _name, _form, _w in [("matmul", "{a} @ {b}", 1.2), ("np.dot", "np.dot({a}, {b})", 0.4),
                         ("np.matmul", "np.matmul({a}, {b})", 0.3),
                         ("x.dot()", "{a}.dot({b})", 0.3)]:
    construct(_name, "expr", "matmul", _w)(_matmul(_form))


@construct("np.outer", "expr", "matmul", 0.3)
def outer(g, shape, depth, lo):
    if len(shape) != 2:
        return None
    a = g.expr((shape[0],), depth, lo=lo, hi=3.0)
    b = g.expr((shape[1],), depth, lo=lo, hi=3.0)
    both = a.lo is not None and b.lo is not None
    return Expr(f"np.outer({a.text}, {b.text})", shape, a.lo * b.lo if both else None,
                a.hi * b.hi, atom=True)


@construct("index", "expr", "indexing", 2)
def index(g, shape, depth, lo):
    if not INDEX[shape]:
        return None
    src, template = g.draw.choice(INDEX[shape])
    a = g.expr(src, depth, lo=lo)
    view = "np.array" not in template
    return Expr(template.format(e=a.p()), shape, a.lo, a.hi, atom=True,
                aliases=a.aliases if view else frozenset())


@construct("index_loopvar", "expr", "indexing", 1.5)
def index_loopvar(g, shape, depth, lo):
    """``e[i]``, ``e[:, i]`` or ``e[i % 2]`` with a loop variable ``i``."""
    ints = g.ints(lambda v: v.indexes is None)
    if not ints:
        return None
    name = g.pick_var(ints)
    v = g.scope[name]
    options = []
    for src in SHAPES:
        if src and src[1:] == shape:
            options.append((src, "{e}[" + (name if v.ihi < src[0] else f"{name} % {src[0]}") + "]"))
        if len(src) == 2 and (src[0],) == shape:
            options.append((src, "{e}[:, " + (name if v.ihi < src[1] else f"{name} % {src[1]}") + "]"))
    if not options or v.ilo < 0:
        return None
    src, template = g.draw.choice(options)
    a = g.expr(src, depth, lo=lo)
    return Expr(template.format(e=a.p()), shape, a.lo, a.hi, atom=True, aliases=a.aliases)


@construct("shape_op", "expr", "shapes", 1)
def shape_op(g, shape, depth, lo):
    if not SHAPE_OPS[shape]:
        return None
    src, template = g.draw.choice(SHAPE_OPS[shape])
    a = g.expr(src, depth, lo=lo)
    g.used["shape_op:" + template.replace("{e}", "x")] += 1
    view = not any(c in template for c in _COPYING)
    return Expr(template.format(e=a.p()), shape, a.lo, a.hi, atom=True,
                aliases=a.aliases if view else frozenset())


@construct("broadcast_to_shape", "expr", "broadcasting", 0.3)
def broadcast_ones(g, shape, depth, lo):
    """``np.ones(S) * e`` or ``e + np.zeros_like(v)``: broadcasting by a constant."""
    if not shape:
        return None
    small = g.draw.choice([s for s in SUB[shape] if s != shape] or [()])
    a = g.expr(small, depth, lo=lo)
    same = g.floats(shape)
    if same and g.draw.boolean(0.5):
        return Expr(f"{a.p()} + np.zeros_like({g.pick_var(same)})", shape, a.lo, a.hi)
    return Expr(f"np.ones({shape_text(shape)}) * {a.p()}", shape, a.lo, a.hi)


@construct("int_factor", "expr", "loops", 0.6)
def int_factor(g, shape, depth, lo):
    """A float times an int: ``e * n``, ``e * (i + 1)``."""
    ints = g.ints()
    if not ints:
        return None
    name = g.pick_var(ints)
    v = g.scope[name]
    a = g.expr(shape, depth)
    if g.draw.boolean(0.5):
        return Expr(f"{a.p()} * ({name} + 1)", shape,
                    a.lo * (v.ilo + 1) if a.lo and v.ilo >= 0 else None, a.hi * (abs(v.ihi) + 1))
    return Expr(f"{a.p()} * {name}", shape, None, a.hi * max(abs(v.ihi), 1))


def _helper_call(g, helper: Helper, depth) -> tuple:
    """(call text, names the result may alias: the arguments' and the free names)."""
    args = [g.expr(shape, depth, lo=need, hi=top) for _, shape, need, top in helper.params]
    aliases = frozenset().union(*(a.aliases for a in args)) | frozenset(helper.free)
    return f"{helper.name}({', '.join(a.text for a in args)})", aliases


@construct("helper_call", "expr", "helpers", 1.5)
def helper_call(g, shape, depth, lo):
    options = [h for h in g.helpers if len(h.outputs) == 1 and h.outputs[0].shape == shape]
    if not options:
        return None
    helper = g.draw.choice(options)
    out = helper.outputs[0]
    text, aliases = _helper_call(g, helper, depth)
    return Expr(text, shape, out.lo, out.hi, atom=True, aliases=aliases)


@construct("nested_call", "expr", "nested_helpers", 2)
def nested_call(g, shape, depth, lo):
    options = []
    for helper in g.frame.nested.values():
        if helper.outputs[0].shape != shape:
            continue
        ok = True
        for name, need in helper.free.items():
            v = g.scope.get(name)
            if v is None or v.kind != "float" or v.shape != need.shape or v.hi > need.hi * 2 or (
                    need.lo is not None and (v.lo is None or v.lo < need.lo)):
                ok = False
        if ok:
            options.append(helper)
    if not options:
        return None
    helper = g.draw.choice(options)
    out = helper.outputs[0]
    text, aliases = _helper_call(g, helper, depth)
    return Expr(text, shape, out.lo, out.hi, atom=True, aliases=aliases)


@construct("list_reduce", "expr", "lists", 2)
def list_reduce(g, shape, depth, lo):
    """A value read from a list: ``np.sum(np.stack(hs), axis=0)``, ``hs[-1]``..."""
    options = []
    for name in g.lists():
        v = g.scope[name]
        k = max(v.max_len, 1)
        if v.shape == shape and v.min_len >= 1:
            for form, scale in [("np.sum(np.stack({hs}), axis=0)", k),
                                ("np.mean(np.stack({hs}), axis=0)", 1),
                                ("np.max(np.stack({hs}), axis=0)", 1),
                                ("np.sum(np.stack({hs}, axis=-1), axis=-1)", k),
                                ("np.array({hs}).sum(axis=0)", k),
                                ("{hs}[-1]", 1), ("{hs}[0]", 1)]:
                options.append((name, form, scale))
            for i in g.ints(lambda iv, name=name: iv.indexes == name):
                options.append((name, "{hs}[" + i + "]", 1))
        if shape == () and v.min_len >= 1 and len(v.shape) >= 1:
            options.append((name, "np.sum(np.concatenate({hs}))", k * size(v.shape)))
            options.append((name, "np.max(np.concatenate({hs}))", 1))
        if len(v.shape) == 2 and shape == v.shape[1:] and v.min_len >= 1:
            options.append((name, "np.sum(np.concatenate({hs}), axis=0)", k * v.shape[0]))
        if shape == ():
            options.append((name, "np.sum(np.array({hs}))", k * size(v.shape)))
    if not options:
        return None
    name, form, scale = g.draw.choice(options)
    v = g.scope[name]
    g.used["list_reduce:" + form.replace("{hs}", "hs")] += 1
    element = form.startswith("{hs}[")
    lo_out = None if ("sum" in form or "concatenate" in form) else v.lo
    return Expr(form.format(hs=name), shape, lo_out, v.hi * scale, atom=True,
                aliases=frozenset([name]) if element else frozenset())


@construct("stack_literal", "expr", "lists", 0.6)
def stack_literal(g, shape, depth, lo):
    """``np.sum(np.stack([a, b]), axis=0)`` and relatives, reduced back to ``shape``."""
    a = g.expr(shape, depth, lo=lo)
    b = g.expr(shape, depth, lo=lo)
    form = g.draw.choice(["np.sum(np.stack([{a}, {b}]), axis=0)",
                          "np.mean(np.array([{a}, {b}]), axis=0)",
                          "np.max(np.stack([{a}, {b}], axis=-1), axis=-1)",
                          "np.stack([{a}, {b}])[1]"])
    both = a.lo is not None and b.lo is not None
    return Expr(form.format(a=a.text, b=b.text), shape, min(a.lo, b.lo) if both else None,
                a.hi + b.hi, atom=True)


@construct("concat_literal", "expr", "lists", 0.5)
def concat_literal(g, shape, depth, lo):
    if shape == ():
        a = g.expr(g.draw.choice([(2,), (3,), (1,)]), depth)
        b = g.expr(g.draw.choice([(2,), (3,), (1,)]), depth)
        fn = g.draw.choice(["np.sum", "np.max", "np.mean"])
        return Expr(f"{fn}(np.concatenate([{a.text}, {b.text}]))", shape, None,
                    (a.hi + b.hi) * 3, atom=True)
    if len(shape) == 1:
        m1, m2 = g.draw.choice([(1, 2), (2, 2), (1, 1), (2, 1)])
        if (m1,) + shape not in SHAPES or (m2,) + shape not in SHAPES:
            return None
        a = g.expr((m1,) + shape, depth)
        b = g.expr((m2,) + shape, depth)
        return Expr(f"np.sum(np.concatenate([{a.text}, {b.text}]), axis=0)", shape, None,
                    (a.hi + b.hi) * 3, atom=True)
    return None


@construct("len_factor", "expr", "lists", 0.4)
def len_factor(g, shape, depth, lo):
    names = g.lists()
    if not names:
        return None
    name = g.draw.choice(names)
    a = g.expr(shape, depth)
    return Expr(f"{a.p()} * len({name})", shape, None, a.hi * max(g.scope[name].max_len, 1))


# ================================================================== conditions


@construct("cond_reduce", "cond", "if", 3)
def cond_reduce(g, depth):
    """``np.sum(e) > c`` and relatives: a data-dependent test."""
    fn = g.draw.choice(["np.sum", "np.mean", "np.max", "np.min"])
    e = g.expr(g.shape([s for s in SHAPES if s]), max(depth - 1, 0))
    op = g.draw.choice([">", "<", ">=", "<="])
    c = g.draw.choice(["0.0", "0.5", "-0.5", "1.0"])
    return f"{fn}({e.text}) {op} {c}"


@construct("cond_scalar", "cond", "if", 1)
def cond_scalar(g, depth):
    a = g.expr((), max(depth - 1, 0))
    b = g.expr((), 0)
    if a.text == b.text or (_number(a.text) and _number(b.text)):
        return None
    return f"{a.text} {g.draw.choice(['>', '<'])} {b.text}"


def _number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


@construct("cond_int", "cond", "if", 1)
def cond_int(g, depth):
    """A data-independent test on an int: ``n > 1``, ``i % 2 == 0``, ``len(hs) > 1``."""
    ints = g.ints()
    lists = g.lists()
    if not ints and not lists:
        return None
    if lists and (not ints or g.draw.boolean(0.3)):
        return f"len({g.draw.choice(lists)}) > {g.draw.integer(0, 2)}"
    name = g.pick_var(ints)
    return g.draw.choice([f"{name} > {g.draw.integer(0, 2)}", f"{name} == {g.draw.integer(0, 2)}",
                          f"{name} % 2 == 0", f"{name} >= 2", f"{name} < 2"])


@construct("cond_const", "cond", "if", 0.3)
def cond_const(g, depth):
    return g.draw.choice(["True", "False", "2 > 1", "1 > 2"])


@construct("cond_bool", "cond", "if", 0.5)
def cond_bool(g, depth):
    if depth <= 0:
        return None
    how = g.draw.choice(["and", "or", "not"])
    a = g.cond(depth - 1)
    if how == "not":
        return f"not {a}" if " and " not in a and " or " not in a else f"not ({a})"
    b = g.cond(depth - 1)
    return f"{a} {how} {b}"


# ================================================================== statements


@construct("assign", "stmt", "core", 3)
def assign_new(g, depth):
    name = g.fresh()
    existing = g.floats()
    shape = g.scope[g.pick_var(existing)].shape if existing and g.draw.boolean(0.6) else g.shape()
    e = g.bind(name, g.expr(shape, g.draw.integer(1, 3)))
    return [f"{name} = {e.text}"]


def update(g, name: str, depth: int) -> list:
    """Re-assign an existing float ``name`` from an expression that reads it."""
    v = g.scope[name]
    lo, hi = g.need(name)
    g.touch(name)
    me = Expr(name, v.shape, v.lo, v.hi, atom=True, aliases=frozenset([name]))
    how = g.draw.integer(0, 3)
    if how == 0:
        other = g.expr(g.draw.choice(SUB[v.shape]), 1)
        op = g.draw.choice(["+", "-", "*"])
        e = Expr(f"{me.text} {op} {other.p()}", v.shape,
                 None, me.hi + other.hi if op != "*" else me.hi * other.hi)
        if op == "+" and me.lo and other.lo:
            e.lo = me.lo + other.lo
        if op == "*" and me.lo and other.lo:
            e.lo = me.lo * other.lo
    elif how == 1:
        fn = g.draw.choice(["np.sin", "np.tanh", "np.cos"])
        other = g.expr(g.draw.choice(SUB[v.shape]), 1)
        e = Expr(f"{fn}({me.text}) * {other.p()}", v.shape, None, other.hi)
    elif how == 2:
        other = g.expr(g.draw.choice(SUB[v.shape]), 1)
        e = Expr(f"0.5 * {me.p()} + {other.p()}", v.shape, None, 0.5 * v.hi + other.hi)
    else:
        e = g.expr(v.shape, 2)
    e = g.coerce(e, lo, hi)
    e = g.bind(name, e)
    return [f"{name} = {e.text}"]


@construct("reassign", "stmt", "assign", 2)
def reassign(g, depth):
    names = g.assignable()
    if not names:
        return None
    return update(g, g.pick_var(names), depth)


@construct("self_assign", "stmt", "assign", 0.3)
def self_assign(g, depth):
    names = g.assignable()
    if not names:
        return None
    name = g.pick_var(names)
    return [f"{name} = {name}"]


@construct("aug_assign", "stmt", "aug_assign", 1.2)
def aug_assign(g, depth):
    names = g.assignable(pred=lambda v: v.owned)
    if not names:
        return None
    name = g.pick_var(names)
    v = g.scope[name]
    lo, hi = g.need(name)
    ops = ["+=", "-=", "*=", "/=", "**="] if lo is None else ["+="]
    op = g.draw.weighted(ops, [3, 2, 2, 1, 0.5][: len(ops)])
    shape = g.draw.choice(SUB[v.shape])
    if op == "**=":
        if v.hi > 3:
            return None
        g.mutate(name)
        g.scope[name].hi = v.hi**2
        g.scope[name].lo = v.lo**2 if v.lo else None
        return [f"{name} **= 2"]
    if op == "+=":
        e = g.expr(shape, 2, lo=lo / 2 if lo else None, hi=max(hi - v.hi, 1.0))
        new = Expr("", v.shape, v.lo + e.lo if (v.lo and e.lo) else None, v.hi + e.hi)
    elif op == "-=":
        e = g.expr(shape, 2)
        new = Expr("", v.shape, None, v.hi + e.hi)
    elif op == "*=":
        e = g.expr(shape, 2, hi=2.0)
        new = Expr("", v.shape, None, v.hi * e.hi)
    else:
        e = g.expr(shape, 2, lo=0.5, hi=3.0)
        new = Expr("", v.shape, None, v.hi / e.lo)
    if new.hi > 2 * HI_CAP:
        return None
    g.mutate(name)
    g.scope[name].lo, g.scope[name].hi = new.lo, new.hi
    g.touch(name)
    return [f"{name} {op} {e.text}"]


def _satisfies(g, value: Var, target: str) -> bool:
    inv = g.frame.constraints.get(target)
    if inv is None:
        return True
    return value.shape == inv.shape and (inv.lo is None or (value.lo or 0) >= inv.lo)


@construct("swap", "stmt", "tuples", 0.5)
def swap(g, depth):
    names = g.assignable()
    if len(names) < 2:
        return None
    a = g.pick_var(names)
    b = g.draw.choice([n for n in names if n != a])
    va, vb = g.scope[a], g.scope[b]
    if not (_satisfies(g, vb, a) and _satisfies(g, va, b)) or not g.can_alias([a, b]):
        return None
    g.scope[a], g.scope[b] = vb, va
    g.touch(a)
    g.touch(b)
    return [f"{a}, {b} = {b}, {a}"]


@construct("tuple_assign", "stmt", "tuples", 0.5)
def tuple_assign(g, depth):
    targets, values = [], []
    for _ in range(2):
        existing = g.assignable()
        if existing and g.draw.boolean(0.4):
            name = g.pick_var(existing)
            if name in targets:
                return None
            lo, hi = g.need(name)
            e = g.expr(g.scope[name].shape, 2, lo=lo, hi=hi)
        else:
            name = g.fresh()
            e = g.expr(g.shape(), 2)
        targets.append(name)
        values.append(e)
    values = [g.bind(t, e) for t, e in zip(targets, values)]
    return [f"{', '.join(targets)} = {', '.join(e.text for e in values)}"]


@construct("zeros", "stmt", "element_write", 1)
def zeros(g, depth):
    """``z = np.zeros(S)`` (or ``np.zeros_like(v)``) followed by element writes."""
    name = g.fresh(["z", "z2", "z3", "out", "buf", "acc2", "z4", "z5"])
    like = [n for n in g.floats() if g.scope[n].shape]
    if like and g.draw.boolean(0.35):
        src = g.pick_var(like)
        shape = g.scope[src].shape
        line = f"{name} = np.zeros_like({src})"
    else:
        shape = g.shape([s for s in SHAPES if s])
        line = f"{name} = np.zeros({shape_text(shape)})"
    g.scope[name] = Var("float", shape, None, 0.0, owned=True, writable=True)
    g.touch(name)
    lines = [line]
    for _ in range(g.draw.integer(1, 2)):
        lines += element_write(g, depth, target=name) or []
    return lines


@construct("element_write", "stmt", "element_write", 1.5)
def element_write(g, depth, target=None):
    names = [target] if target else g.assignable(pred=lambda v: v.writable and v.owned)
    if not names:
        return None
    name = g.pick_var(names)
    v = g.scope[name]
    options = list(WRITE[v.shape])
    for i in g.ints(lambda iv: iv.indexes is None and iv.ilo >= 0):
        iv = g.scope[i]
        idx = i if iv.ihi < v.shape[0] else f"{i} % {v.shape[0]}"
        options += [(idx, v.shape[1:])] * 3
        if len(v.shape) == 2:
            idx = i if iv.ihi < v.shape[1] else f"{i} % {v.shape[1]}"
            options.append((":, " + idx, (v.shape[0],)))
    idx, target_shape = g.draw.choice(options)
    op = g.draw.weighted(["=", "+=", "-=", "*="], [4, 2, 1, 0.5])
    e = g.expr(g.draw.choice(SUB[target_shape]), 2, hi=2.0 if op == "*=" else HI_CAP)
    g.scope[name].hi = {"=": max(v.hi, e.hi), "+=": v.hi + e.hi, "-=": v.hi + e.hi,
                        "*=": v.hi * e.hi}[op]
    g.scope[name].lo = None
    g.mutate(name)
    g.touch(name)
    g.used[f"element_write:{op}"] += 1
    return [f"{name}[{idx}] {op} {e.text}"]


def _if(g, depth, test):
    if depth >= 2:
        return None
    target = None
    if g.draw.boolean(0.5):
        existing = g.assignable()
        if existing and g.draw.boolean(0.5):
            target = g.pick_var(existing)
            shape = g.scope[target].shape
        else:
            target, shape = g.fresh(), g.shape()

    def branch():
        forced = []
        if target is not None:
            def assign_target():
                lo, hi = g.need(target)
                e = g.bind(target, g.expr(shape, 2, lo=lo, hi=hi))
                return [f"{target} = {e.text}"]
            forced.append(assign_target)
        return g.block(depth + 1, g.draw.integer(0 if forced else 1, 2), forced)

    with_else = g.draw.boolean(0.6) or (target is not None and target not in g.scope)
    then, other = g.branch_scopes(branch, branch if with_else else None)
    lines = [f"if {test}:"] + indent(then)
    if other is not None:
        lines += ["else:"] + indent(other)
    return lines


@construct("if", "stmt", "if", 1.2)
def if_data(g, depth):
    return _if(g, depth, g.cond(1))


@construct("if_static", "stmt", "if", 0.4)
def if_static(g, depth):
    test = cond_int(g, 1) or cond_const(g, 1)
    return _if(g, depth, test)


@construct("elif", "stmt", "if", 0.3)
def elif_chain(g, depth):
    if depth >= 2:
        return None
    shape = g.shape()
    target = g.fresh()
    tests = [g.cond(1), g.cond(1)]

    def branch():
        lines = g.block(depth + 1, 1) if g.draw.boolean(0.5) else []
        e = g.bind(target, g.expr(shape, 2))
        return lines + [f"{target} = {e.text}"]

    entry = g.frame.scope
    scopes, bodies = [], []
    for _ in range(3):
        g.frame.scope = {k: v.copy() for k, v in entry.items()}
        bodies.append(branch())
        scopes.append(g.frame.scope)
    g.frame.scope = merge(merge(scopes[0], scopes[1]), scopes[2])
    g.frame.recent = [n for n in g.frame.recent if n in g.frame.scope]
    return ([f"if {tests[0]}:"] + indent(bodies[0]) + [f"elif {tests[1]}:"] + indent(bodies[1])
            + ["else:"] + indent(bodies[2]))


@construct("ternary", "stmt", "ternary", 0.8)
def ternary(g, depth):
    """``v = a if test else b`` (gradgen supports it as the whole value)."""
    existing = g.assignable()
    if existing and g.draw.boolean(0.4):
        name = g.pick_var(existing)
        shape = g.scope[name].shape
    else:
        name, shape = g.fresh(), g.shape()
    lo, hi = g.need(name)
    test = g.cond(1)
    a = g.expr(shape, 2, lo=lo, hi=hi)
    b = g.expr(shape, 2, lo=lo, hi=hi)
    # a conditional expression must stay the whole value: make each side fresh
    a, b = [Expr(f"1.0 * {x.p()}", x.shape, x.lo, x.hi) if x.aliases & g.frame.mutated else x
            for x in (a, b)]
    both = a.lo is not None and b.lo is not None
    e = Expr(f"{a.text} if {test} else {b.text}", shape, min(a.lo, b.lo) if both else None,
             max(a.hi, b.hi), aliases=a.aliases | b.aliases)
    e = g.bind(name, e)
    return [f"{name} = {e.text}"]


def _range(g):
    """(header text for range(...), int var bounds): trip counts 0..3."""
    options = []
    k = g.draw.integer(0, 3)
    options.append((f"range({k})", 0, k - 1, k))
    for n in g.ints(lambda v: v.indexes is None and v.ilo >= 0 and v.ihi <= 3):
        v = g.scope[n]
        options += [(f"range({n})", 0, v.ihi - 1, v.ihi)] * 2
        options.append((f"range(1, {n})", 1, v.ihi - 1, v.ihi))
    options.append((f"range(1, {max(k, 1) + 1})", 1, max(k, 1), max(k, 1)))
    options.append(("range(0, 3, 2)", 0, 2, 2))
    options.append(("range(2, 0, -1)", 1, 2, 2))
    arrays = [n for n in g.floats() if g.scope[n].shape]
    if arrays:
        a = g.pick_var(arrays)
        d = g.scope[a].shape[0]
        options.append((f"range({a}.shape[0])", 0, d - 1, d))
        if len(g.scope[a].shape) == 2:
            options.append((f"range({a}.shape[1])", 0, g.scope[a].shape[1] - 1,
                            g.scope[a].shape[1]))
    return g.draw.choice(options)


@construct("for_range", "stmt", "loops", 1.3)
def for_range(g, depth, forced=()):
    if depth >= 2:
        return None
    i = g.fresh(LOOP_VARS)
    text, ilo, ihi, trips = _range(g)
    bound = {i: Var("int", ilo=ilo, ihi=max(ihi, ilo))}
    return g.loop("for", f"for {i} in {text}:", bound, g.draw.integer(0, 2), depth, forced)


@construct("for_rows", "stmt", "loops", 0.5)
def for_rows(g, depth):
    """``for row in X:`` and ``for i, row in enumerate(X):``."""
    if depth >= 2:
        return None
    arrays = [n for n in g.floats() if g.scope[n].shape and g.can_alias([n])]
    if not arrays:
        return None
    a = g.pick_var(arrays)
    v = g.scope[a]
    row = g.fresh(["row", "r2", "col", "r3"])
    g.scope[a].owned = False
    bound = {row: Var("float", v.shape[1:], v.lo, v.hi, owned=False)}
    if g.draw.boolean(0.4):
        i = g.fresh(LOOP_VARS)
        bound[i] = Var("int", ilo=0, ihi=v.shape[0] - 1)
        header = f"for {i}, {row} in enumerate({a}):"
        g.used["for_enumerate"] += 1
    else:
        header = f"for {row} in {a}:"
    return g.loop("for", header, bound, g.draw.integer(0, 2), depth)


@construct("while_counter", "stmt", "while", 0.6)
def while_counter(g, depth):
    """``j = 0`` / ``while j < K:`` with the increment first or last."""
    if depth >= 2:
        return None
    j = g.fresh(["j", "cnt", "j2", "c2"])
    ints = g.ints(lambda v: v.indexes is None and v.ilo >= 0 and v.ihi <= 3)
    bound = g.draw.choice(ints) if ints and g.draw.boolean(0.4) else str(g.draw.integer(0, 3))
    top = g.scope[bound].ihi if bound in g.scope else int(bound)
    inc = g.draw.choice([f"{j} += 1", f"{j} = {j} + 1"])
    first = g.draw.boolean(0.6)
    var = {j: Var("int", ilo=0, ihi=top)}
    body_prelude = [inc] if first else []
    lines = g.loop("while", f"while {j} < {bound}:", var, g.draw.integer(0, 2), depth,
                   prelude=body_prelude, forced=())
    if not first:
        if g.loop_has_continue:
            return None
        lines.append("    " + inc)
    g.scope[j] = Var("int", ilo=0, ihi=top)
    return [f"{j} = 0"] + lines


@construct("while_data", "stmt", "while", 0.5)
def while_data(g, depth):
    """``while np.sum(y) < c and j < 3:``, a data-dependent loop with a cap."""
    if depth >= 2:
        return None
    names = g.floats()
    if not names:
        return None
    y = g.pick_var(names)
    j = g.fresh(["j", "cnt", "j2", "c2"])
    fn = g.draw.choice(["np.sum", "np.max", "np.mean"])
    test = f"{fn}({y}) {g.draw.choice(['<', '>'])} {g.draw.choice(['1.0', '0.0', '2.0'])}"
    cap = g.draw.integer(1, 3)
    var = {j: Var("int", ilo=1, ihi=cap)}
    lines = g.loop("while", f"while {test} and {j} < {cap}:", var, g.draw.integer(0, 1), depth,
                   prelude=[f"{j} += 1"], forced=[lambda: update(g, y, depth + 1)]
                   if y in g.scope else (), carried=False)
    g.scope[j] = Var("int", ilo=0, ihi=cap)
    return [f"{j} = 0"] + lines


def _jump(g, depth, word):
    if not g.frame.loops:
        return None
    test = g.cond(1)
    body = []
    if g.draw.boolean(0.3):
        entry = g.frame.scope
        g.frame.scope = {k: v.copy() for k, v in entry.items()}
        body = g.block(depth + 1, 1)
        g.frame.scope = merge(entry, g.frame.scope)
    if word == "continue":
        g.frame.loops[-1].has_continue = True
    return [f"if {test}:"] + indent(body + [word])


@construct("break", "stmt", "break_continue", 1.0)
def break_stmt(g, depth):
    return _jump(g, depth, "break")


@construct("continue", "stmt", "break_continue", 0.8)
def continue_stmt(g, depth):
    return _jump(g, depth, "continue")


@construct("list_loop", "stmt", "lists", 0.8)
def list_loop(g, depth):
    """``hs = []`` (or ``[e]``), then a loop that appends to it."""
    if depth >= 2:
        return None
    name = g.fresh(["hs", "items", "hs2", "parts"])
    shape = g.shape([s for s in SHAPES if len(s) <= 2])
    lines = []
    if g.draw.boolean(0.5):
        e = g.expr(shape, 1)
        e = _element(g, e)
        lines.append(f"{name} = [{e.text}]")
        g.scope[name] = Var("list", shape, e.lo, e.hi, min_len=1, max_len=1)
    else:
        lines.append(f"{name} = []")
        g.scope[name] = Var("list", shape, None, 0.0, min_len=0, max_len=0)
    lines += for_range(g, depth, forced=[lambda: append(g, depth + 1, target=name)]) or []
    return lines


def _element(g, e: Expr) -> Expr:
    """A value about to be stored in a list: its sources lose ownership."""
    if e.aliases & g.frame.mutated:
        e = Expr(f"1.0 * {e.p()}", e.shape, e.lo, e.hi)
    for source in e.aliases:
        if source in g.scope:
            g.scope[source].owned = False
    return e


@construct("list_literal", "stmt", "lists", 0.4)
def list_literal(g, depth):
    name = g.fresh(["hs", "items", "hs2", "parts"])
    shape = g.shape([s for s in SHAPES if len(s) <= 2])
    elements = [_element(g, g.expr(shape, 1)) for _ in range(g.draw.integer(1, 3))]
    g.scope[name] = Var("list", shape, min(e.lo or 0 for e in elements) or None,
                        max(e.hi for e in elements), min_len=len(elements), max_len=len(elements))
    return [f"{name} = [{', '.join(e.text for e in elements)}]"]


@construct("append", "stmt", "lists", 1)
def append(g, depth, target=None):
    names = [target] if target else g.lists()
    if not names or names[0] not in g.scope:
        return None
    name = g.draw.choice(names)
    v = g.scope[name]
    e = _element(g, g.expr(v.shape, 2))
    v.lo = min(v.lo, e.lo) if (v.lo is not None and e.lo is not None) else None
    v.min_len += 1
    v.max_len += 1
    v.hi = max(v.hi, e.hi)
    return [f"{name}.append({e.text})"]


@construct("helper_tuple", "stmt", "helpers", 1)
def helper_tuple(g, depth):
    options = [h for h in g.helpers if len(h.outputs) == 2]
    if not options:
        return None
    helper = g.draw.choice(options)
    call, aliases = _helper_call(g, helper, 1)
    if aliases & g.frame.mutated:
        return None
    targets = [g.fresh(), g.fresh()]
    for t, out in zip(targets, helper.outputs):
        g.bind(t, Expr(t, out.shape, out.lo, out.hi, aliases=aliases))
    return [f"{targets[0]}, {targets[1]} = {call}"]


# ================================================================== helpers and returns


def _helper_body(g, params, n_statements, allow_free=False):
    """Generate a helper's body in a new frame; returns (lines, outputs, free reads)."""
    outer = g.frame
    scope = {}
    for pname, shape, need, top in params:
        scope[pname] = Var("float", shape, need, top, owned=False)
    free = {}
    if allow_free:
        for name, v in outer.scope.items():
            if v.kind == "float" and name not in scope:
                scope[name] = v.copy()
                scope[name].owned = False
                scope[name].readonly = True
                free[name] = v.copy()
    g.frame = Frame(scope=scope, in_helper=True)
    lines = []
    for _ in range(n_statements):
        out = g.attempt("stmt", 1, exclude=("zeros", "list_loop", "for_rows", "while_data",
                                            "helper_tuple", "list_literal"))
        lines += out or []
    k = 2 if g.on("return_tuple") and not allow_free and g.draw.boolean(0.3) else 1
    outputs = [g.expr(g.shape(), 2) for _ in range(k)]
    lines.append("return " + ", ".join(o.text for o in outputs))
    text = "\n".join(lines)
    used_free = {n: v for n, v in free.items()
                 if any(tok == n for tok in _names(text))}
    g.frame = outer
    return lines, outputs, used_free


def _names(text):
    try:
        return {node.id for node in ast.walk(ast.parse(text.replace("return ", "_ = ")))
                if isinstance(node, ast.Name)}
    except SyntaxError:
        return set()


@construct("module_helper", "def", "helpers", 1)
def module_helper(g) -> Helper:
    name = g.fresh(["helper", "helper2", "act", "layer", "helper3"])
    pool = ["x", "y", "v", "a", "b"]
    params = []
    for _ in range(g.draw.integer(1, 3)):
        pname = pool.pop(g.draw.integer(0, len(pool) - 1))
        params.append((pname, g.shape(), 0.3 if g.draw.boolean(0.3) else None, 3.0))
    saved = set(g.taken)
    g.taken.update(p[0] for p in params)
    lines, outputs, _ = _helper_body(g, params, g.draw.integer(0, 2))
    g.taken = saved | {name} | (g.taken - saved - {p[0] for p in params})
    header = f"def {name}({', '.join(p[0] for p in params)}):"
    return Helper(name, params, outputs, [header] + indent(lines))


def nested_helper(g) -> Helper | None:
    """``def act(v): return np.tanh(v) * w`` at the top of ``f``, reading ``f``'s names."""
    name = g.fresh(["act", "step", "inner", "act2"])
    pname = g.draw.choice(["v", "x", "h", "u"])
    params = [(pname, g.shape(), None, 3.0)]
    lines, outputs, free = _helper_body(g, params, g.draw.integer(0, 1), allow_free=True)
    header = f"def {name}({pname}):"
    return Helper(name, params, outputs, [header] + indent(lines), free)


construct("nested_helper", "def", "nested_helpers", 1)(nested_helper)


def _mention(g, name: str, shape: tuple) -> Expr | None:
    """``name`` turned into a value of ``shape`` (itself, broadcast, reduced, indexed)."""
    v = g.scope[name]
    var = Expr(name, v.shape, v.lo, v.hi, atom=True, aliases=frozenset([name]))
    if v.shape == shape:
        return var
    forms = [f for f in REDUCE[shape] if f[0] == v.shape]
    if forms:
        src, axis, keepdims = g.draw.choice(forms)
        return reduction(g.draw.choice(["np.sum", "np.mean"]), var, axis, keepdims, shape, g.draw)
    if broadcast(v.shape, shape) == shape:
        return var
    index = [t for src, t in INDEX[shape] if src == v.shape]
    if index:
        return Expr(g.draw.choice(index).format(e=name), shape, v.lo, v.hi, atom=True)
    return None


def _output(g, shape, depth) -> Expr:
    """An output that reads at least one variable, usually one of the last assigned
    (so that the statements before the return matter)."""
    e = g.expr(shape, depth)
    names = _names(e.text)
    recent = [n for n in g.frame.recent[-2:] if n in g.scope and g.scope[n].kind == "float"]
    if recent and not (names & set(recent)) and g.draw.boolean(0.8):
        extra = _mention(g, g.draw.choice(recent), shape)
        if extra is not None:
            g.used["return:mention"] += 1
            e = Expr(f"{e.text} + {extra.p()}", shape, None, e.hi + extra.hi)
            names = _names(e.text)
    if not (names & set(g.floats())):
        e = g.leaf(shape) if g.floats(shape) else g.convert(shape)
    return e


@construct("return_single", "return", "core", 2)
def return_single(g):
    shape = () if g.draw.boolean(0.7) else g.shape()
    return [_output(g, shape, g.draw.integer(1, 3))]


@construct("return_tuple", "return", "multi_output", 1)
def return_tuple(g):
    first = () if g.draw.boolean(0.7) else g.shape()
    outputs = [_output(g, first, g.draw.integer(1, 3))]
    for _ in range(g.draw.integer(1, 2)):
        outputs.append(_output(g, g.shape(), g.draw.integer(0, 2)))
    return outputs


construct("int_param", "flag", "loops", 0)(None)  # an int parameter n (range, tests)
construct("tricky_names", "flag", "names", 0)(None)  # locals named d_x, result, x_tape...
