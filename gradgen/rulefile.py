"""Reading one rule file: Python source in the contract of templates/README.md,
read as text (never imported or run) into declarations.

A rule file holds, at top level:

* ``@adjoint(p1, p2, ..., **facts)`` functions: a reverse rule, in the
  Tangent contract (the result first, then the primitive's parameters;
  ``d[v]`` is the gradient of ``v``);
* family constructors, one line per primitive: ``elementwise(p, partial,
  ...)`` and ``reduction(p, partial)``, whose partials are lambdas of the
  result and the parameters (``lambda y, x: np.cos(x)``);
* ``nondifferentiable(p1, ..., **facts)``: reviewed primitives whose results
  carry no gradient;
* ``linear(p, ..., args=(...))`` / ``multilinear(...)``: forward mode applies
  the primitive itself to tangents;
* ``@tangent(p)`` functions: an explicit forward rule (``t[v]`` is the
  tangent of ``v``), for a rule forward mode cannot transpose.

``facts`` are literals: ``shape=`` (the shape family), ``methods=`` and
``attribute=`` (aliases such as ``x.sum()`` and ``x.T``), ``static=``
(arguments that must be literals), ``view=`` (the result may share memory
with the first argument), ``test=`` (the signature its systematic tests are
generated from), ``note=`` (shown by ``gradgen rules``), ``linear=`` /
``multilinear=`` (as the calls above).  A malformed declaration is a
:class:`TemplateError` located in the rule file.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import libcst as cst

from gradgen import ir
from gradgen.errors import Location, TemplateError
from gradgen.lowering import LoweringError, call_name, lower_expr
from gradgen.parse import _numpy_aliases, dotted_name, resolve_numpy

GRAD = "__grad__"  # d[x] in a rule lowers to Call(GRAD, (Name(x),))
TANGENT = "__tangent__"  # t[x] in a tangent rule lowers to Call(TANGENT, (Name(x),))
FACTS = ("shape", "methods", "attribute", "static", "view", "test", "note", "results",
         "linear", "multilinear", "method_varargs")


@dataclass(frozen=True)
class TAssign:
    """``local = expr`` inside a rule."""

    target: str
    value: ir.Expr


@dataclass(frozen=True)
class TGrad:
    """``d[param] = expr`` (or ``t[result] = expr`` in a tangent rule)."""

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
    result: str | tuple  # the result's name, or the names of several results
    params: tuple
    defaults: MappingProxyType
    body: tuple
    differentiable: frozenset
    where: str  # "numpy_rules.py:42", for messages


@dataclass(frozen=True)
class Declaration:
    """One top-level declaration of a rule file."""

    kind: str  # adjoint, elementwise, reduction, nondifferentiable, linear, multilinear, tangent
    primitives: tuple
    where: str
    rule: Rule | None = None  # adjoint, families (built), tangent
    partials: tuple = ()  # families: (param, partial expression or None), in order
    facts: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    args: tuple = ()  # linear / multilinear
    node: object = None  # for located errors


class RuleFile:
    """A rule file, parsed with positions for located errors."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateError(f"cannot read the rule file {path}: {exc}") from None
        self.lines = self.text.splitlines()
        try:
            self.module = cst.parse_module(self.text)
        except cst.ParserSyntaxError as exc:
            line = exc.raw_line
            text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
            raise TemplateError(f"rule file is not valid Python: {exc.message}",
                                Location(str(path), line, exc.raw_column, text)) from None
        wrapper = cst.MetadataWrapper(self.module, unsafe_skip_copy=True)
        self.positions = wrapper.resolve(cst.metadata.PositionProvider)
        self.aliases = _numpy_aliases(self.module)

    def error(self, node, message: str, hint: str = "") -> TemplateError:
        start = self.positions[node].start
        text = self.lines[start.line - 1] if start.line <= len(self.lines) else ""
        return TemplateError(message, Location(str(self.path), start.line, start.column, text),
                             hint)

    def where(self, node) -> str:
        return f"{self.path.name}:{self.positions[node].start.line}"

    def lower(self, node) -> ir.Expr:
        try:
            return _markers(lower_expr(node, self.aliases))
        except LoweringError as exc:
            raise self.error(exc.node, exc.message, exc.hint) from None

    def primitive(self, node) -> str:
        name = call_name(node, self.aliases) or resolve_numpy(dotted_name(node), self.aliases)
        if name is None:
            raise self.error(node, "expected a primitive such as np.exp or operator.add")
        return name

    def literal(self, node):
        """The value of a literal (numbers, strings, None, tuples, lists,
        dicts, ``dict(...)``), or a located error."""
        try:
            # Parenthesized: a string continued over lines is one literal.
            code = "(" + self.module.code_for_node(node).strip() + ")"
            return _literal(ast.parse(code, mode="eval").body)
        except (ValueError, SyntaxError):
            raise self.error(node, "expected a literal (numbers, strings, tuples, dicts)") from None

    # -- declarations
    def declarations(self) -> list:
        found = []
        for stmt in self.module.body:
            if isinstance(stmt, cst.FunctionDef):
                found += self.function(stmt)
            elif isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
                        declaration = self.call(small.value)
                        if declaration is not None:
                            found.append(declaration)
        return found

    def facts(self, args) -> dict:
        facts = {}
        for arg in args:
            key = arg.keyword.value
            if key not in FACTS:
                raise self.error(arg, f"unknown fact {key}=", f"facts: {', '.join(FACTS)}")
            facts[key] = self.literal(arg.value)
        for key in ("linear", "multilinear", "methods", "static"):
            if isinstance(facts.get(key), str):
                facts[key] = (facts[key],)
        return facts

    def function(self, stmt: cst.FunctionDef) -> list:
        for decorator in stmt.decorators:
            call = decorator.decorator
            if not isinstance(call, cst.Call):
                continue
            kind = dotted_name(call.func)
            if kind not in ("adjoint", "tangent"):
                continue
            primitives = tuple(self.primitive(a.value) for a in call.args if a.keyword is None)
            facts = self.facts([a for a in call.args if a.keyword is not None])
            rule = self.rule(stmt, primitives, kind == "tangent", facts.get("results", 1))
            return [Declaration(kind, primitives, self.where(stmt), rule,
                                facts=MappingProxyType(facts), node=stmt)]
        return []

    def rule(self, stmt: cst.FunctionDef, primitives: tuple, is_tangent: bool,
             results: int) -> Rule:
        names = [p.name.value for p in stmt.params.params]
        if len(names) < results + 1:
            raise self.error(stmt, "a rule takes the result, then the primitive's parameters")
        defaults = {p.name.value: self.lower(p.default)
                    for p in stmt.params.params if p.default is not None}
        differentiable: set = set()
        result = names[0] if results == 1 else tuple(names[:results])
        targets = set(names[:results]) if is_tangent else set(names[results:])
        body = self.body(stmt.body.body, targets, differentiable, is_tangent)
        return Rule(stmt.name.value, primitives, result, tuple(names[results:]),
                    MappingProxyType(defaults), body, frozenset(differentiable), self.where(stmt))

    def body(self, statements, targets: set, differentiable: set, is_tangent: bool) -> tuple:
        marker = TANGENT if is_tangent else GRAD
        out: list = []
        for stmt in statements:
            if isinstance(stmt, cst.If):
                orelse = ()
                if isinstance(stmt.orelse, cst.If):  # elif
                    orelse = self.body([stmt.orelse], targets, differentiable, is_tangent)
                elif stmt.orelse is not None:
                    orelse = self.body(stmt.orelse.body.body, targets, differentiable, is_tangent)
                out.append(TIf(self.lower(stmt.test),
                               self.body(stmt.body.body, targets, differentiable, is_tangent),
                               orelse))
                continue
            if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
                raise self.error(stmt, "a rule body holds assignments and static `if`s only")
            small = stmt.body[0]
            if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call) and (
                    dotted_name(small.value.func) == "unsupported"):
                out.append(TUnsupported(self.literal(small.value.args[0].value)))
                continue
            if isinstance(small, cst.Expr) and isinstance(small.value, (cst.SimpleString,
                                                                        cst.ConcatenatedString)):
                continue  # a docstring
            if not isinstance(small, cst.Assign) or len(small.targets) != 1:
                raise self.error(stmt, "a rule body holds assignments and static `if`s only")
            target = self.lower(small.targets[0].target)
            value = self.lower(small.value)
            if isinstance(target, ir.Call) and target.func == marker:
                param = target.args[0]
                if not isinstance(param, ir.Name) or param.id not in targets:
                    what = "the result" if is_tangent else "a parameter of the rule"
                    raise self.error(small, f"{'t' if is_tangent else 'd'}[...] must name {what}")
                differentiable.add(param.id)
                out.append(TGrad(param.id, value))
            elif isinstance(target, ir.Name):
                out.append(TAssign(target.id, value))
            else:
                raise self.error(small, "assign to d[param] or to a local name")
        return tuple(out)

    def call(self, call: cst.Call):
        kind = dotted_name(call.func)
        positional = [a for a in call.args if a.keyword is None]
        keywords = [a for a in call.args if a.keyword is not None]
        if kind in ("linear", "multilinear"):
            facts = {a.keyword.value: self.literal(a.value) for a in keywords if a.keyword}
            args = facts.pop("args", None)
            if isinstance(args, str):
                args = (args,)
            if facts or not (isinstance(args, tuple) and args
                             and all(isinstance(a, str) for a in args)):
                raise self.error(call, f'{kind}(...) needs args=("param", ...) after the '
                                       "primitives, and nothing else")
            return Declaration(kind, tuple(self.primitive(a.value) for a in positional),
                               self.where(call), args=args, node=call)
        if kind == "nondifferentiable":
            return Declaration(kind, tuple(self.primitive(a.value) for a in positional),
                               self.where(call), facts=MappingProxyType(self.facts(keywords)),
                               node=call)
        if kind in ("elementwise", "reduction"):
            return self.family(kind, call, positional, keywords)
        return None

    def family(self, kind: str, call: cst.Call, positional, keywords) -> Declaration:
        if len(positional) < 2:
            raise self.error(call, f"{kind}(primitive, partial, ...) needs a primitive (or a "
                                   "tuple of aliases) and a partial per parameter")
        first = positional[0].value
        aliases = first.elements if isinstance(first, cst.Tuple) else [first]
        primitives = tuple(self.primitive(e.value if isinstance(e, cst.Element) else e)
                           for e in aliases)
        lambdas = [a.value for a in positional[1:]]
        signature = None
        partials: list = []
        for node in lambdas:
            if isinstance(node, cst.Name) and node.value == "None":
                partials.append(None)
                continue
            if not isinstance(node, cst.Lambda):
                raise self.error(node, "a partial is a lambda of the result and the "
                                       "parameters, or None for a parameter without one")
            params = tuple(p.name.value for p in node.params.params)
            defaults = tuple((p.name.value, self.lower(p.default))
                             for p in node.params.params if p.default is not None)
            if signature is None:
                signature = (params, defaults)
            elif params != signature[0]:
                raise self.error(node, "every partial takes the same parameters")
            partials.append(self.lower(node.body))
        if signature is None:
            raise self.error(call, "give at least one partial as a lambda")
        params, defaults = signature
        if kind == "reduction":
            expected = 1
        else:
            expected = len([p for p in params[1:] if p not in dict(defaults)]) or 1
        if len(partials) < expected or len(partials) > len(params) - 1:
            raise self.error(call, f"{kind}(...) needs one partial per parameter of "
                                   f"{primitives[0]} ({', '.join(params[1:])})")
        facts = self.facts(keywords)
        named = tuple(zip(params[1:], partials))
        rule = family_rule(kind, primitives, params, MappingProxyType(dict(defaults)), named,
                           self.where(call))
        return Declaration(kind, primitives, self.where(call), rule, named,
                           MappingProxyType(facts), node=call)


def family_rule(kind: str, primitives: tuple, params: tuple, defaults, partials,
                where: str) -> Rule:
    """The reverse rule of an elementwise or reduction family entry:
    ``d[x] = unbroadcast(d[y] * partial, x)`` for each parameter (broadcasting
    undone where several operands may be arrays), or, for a reduction,
    ``d[x] = unreduce(d[y], x, axis, keepdims) * partial`` with ``y``
    broadcast back to ``x``'s shape inside the partial."""
    result, args = params[0], params[1:]
    g = ir.Call(GRAD, (ir.Name(result),))
    body = []
    differentiable = set()
    if kind == "reduction":
        x = args[0]
        axis = ir.Name("axis") if "axis" in args else ir.Const(None)
        keepdims = ir.Name("keepdims") if "keepdims" in args else ir.Const(False)
        back = ir.Call("unreduce", (ir.Name(result), ir.Name(x), axis, keepdims))
        partial = partials[0][1]
        spread = ir.Call("unreduce", (g, ir.Name(x), axis, keepdims))
        if partial is not None:
            value = scale(spread, ir.substitute(partial, {result: back}))
            body.append(TGrad(x, value))
            differentiable.add(x)
    else:
        several = len([p for p in args if p not in defaults]) > 1
        for param, partial in partials:
            differentiable.add(param)
            if partial is None:
                body.append(TGrad(param, ir.Const(0)))
                continue
            value = scale(g, partial)
            if several:
                value = ir.Call("unbroadcast", (value, ir.Name(param)))
            body.append(TGrad(param, value))
    return Rule(f"{kind} {primitives[0]}", primitives, result, tuple(args), defaults,
                tuple(body), frozenset(differentiable), where)


def scale(g, partial):
    """``g * partial``, written as a person would: ``g / b`` for ``1 / b``,
    ``g * a / b`` for ``a / b``, ``-(g * a)`` for ``-a``."""
    if partial == ir.Const(1):
        return g
    if partial == ir.Const(-1):
        return ir.UnaryOp("-", g)
    if isinstance(partial, ir.UnaryOp) and partial.op == "-":
        return ir.UnaryOp("-", scale(g, partial.operand))
    if isinstance(partial, ir.BinOp) and partial.op == "/":
        return ir.BinOp("/", scale(g, partial.left), partial.right)
    return ir.BinOp("*", g, partial)


def _markers(expr: ir.Expr) -> ir.Expr:
    """``d[x]`` -> ``__grad__(x)`` and ``t[x]`` -> ``__tangent__(x)``."""
    if isinstance(expr, ir.Subscript) and expr.value in (ir.Name("d"), ir.Name("t")):
        return ir.Call(GRAD if expr.value == ir.Name("d") else TANGENT, (expr.index,))
    return ir.map_children(expr, _markers)


def _literal(node):
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        if node.args:
            raise ValueError("dict() with positional arguments")
        return {k.arg: _literal(k.value) for k in node.keywords}
    if isinstance(node, ast.Tuple):
        return tuple(_literal(e) for e in node.elts)
    if isinstance(node, ast.List):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values)}
    return ast.literal_eval(node)


def _names_in(node) -> set:
    found: set = set()

    class Collector(cst.CSTVisitor):
        def visit_Name(self, name):
            found.add(name.value)

    node.visit(Collector())
    return found


def helper_functions(rf: RuleFile) -> list:
    """(name, source, names of the other helpers it calls) for helpers.py."""
    functions = [s for s in rf.module.body if isinstance(s, cst.FunctionDef)]
    names = {f.name.value for f in functions}
    found = []
    for func in functions:
        used = _names_in(func)
        source = rf.module.code_for_node(func).strip() + "\n"
        found.append((func.name.value, source, frozenset(used & names - {func.name.value})))
    return found
