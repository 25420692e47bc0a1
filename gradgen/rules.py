"""The registry: everything gradgen knows about each primitive, from templates/.

The rule files are read as source text, never imported or executed
(:mod:`gradgen.rulefile`).  Each primitive has one :class:`Entry`: its
reverse rule (written out, or built by a family constructor), its forward
rule (a linearity declaration, the partials of a family, an explicit
``@tangent`` rule, or else its reverse rule transposed), its shape family,
its method and attribute aliases, which arguments must be literals, whether
its result may be a view, and the signature its systematic tests are
generated from.  ``nondifferentiable(...)`` entries are primitives reviewed
to carry no gradient (piecewise constant, integer- or boolean-valued).

Every ``*.py`` file of templates/ other than ``contract.py`` and
``helpers.py`` is a rule file; ``helpers.py`` holds the run-time helpers
rules may call, copied into generated modules that still call them.  Users
add rule files (``load_registry(extra=[path])``, and the doors' ``rules=``
options): a later file overrides an entry of an earlier one, while two
bundled files may not declare the same primitive.

The rest of gradgen asks the registry, never a list of NumPy names of its own.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from gradgen import ir
from gradgen.errors import TemplateError
from gradgen.rulefile import (  # noqa: F401  (re-exported: the rule body types)
    GRAD,
    TANGENT,
    Declaration,
    Rule,
    RuleFile,
    TAssign,
    TGrad,
    TIf,
    TUnsupported,
    helper_functions,
)
from gradgen.shapes import static_value

SUPPORT_FILES = ("contract.py", "helpers.py", "__init__.py")
FAMILY_SHAPES = {"elementwise": "elementwise", "reduction": "reduction"}


@dataclass(frozen=True)
class Linearity:
    """``linear(p, args=(...))`` / ``multilinear(p, args=(...))``: the tangent of
    ``p`` is ``p`` itself applied to the tangents of ``args`` (parameter names
    of ``p``'s rule): jointly (``linear``: one application, an inactive
    argument replaced by 0) or one argument at a time, the others left as they
    are (``multilinear``: one term per active argument)."""

    kind: str  # "linear" or "multilinear"
    args: tuple
    where: str


@dataclass(frozen=True)
class Helper:
    name: str
    source: str
    uses: frozenset  # other helpers it calls


@dataclass(frozen=True)
class Entry:
    """One primitive, as templates/ declares it."""

    primitive: str
    rule: Rule | None  # the reverse rule; None: reviewed non-differentiable
    family: str  # adjoint, elementwise, reduction, nondifferentiable
    where: str
    shape: str | None = None  # shape family, or the name of a shape function
    partials: tuple = ()  # families: (param, partial), for the forward rule
    linearity: Linearity | None = None
    tangent: Rule | None = None  # an explicit @tangent rule
    methods: tuple = ()
    method_varargs: str | None = None  # x.reshape(2, 3): extra arguments packed into this one
    attribute: str | None = None
    static: tuple = ()  # parameters that must be literals
    view: bool = False
    results: int = 1
    test: Mapping | None = None
    note: str = ""

    @property
    def differentiable(self) -> bool:
        return self.rule is not None


@dataclass(frozen=True)
class Registry:
    entries: Mapping  # primitive -> Entry
    helpers: Mapping  # in definition order
    files: tuple = ()  # the rule files read, for cache keys and messages

    # -- what the stages ask
    def entry(self, primitive: str) -> Entry | None:
        return self.entries.get(primitive)

    def rule(self, primitive: str) -> Rule | None:
        entry = self.entries.get(primitive)
        return None if entry is None else entry.rule

    def knows(self, primitive: str) -> bool:
        return primitive in self.entries

    @functools.cached_property
    def rules(self) -> Mapping:
        return MappingProxyType({p: e.rule for p, e in self.entries.items()
                                 if e.rule is not None})

    @functools.cached_property
    def nondifferentiable(self) -> frozenset:
        return frozenset(p for p, e in self.entries.items() if e.rule is None)

    @functools.cached_property
    def tangents(self) -> Mapping:
        """primitive -> Linearity, for the primitives forward mode applies to tangents."""
        return MappingProxyType({p: e.linearity for p, e in self.entries.items()
                                 if e.linearity is not None})

    @property
    def primitives(self) -> frozenset:
        """Every name the registry treats as a primitive."""
        return frozenset(self.entries)

    @functools.cached_property
    def methods(self) -> Mapping:
        """method name -> (primitive, parameter its extra arguments are packed into)."""
        found = {}
        for primitive, entry in sorted(self.entries.items()):
            for method in entry.methods:
                found.setdefault(method, (primitive, entry.method_varargs))
        return MappingProxyType(found)

    @functools.cached_property
    def attributes(self) -> Mapping:
        """attribute name -> primitive (``x.T`` -> ``np.transpose``)."""
        return MappingProxyType({e.attribute: p for p, e in sorted(self.entries.items())
                                 if e.attribute})

    @functools.cached_property
    def static_calls(self) -> frozenset:
        """Calls whose value is known before any array is computed (shapes, sizes)."""
        return frozenset(p for p, e in self.entries.items()
                         if e.shape in ("static", "shape-tuple"))

    def shape_family(self, primitive: str) -> str | None:
        entry = self.entries.get(primitive)
        return None if entry is None else entry.shape

    def placeholder_safe(self, rule: Rule) -> bool:
        """Whether the rule may take ``d[result]`` as the scalar placeholder
        0.0 (a zero gradient not yet of its shape): every use of ``d[result]``
        is elementwise, or a helper that broadcasts it."""
        return _placeholder_safe(rule)

    def returns_view(self, primitive: str) -> bool:
        """Whether the primitive's result may share memory with its first argument."""
        entry = self.entries.get(primitive)
        return entry is not None and entry.view


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
    if isinstance(rule.result, tuple):
        for k, name in enumerate(rule.result):
            env[name] = ir.Subscript(result, ir.Const(k))
    else:
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
        if isinstance(expr, ir.Compare):
            left, right = static_value(expr.left), static_value(expr.right)
            return _compare(expr.op, left, right)
        return bool(static_value(expr))
    except (ValueError, KeyError, TypeError):
        fail("this argument must be a literal (a number, None, or a tuple of them)")


def _compare(op: str, left, right) -> bool:
    if op in ("is", "=="):
        return left is right or left == right
    if op in ("is not", "!="):
        return not (left is right or left == right)
    return {"<": left < right, "<=": left <= right, ">": left > right,
            ">=": left >= right}[op]


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


def templates_dir() -> Path:
    """The folder of rule files: the installed ``gradgen.templates`` package,
    or ``templates/`` beside the source tree."""
    spec = importlib.util.find_spec("gradgen.templates")
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(__file__).resolve().parent.parent / "templates"


def bundled_rule_files() -> list:
    folder = templates_dir()
    return sorted(p for p in folder.glob("*.py") if p.name not in SUPPORT_FILES)


# ------------------------------------------------------------------ building


class _Builder:
    """Entries from the declarations of rule files, in order."""

    def __init__(self):
        self.entries: dict = {}
        self.origin: dict = {}  # primitive -> (file, bundled)
        self.pending: list = []  # linear / tangent declarations: after every rule

    def add(self, rf: RuleFile, declarations: list, bundled: bool) -> None:
        for declaration in declarations:
            if declaration.kind in ("linear", "multilinear", "tangent"):
                self.pending.append((rf, declaration))
                continue
            for primitive in declaration.primitives:
                self.check_new(rf, declaration, primitive, bundled)
                self.entries[primitive] = self.entry(rf, declaration, primitive)
                self.origin[primitive] = (rf.path, bundled)

    def check_new(self, rf, declaration, primitive: str, bundled: bool) -> None:
        previous = self.origin.get(primitive)
        if previous is not None and bundled and previous[1]:
            raise rf.error(declaration.node, f"{primitive} is declared twice in templates/ "
                                             f"(also in {previous[0].name})")

    def entry(self, rf: RuleFile, declaration: Declaration, primitive: str) -> Entry:
        facts = dict(declaration.facts)
        rule = declaration.rule if declaration.kind != "nondifferentiable" else None
        shape = facts.get("shape", FAMILY_SHAPES.get(declaration.kind))
        static = tuple(facts.get("static", ()))
        if declaration.kind == "reduction":
            static = static or tuple(p for p in ("axis", "keepdims", "ddof")
                                     if rule is not None and p in rule.params)
        entry = Entry(primitive, rule, declaration.kind, declaration.where, shape,
                      declaration.partials, None, None, tuple(facts.get("methods", ())),
                      facts.get("method_varargs"), facts.get("attribute"), static,
                      bool(facts.get("view", False)), int(facts.get("results", 1)),
                      _frozen(facts.get("test")), str(facts.get("note", "")))
        for kind in ("linear", "multilinear"):
            if kind in facts:
                entry = self.with_linearity(rf, declaration.node, entry, kind, facts[kind])
        return entry

    def with_linearity(self, rf, node, entry: Entry, kind: str, args) -> Entry:
        args = (args,) if isinstance(args, str) else tuple(args)
        rule = entry.rule
        if rule is None:
            raise rf.error(node, f"{entry.primitive} has no @adjoint rule: declare its "
                                 "reverse rule first (forward mode reads its parameters)")
        unknown = [a for a in args if a not in rule.params]
        if unknown:
            raise rf.error(node, f"{entry.primitive} has no parameter {unknown[0]!r} "
                                 f"(its rule {rule.name} takes {', '.join(rule.params)})")
        return _replace(entry, linearity=Linearity(kind, args, rf.where(node)))

    def finish(self) -> dict:
        for rf, declaration in self.pending:
            for primitive in declaration.primitives:
                entry = self.entries.get(primitive)
                if declaration.kind == "tangent":
                    if entry is None or entry.rule is None:
                        raise rf.error(declaration.node, f"{primitive} has no @adjoint rule: "
                                                         "declare its reverse rule first")
                    self.entries[primitive] = _replace(entry, tangent=declaration.rule)
                    continue
                if entry is None:
                    raise rf.error(declaration.node, f"{primitive} has no @adjoint rule: "
                                                     "declare its reverse rule first (forward "
                                                     "mode reads its parameters)")
                self.entries[primitive] = self.with_linearity(rf, declaration.node, entry,
                                                              declaration.kind, declaration.args)
        return self.entries


def _replace(entry: Entry, **changes) -> Entry:
    from dataclasses import replace

    return replace(entry, **changes)


def _frozen(value):
    if isinstance(value, dict):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def load_registry(extra: tuple = ()) -> Registry:
    """The registry of the bundled rules, plus rule files ``extra`` (paths).

    Kept per process, keyed on the extra files' size and modification time
    as well as their paths, so that a rule file edited in a running session
    (a notebook) is read again."""
    return _load_registry(tuple(extra), tuple(_stamp(name) for name in extra))


def _stamp(name) -> tuple:
    try:
        info = os.stat(name)
    except OSError:
        return ()
    return (info.st_mtime_ns, info.st_size, info.st_ino)


@functools.lru_cache(maxsize=16)
def _load_registry(extra: tuple, stamps: tuple) -> Registry:
    builder = _Builder()
    files = []
    for path in bundled_rule_files():
        rf = RuleFile(path)
        builder.add(rf, rf.declarations(), bundled=True)
        files.append(path)
    for name in extra:
        path = Path(name)
        if not path.is_file():
            raise TemplateError(f"no rule file {name}", hint="give the path of a .py file "
                                "written in the contract of templates/README.md")
        rf = RuleFile(path)
        builder.add(rf, rf.declarations(), bundled=False)
        files.append(path)
    entries = builder.finish()
    helpers_file = RuleFile(templates_dir() / "helpers.py")
    helpers = {name: Helper(name, source, uses)
               for name, source, uses in helper_functions(helpers_file)}
    return Registry(MappingProxyType(dict(sorted(entries.items()))),
                    MappingProxyType(helpers), tuple(str(f) for f in files))

