"""The gradient rules of templates/, loaded into an immutable registry.

The rule files are read as source text, never imported or executed.  Each
``@adjoint(p1, p2, ...)`` function becomes one :class:`Rule` registered under
the canonical names of ``p1, p2, ...``; ``nondifferentiable(...)`` calls list
primitives whose outputs carry no gradient; ``helpers.py`` provides the
run-time helpers a rule may call.  Users add rules for their own functions by
passing more rule files (``load_registry(extra=[path])``): later files
override earlier ones.

Forward mode (:mod:`gradgen.forward`) reads the same rules: ``linear(...)``
and ``multilinear(...)`` declarations (``forward_rules.py``, or any rule
file) say that a primitive's tangent is the primitive itself applied to the
tangents of the named parameters; every other primitive's tangent is derived
from its ``@adjoint`` rule by transposing it.  ``helper_rules.py`` holds the
rules of the run-time helpers, so that generated gradients can be
differentiated again.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import libcst as cst

from gradgen import ir
from gradgen.errors import Location, TemplateError
from gradgen.lowering import LoweringError, call_name, lower_expr
from gradgen.parse import _numpy_aliases, dotted_name, resolve_numpy
from gradgen.shapes import static_value

GRAD = "__grad__"  # d[x] in a rule lowers to Call(GRAD, (Name(x),))


@dataclass(frozen=True)
class TAssign:
    """``local = expr`` inside a rule."""

    target: str
    value: ir.Expr


@dataclass(frozen=True)
class TGrad:
    """``d[param] = expr``: the gradient contribution to one parameter."""

    param: str
    value: ir.Expr


@dataclass(frozen=True)
class TIf:
    """An ``if`` on static arguments, decided at instantiation."""

    test: ir.Expr
    body: tuple
    orelse: tuple


@dataclass(frozen=True)
class TUnsupported:
    message: str


@dataclass(frozen=True)
class Rule:
    name: str
    primitives: tuple
    result: str
    params: tuple
    defaults: Mapping
    body: tuple
    differentiable: frozenset
    where: str  # "numpy_rules.py:42", for messages


@dataclass(frozen=True)
class Linearity:
    """``linear(p, args=(...))`` / ``multilinear(p, args=(...))``: the tangent of
    ``p`` is ``p`` itself applied to the tangents of ``args`` (parameter names
    of ``p``'s ``@adjoint`` rule): jointly (``linear``: one application, an
    inactive argument replaced by 0) or one argument at a time, the others
    left as they are (``multilinear``: one term per active argument)."""

    kind: str  # "linear" or "multilinear"
    args: tuple
    where: str


@dataclass(frozen=True)
class Helper:
    name: str
    source: str
    uses: frozenset  # other helpers it calls


@dataclass(frozen=True)
class Registry:
    rules: Mapping
    nondifferentiable: frozenset
    helpers: Mapping  # in definition order
    tangents: Mapping = field(default_factory=lambda: MappingProxyType({}))  # primitive -> Linearity (forward mode)

    def rule(self, primitive: str) -> Rule | None:
        return self.rules.get(primitive)

    def placeholder_safe(self, rule: Rule) -> bool:
        """Whether the rule may take ``d[result]`` as the scalar placeholder
        0.0 (a zero gradient not yet of its shape): every use of ``d[result]``
        is elementwise, or a helper that broadcasts it."""
        return _placeholder_safe(rule)

    def returns_view(self, primitive: str) -> bool:
        """Whether the primitive's result may share memory with its first argument."""
        return primitive in VIEWS

    def knows(self, primitive: str) -> bool:
        return primitive in self.rules or primitive in self.nondifferentiable

    @property
    def primitives(self) -> frozenset:
        """Every name the registry treats as a primitive."""
        return frozenset(self.rules) | self.nondifferentiable


VIEWS = frozenset({
    "operator.getitem", "np.reshape", "np.transpose", "np.ravel", "np.squeeze",
    "np.expand_dims", "np.asarray", "np.broadcast_to", "np.moveaxis", "np.swapaxes",
    "np.diagonal", "np.real", "np.imag", "np.atleast_1d", "np.atleast_2d", "np.atleast_3d",
})  # fmt: skip
# Operations through which the placeholder 0.0 stays a valid zero gradient.
_PLACEHOLDER_SAFE_CALLS = frozenset({
    "unbroadcast", "unreduce", "unindex", "np.where", "np.transpose",
    "np.real", "np.conj", "np.negative", "np.multiply", "np.divide", "np.add",
    "np.subtract", "np.copy",
})  # fmt: skip


def _placeholder_safe(rule: Rule) -> bool:
    def safe(expr, locals_with_grad) -> bool:
        if isinstance(expr, ir.Call) and expr.func == GRAD:
            return True
        if isinstance(expr, ir.Name) and expr.id in locals_with_grad:
            return True
        if not _mentions(expr, locals_with_grad):
            return True
        if isinstance(expr, (ir.BinOp, ir.UnaryOp)) and getattr(expr, "op", "-") in "+-*/":
            return all(safe(c, locals_with_grad) for c in ir.children(expr))
        if isinstance(expr, ir.Call) and expr.func in _PLACEHOLDER_SAFE_CALLS:
            return all(safe(c, locals_with_grad) for c in ir.children(expr))
        return False

    def visit(body, locals_with_grad: set) -> bool:
        for t in body:
            if isinstance(t, (TAssign, TGrad)):
                if not safe(t.value, locals_with_grad):
                    return False
                if isinstance(t, TAssign) and _mentions(t.value, locals_with_grad):
                    locals_with_grad.add(t.target)
            elif isinstance(t, TIf):
                if not (visit(t.body, set(locals_with_grad))
                        and visit(t.orelse, set(locals_with_grad))):
                    return False
        return True

    return visit(rule.body, set())


def _mentions(expr, names) -> bool:
    return any((isinstance(e, ir.Call) and e.func == GRAD)
               or (isinstance(e, ir.Name) and e.id in names) for e in ir.walk(expr))


def bind(rule: Rule, args: tuple, kwargs: dict, result, fail) -> dict:
    """The rule's parameters bound to a call's arguments (defaults filled in)
    and its result parameter bound to ``result``; ``fail(message)`` reports a
    call the rule cannot take."""
    if len(args) > len(rule.params):
        fail(f"too many arguments for the rule {rule.name} ({rule.where})")
    env = dict(zip(rule.params, args))
    for key, value in kwargs.items():
        if key not in rule.params:
            fail(f"the argument {key}= is not supported by the rule {rule.name} ({rule.where})")
        env[key] = value
    for param in rule.params:
        if param not in env:
            if param not in rule.defaults:
                fail(f"missing argument {param!r} for {rule.name}")
            env[param] = rule.defaults[param]
    env[rule.result] = result
    return env


def static_truth(expr, fail) -> bool:
    """The value of a rule's ``if`` test on static arguments; ``fail(message)``
    reports a test that is not static."""
    if isinstance(expr, ir.UnaryOp) and expr.op == "not":
        return not static_truth(expr.operand, fail)
    if isinstance(expr, ir.Call) and expr.func == "constant" and len(expr.args) == 1:
        try:  # constant(y): the argument is a literal, known when the rule is used
            static_value(expr.args[0])
            return True
        except (ValueError, KeyError, TypeError):
            return False
    if isinstance(expr, ir.BoolOp) and expr.op in ("and", "or"):
        left = static_truth(expr.left, fail)
        if expr.op == "and":
            return left and static_truth(expr.right, fail)
        return left or static_truth(expr.right, fail)
    if isinstance(expr, ir.Compare) and expr.op in ("is", "is not"):
        sides = (expr.left, expr.right)
        if ir.Const(None) in sides and any(isinstance(e, ir.Name) for e in sides):
            return expr.op == "is not"  # a variable is an array or a number, never None
    try:
        if isinstance(expr, ir.Compare) and expr.op in ("is", "is not", "==", "!="):
            left, right = static_value(expr.left), static_value(expr.right)
            same = left is right or left == right
            return same if expr.op in ("is", "==") else not same
        return bool(static_value(expr))
    except (ValueError, KeyError, TypeError):
        fail("this argument must be a literal (a number, None, or a tuple of them)")


def templates_dir() -> Path:
    """The folder of rule files: the installed ``gradgen.templates`` package,
    or ``templates/`` beside the source tree."""
    spec = importlib.util.find_spec("gradgen.templates")
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(__file__).resolve().parent.parent / "templates"


class _RuleFile:
    def __init__(self, path: Path):
        self.path = path
        self.text = path.read_text(encoding="utf-8")
        self.lines = self.text.splitlines()
        try:
            self.module = cst.parse_module(self.text)
        except cst.ParserSyntaxError as exc:
            raise TemplateError(f"rule file is not valid Python: {exc.message}",
                                Location(str(path), exc.raw_line, exc.raw_column)) from None
        wrapper = cst.MetadataWrapper(self.module, unsafe_skip_copy=True)
        self.positions = wrapper.resolve(cst.metadata.PositionProvider)
        self.aliases = _numpy_aliases(self.module)

    def error(self, node, message: str) -> TemplateError:
        start = self.positions[node].start
        text = self.lines[start.line - 1] if start.line <= len(self.lines) else ""
        return TemplateError(message, Location(self.path.name, start.line, start.column, text))

    def lower(self, node) -> ir.Expr:
        try:
            return _grad_markers(lower_expr(node, self.aliases))
        except LoweringError as exc:
            raise self.error(exc.node, exc.message) from None

    def primitive_names(self, call: cst.Call) -> tuple:
        names = []
        for arg in call.args:
            name = call_name(arg.value, self.aliases) or resolve_numpy(
                dotted_name(arg.value), self.aliases
            )
            if name is None:
                raise self.error(arg, "expected a primitive such as np.exp or operator.add")
            names.append(name)
        return tuple(names)


def _grad_markers(expr: ir.Expr) -> ir.Expr:
    """Turn ``d[x]`` (a subscript of ``d``) into the marker call ``__grad__(x)``."""
    if isinstance(expr, ir.Subscript) and expr.value == ir.Name("d"):
        return ir.Call(GRAD, (expr.index,))
    return ir.map_children(expr, _grad_markers)


def _rule_body(rf: _RuleFile, statements, params: set, differentiable: set) -> tuple:
    body = []
    for stmt in statements:
        if isinstance(stmt, cst.If):
            orelse = ()
            if isinstance(stmt.orelse, cst.If):  # elif
                orelse = _rule_body(rf, [stmt.orelse], params, differentiable)
            elif stmt.orelse is not None:
                orelse = _rule_body(rf, stmt.orelse.body.body, params, differentiable)
            body.append(TIf(rf.lower(stmt.test),
                            _rule_body(rf, stmt.body.body, params, differentiable), orelse))
            continue
        if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
            raise rf.error(stmt, "a rule body holds assignments and static `if`s only")
        small = stmt.body[0]
        if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
            call = small.value
            if dotted_name(call.func) == "unsupported":
                body.append(TUnsupported(call.args[0].value.evaluated_value))
                continue
        if isinstance(small, cst.Expr) and isinstance(small.value, cst.SimpleString):
            continue  # a docstring
        if not isinstance(small, cst.Assign) or len(small.targets) != 1:
            raise rf.error(stmt, "a rule body holds assignments and static `if`s only")
        target = rf.lower(small.targets[0].target)
        value = rf.lower(small.value)
        if isinstance(target, ir.Call) and target.func == GRAD:
            param = target.args[0]
            if not isinstance(param, ir.Name) or param.id not in params:
                raise rf.error(small, "d[...] must name a parameter of the rule")
            differentiable.add(param.id)
            body.append(TGrad(param.id, value))
        elif isinstance(target, ir.Name):
            body.append(TAssign(target.id, value))
        else:
            raise rf.error(small, "assign to d[param] or to a local name")
    return tuple(body)


def _load_rules(rf: _RuleFile, rules: dict, nondiff: set) -> None:
    for stmt in rf.module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if (isinstance(small, cst.Expr) and isinstance(small.value, cst.Call)
                        and dotted_name(small.value.func) == "nondifferentiable"):
                    nondiff.update(rf.primitive_names(small.value))
            continue
        if not isinstance(stmt, cst.FunctionDef):
            continue
        decorators = [dec.decorator for dec in stmt.decorators
                      if isinstance(dec.decorator, cst.Call)
                      and dotted_name(dec.decorator.func) == "adjoint"]
        if not decorators:
            continue
        primitives = rf.primitive_names(decorators[0])
        names = [p.name.value for p in stmt.params.params]
        if len(names) < 2:
            raise rf.error(stmt, "a rule takes the result, then the primitive's parameters")
        defaults = {p.name.value: rf.lower(p.default)
                    for p in stmt.params.params if p.default is not None}
        differentiable: set = set()
        body = _rule_body(rf, stmt.body.body, set(names[1:]), differentiable)
        line = rf.positions[stmt].start.line
        rule = Rule(
            name=stmt.name.value,
            primitives=primitives,
            result=names[0],
            params=tuple(names[1:]),
            defaults=MappingProxyType(defaults),
            body=body,
            differentiable=frozenset(differentiable),
            where=f"{rf.path.name}:{line}",
        )
        for primitive in primitives:
            rules[primitive] = rule


def _load_linearity(rf: _RuleFile, rules: Mapping, tangents: dict) -> None:
    """``linear(p1, p2, ..., args=("x", ...))`` and ``multilinear(...)`` calls."""
    for stmt in rf.module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if not (isinstance(small, cst.Expr) and isinstance(small.value, cst.Call)):
                continue
            call = small.value
            kind = dotted_name(call.func)
            if kind not in ("linear", "multilinear"):
                continue
            keywords = [a for a in call.args if a.keyword is not None]
            if len(keywords) != 1 or keywords[0].keyword.value != "args":
                raise rf.error(call, f'{kind}(...) needs args=("param", ...) after the primitives')
            try:
                args = ast.literal_eval(rf.module.code_for_node(keywords[0].value))
            except (ValueError, SyntaxError):
                args = None
            if isinstance(args, str):
                args = (args,)
            if not (isinstance(args, tuple) and args and all(isinstance(a, str) for a in args)):
                raise rf.error(keywords[0], "args= must be a tuple of parameter names")
            positional = cst.Call(func=call.func, args=[a for a in call.args if a.keyword is None])
            line = rf.positions[stmt].start.line
            for primitive in rf.primitive_names(positional):
                rule = rules.get(primitive)
                if rule is None:
                    raise rf.error(call, f"{primitive} has no @adjoint rule: declare its "
                                         "reverse rule first (forward mode reads its parameters)")
                unknown = [a for a in args if a not in rule.params]
                if unknown:
                    raise rf.error(keywords[0], f"{primitive} has no parameter {unknown[0]!r} "
                                                f"(its rule {rule.name} takes {', '.join(rule.params)})")
                tangents[primitive] = Linearity(kind, args, f"{rf.path.name}:{line}")


def _load_helpers(rf: _RuleFile) -> dict:
    functions = [s for s in rf.module.body if isinstance(s, cst.FunctionDef)]
    names = {f.name.value for f in functions}
    helpers = {}
    for func in functions:
        source = rf.module.code_for_node(func).strip() + "\n"
        used = {n.value for n in _names(func)} & names - {func.name.value}
        helpers[func.name.value] = Helper(func.name.value, source, frozenset(used))
    return helpers


def _names(node):
    found = []

    class Collector(cst.CSTVisitor):
        def visit_Name(self, n):
            found.append(n)

    node.visit(Collector())
    return found


@functools.lru_cache(maxsize=8)
def load_registry(extra: tuple = ()) -> Registry:
    """The registry of the bundled rules, plus rule files ``extra`` (paths)."""
    folder = templates_dir()
    rules: dict = {}
    nondiff: set = set()
    files = [_RuleFile(path) for path in
             [folder / "numpy_rules.py", folder / "helper_rules.py", *map(Path, extra)]]
    for rf in files:
        _load_rules(rf, rules, nondiff)
    tangents: dict = {}
    for rf in [_RuleFile(folder / "forward_rules.py"), *files[2:]]:
        _load_linearity(rf, rules, tangents)
    helpers = _load_helpers(_RuleFile(folder / "helpers.py"))
    return Registry(MappingProxyType(rules), frozenset(nondiff), MappingProxyType(helpers),
                    MappingProxyType(tangents))
