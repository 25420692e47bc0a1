"""Stage 1, parse: source text -> the function's libcst tree, with positions.

After this stage: the text is valid Python, the requested top-level function
exists, every node of it has a source position (1-based lines, shifted by
``line_offset`` when the text is an excerpt of a larger file), and we know
which local names refer to NumPy (``import numpy as np``, ``import numpy``,
``from numpy import exp``) so that later stages can resolve calls to
canonical ``np.*`` names.

Module-level constants the function reads (``EPS = 1e-8``, ``W0 =
np.array([[1.0, 2.0]])``: a single assignment at the top level whose value is
made of literals, NumPy and earlier such constants only) are copied to the
start of the function's body, after its docstring, so that every later stage
sees an ordinary local constant and the generated code defines it too.
"""

from __future__ import annotations

import os
import tokenize
from dataclasses import dataclass, field
from typing import Mapping

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from gradgen.desugar import desugar
from gradgen.errors import InvalidSourceError, Location, UsageError

# The modules whose functions are primitives, and their canonical prefixes.
# scipy.special's functions are primitives when the user's code imports it
# (``from scipy import special``, ``import scipy.special``); other scipy
# functions resolve to names no rule declares, refused as unknown primitives.
NUMPY_MODULES = {"numpy": "np", "numpy.linalg": "np.linalg", "math": "math",
                 "scipy": "scipy", "scipy.special": "scipy.special"}


@dataclass(frozen=True)
class ParsedFunction:
    filename: str
    lines: tuple  # the text's lines, for error carets
    line_offset: int
    node: cst.FunctionDef
    positions: Mapping
    aliases: Mapping  # local name -> canonical dotted prefix ("np", "np.exp")
    module_functions: frozenset  # names of the module's top-level functions
    functions: Mapping = None  # name -> cst.FunctionDef of the module's top-level functions
    # A node the desugaring made -> the user's node it stands for (desugar.py).
    origin_of: Mapping = field(default_factory=dict)

    def location(self, node: cst.CSTNode) -> Location:
        code_range: CodeRange = self.positions[self.source(node)]
        line = code_range.start.line
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return Location(self.filename, line + self.line_offset, code_range.start.column, text)

    def source(self, node: cst.CSTNode) -> cst.CSTNode:
        """The user's node ``node`` is, or comes from (desugared)."""
        return self.origin_of.get(node, node)

    def code(self, node: cst.CSTNode) -> str:
        """The user's text of ``node`` (of the statement a desugared one
        comes from)."""
        return cst.Module(body=[]).code_for_node(self.source(node))


def _numpy_aliases(module: cst.Module) -> dict:
    aliases: dict = {}
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    full = cst.Module(body=[]).code_for_node(alias.name)
                    if full in NUMPY_MODULES:
                        local = alias.asname.name.value if alias.asname else full.split(".")[0]
                        aliases[local] = (NUMPY_MODULES[full] if alias.asname
                                          else NUMPY_MODULES[full.split(".")[0]])
            elif isinstance(small, cst.ImportFrom) and small.module is not None:
                full = cst.Module(body=[]).code_for_node(small.module)
                if full in NUMPY_MODULES and not isinstance(small.names, cst.ImportStar):
                    for alias in small.names:
                        name = alias.name.value
                        local = alias.asname.name.value if alias.asname else name
                        aliases[local] = f"{NUMPY_MODULES[full]}.{name}"
    return aliases


def _imported_functions(module: cst.Module, filename: str, seen: set) -> str:
    """Source of the functions that ``module`` imports from the user's own
    modules (``from mylib import f``, resolved next to ``filename``)."""
    folder = os.path.dirname(os.path.abspath(filename))
    texts = []
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if not (isinstance(small, cst.ImportFrom) and small.module is not None
                    and not isinstance(small.names, cst.ImportStar)):
                continue
            dotted = cst.Module(body=[]).code_for_node(small.module)
            if dotted.split(".")[0] == "numpy":
                continue
            base = os.path.join(folder, *dotted.split("."))
            path = next((p for p in (base + ".py", os.path.join(base, "__init__.py"))
                         if os.path.isfile(p)), None)
            if path is None or path in seen:
                continue
            seen.add(path)
            wanted = {a.name.value for a in small.names if a.asname is None}
            try:  # (tokenize.open: the encoding Python would use, BOM and PEP 263)
                with tokenize.open(path) as handle:
                    other = cst.parse_module(handle.read())
            except (OSError, SyntaxError, UnicodeDecodeError, cst.ParserSyntaxError):
                continue
            imports = [cst.Module(body=[]).code_for_node(s) for s in other.body
                       if isinstance(s, cst.SimpleStatementLine)
                       and isinstance(s.body[0], (cst.Import, cst.ImportFrom))]
            for node in other.body:
                if isinstance(node, cst.FunctionDef) and node.name.value in wanted:
                    texts.append(other.code_for_node(node))
            texts += [t for t in imports if "numpy" in t]
            texts.append(_imported_functions(other, path, seen))
    return "\n".join(t for t in texts if t)


def parse_function(
    text: str, function: str, filename: str = "<string>", line_offset: int = 0,
    path: str | None = None,
) -> ParsedFunction:
    """Parse ``text`` and return the top-level function named ``function``.

    Functions the text imports from the user's own modules next to
    the file (``path``, else ``filename``) are appended to it, so that calls
    to them can be inlined."""
    path = path or filename
    if os.path.isfile(path):
        try:
            extra = _imported_functions(cst.parse_module(text), path, set())
        except cst.ParserSyntaxError:
            extra = ""  # reported below, with its location
        if extra:
            text = text.rstrip("\n") + "\n\n\n" + extra + "\n"
    lines = tuple(text.splitlines())
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError as exc:
        line = exc.raw_line
        source_line = lines[line - 1] if 0 < line <= len(lines) else ""
        raise InvalidSourceError(
            f"invalid Python syntax: {exc.message}",
            Location(filename, line + line_offset, exc.raw_column, source_line),
            hint="gradgen reads the file as Python source; fix the syntax error first",
        ) from None
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    functions = {
        stmt.name.value: stmt for stmt in module.body if isinstance(stmt, cst.FunctionDef)
    }
    if function not in functions:
        available = ", ".join(sorted(functions)) or "none"
        raise UsageError(
            f"no top-level function named {function!r} in {filename}",
            hint=f"functions defined there: {available}",
        )
    aliases = _numpy_aliases(module)
    constants = module_constants(module, aliases)
    originals = functions
    functions = {name: with_constants(node, constants) for name, node in functions.items()}
    made = {}
    for name, node in functions.items():  # with_constants made the def and its block
        if node is not originals[name]:
            made[node], made[node.body] = originals[name], originals[name].body

    def locate(node) -> Location:
        line = positions[node].start.line
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        return Location(filename, line + line_offset, positions[node].start.column, text)

    functions, origin_of = desugar(functions, positions, locate, made)
    return ParsedFunction(
        filename=filename,
        lines=lines,
        line_offset=line_offset,
        node=functions[function],
        positions=positions,
        aliases=aliases,
        module_functions=frozenset(functions),
        functions=functions,
        origin_of=origin_of,
    )


def dotted_name(node: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted_name(node.value)
        return None if base is None else f"{base}.{node.attr.value}"
    return None


def resolve_numpy(dotted: str | None, aliases: Mapping) -> str | None:
    """The canonical ``np.*`` name of a dotted reference to NumPy, else None."""
    if dotted is None:
        return None
    head, _, rest = dotted.partition(".")
    if head not in aliases:
        return None
    return aliases[head] + (f".{rest}" if rest else "")


# ----------------------------------------------------------- module constants


def module_constants(module: cst.Module, aliases: Mapping) -> dict:
    """name -> its top-level ``NAME = value`` statement, for each name the
    module binds exactly once, by such an assignment, to a constant value."""
    bound: dict = {}
    for stmt in module.body:
        for name in _top_level_bindings(stmt):
            bound[name] = bound.get(name, 0) + 1
    constants: dict = {}
    for stmt in module.body:
        if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
                and isinstance(stmt.body[0], cst.Assign)):
            continue
        assign = stmt.body[0]
        if len(assign.targets) != 1 or not isinstance(assign.targets[0].target, cst.Name):
            continue
        name = assign.targets[0].target.value
        if bound.get(name) == 1 and name not in aliases and _constant(assign.value, aliases,
                                                                       constants):
            constants[name] = stmt
    return constants


def _top_level_bindings(stmt) -> list:
    if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
        return [stmt.name.value]
    if not isinstance(stmt, cst.SimpleStatementLine):
        return [n.value for n in _names_in(stmt)]  # if/for/with at the top level
    found = []
    for small in stmt.body:
        if isinstance(small, cst.Assign):
            for target in small.targets:
                found += [n.value for n in _names_in(target.target)]
        elif isinstance(small, (cst.AugAssign, cst.AnnAssign)):
            found += [n.value for n in _names_in(small.target)]
        elif isinstance(small, (cst.Import, cst.ImportFrom)) and not isinstance(
                small.names, cst.ImportStar):
            for alias in small.names:
                local = alias.asname.name if alias.asname else alias.name
                found.append(cst.Module(body=[]).code_for_node(local).split(".")[0])
    return found


def _names_in(node) -> list:
    found: list = []

    class Names(cst.CSTVisitor):
        def visit_Name(self, n: cst.Name) -> None:
            found.append(n)

    node.visit(Names())
    return found


_LITERALS = (cst.Integer, cst.Float, cst.SimpleString)


def _constant(node, aliases: Mapping, constants: Mapping) -> bool:
    """Literals, NumPy names and calls, and earlier constants, combined by
    operators, tuples and lists: a value known before the function runs."""
    if isinstance(node, _LITERALS):
        return True
    if isinstance(node, cst.Name):
        return node.value in constants or node.value in ("True", "False", "None")
    if isinstance(node, cst.Attribute):
        return resolve_numpy(dotted_name(node), aliases) is not None
    if isinstance(node, cst.UnaryOperation):
        return _constant(node.expression, aliases, constants)
    if isinstance(node, cst.BinaryOperation):
        return _constant(node.left, aliases, constants) and _constant(node.right, aliases,
                                                                      constants)
    if isinstance(node, (cst.Tuple, cst.List)):
        return all(isinstance(e, cst.Element) and _constant(e.value, aliases, constants)
                   for e in node.elements)
    if isinstance(node, cst.Call):
        return (resolve_numpy(dotted_name(node.func), aliases) is not None
                and all(a.star == "" and _constant(a.value, aliases, constants)
                        for a in node.args))
    return False


def _local_names(fn: cst.FunctionDef) -> set:
    """Names the function binds (so they are its locals, as Python decides)."""
    found = {p.name.value for p in (*fn.params.posonly_params, *fn.params.params,
                                    *fn.params.kwonly_params)}

    class Bindings(cst.CSTVisitor):
        def visit_AssignTarget(self, n: cst.AssignTarget) -> None:
            found.update(x.value for x in _names_in(n.target))

        def visit_AugAssign(self, n: cst.AugAssign) -> None:
            found.update(x.value for x in _names_in(n.target))

        def visit_AnnAssign(self, n: cst.AnnAssign) -> None:
            found.update(x.value for x in _names_in(n.target))

        def visit_For(self, n: cst.For) -> None:
            found.update(x.value for x in _names_in(n.target))

        def visit_CompFor(self, n: cst.CompFor) -> None:
            found.update(x.value for x in _names_in(n.target))

        def visit_FunctionDef(self, n: cst.FunctionDef) -> None:
            if n is not fn:
                found.add(n.name.value)

    fn.body.visit(Bindings())
    return found


def with_constants(fn: cst.FunctionDef, constants: Mapping) -> cst.FunctionDef:
    """``fn`` with the module constants it reads (and those they read) defined
    at the start of its body, after its docstring, in module order."""
    if not constants:
        return fn
    local = _local_names(fn)
    wanted = {n.value for n in _names_in(fn.body)} - local
    needed: set = set()
    for name in reversed(list(constants)):  # later constants may read earlier ones
        if name in wanted or name in needed:
            needed.add(name)
            needed.update(n.value for n in _names_in(constants[name].body[0].value)
                          if n.value in constants)
    needed -= local
    if not needed:
        return fn
    body = list(fn.body.body)
    first = body[0] if body else None
    docstring = (isinstance(first, cst.SimpleStatementLine) and isinstance(first.body[0], cst.Expr)
                 and isinstance(first.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))
    at = 1 if docstring else 0
    body[at:at] = [stmt for name, stmt in constants.items() if name in needed]
    return fn.with_changes(body=fn.body.with_changes(body=body))
