"""Stage 5, forward mode: tangents (JVPs), from the same rules as reverse mode.

Input: a function in ANF (``normalize.py``), or a generated gradient put back
into ANF by :func:`anf` (forward-over-reverse: Hessian-vector products).
Output: a function that runs the primal statements and, after each one whose
result is active, the tangent of that result.  Conventions: the tangent of
``x`` is ``t_x``; the JVP of ``f`` is ``jvp_f(<f's parameters>, t_<wrt>...)``
returning ``(output, tangent of the output)``; tangent parameters come after
``f``'s parameters without defaults and before those with defaults.

Where a primitive's tangent comes from (``templates/forward_rules.py``):

* ``linear``/``multilinear`` declarations: the primitive itself, applied to
  the tangents (``np.sum(t_x, axis=1)``, ``t_a @ b + a @ t_b``);
* an explicit ``@tangent`` rule (``t[y] = ...`` from the arguments'
  tangents, inactive ones a symbolic zero folded away: :meth:`_Forward.explicit`);
* otherwise its reverse rule, transposed by :func:`_Forward.transpose`: a
  reverse rule is a linear map from ``d[y]`` to ``d[x]`` (products by
  partials, ``unbroadcast``, ``unreduce``, ``matmul_grad_*``...); its
  transpose applied to ``t_x`` is that argument's share of ``t_y``.

After this stage every tangent has exactly its primal's shape: where a
tangent may be smaller (``x + b`` with only ``x`` active) it is wrapped in
``unreduce(t, y, None, False)``, "broadcast to ``y``'s shape", which the
simplifier removes wherever shapes prove it needless.  Straight-line code is
then simplified by the reverse-mode simplifier (primal statements as its
forward pass, tangent statements as its backward pass) and re-interleaved, so
that each ``# Tangent of:`` block follows the statement it differentiates.
Code with control flow keeps its structure: tangent statements go beside
their primal statement in the same block (before it, or through a temporary,
when the statement overwrites one of its own operands), a name assigned in a
loop or branch has one tangent name, tapes get tangent tapes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from gradgen import emit, ir
from gradgen.errors import Location, UnknownPrimitiveError, UnsupportedSyntaxError, UsageError
from gradgen.normalize import BUILTIN_STATIC, Namer, describe, is_static, primitive_args, primitive_of, version_base
from gradgen.rules import (
    GRAD,
    TANGENT,
    Registry,
    Rule,
    TAssign,
    TGrad,
    TIf,
    TUnsupported,
    bind,
    static_truth,
)
from gradgen.transform import resolve_wrt

TANGENT_PREFIX = "t_"
BROADCAST = "unreduce"  # unreduce(t, y, None, False): t broadcast to y's shape
_D = ir.Name("@d")  # d[result] of a reverse rule while it is transposed
_ZERO = ir.Const(0)
_BLOCK_FIELDS = ("test_body", "body", "orelse")
_SETITEM = getattr(ir, "SetItem", ())
_PUSH = getattr(ir, "Push", ())
_POP = getattr(ir, "Pop", ())
_EXPRESSIONS = (ir.Name, ir.Const, ir.Call, ir.BinOp, ir.UnaryOp, ir.Compare, ir.BoolOp,
                ir.Attribute, ir.Subscript, ir.Slice, ir.Tuple)


@dataclass(frozen=True)
class TangentOrigin(ir.Origin):
    """The origin of a tangent statement: printed as ``# Tangent of:`` (or
    ``# Tangent of grad of:`` for the tangent of a gradient statement)."""

    of_grad: bool = False


@dataclass(frozen=True)
class GradOrigin(ir.Origin):
    """The origin of a gradient statement that forward mode differentiates
    (Hessian-vector products): printed as ``# Grad of:``."""


def tangent_name(var: str) -> str:
    """The documented convention: the tangent of ``x`` is ``t_x``."""
    return TANGENT_PREFIX + var


@dataclass(frozen=True)
class Tangent:
    """A JVP function in IR, with what later stages need to know about it."""

    function: ir.Function
    n_forward: int | None  # straight-line code: body[:n_forward] is the primal; else None
    wrt: tuple
    result: str
    primal: ir.Function
    tangent_of: dict  # tangent variable -> the variable it is the tangent of
    tangent_params: tuple  # names, in wrt order


# ------------------------------------------------------------ statement helpers


def blocks(stmt) -> tuple:
    """The nested statement lists of a compound statement (none for simple ones)."""
    return tuple(getattr(stmt, f) for f in _BLOCK_FIELDS
                 if isinstance(getattr(stmt, f, None), tuple))


def flatten(body):
    for stmt in body:
        yield stmt
        for block in blocks(stmt):
            yield from flatten(block)


def stmt_expressions(stmt) -> tuple:
    """The expressions a statement reads itself (not those of nested blocks)."""
    found = []
    for f in dataclasses.fields(stmt):
        value = getattr(stmt, f.name)
        if isinstance(value, _EXPRESSIONS):
            found.append(value)
    if isinstance(stmt, _SETITEM):
        found.append(ir.Name(stmt.target))
    return tuple(found)


def names_read(stmt) -> set:
    """Names a statement reads, including tapes used as ``tape.pop()``."""
    names = set()
    for expr in stmt_expressions(stmt):
        for e in ir.walk(expr):
            if isinstance(e, ir.Name):
                names.add(e.id)
            elif isinstance(e, ir.Call) and "." in e.func and not e.func.startswith("np."):
                names.add(e.func.split(".", 1)[0])
    stack = getattr(stmt, "stack", None)
    if isinstance(stack, str):
        names.add(stack)
    return names


def dynamic_names(expr, static_calls=BUILTIN_STATIC) -> set:
    """Names whose values ``expr`` depends on differentiably: not those read
    only for a shape, size or dtype (``x.dtype``, ``np.shape(x)``)."""
    if isinstance(expr, ir.Name):
        return {expr.id}
    if not isinstance(expr, ir.Const) and is_static(expr, static_calls=static_calls):
        return set()
    return set().union(*(dynamic_names(c, static_calls) for c in ir.children(expr)))


def defined(stmt) -> set:
    target = getattr(stmt, "target", None)
    return {target} if isinstance(target, str) else set()


def popped_stack(value) -> str | None:
    """``tape`` for a value ``tape.pop()`` (how the reverse pass restores values)."""
    if (isinstance(value, ir.Call) and not value.args and not value.kwargs
            and value.func.endswith(".pop") and not value.func.startswith("np.")):
        return value.func[: -len(".pop")]
    return None


def broadcast_to(expr, like):
    """``expr`` broadcast to the shape of ``like`` (a marker the simplifier removes)."""
    return ir.Call(BROADCAST, (expr, like, ir.Const(None), ir.Const(False)))


def _has_d(expr) -> bool:
    return any(e == _D for e in ir.walk(expr))


def _sum(terms):
    total = terms[0]
    for term in terms[1:]:
        total = ir.BinOp("+", total, term)
    return total


def _neg(expr):
    if isinstance(expr, ir.UnaryOp) and expr.op == "-":
        return expr.operand
    return ir.UnaryOp("-", expr)


def _clean(expr):
    """Drop the zeros that stand for inactive arguments of a linear primitive."""
    if isinstance(expr, ir.BinOp) and expr.op in "+-":
        if expr.right == _ZERO:
            return expr.left
        if expr.left == _ZERO:
            return expr.right if expr.op == "+" else _neg(expr.right)
    return expr


# ------------------------------------------------------------------ transform


class _Forward:
    def __init__(self, fn: ir.Function, wrt: tuple, registry: Registry, filename: str):
        self.fn = fn
        self.wrt = wrt
        self.registry = registry
        self.static_calls = registry.static_calls | BUILTIN_STATIC
        self.filename = filename
        self.params = {p.name for p in fn.params}
        counts: dict = {}
        in_blocks: set = set()
        for stmt in fn.body:
            for inner in flatten([stmt]):
                for name in defined(inner):
                    counts[name] = counts.get(name, 0) + 1
                    if inner is not stmt:
                        in_blocks.add(name)
                if isinstance(inner, (_SETITEM, _PUSH, ir.Append, ir.ListPop)):
                    # arrays, lists and tapes changed in place
                    in_blocks |= defined(inner) | {getattr(inner, "stack", "")}
        self.mutable = set(getattr(fn, "mutable", ())) | in_blocks
        self.mutable |= {n for n, k in counts.items() if k > 1 or (n in self.params and k)}
        self.statics: set = set()  # names of shapes, sizes, literals (assigned once)
        for stmt in flatten(fn.body):
            if (isinstance(stmt, ir.Assign) and stmt.target not in self.mutable
                    and is_static(stmt.value, self.statics, self.static_calls)):
                self.statics.add(stmt.target)
        taken = self.params | set(counts) | {version_base(n) for n in counts} | {"np"}
        self.namer = Namer(taken)
        self.bases: dict = {}
        for name in wrt:
            self.tbase(name)
        self.lists = _list_names(fn)
        self.active = self.activity()
        self.tangent_of: dict = {}
        self.tangent_ids: set = set()  # id() of the tangent statements emitted

    # -- errors
    def fail(self, stmt, message: str, hint: str = "", cls=UnsupportedSyntaxError):
        origin = stmt.origins[0] if getattr(stmt, "origins", ()) else None
        location = None
        if origin is not None:
            location = Location(self.filename, origin.line, origin.col, origin.text)
        raise cls(message, location, hint)

    # -- names
    def tbase(self, base: str) -> str:
        if base not in self.bases:
            self.bases[base] = self.namer.fresh(tangent_name(base.replace(".", "_")))
        return self.bases[base]

    def tname(self, var: str) -> str:
        """The tangent variable of ``var`` (SSA versions map to versions)."""
        base, sep, version = var.partition("@")
        tbase = self.tbase(base)
        if var in self.params and var not in self.mutable:
            return f"{tbase}@in"  # a copy of the parameter, so shapes are known
        return f"{tbase}@{version}" if sep else tbase

    def tangent(self, expr):
        """The tangent of an operand, or None for zero."""
        if isinstance(expr, ir.Name) and expr.id in self.active:
            return ir.Name(self.tname(expr.id))
        return None

    def zero_of(self, expr):
        if expr == ir.Const(None):
            return ir.Const(None)
        if isinstance(expr, ir.Call) and expr.func == "list" and not expr.args:
            return ir.Call("list")
        if isinstance(expr, ir.Name) and expr.id in self.lists:
            # A list (of gradients, in generated code): a list of zeros.
            return ir.BinOp("*", ir.Call(ir.LIST_LITERAL, (ir.Const(0.0),)),
                            ir.Call("len", (expr,)))
        return ir.Call("np.zeros_like", (expr,))

    def is_array(self, expr) -> bool:
        return (isinstance(expr, ir.Name) and expr.id not in self.statics
                and not expr.id.startswith("np."))

    # -- activity
    def carries(self, value) -> bool:
        """Whether a tangent flows through ``value``: fail closed, a primitive
        without a rule carries one (and is refused where it is met)."""
        if isinstance(value, (ir.Name, ir.Tuple)):
            return True
        if isinstance(value, (ir.Const, ir.Compare, ir.BoolOp)) or is_static(
                value, static_calls=self.static_calls):
            return False
        primitive = primitive_of(value)
        return primitive not in self.registry.nondifferentiable

    def flow_sources(self, value) -> set:
        """The names a tangent flows from into ``value``: for a primitive, only
        its arguments the rule differentiates (``d[arrays] = 0`` in
        ``unconcatenate``'s rule: the arrays give shapes, not values)."""
        primitive = primitive_of(value)
        rule = self.registry.rule(primitive) if primitive else None
        if rule is None or isinstance(value, ir.Name):
            return dynamic_names(value, self.static_calls)
        args, kwargs = primitive_args(value)
        try:
            env = bind(rule, args, kwargs, ir.Name("_"), _refuse)
        except _Unbindable:
            return dynamic_names(value, self.static_calls)  # refused where it is met
        inert = _stated_zeros(rule.body) - self.flowing(primitive, rule)
        return set().union(*(dynamic_names(env[p], self.static_calls)
                             for p in rule.params if p in env and p not in inert))

    def flowing(self, primitive: str, rule: Rule) -> set:
        """The parameters whose tangents reach the result."""
        linearity = self.registry.tangents.get(primitive)
        if linearity is not None:
            return set(linearity.args)
        entry = self.registry.entry(primitive)
        if entry is not None and entry.tangent is not None:
            return _tangent_params(entry.tangent.body)
        return _flowing_params(rule.body)

    def check_covered(self, primitive: str, rule: Rule, stmt, env: dict) -> None:
        """Fail closed, as the reverse pass does: an active argument the rule
        neither differentiates nor states a zero for is refused."""
        covered = self.flowing(primitive, rule) | _stated_zeros(rule.body)
        for param in rule.params:
            if param in covered or param not in env:
                continue
            if dynamic_names(env[param], self.static_calls) & self.active:
                self.fail(stmt, f"{primitive} has no tangent with respect to its argument "
                                f"{param!r}, which depends on the differentiated inputs "
                                f"(rule {rule.name}, {rule.where})",
                          "make that argument a constant, or add a rule that differentiates it")

    def activity(self) -> set:
        """Names that depend on ``wrt`` (varied) and reach the output (useful)."""
        stmts = list(flatten(self.fn.body))
        ret = self.fn.body[-1]
        varied = set(self.wrt)
        useful = set(ir.names_in(ret.value)) if isinstance(ret, ir.Return) else set()

        def edges(stmt):
            """(sources, target) pairs through which a tangent flows."""
            if isinstance(stmt, ir.Assign):
                stack = popped_stack(stmt.value)
                if stack is not None:
                    return [({stack}, stmt.target)]
                if self.carries(stmt.value):
                    return [(self.flow_sources(stmt.value), stmt.target)]
            elif isinstance(stmt, _POP):
                return [({stmt.stack}, stmt.target)]
            elif isinstance(stmt, _SETITEM):
                return [(dynamic_names(stmt.value, self.static_calls) | {stmt.target}, stmt.target)]
            elif isinstance(stmt, _PUSH):
                return [(dynamic_names(stmt.value, self.static_calls) | {stmt.stack}, stmt.stack)]
            elif isinstance(stmt, ir.Append):
                return [(dynamic_names(stmt.value, self.static_calls) | {stmt.target},
                         stmt.target)]
            return []

        flows = [edge for stmt in stmts for edge in edges(stmt)]
        changed = True
        while changed:
            changed = False
            for sources, target in flows:
                if target not in varied and sources & varied:
                    varied.add(target)
                    changed = True
            for sources, target in reversed(flows):
                if target in useful and not sources <= useful:
                    useful |= sources
                    changed = True
        return varied & useful

    # -- statements
    def run(self, return_value: bool) -> Tangent:
        fn = self.fn
        ret = fn.body[-1] if fn.body else None
        if not isinstance(ret, ir.Return):
            raise UnsupportedSyntaxError(f"{fn.name}() must end with a return")
        for stmt in fn.body[:-1]:
            if isinstance(stmt, ir.Return):
                self.fail(stmt, "forward mode needs the return to be the last statement")
        straight = all(isinstance(s, ir.Assign) and popped_stack(s.value) is None
                       for s in fn.body[:-1]) and not self.mutable
        tparams = []
        prologue = []
        shapes = {p.name: p.shape for p in fn.params}
        for name in self.wrt:
            base = self.tbase(name)
            tparams.append(ir.Param(base, None, shapes.get(name)))
            self.tangent_of[base] = name
            if self.tname(name) != base:
                prologue.append(ir.Assign(self.tname(name), ir.Name(base), ()))
                self.tangent_of[self.tname(name)] = name
        for param in fn.params:  # reassigned parameters that become active later
            if param.name in self.active and param.name not in self.wrt:
                prologue.append(ir.Assign(self.define(param.name),
                                          ir.Call("np.zeros_like", (ir.Name(param.name),)), ()))
        body = self.block(fn.body[:-1])
        value = ret.value
        tvalue = self.tangent_value(value)
        out = ir.Tuple((value, tvalue)) if return_value else tvalue
        final = ir.Return(out, ())
        params = tuple(p for p in fn.params if p.default is None) + tuple(tparams)
        params += tuple(p for p in fn.params if p.default is not None)
        if straight:
            primal = [s for s in body if id(s) not in self.tangent_ids]
            tangents = [s for s in body if id(s) in self.tangent_ids]
            new_body = tuple(primal) + tuple(prologue) + tuple(tangents) + (final,)
            n_forward = len(primal)
        else:
            new_body = tuple(prologue) + body + (final,)
            n_forward = None
        function = ir.Function(name=fn.name, params=params, body=new_body, docstring=fn.docstring)
        return Tangent(function, n_forward, self.wrt, value.id if isinstance(value, ir.Name)
                       else "", fn, dict(self.tangent_of), tuple(p.name for p in tparams))

    def mark(self, stmts) -> list:
        self.tangent_ids |= {id(s) for s in stmts}
        return list(stmts)

    def block(self, body) -> tuple:
        out = []
        for stmt in body:
            out.extend(self.statement(stmt))
        return tuple(out)

    def statement(self, stmt) -> list:
        if isinstance(stmt, ir.Assign):
            return self.assign(stmt)
        if isinstance(stmt, _SETITEM):
            return self.setitem(stmt)
        if isinstance(stmt, _PUSH):
            return self.push(stmt)
        if isinstance(stmt, ir.Append):
            return self.append(stmt)
        if isinstance(stmt, ir.ListPop):
            if stmt.target not in self.active:
                return [stmt]
            return [stmt, *self.mark([ir.ListPop(self.tname(stmt.target),
                                                 self.origins(stmt))])]
        if isinstance(stmt, _POP):
            return self.assign(ir.Assign(stmt.target, ir.Call(f"{stmt.stack}.pop"), stmt.origins))
        if blocks(stmt):
            changes = {f: self.block(getattr(stmt, f)) for f in _BLOCK_FIELDS
                       if isinstance(getattr(stmt, f, None), tuple)}
            if isinstance(stmt, ir.For) and stmt.target in self.active:
                # The loop index is an integer: its tangent is zero on every trip.
                zero = ir.Assign(self.define(stmt.target), ir.Const(0.0), self.origins(stmt))
                changes["body"] = (*self.mark([zero]), *changes["body"])
            return [dataclasses.replace(stmt, **changes)]
        if type(stmt).__name__ in ("Break", "Continue"):
            return [stmt]  # jumps leave primal and tangent statements alike
        if isinstance(stmt, ir.Return):
            self.fail(stmt, "forward mode needs the return to be the last statement")
        self.fail(stmt, f"forward mode does not support {type(stmt).__name__} statements yet",
                  "use reverse mode (gradgen.grad) for this function")
        return []

    def origins(self, stmt) -> tuple:
        return tuple(TangentOrigin(o.text, o.line, o.col, isinstance(o, GradOrigin))
                     for o in stmt.origins)

    def define(self, target: str) -> str:
        name = self.tname(target)
        self.tangent_of[name] = target
        return name

    def assign(self, stmt: ir.Assign) -> list:
        target, value = stmt.target, stmt.value
        if target not in self.active:
            return [stmt]
        origins = self.origins(stmt)
        tvar = self.define(target)
        stack = popped_stack(value)
        if stack is not None:
            tvalue = (ir.Call(f"{self.tname(stack)}.pop") if stack in self.active
                      else self.zero_of(ir.Name(target)))
            return [stmt, *self.mark([ir.Assign(tvar, tvalue, origins)])]
        literal = isinstance(value, ir.Tuple) or (isinstance(value, ir.Call)
                                                  and value.func == ir.LIST_LITERAL)
        if not literal and (not self.carries(value)
                            or not dynamic_names(value, self.static_calls) & self.active):
            # a name assigned several times, active elsewhere: its tangent is 0 here
            plain = value in (ir.Const(None), ir.Call("list"))
            zero = self.zero_of(value if plain else ir.Name(target))
            return [stmt, *self.mark([ir.Assign(tvar, zero, origins)])]
        overwrites = target in ir.names_in(value)
        result = ir.Name(self.namer.fresh(f"{version_base(target)}_new")) if overwrites \
            else ir.Name(target)
        pre, expr = self.tangent_expr(stmt, result)
        tangent_stmts = self.mark([*pre, ir.Assign(tvar, expr, origins)])
        if not overwrites:
            return [stmt, *tangent_stmts]
        reads = set().union(*(ir.names_in(s.value) for s in tangent_stmts))
        if result.id not in reads:
            return [*tangent_stmts, stmt]  # the tangent reads the operands' old values
        return [ir.Assign(result.id, value, stmt.origins), *tangent_stmts,
                ir.Assign(target, result, stmt.origins)]

    def setitem(self, stmt) -> list:
        if stmt.target not in self.active:
            return [stmt]
        tvalue = self.tangent(stmt.value)
        if tvalue is None:
            tvalue = ir.Const(0.0)
        tstmt = dataclasses.replace(stmt, target=self.define(stmt.target), value=tvalue,
                                    origins=self.origins(stmt))
        return [stmt, *self.mark([tstmt])]

    def push(self, stmt) -> list:
        if stmt.stack not in self.active:
            return [stmt]
        tvalue = self.tangent(stmt.value)
        if tvalue is None:
            tvalue = self.zero_of(stmt.value)
        tstmt = dataclasses.replace(stmt, stack=self.define(stmt.stack), value=tvalue,
                                    origins=self.origins(stmt))
        return [stmt, *self.mark([tstmt])]

    def append(self, stmt) -> list:
        """``xs.append(v)``: the tangent list gets ``v``'s tangent."""
        if stmt.target not in self.active:
            return [stmt]
        tvalue = self.tangent(stmt.value)
        if tvalue is None:
            tvalue = self.zero_of(stmt.value)
        tstmt = ir.Append(self.define(stmt.target), tvalue, self.origins(stmt))
        return [stmt, *self.mark([tstmt])]

    def tangent_value(self, value):
        """The tangent of a returned value: a name, a tuple of them, or a constant."""
        if isinstance(value, ir.Tuple):
            return ir.Tuple(tuple(self.tangent_value(e) for e in value.elts))
        tangent = self.tangent(value)
        return tangent if tangent is not None else ir.Call("np.zeros_like", (value,))

    # -- rules
    def tangent_expr(self, stmt: ir.Assign, result: ir.Name) -> tuple:
        """(rule-local statements, the tangent of ``stmt``'s result)."""
        value = stmt.value
        if isinstance(value, ir.Name):
            return [], ir.Name(self.tname(value.id))
        if isinstance(value, ir.Tuple):
            return [], self.tangent_value(value)
        if isinstance(value, ir.Call) and value.func == ir.LIST_LITERAL:
            return [], ir.Call(ir.LIST_LITERAL, tuple(self.tangent_value(a) for a in value.args))
        primitive = primitive_of(value)
        rule = self.registry.rule(primitive)
        if rule is None:
            self.fail(stmt, f"no gradient rule for {primitive or ir.to_source(value)}",
                      "add a rule with @adjoint in a rule file (see templates/README.md)",
                      UnknownPrimitiveError)
        env = self.bind(rule, stmt, result)
        self.check_covered(primitive, rule, stmt, env)
        linearity = self.registry.tangents.get(primitive)
        if linearity is not None:
            return [], self.apply_linear(linearity, rule, stmt, env, result)
        entry = self.registry.entry(primitive)
        if entry is not None and entry.tangent is not None:
            return self.explicit(entry.tangent, stmt, result)
        return self.derive(rule, stmt, env, result)

    def bind(self, rule: Rule, stmt: ir.Assign, result) -> dict:
        args, kwargs = primitive_args(stmt.value)
        return bind(rule, args, kwargs, result, lambda m: self.fail(stmt, m))

    def apply_linear(self, linearity, rule: Rule, stmt, env: dict, result):
        present = {}
        for param in linearity.args:
            tangent = self.tangent(env[param])
            if tangent is not None:
                present[param] = tangent
        if not present:
            return ir.Call("np.zeros_like", (result,))
        value = stmt.value
        if linearity.kind == "multilinear":
            return _sum([_replace_operands(value, rule, {p: t}) for p, t in present.items()])
        subs = {p: present.get(p, _ZERO) for p in linearity.args}
        expr = _clean(_replace_operands(value, rule, subs))
        if any(p not in present and self.is_array(env[p]) for p in linearity.args):
            expr = broadcast_to(expr, result)  # an inactive operand may be larger
        return expr

    def explicit(self, rule: Rule, stmt, result) -> tuple:
        """The tangent from an explicit ``@tangent`` rule: ``t[p]`` is the
        tangent of the argument bound to ``p``; the tangent of an inactive
        argument is a symbolic zero, folded away through sums, products,
        negation and the primitives the registry declares linear in it (and
        written ``np.zeros_like(p)`` only where it cannot be folded)."""
        env = self.bind(rule, stmt, result)
        pre: list = []
        local = dict(env)
        locals_: dict = {}
        values: list = []
        dropped = []
        origins = self.origins(stmt)

        def expand(expr):
            if isinstance(expr, ir.Call) and expr.func == TANGENT:
                (param,) = expr.args
                tangent = self.tangent(env[param.id])
                if tangent is None:
                    dropped.append(param.id)
                    return ir.Call(_TZERO, (env[param.id],))
                return tangent
            if isinstance(expr, ir.Name) and expr.id in local:
                return local[expr.id]
            return ir.map_children(expr, expand)

        def run(body):
            for t in body:
                if isinstance(t, TAssign):
                    value = self.fold_zeros(expand(t.value))
                    if _is_tzero(value):
                        local[t.target] = value
                        continue
                    value = _zeros_left(value)
                    name = self.namer.fresh(f"{t.target}_{version_base(stmt.target)}")
                    pre.append(ir.Assign(name, value, origins))
                    local[t.target] = ir.Name(name)
                    locals_[name] = value
                elif isinstance(t, TGrad):
                    values.append(self.fold_zeros(expand(t.value)))
                elif isinstance(t, TIf):
                    test = static_truth(expand(t.test), lambda m: self.fail(stmt, m))
                    run(t.body if test else t.orelse)
                elif isinstance(t, TUnsupported):
                    self.fail(stmt, t.message)

        run(rule.body)
        if not values or _is_tzero(values[-1]):
            return pre, ir.Call("np.zeros_like", (result,))
        expr = _zeros_left(values[-1])
        if dropped and not self.covers(expr, locals_, stmt, result):
            expr = broadcast_to(expr, result)
        return pre, expr

    def fold_zeros(self, expr):
        """``expr`` with symbolic zeros (tangents of inactive arguments) folded."""
        expr = ir.map_children(expr, self.fold_zeros)
        if isinstance(expr, ir.BinOp):
            left, right = _is_tzero(expr.left), _is_tzero(expr.right)
            if expr.op == "+" and (left or right):
                return expr.left if right else expr.right
            if expr.op == "-" and (left or right):
                return expr.left if right else _neg(expr.right)
            if expr.op in ("*", "@") and (left or right):
                return expr.left if left else expr.right
            if expr.op == "/" and left:
                return expr.left
            return expr
        if isinstance(expr, ir.UnaryOp) and expr.op == "-" and _is_tzero(expr.operand):
            return expr.operand
        primitive = primitive_of(expr) if isinstance(expr, ir.Call) else None
        linearity = self.registry.tangents.get(primitive) if primitive else None
        rule = self.registry.rule(primitive) if primitive else None
        if linearity is not None and rule is not None:
            args, kwargs = primitive_args(expr)
            try:
                bound = bind(rule, args, kwargs, ir.Name("_"), _refuse)
            except _Unbindable:
                return expr
            zeros = [_is_tzero(bound.get(p, _ZERO)) for p in linearity.args]
            if (all(zeros) if linearity.kind == "linear" else any(zeros)):
                return next(bound[p] for p, z in zip(linearity.args, zeros) if z)
        return expr

    def derive(self, rule: Rule, stmt, env: dict, result) -> tuple:
        """The tangent from the reverse rule: each active ``d[p] = L(d[y])``
        contributes ``L^T(t_p)``."""
        pre: list = []
        local = dict(env)
        locals_: dict = {}
        contributions = []
        origins = self.origins(stmt)

        def expand(expr):
            if isinstance(expr, ir.Call) and expr.func == GRAD:
                return _D
            if isinstance(expr, ir.Name) and expr.id in local:
                return local[expr.id]
            return ir.map_children(expr, expand)

        def cannot(why: str):
            self.fail(stmt, f"no tangent rule for {primitive_of(stmt.value)}: it cannot be "
                            f"derived from its reverse rule {rule.name} ({rule.where}): {why}",
                      "declare it linear(...) or multilinear(...) in a rule file "
                      "(see templates/README.md, Forward mode)", UnknownPrimitiveError)

        def run(body):
            for t in body:
                if isinstance(t, TAssign):
                    value = expand(t.value)
                    if _has_d(value):
                        cannot(f"its local {t.target!r} reads d[...]")
                    name = self.namer.fresh(f"{t.target}_{version_base(stmt.target)}")
                    pre.append(ir.Assign(name, value, origins))
                    local[t.target] = ir.Name(name)
                    locals_[name] = value
                elif isinstance(t, TGrad) and t.value in (ir.Const(0), ir.Const(0.0)):
                    pass  # a stated zero: no share of the tangent
                elif isinstance(t, TGrad):
                    tangent = self.tangent(env[t.param])
                    if tangent is not None:
                        contributions.append(self.transpose(expand(t.value), tangent, False,
                                                            result, cannot))
                elif isinstance(t, TIf):
                    test = static_truth(expand(t.test), lambda m: self.fail(stmt, m))
                    run(t.body if test else t.orelse)
                elif isinstance(t, TUnsupported):
                    self.fail(stmt, t.message)

        run(rule.body)
        if not contributions:
            return pre, ir.Call("np.zeros_like", (result,))
        expr = _sum([c for c, _ in contributions])
        if any(p for _, p in contributions) and not self.covers(expr, locals_, stmt, result):
            expr = broadcast_to(expr, result)
        return pre, expr

    def covers(self, expr, locals_: dict, stmt, result) -> bool:
        """Whether ``expr`` (elementwise in its names) provably has the result's
        full shape: it mentions the result, or every operand that may be an array
        (or that operand's tangent, which has its shape)."""
        seen, pending = set(), list(ir.names_in(expr))
        while pending:
            name = pending.pop()
            if name not in seen:
                seen.add(name)
                pending.extend(ir.names_in(locals_.get(name, ir.Const(None))))
        seen |= {self.tangent_of[n] for n in seen if n in self.tangent_of}
        if result.id in seen:
            return True
        args, kwargs = primitive_args(stmt.value)
        return all(a.id in seen for a in (*args, *kwargs.values()) if self.is_array(a))

    def transpose(self, expr, t, pending: bool, result, cannot) -> tuple:
        """``expr``, linear in ``_D``, transposed and applied to ``t``: (tangent
        share, whether it may still need broadcasting to the result's shape)."""
        if expr == _D:
            return t, pending
        if isinstance(expr, ir.UnaryOp) and expr.op == "-":
            return self.transpose(expr.operand, _neg(t), pending, result, cannot)
        if isinstance(expr, ir.BinOp):
            left, right = _has_d(expr.left), _has_d(expr.right)
            if left and right and expr.op in "+-":
                a, pa = self.transpose(expr.left, t, pending, result, cannot)
                b, pb = self.transpose(expr.right, t, pending, result, cannot)
                return ir.BinOp(expr.op, a, b), pa or pb
            if expr.op == "*" and left != right:
                inner, factor = (expr.left, expr.right) if left else (expr.right, expr.left)
                return self.transpose(inner, ir.BinOp("*", t, factor), pending, result, cannot)
            if expr.op == "/" and left and not right:
                return self.transpose(expr.left, ir.BinOp("/", t, expr.right), pending, result,
                                      cannot)
            cannot(f"{ir.to_source(expr)} is not linear in d[...] in a way gradgen transposes")
        if isinstance(expr, ir.Call):
            f, args = expr.func, expr.args
            if f == "unbroadcast" and args and _has_d(args[0]):
                return self.transpose(args[0], t, True, result, cannot)
            if f == "np.where" and len(args) == 3 and _has_d(args[1]) != _has_d(args[2]):
                inner = args[1] if _has_d(args[1]) else args[2]
                masked = ir.Call("np.where", (args[0], t, args[2]) if inner is args[1]
                                 else (args[0], args[1], t))
                return self.transpose(inner, masked, pending, result, cannot)
            if f == "np.sum" and len(args) == 1 and not expr.kwargs and _has_d(args[0]):
                return self.transpose(args[0], t, True, result, cannot)  # t, broadcast back
            if pending:
                cannot(f"{f}(...) inside unbroadcast(...)")
            if f == "unreduce" and args and _has_d(args[0]):
                axis = args[2] if len(args) > 2 else ir.Const(None)
                keepdims = args[3] if len(args) > 3 else ir.Const(False)
                kwargs = []
                if axis != ir.Const(None):
                    kwargs.append(("axis", axis))
                if keepdims != ir.Const(False):
                    kwargs.append(("keepdims", keepdims))
                return self.transpose(args[0], ir.Call("np.sum", (t,), tuple(kwargs)), False,
                                      result, cannot)
            if f == "unindex" and len(args) == 3 and _has_d(args[0]):
                return self.transpose(args[0], ir.Subscript(t, args[2]), False, result, cannot)
            if f == "matmul_grad_a" and len(args) == 3 and _has_d(args[0]):
                return self.transpose(args[0], ir.BinOp("@", t, args[2]), False, result, cannot)
            if f == "matmul_grad_b" and len(args) == 3 and _has_d(args[0]):
                return self.transpose(args[0], ir.BinOp("@", args[1], t), False, result, cannot)
            if f == "np.transpose" and args and _has_d(args[0]):
                if len(args) == 1:
                    return self.transpose(args[0], ir.Call("np.transpose", (t,)), False, result,
                                          cannot)
                perm = args[1]
                if isinstance(perm, ir.Call) and perm.func == "np.argsort" and len(perm.args) == 1:
                    inverse = perm.args[0]
                else:
                    inverse = ir.Call("np.argsort", (perm,))
                return self.transpose(args[0], ir.Call("np.transpose", (t, inverse)), False,
                                      result, cannot)
            if f == "np.reshape" and args and args[0] == _D:
                return ir.Call("np.reshape", (t, ir.Call("np.shape", (result,)))), False
        cannot(f"{ir.to_source(expr)} is not a form gradgen transposes")
        return None, False


_TZERO = "@tzero"  # @tzero(x): the tangent of an inactive argument x, a symbolic zero


def _is_tzero(expr) -> bool:
    return isinstance(expr, ir.Call) and expr.func == _TZERO


def _zeros_left(expr):
    """Symbolic zeros that could not be folded, as arrays of zeros."""
    if _is_tzero(expr):
        return ir.Call("np.zeros_like", expr.args)
    return ir.map_children(expr, _zeros_left)


def _tangent_params(body) -> set:
    """The parameters whose tangents ``t[p]`` an explicit tangent rule reads."""
    found: set = set()
    for t in body:
        if isinstance(t, (TAssign, TGrad)):
            found |= {e.args[0].id for e in ir.walk(t.value)
                      if isinstance(e, ir.Call) and e.func == TANGENT}
        elif isinstance(t, TIf):
            found |= _tangent_params(t.body) | _tangent_params(t.orelse)
    return found


class _Unbindable(Exception):
    pass


def _refuse(message):
    raise _Unbindable(message)


def _flowing_params(body, zero: bool = False) -> set:
    """The parameters a rule gives a gradient other than a stated zero (or,
    with ``zero``, a stated zero)."""
    found = set()
    for t in body:
        if isinstance(t, TGrad) and (t.value in (ir.Const(0), ir.Const(0.0))) == zero:
            found.add(t.param)
        elif isinstance(t, TIf):
            found |= _flowing_params(t.body, zero) | _flowing_params(t.orelse, zero)
    return found


def _stated_zeros(body) -> set:
    return _flowing_params(body, zero=True)


def _list_names(fn) -> set:
    """Names that hold lists: appended to, popped, or bound to a list literal
    (or a list times a length, as generated code builds lists of zeros)."""
    found = set()
    for stmt in flatten(fn.body):
        if isinstance(stmt, (ir.Append, ir.ListPop)):
            found.add(stmt.target)
        elif isinstance(stmt, ir.Assign):
            value = stmt.value
            parts = (value.left, value.right) if isinstance(value, ir.BinOp) else (value,)
            if any(isinstance(p, ir.Call) and p.func == ir.LIST_LITERAL for p in parts):
                found.add(stmt.target)
    changed = True
    while changed:  # copies of lists, and a list built as `items * len(xs)`
        changed = False
        for stmt in flatten(fn.body):
            if isinstance(stmt, ir.Assign) and stmt.target not in found and any(
                    isinstance(p, ir.Name) and p.id in found for p in (
                        (stmt.value.left, stmt.value.right) if isinstance(stmt.value, ir.BinOp)
                        and stmt.value.op == "*" else (stmt.value,))):
                found.add(stmt.target)
                changed = True
    return found


def _replace_operands(value, rule: Rule, subs: dict):
    """The primitive call ``value`` with the arguments bound to the rule
    parameters in ``subs`` replaced: ``np.sum(x, axis=1)`` -> ``np.sum(t_x, axis=1)``."""
    params = rule.params

    def at(i, expr):
        return subs.get(params[i], expr) if i < len(params) else expr

    if isinstance(value, ir.Call):
        args = tuple(at(i, a) for i, a in enumerate(value.args))
        kwargs = tuple((k, subs.get(k, v)) for k, v in value.kwargs)
        return ir.Call(value.func, args, kwargs)
    if isinstance(value, ir.BinOp):
        return ir.BinOp(value.op, at(0, value.left), at(1, value.right))
    if isinstance(value, ir.UnaryOp):
        return ir.UnaryOp(value.op, at(0, value.operand))
    if isinstance(value, ir.Subscript):
        return ir.Subscript(at(0, value.value), at(1, value.index))
    raise TypeError(f"not a primitive call: {value!r}")


def forward(fn: ir.Function, wrt, registry: Registry, filename: str = "<string>",
            return_value: bool = True) -> Tangent:
    """The JVP of ``fn`` (in ANF) with respect to the parameters ``wrt``."""
    names = resolve_wrt(fn, tuple(wrt))
    return _Forward(fn, names, registry, filename).run(return_value)


# ------------------------------------------------- A-normal form, for IR input


def anf(fn: ir.Function, static_calls: frozenset = BUILTIN_STATIC) -> ir.Function:
    """``fn`` (generated IR: a gradient) with one primitive per statement, so
    that forward mode can run over it.  Temporaries are named like
    normalize.py names them (``d_y_times_x``)."""
    taken = {p.name for p in fn.params} | {"np"}
    counts: dict = {}
    for stmt in flatten(fn.body):
        taken |= defined(stmt) | {version_base(n) for n in defined(stmt)}
        for name in defined(stmt):
            counts[name] = counts.get(name, 0) + 1
        for expr in stmt_expressions(stmt):
            taken |= ir.names_in(expr)
    namer = Namer(taken)
    statics: set = set()  # names assigned once, to a shape, size or literal

    def atom(expr, out, origins, hint):
        if isinstance(expr, (ir.Name, ir.Const)) or is_static(expr, statics, static_calls):
            return expr
        value = primitive(expr, out, origins, hint)
        label = describe(value)
        if label is None or len(label) > 28:
            label = f"{hint}_part"
        name = namer.fresh(label)
        out.append(ir.Assign(name, value, origins))
        return ir.Name(name)

    def primitive(expr, out, origins, hint):
        if isinstance(expr, ir.Subscript):
            index = expr.index
            parts = index.elts if isinstance(index, ir.Tuple) else (index,)
            parts = tuple(p if is_static(p, statics, static_calls) else atom(p, out, origins, hint)
                          for p in parts)
            new_index = ir.Tuple(parts) if isinstance(index, ir.Tuple) else parts[0]
            return ir.Subscript(atom(expr.value, out, origins, hint), new_index)
        if isinstance(expr, ir.Attribute):
            return expr
        return ir.map_children(expr, lambda e: atom(e, out, origins, hint))

    mutable = set(getattr(fn, "mutable", ()))
    mutable |= {n for s in fn.body for b in blocks(s) for inner in flatten(b) for n in defined(inner)}

    def block(body):
        out: list = []
        for stmt in body:
            origins = getattr(stmt, "origins", ())
            if isinstance(stmt, ir.Assign):
                hint = version_base(stmt.target)
                value = stmt.value
                if not (isinstance(value, (ir.Name, ir.Const)) or is_static(value, statics, static_calls)):
                    value = primitive(value, out, origins, hint)
                elif (counts.get(stmt.target) == 1 and stmt.target not in mutable
                      and is_static(value, statics, static_calls)):
                    statics.add(stmt.target)  # a literal or a shape, not a copy of an array
                out.append(dataclasses.replace(stmt, value=value))
            elif isinstance(stmt, ir.Return):
                value = stmt.value
                if isinstance(value, ir.Tuple):
                    value = ir.Tuple(tuple(atom(e, out, origins, "result") for e in value.elts))
                else:
                    value = atom(value, out, origins, "result")
                out.append(dataclasses.replace(stmt, value=value))
            elif isinstance(stmt, _PUSH):
                out.append(dataclasses.replace(
                    stmt, value=atom(stmt.value, out, origins, stmt.stack)))
            elif isinstance(stmt, ir.Append):
                out.append(dataclasses.replace(
                    stmt, value=atom(stmt.value, out, origins, stmt.target)))
            elif isinstance(stmt, _SETITEM):
                value = atom(stmt.value, out, origins, stmt.target)
                index = primitive(ir.Subscript(ir.Name(stmt.target), stmt.index), out,
                                  origins, stmt.target).index
                out.append(dataclasses.replace(stmt, value=value, index=index))
            elif blocks(stmt):
                changes = {f: block(getattr(stmt, f)) for f in _BLOCK_FIELDS
                           if isinstance(getattr(stmt, f, None), tuple)}
                test = getattr(stmt, "test", None)
                if isinstance(test, _EXPRESSIONS) and "test_body" not in changes:
                    changes["test"] = atom(test, out, origins, "test")
                out.append(dataclasses.replace(stmt, **changes))
            else:
                out.append(stmt)
        return tuple(out)

    return dataclasses.replace(fn, body=block(fn.body))


# -------------------------------------------------------- simplify and print


def _simplified(tangent: Tangent, shapes: dict, registry) -> tuple:
    """(function, n_forward) of straight-line JVP code after the reverse-mode
    simplifier: the primal statements are its forward pass, the tangent
    statements its backward pass (both are plain dataflow)."""
    from gradgen import simplify
    from gradgen.transform import Adjoint

    primal = tangent.primal
    by_name = {p.name: p for p in primal.params}
    extra = tuple(ir.Param(t, None, by_name[w].shape)
                  for t, w in zip(tangent.tangent_params, tangent.wrt))
    shapes = dict(shapes)
    for t, w in zip(tangent.tangent_params, tangent.wrt):
        if w in shapes:
            shapes[t] = shapes[w]
    seed = next((t for t, v in tangent.tangent_of.items() if v == tangent.result),
                tangent.tangent_params[0])
    adjoint = Adjoint(
        function=tangent.function,
        n_forward=tangent.n_forward,
        wrt=tangent.wrt,
        seed=seed,
        result=tangent.result or tangent.wrt[0],
        primal=dataclasses.replace(primal, params=primal.params + extra),
        grad_of=dict(tangent.tangent_of),
    )
    adjoint = simplify.simplify(adjoint, shapes, registry=registry)
    return adjoint.function, adjoint.n_forward


def _lower_broadcasts(expr):
    """``unreduce(t, y, None, False)`` markers as plain ``t * np.ones_like(y)``."""
    expr = ir.map_children(expr, _lower_broadcasts)
    if (isinstance(expr, ir.Call) and expr.func == BROADCAST and len(expr.args) == 4
            and expr.args[2:] == (ir.Const(None), ir.Const(False))):
        return ir.BinOp("*", expr.args[0], ir.Call("np.ones_like", (expr.args[1],)))
    return expr


def _map_statements(body, fn) -> tuple:
    out = []
    for stmt in body:
        changes = {f.name: fn(getattr(stmt, f.name)) for f in dataclasses.fields(stmt)
                   if isinstance(getattr(stmt, f.name), _EXPRESSIONS)}
        changes.update({f: _map_statements(getattr(stmt, f), fn) for f in _BLOCK_FIELDS
                        if isinstance(getattr(stmt, f, None), tuple)})
        out.append(dataclasses.replace(stmt, **changes))
    return tuple(out)


def _key(origin) -> tuple:
    """Origins of a statement and of its tangent statements have equal keys."""
    grad = isinstance(origin, GradOrigin) or getattr(origin, "of_grad", False)
    return (grad, origin.text, origin.line, origin.col)


def as_gradient(body) -> tuple:
    """``body`` with its origins marked as those of gradient statements."""
    out = []
    for stmt in body:
        changes = {f: as_gradient(getattr(stmt, f)) for f in _BLOCK_FIELDS
                   if isinstance(getattr(stmt, f, None), tuple)}
        changes["origins"] = tuple(GradOrigin(o.text, o.line, o.col) for o in stmt.origins)
        out.append(dataclasses.replace(stmt, **changes))
    return tuple(out)


def is_tangent_stmt(stmt) -> bool:
    origins = getattr(stmt, "origins", ())
    return bool(origins) and all(isinstance(o, TangentOrigin) for o in origins)


def interleave(body, n_forward: int) -> tuple:
    """Straight-line JVP code with each tangent statement moved up to just after
    the primal statement it differentiates (and after everything it reads)."""
    primal, tangents, ret = list(body[:n_forward]), list(body[n_forward:-1]), body[-1]
    last_definition: dict = {}
    last_origin: dict = {}
    for index, stmt in enumerate(primal):
        for name in defined(stmt):
            last_definition[name] = index
        for origin in stmt.origins:
            last_origin[_key(origin)] = index
    slots: list = [[] for _ in range(len(primal) + 1)]
    position = 0
    for stmt in tangents:
        for name in names_read(stmt):
            if name in last_definition:
                position = max(position, last_definition[name] + 1)
        for origin in stmt.origins:
            if _key(origin) in last_origin:
                position = max(position, last_origin[_key(origin)] + 1)
        slots[position].append(stmt)
    out = list(slots[0])
    for stmt, after in zip(primal, slots[1:]):
        out += [stmt, *after]
    return tuple(out) + (ret,)


def finish(tangent: Tangent, simplify_on: bool, shapes: dict, registry) -> ir.Function:
    """Simplify (straight-line code), rename SSA versions back, interleave."""
    from gradgen import rename

    if tangent.n_forward is not None:
        if simplify_on:
            function, n_forward = _simplified(tangent, shapes, registry)
        else:
            function, n_forward = tangent.function, tangent.n_forward
        function, n_forward = rename.coalesce(function, n_forward)
        return dataclasses.replace(function, body=interleave(function.body, n_forward))
    from gradgen.simplify import remove_dead_top_level

    function = tangent.function
    if simplify_on:
        body = _map_statements(function.body, _lower_broadcasts)
        body, _ = remove_dead_top_level(body, ())
        function = dataclasses.replace(function, body=body)
    function, _ = rename.coalesce(function, len(function.body))
    return function


def body_lines(body, indent: str = "    ") -> list:
    """Source lines of a JVP body: tangent statements headed by ``# Tangent of:``
    comments quoting the source statement they differentiate (and, in
    Hessian-vector products, gradient statements by ``# Grad of:``).  A run of
    statements from the same source statements shares one comment."""
    lines, previous, previous_commented = [], None, False
    for stmt in body:
        origins = getattr(stmt, "origins", ())
        keys = tuple(sorted({_key(o)[1:] for o in origins}))
        commented = tuple(o for o in origins if isinstance(o, (TangentOrigin, GradOrigin)))
        if commented and (keys != previous or not lines or not previous_commented):
            if previous_commented and previous:  # quote only what the last comment did not
                commented = tuple(o for o in commented if _key(o)[1:] not in previous)
        if commented and (keys != previous or not lines or not previous_commented):
            first = commented[0]
            if isinstance(first, GradOrigin):
                label = "Grad of"
                ordered = sorted(commented, key=lambda o: (-o.line, -o.col))
            else:
                label = "Tangent of grad of" if first.of_grad else "Tangent of"
                ordered = sorted(commented, key=lambda o: (o.line, o.col))
            seen = []
            for origin in ordered:
                if _key(origin)[1:] not in seen:
                    seen.append(_key(origin)[1:])
                    lines.append(f"{indent}# {label}: {origin.text}")
        previous, previous_commented = (keys or None), bool(commented)
        if isinstance(stmt, ir.COMPOUND):
            lines += emit.compound_lines(stmt, indent, body_lines)
            previous = None
        else:
            lines.append(indent + ir.stmt_source(stmt))
    return lines


# ------------------------------------------------------------------ doors


@dataclass(frozen=True)
class GeneratedFunction:
    """One generated function of a module: its IR (for the helpers it calls),
    a one-line summary for the header, and its source text."""

    name: str
    function: ir.Function
    summary: str
    source: str


def function_source(name: str, function: ir.Function, docstring: str) -> str:
    from gradgen import emit

    lines = [emit.signature(name, function.params), f'    """{docstring}"""']
    return "\n".join(lines + body_lines(function.body)) + "\n"


def _front(text, function, options, filename, line_offset):
    from gradgen import driver

    return driver.front(text, function, options, filename, line_offset)


def jvp_function(text: str, function: str, options, filename: str = "<string>",
                 line_offset: int = 0) -> GeneratedFunction:
    """``jvp_<function>``: forward mode through every stage."""
    from gradgen.api import function_name

    primal, registry = _front(text, function, options, filename, line_offset)
    tangent = forward(primal, options.wrt, registry, filename, return_value=True)
    result = finish(tangent, options.simplify, dict(options.shapes), registry)
    wrt = ", ".join(tangent.wrt)
    tparams = ", ".join(tangent.tangent_params)
    docstring = (f"Forward-mode derivative of {function} with respect to {wrt}.\n\n"
                 f"    {tparams}: the tangent{'s' if len(tangent.wrt) > 1 else ''} "
                 f"(direction) of {wrt}.\n"
                 f"    Returns (output, tangent of the output).\n    ")
    name = function_name(function, "forward")
    return GeneratedFunction(name, result, f"{function} (forward mode, wrt {wrt})",
                             function_source(name, result, docstring))


def hvp_function(text: str, function: str, options, filename: str = "<string>",
                 line_offset: int = 0) -> GeneratedFunction:
    """``hvp_<function>``: forward mode over the reverse-mode gradient."""
    from gradgen import simplify, transform
    from gradgen.api import function_name

    primal, registry = _front(text, function, options, filename, line_offset)
    adjoint = transform.reverse(primal, options.wrt, registry, False, filename,
                                dict(options.shapes))
    if options.simplify:
        adjoint = simplify.simplify(adjoint, dict(options.shapes), registry=registry)
    body = adjoint.function.body
    n = adjoint.n_forward
    marked = body[:n] + as_gradient(body[n:])
    gradient = anf(dataclasses.replace(adjoint.function, body=marked),
                   registry.static_calls | BUILTIN_STATIC)
    tangent = forward(gradient, adjoint.wrt, registry, filename,
                      return_value=options.preserve_result)
    result = finish(tangent, options.simplify, dict(options.shapes), registry)
    wrt = ", ".join(adjoint.wrt)
    tparams = ", ".join(tangent.tangent_params)
    several = len(adjoint.wrt) > 1
    seed_names = [seed for seed, _ in getattr(adjoint, "seeds", ())] or [adjoint.seed]
    seeds = ", ".join(seed_names)
    returns = "(gradient, H @ v)" if options.preserve_result else "H @ v"
    docstring = (f"Hessian-vector product of {function} with respect to {wrt}.\n\n"
                 f"    The derivative of {function_name(function, 'reverse')} (the gradient) "
                 f"along v = {tparams};\n"
                 f"    {seeds} weight{'s' if len(seed_names) == 1 else ''} the "
                 f"output{'' if len(seed_names) == 1 else 's'} (as in the gradient). "
                 f"Returns {returns}{', per argument' if several else ''}.\n    ")
    name = function_name(function, "hvp")
    return GeneratedFunction(name, result, f"{function} (Hessian-vector product, wrt {wrt})",
                             function_source(name, result, docstring))
