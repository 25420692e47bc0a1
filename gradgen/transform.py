"""Stage 5, transform: the reverse-mode adjoint, instantiated from the rules.

Input: a function in ANF/SSA.  Output: one IR function whose body is the
forward pass (the primal statements, unchanged), then the backward pass:
for each active statement, in reverse order, the rule of its primitive with
parameters bound to the statement's operands and ``d[result]`` bound to the
gradient of its result.  Contributions of one rule to one variable are
summed in one expression; a later contribution to a variable that already has
a gradient defines a new version ``d_x@acc2 = d_x + ...``.

Every gradient this stage emits has exactly the shape of its variable
(rules undo broadcasting and reductions explicitly); the simplifier is what
removes the ``unbroadcast``/``unreduce`` calls that shapes prove needless.
"""

from __future__ import annotations

from dataclasses import dataclass

from gradgen import ir
from gradgen.activity import active_names
from gradgen.errors import Location, UnsupportedSyntaxError, UsageError
from gradgen.normalize import Namer, primitive_args, primitive_of, version_base
from gradgen.rules import GRAD, Registry, Rule, TAssign, TGrad, TIf, TUnsupported
from gradgen.shapes import static_value

GRAD_PREFIX = "d_"


@dataclass(frozen=True)
class Adjoint:
    """A gradient function in IR, with what later stages need to know about it."""

    function: ir.Function
    n_forward: int  # body[:n_forward] is the forward pass
    wrt: tuple
    seed: str
    result: str
    primal: ir.Function
    grad_of: dict  # gradient variable -> the variable it is the gradient of


def gradient_name(var: str) -> str:
    """The documented convention: the gradient of ``x`` is ``d_x``."""
    return GRAD_PREFIX + var


def _static_truth(expr, fail) -> bool:
    if isinstance(expr, ir.UnaryOp) and expr.op == "not":
        return not _static_truth(expr.operand, fail)
    if isinstance(expr, ir.BoolOp) and expr.op in ("and", "or"):
        left = _static_truth(expr.left, fail)
        if expr.op == "and":
            return left and _static_truth(expr.right, fail)
        return left or _static_truth(expr.right, fail)
    if isinstance(expr, ir.Compare) and expr.op in ("is", "is not"):
        # An operand that is a variable is an array or number, never None.
        sides = (expr.left, expr.right)
        if ir.Const(None) in sides and any(isinstance(e, ir.Name) for e in sides):
            return expr.op == "is not"
    try:
        if isinstance(expr, ir.Compare):
            left, right = static_value(expr.left), static_value(expr.right)
            return {
                "is": lambda: left is right or left == right is None,
                "is not": lambda: not (left is right or left == right is None),
                "==": lambda: left == right,
                "!=": lambda: left != right,
            }[expr.op]()
        return bool(static_value(expr))
    except (ValueError, KeyError):
        fail("this argument must be a literal (a number, None, or a tuple of them)")


class _Reverse:
    def __init__(self, fn: ir.Function, wrt: tuple, registry: Registry, filename: str):
        self.fn = fn
        self.registry = registry
        self.filename = filename
        self.active = active_names(fn, wrt, registry)
        taken = {s.target for s in fn.body if isinstance(s, ir.Assign)}
        taken |= {p.name for p in fn.params} | {"np"}
        self.namer = Namer(taken)
        self.grads: dict = {}  # variable -> Name of its current gradient
        self.grad_of: dict = {}
        self.backward: list = []

    def fail(self, stmt, message: str, hint: str = ""):
        origin = stmt.origins[0] if stmt.origins else None
        location = None
        if origin is not None:
            location = Location(self.filename, origin.line, origin.col, origin.text)
        raise UnsupportedSyntaxError(message, location, hint)

    def gradient_var(self, var: str) -> str:
        return self.namer.fresh(gradient_name(var))

    def accumulate(self, var: str, expr, origins) -> None:
        if var in self.grads:
            current = self.grads[var]
            name = self.namer.fresh(f"{current.id.split('@')[0]}@acc")
            self.backward.append(ir.Assign(name, ir.BinOp("+", current, expr), origins))
        else:
            name = self.gradient_var(var)
            self.backward.append(ir.Assign(name, expr, origins))
        self.grads[var] = ir.Name(name)
        self.grad_of[name] = var

    def bind(self, rule: Rule, stmt: ir.Assign) -> dict:
        args, kwargs = primitive_args(stmt.value)
        if len(args) > len(rule.params):
            self.fail(stmt, f"too many arguments for the gradient rule {rule.name} ({rule.where})")
        env = dict(zip(rule.params, args))
        for key, value in kwargs.items():
            if key not in rule.params:
                self.fail(stmt, f"the argument {key}= is not supported by the gradient rule "
                                f"{rule.name} ({rule.where})")
            env[key] = value
        for param in rule.params:
            if param not in env:
                if param not in rule.defaults:
                    self.fail(stmt, f"missing argument {param!r} for {rule.name}")
                env[param] = rule.defaults[param]
        env[rule.result] = ir.Name(stmt.target)
        return env

    def instantiate(self, rule: Rule, stmt: ir.Assign) -> list:
        env = self.bind(rule, stmt)
        d_result = self.grads[stmt.target]
        contributions: dict = {}

        def expand(expr):
            if isinstance(expr, ir.Call) and expr.func == GRAD:
                (param,) = expr.args
                if param.id != rule.result:
                    raise AssertionError(f"rule {rule.name} reads d[{param.id}]")
                return d_result
            if isinstance(expr, ir.Name) and expr.id in env:
                return env[expr.id]
            return ir.map_children(expr, expand)

        def run(body):
            for t in body:
                if isinstance(t, TAssign):
                    local = self.namer.fresh(f"{t.target}_{version_base(stmt.target)}")
                    self.backward.append(ir.Assign(local, expand(t.value), stmt.origins))
                    env[t.target] = ir.Name(local)
                elif isinstance(t, TGrad):
                    bound = env[t.param]
                    if isinstance(bound, ir.Name) and bound.id in self.active:
                        term = expand(t.value)
                        previous = contributions.get(bound.id)
                        contributions[bound.id] = term if previous is None else ir.BinOp(
                            "+", previous, term)
                elif isinstance(t, TIf):
                    test = _static_truth(expand(t.test), lambda m: self.fail(stmt, m))
                    run(t.body if test else t.orelse)
                elif isinstance(t, TUnsupported):
                    self.fail(stmt, t.message)

        run(rule.body)
        return list(contributions.items())

    def run(self, preserve_result: bool, wrt: tuple) -> Adjoint:
        fn = self.fn
        assigns = [s for s in fn.body if isinstance(s, ir.Assign)]
        ret = fn.body[-1]
        result = ret.value.id
        seed = self.namer.fresh(gradient_name(version_base(result)))
        if result in self.active or result in wrt:
            self.grads[result] = ir.Name(seed)
        self.grad_of[seed] = result
        for stmt in reversed(assigns):
            if stmt.target not in self.active or stmt.target not in self.grads:
                continue
            if isinstance(stmt.value, ir.Name):
                contributions = [(stmt.value.id, self.grads[stmt.target])]
            else:
                rule = self.registry.rule(primitive_of(stmt.value))
                contributions = self.instantiate(rule, stmt)
            for var, expr in contributions:
                self.accumulate(var, expr, stmt.origins)
        outputs = tuple(
            self.grads.get(w, ir.Call("np.zeros_like", (ir.Name(w),))) for w in wrt
        )
        gradient = outputs[0] if len(outputs) == 1 else ir.Tuple(outputs)
        value = ir.Tuple((ir.Name(result), gradient)) if preserve_result else gradient
        params = fn.params + (ir.Param(seed, ir.Const(1.0)),)
        body = tuple(assigns) + tuple(self.backward) + (ir.Return(value),)
        function = ir.Function(fn.name, params, body, fn.docstring)
        return Adjoint(function, len(assigns), wrt, seed, result, fn, self.grad_of)


def resolve_wrt(fn: ir.Function, wrt: tuple) -> tuple:
    """Parameter names for ``wrt`` entries given as indices or names."""
    names = [p.name for p in fn.params]
    resolved = []
    for item in wrt:
        if isinstance(item, int) and not isinstance(item, bool):
            if not -len(names) <= item < len(names):
                raise UsageError(f"wrt={item} is out of range: {fn.name}() has "
                                 f"{len(names)} parameters ({', '.join(names)})")
            name = names[item]
        elif isinstance(item, str) and item in names:
            name = item
        else:
            raise UsageError(f"wrt={item!r} is not a parameter of {fn.name}()",
                             hint=f"parameters: {', '.join(names)}")
        if name in resolved:
            raise UsageError(f"wrt names {name!r} twice")
        resolved.append(name)
    if not resolved:
        raise UsageError("wrt is empty: name at least one parameter")
    return tuple(resolved)


def reverse(fn: ir.Function, wrt, registry: Registry, preserve_result: bool = False,
            filename: str = "<string>") -> Adjoint:
    """The adjoint of ``fn`` with respect to the parameters ``wrt``."""
    names = resolve_wrt(fn, tuple(wrt))
    return _Reverse(fn, names, registry, filename).run(preserve_result, names)
