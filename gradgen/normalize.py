"""Stage 3, normalize: fenced libcst function -> IR in A-normal form.

After this stage:

* every statement computes one primitive from atoms (names, constants and
  *static* expressions such as ``X.shape[0]`` or ``(0, 2)``), copies an atom,
  writes an element (``SetItem``), or is a block: ``If``, ``For`` over a
  ``range`` (array and ``enumerate`` loops become index loops), ``While``;
* a name assigned once at top level keeps its name; a name assigned again at
  top level gets a version ``name@2`` (``@`` cannot occur in Python, so a
  version that survived by mistake would fail to compile; ``rename.py`` turns
  versions back into plain names where lifetimes allow); a name assigned in a
  block, written into, or bound by a conditional expression is *mutable*:
  one name throughout (listed in ``Function.mutable``), and a statement never
  reads the mutable name it assigns (``a = a * a`` goes through a temporary);
* ``continue`` is gone (the rest of the body moved into the branches that do
  not jump); ``break`` stays, directly in an ``If`` branch or the loop body;
* calls to the module's own functions, to nested helper ``def``s and to
  functions imported from the user's modules are inlined, their locals
  renamed apart;
* temporaries have names derived from what they compute (``X_times_Y``,
  ``sum_XX``, ``exp_neg_z``), never from a global counter, so inserting a
  statement does not rename the temporaries of other statements;
* each statement carries the source statement it comes from (``Origin``), for
  the comments that head the backward blocks.
"""

from __future__ import annotations

import re

import libcst as cst

from gradgen import ir
from gradgen.errors import Location, UnsupportedSyntaxError
from gradgen.lowering import OPERATOR_PRIMITIVES, lower_expr
from gradgen.parse import ParsedFunction

_AUG = {cst.AddAssign: "+", cst.SubtractAssign: "-", cst.MultiplyAssign: "*",
        cst.DivideAssign: "/", cst.PowerAssign: "**", cst.MatrixMultiplyAssign: "@"}
_OP_WORDS = {"+": "plus", "-": "minus", "*": "times", "/": "over", "**": "pow", "@": "matmul"}
_COMPARE_WORDS = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne"}
_NUMBER_WORDS = {0: "zero", 1: "one", 2: "two", 3: "three", 0.5: "half"}
MAX_TEMP_NAME = 28
RESULT_NAME = "result"


def version_base(name: str) -> str:
    """``x`` for ``x@3``; names without a version are their own base."""
    return name.split("@", 1)[0]


BUILTIN_STATIC = frozenset({"len"})  # a builtin, not a primitive: the length of a sequence
# Builtins whose value is static when their arguments are (``min(len(X), len(Y))``).
STATIC_OF_STATIC = frozenset({"min", "max", "int", "float", "round", "abs", "bool"})
# Builtin types, read as values by ``isinstance(x, float)``.
BUILTIN_TYPES = frozenset({"int", "float", "bool", "complex", "str", "tuple", "list", "dict"})


def is_static(expr, static_names: frozenset | set = frozenset(),
              static_calls: frozenset = BUILTIN_STATIC) -> bool:
    """True for values known before any array is computed: shapes, sizes, literals.

    ``static_calls``: the calls that read only shapes (the registry's, plus ``len``)."""
    if isinstance(expr, ir.Const):
        return True
    if isinstance(expr, ir.Name):
        return expr.id in static_names or expr.id.startswith("np.") or expr.id in BUILTIN_TYPES
    if isinstance(expr, ir.Attribute):
        return expr.attr in ("shape", "ndim", "size", "dtype")
    if isinstance(expr, ir.Call) and expr.func in static_calls:
        return True
    if isinstance(expr, ir.Call) and expr.func in STATIC_OF_STATIC and not expr.kwargs:
        return all(is_static(a, static_names, static_calls) for a in expr.args)
    if isinstance(expr, (ir.Tuple, ir.Slice, ir.BinOp, ir.UnaryOp, ir.Subscript)):
        return all(is_static(c, static_names, static_calls) for c in ir.children(expr))
    return False


def describe(expr) -> str | None:
    """A readable name for the value ``expr`` computes, or None."""
    if isinstance(expr, ir.Name):
        return version_base(expr.id).replace(".", "_")
    if isinstance(expr, ir.Const):
        return _NUMBER_WORDS.get(expr.value) if type(expr.value) in (int, float) else None
    if isinstance(expr, ir.BinOp) and expr.op in _OP_WORDS:
        left, right = describe(expr.left), describe(expr.right)
        return left and right and f"{left}_{_OP_WORDS[expr.op]}_{right}"
    if isinstance(expr, ir.Compare) and expr.op in _COMPARE_WORDS:
        left, right = describe(expr.left), describe(expr.right)
        return left and right and f"{left}_{_COMPARE_WORDS[expr.op]}_{right}"
    if isinstance(expr, ir.UnaryOp) and expr.op == "-":
        inner = describe(expr.operand)
        return inner and f"neg_{inner}"
    if isinstance(expr, ir.Call) and expr.args:
        inner = describe(expr.args[0])
        short = expr.func.rsplit(".", 1)[-1]
        return inner and f"{short}_{inner}"
    if isinstance(expr, ir.Subscript):
        inner = describe(expr.value)
        return inner and f"{inner}_part"
    return None


def _short(expr) -> str:
    if isinstance(expr, ir.BinOp):
        return _OP_WORDS.get(expr.op, "op")
    if isinstance(expr, ir.Call):
        return expr.func.rsplit(".", 1)[-1]
    if isinstance(expr, ir.UnaryOp):
        return "neg"
    if isinstance(expr, ir.Subscript):
        return "part"
    return "value"


class Namer:
    """Hands out unique names: readable bases, numeric suffixes only on clashes."""

    def __init__(self, taken):
        self.taken = set(taken)

    def fresh(self, base: str) -> str:
        base = re.sub(r"[^\w@]", "_", base) or "tmp"
        if base[0].isdigit():
            base = f"v_{base}"
        name, k = base, 2
        while name in self.taken:
            name, k = f"{base}_{k}", k + 1
        self.taken.add(name)
        return name


def _shape_annotation(param: cst.Param) -> str | None:
    if param.annotation is None:
        return None
    node = param.annotation.annotation
    if isinstance(node, cst.SimpleString):
        return node.evaluated_value
    if isinstance(node, cst.Subscript):  # jaxtyping: Float[np.ndarray, "n d"]
        last = node.slice[-1].slice
        if isinstance(last, cst.Index) and isinstance(last.value, cst.SimpleString):
            return last.value.evaluated_value
    return None


def _all_names(fn: cst.FunctionDef) -> set:
    names = set()

    class Collector(cst.CSTVisitor):
        def visit_Name(self, node):
            names.add(node.value)

    fn.visit(Collector())
    return names


def _assigned_in_blocks(fn: cst.FunctionDef) -> set:
    """Names assigned inside if/for/while, written into, or bound by a
    conditional expression: they keep one name instead of SSA versions."""
    found: set = set()

    class Visitor(cst.CSTVisitor):
        def __init__(self):
            self.depth = 0

        def visit_If(self, node):
            self.depth += 1

        def leave_If(self, node):
            self.depth -= 1

        def visit_For(self, node):
            self.depth += 1
            for name in _names_of_target(node.target):
                found.add(name)

        def leave_For(self, node):
            self.depth -= 1

        def visit_While(self, node):
            self.depth += 1

        def leave_While(self, node):
            self.depth -= 1

        def visit_Assign(self, node):
            for target in node.targets:
                if isinstance(target.target, cst.Subscript):
                    found.update(_names_of_target(target.target.value))
                elif self.depth or isinstance(node.value, cst.IfExp):
                    found.update(_names_of_target(target.target))

        def visit_Call(self, node):
            if isinstance(node.func, cst.Attribute) and node.func.attr.value == "append":
                found.update(_names_of_target(node.func.value))

        def visit_AugAssign(self, node):
            if isinstance(node.target, cst.Subscript):
                found.update(_names_of_target(node.target.value))
            elif self.depth:
                found.update(_names_of_target(node.target))

    fn.body.visit(Visitor())
    return found


# NumPy functions that take a sequence of arrays as such (of any shapes).
SEQUENCE_FUNCTIONS = frozenset({
    "np.concatenate", "np.stack", "np.hstack", "np.vstack", "np.dstack", "np.column_stack",
    "np.row_stack", "np.block", "np.array", "np.asarray", "np.asanyarray",
    "np.linalg.multi_dot", "np.broadcast_arrays", "np.einsum",
})  # fmt: skip


def _is_sequence_literal(expr) -> bool:
    return isinstance(expr, ir.Tuple) or (isinstance(expr, ir.Call)
                                          and expr.func == ir.LIST_LITERAL)


def _assignment_targets(fn: cst.FunctionDef) -> set:
    """Names assigned by ``=`` or an augmented assignment anywhere in ``fn``."""
    found: set = set()

    class Visitor(cst.CSTVisitor):
        def visit_AssignTarget(self, node):
            found.update(_names_of_target(node.target))

        def visit_AugAssign(self, node):
            found.update(_names_of_target(node.target))

    fn.body.visit(Visitor())
    return found


def _names_of_target(node) -> list:
    if isinstance(node, cst.Name):
        return [node.value]
    if isinstance(node, cst.Tuple):
        return [n for e in node.elements for n in _names_of_target(e.value)]
    return []


class _Scope:
    """Names of one function body being normalized: the function itself, or a
    callee inlined into it (whose locals get fresh names in the caller)."""

    def __init__(self, mutable: set, prefix_names: bool, namer: Namer):
        self.mutable = mutable
        self.current: dict = {}
        self.versions: dict = {}
        self.bases: dict = {}
        self.fresh_bases = prefix_names
        self.namer = namer

    def base(self, name: str) -> str:
        if name not in self.bases:
            self.bases[name] = self.namer.fresh(name) if self.fresh_bases else name
        return self.bases[name]


class _Normalizer:
    def __init__(self, parsed: ParsedFunction, registry, copy_views: bool = False):
        self.parsed = parsed
        # Functions of the module to inline: not those that are primitives
        # (a generated module's helpers, when gradgen differentiates its output).
        self.registry = registry
        self.copy_views = copy_views
        self.static_calls = registry.static_calls | BUILTIN_STATIC
        self.callees = frozenset(parsed.module_functions) - registry.primitives
        self.local_functions: dict = {}  # nested defs: name -> (node, defining scope)
        self.namer = Namer(_all_names(parsed.node) | {"np"})
        self.scope = _Scope(_assigned_in_blocks(parsed.node), False, self.namer)
        self.static: set = set()
        self.assigned = _assignment_targets(parsed.node)
        # Objects: names bound to a new object, and names bound to another's.
        self.fresh: set = set()
        self.alias_of: dict = {}
        self.temps: set = set()  # names of the temporaries of A-normal form
        self.tuple_items: dict = {}  # a name bound once to a tuple -> its items
        # Which names may hold the same object: a copy, a view, an item of a
        # list or tuple and the list itself are linked (union-find, never
        # undone); an in-place change is refused when another name is linked.
        self.links: dict = {}
        self.outer_scopes: list = []  # of the callers of an inlined callee
        self.loop_updates: list = []  # per enclosing loop: in-place changes to recheck
        self.mutable: set = set()  # final names that are assigned more than once
        self.blocks: list = [[]]
        self.origin: tuple = ()
        self.inlining: tuple = ()

    @property
    def body(self) -> list:
        return self.blocks[-1]

    @property
    def current(self) -> dict:
        return self.scope.current

    # -- names
    def is_mutable(self, name: str) -> bool:
        """One name throughout (no SSA versions): assigned in a block of the
        function, or defined inside a block at all (an inlined helper's local
        in a loop of the caller)."""
        return name in self.scope.mutable or len(self.blocks) > 1

    def define(self, name: str) -> str:
        scope = self.scope
        base = scope.base(name)
        if self.is_mutable(name):
            self.mutable.add(base)
            scope.current[name] = base
            return base
        count = scope.versions.get(name, 0) + 1
        scope.versions[name] = count
        ssa = base if count == 1 else f"{base}@{count}"
        scope.current[name] = ssa
        return ssa

    def rename(self, expr):
        return ir.substitute(expr, {k: ir.Name(v) for k, v in self.current.items()})

    # -- A-normal form
    def emit(self, target: str, value) -> None:
        self.body.append(ir.Assign(target, value, self.origin))
        source = self.alias_source(value)
        if source in self.temps and source in self.fresh:
            source = None  # a temporary's new object, now held by its one user
        if source is None:
            self.fresh.add(target)  # a new object (or an immutable number)
            self.alias_of.pop(target, None)
        else:
            self.fresh.discard(target)
            self.alias_of[target] = source
            self.link(target, source)
        if isinstance(value, ir.Tuple) and len(self.blocks) == 1 and (
                target not in self.mutable):
            self.tuple_items[target] = value.elts
        else:
            self.tuple_items.pop(target, None)
        if isinstance(value, ir.Tuple) or (isinstance(value, ir.Call)
                                            and value.func == ir.LIST_LITERAL):
            items = value.elts if isinstance(value, ir.Tuple) else value.args
            for item in items:
                if isinstance(item, ir.Name):
                    self.link(target, item.id)  # the container holds the item's object
        if len(self.blocks) > 1:
            self.mutable.add(target)  # recomputed on every trip or branch
        # A name is static (a shape, a size, a literal) only if it is assigned
        # once: a name assigned again may hold an array at another point.
        if is_static(value, self.static, self.static_calls) and target not in self.mutable:
            self.static.add(target)
        else:
            self.static.discard(target)

    def alias_source(self, value) -> str | None:
        """The name whose object ``value`` is, or may share memory with: a
        copy of a name, a view of one (``x[i]``, ``x.T``, ``np.reshape(x)``)."""
        if isinstance(value, ir.Name) and not value.id.startswith("np."):
            return value.id
        if isinstance(value, ir.Subscript) and isinstance(value.value, ir.Name):
            return value.value.id
        primitive = primitive_of(value)
        if primitive is not None and self.registry.returns_view(primitive):
            args, _ = primitive_args(value)
            if args and isinstance(args[0], ir.Name):
                return args[0].id
        return None

    # -- objects shared between names
    def root(self, name: str) -> str:
        while self.links.get(name, name) != name:
            name = self.links[name]
        return name

    def link(self, a: str, b: str) -> None:
        ra, rb = self.root(a), self.root(b)
        if ra != rb:
            self.links[ra] = rb

    def sharer(self, version: str, name: str) -> str | None:
        """Another name (of this body or of a caller an inlined callee was
        called from) that may hold the object of ``version``, which ``name``
        holds: what an in-place change of it would change too."""
        root = self.root(version)
        for scope in (*self.outer_scopes, self.scope):
            for other, held in scope.current.items():
                if (scope is not self.scope or other != name) and self.root(held) == root:
                    return other
        return None

    def check_in_place(self, version: str, name: str, what: str, hint: str) -> None:
        """Refuse an in-place change of ``version`` (held by ``name``) that
        another name would see; inside loops, checked again at the loop's end,
        when what the body binds after the change is known."""
        other = self.sharer(version, name)
        if other is not None:
            self.refuse(f"{what} changes {name} in place, and {version_base(other)} may "
                        "hold the same array (itself, a view of it, or a list or tuple that "
                        "holds it), which Python would change too", hint)
        for pending in self.loop_updates:
            pending.append((version, name, what, hint, self.origin, self.scope))

    def recheck_loop(self, pending: list) -> None:
        for version, name, what, hint, origin, scope in pending:
            if scope is not self.scope:
                continue
            other = self.sharer(version, name)
            if other is not None:
                self.origin = origin
                self.refuse(f"{what} changes {name} in place, and {version_base(other)} "
                            "may hold the same array on a later trip of the loop, which "
                            "Python would change too", hint)

    def refuse(self, message: str, hint: str = ""):
        origin = self.origin[0] if self.origin else None
        location = None if origin is None else Location(
            self.parsed.filename, origin.line, origin.col, origin.text)
        raise UnsupportedSyntaxError(message, location, hint)

    def atom(self, expr, hint: str):
        if isinstance(expr, (ir.Name, ir.Const)) or is_static(expr, self.static, self.static_calls):
            return expr
        if isinstance(expr, ir.Call) and expr.func in self.callees:
            return self.inline(expr, hint)
        value = self.primitive(expr, hint)
        label = describe(value)
        if label is None or len(label) > MAX_TEMP_NAME:
            label = f"{hint}_{_short(value)}"
        name = self.namer.fresh(label)
        self.temps.add(name)
        self.emit(name, value)
        return ir.Name(name)

    def primitive(self, expr, hint: str):
        """``expr`` with every operand reduced to an atom."""

        def atom(e):
            return self.atom(e, hint)

        if isinstance(expr, ir.Subscript):
            index = expr.index
            parts = index.elts if isinstance(index, ir.Tuple) else (index,)
            parts = tuple(p if is_static(p, self.static, self.static_calls) else atom(p) for p in parts)
            new_index = ir.Tuple(parts) if isinstance(index, ir.Tuple) else parts[0]
            return ir.Subscript(atom(expr.value), new_index)
        if isinstance(expr, ir.Attribute):
            return expr
        if (isinstance(expr, ir.Call) and expr.func.startswith("np.")
                and expr.func not in SEQUENCE_FUNCTIONS):
            # A tuple or list of values given where NumPy expects an array is
            # that array: np.linalg.norm((x, y)) is np.linalg.norm(np.asarray((x, y))).
            expr = ir.map_children(expr, lambda e: ir.Call("np.asarray", (e,)) if (
                _is_sequence_literal(e) and not is_static(e, self.static, self.static_calls)) else e)
        return ir.map_children(expr, atom)

    def assign(self, name: str, expr) -> None:
        if isinstance(expr, ir.Call) and expr.func in self.callees:
            expr = self.inline(expr, name)
        if isinstance(expr, (ir.Name, ir.Const)) or is_static(expr, self.static, self.static_calls):
            value = expr
        else:
            value = self.primitive(expr, name)
        target = self.scope.base(name) if self.is_mutable(name) else None
        if target is not None and target in ir.names_in(value):
            # `a = a * a` in a loop: compute into a temporary first, so that no
            # statement reads the variable it overwrites.
            value = self.atom(value, name)
        self.emit(self.define(name), value)

    # -- calls to the module's own functions are inlined
    def inline(self, call: ir.Call, hint: str):
        name = call.func
        if name in self.inlining:
            raise AssertionError("recursion is refused by the fence")
        enclosing = None
        if name in self.local_functions:
            callee, enclosing = self.local_functions[name]
        else:
            callee = self.parsed.functions[name]
        params = [p.name.value for p in (*callee.params.posonly_params, *callee.params.params)]
        args = [self.atom(a, hint) for a in call.args]
        bound = dict(zip(params, args))
        for key, value in call.kwargs:
            bound[key] = self.atom(value, hint)
        for p in callee.params.params:
            if p.name.value not in bound and p.default is not None:
                bound[p.name.value] = lower_expr(p.default, self.parsed.aliases, self.registry)
        outer_scope, outer_origin = self.scope, self.origin
        self.outer_scopes.append(outer_scope)
        self.scope = _Scope(_assigned_in_blocks(callee), True, self.namer)
        if enclosing is not None:  # a closure reads its free names when called
            self.scope.current.update(enclosing.current)
        self.inlining += (name,)
        for param in params:
            value = bound[param]
            if isinstance(value, ir.Name) and param not in self.scope.mutable:
                self.scope.current[param] = value.id
            else:
                self.emit(self.define(param), value)
        result = None
        for stmt in callee.body.body:
            result = self.block_statement(stmt, top=True) or result
        self.scope, self.origin = outer_scope, outer_origin
        self.outer_scopes.pop()
        self.inlining = self.inlining[:-1]
        return result

    # -- statements
    def set_origin(self, node) -> None:
        code = " ".join(self.parsed.code(node).split())
        if isinstance(self.parsed.source(node), (cst.If, cst.For, cst.While)):
            code = self.parsed.code(node).strip().splitlines()[0]
        location = self.parsed.location(node)
        self.origin = (ir.Origin(code, location.line, location.col),)

    def lower(self, node):
        return self.rename(lower_expr(node, self.parsed.aliases, self.registry))

    def block(self, statements) -> tuple:
        self.blocks.append([])
        for stmt in statements:
            self.block_statement(stmt)
        return tuple(self.blocks.pop())

    def block_statement(self, stmt, top=False):
        """Normalize one statement; returns the returned atom for `return`."""
        if isinstance(stmt, cst.FunctionDef):  # a nested helper: inlined where called
            self.local_functions[stmt.name.value] = (stmt, self.scope)
            self.callees = self.callees | {stmt.name.value}
            return None
        if isinstance(stmt, cst.If):
            return self.if_statement(stmt)
        if isinstance(stmt, cst.For):
            return self.for_statement(stmt)
        if isinstance(stmt, cst.While):
            return self.while_statement(stmt)
        result = None
        for small in stmt.body:
            if isinstance(small, cst.Pass) or (
                    isinstance(small, cst.Expr) and not isinstance(small.value, cst.Call)):
                continue  # pass, the docstring
            self.set_origin(small)
            result = self.simple_statement(small)
        return result

    def if_statement(self, node: cst.If):
        self.set_origin(node)
        test = self.atom(self.lower(node.test), "cond")
        origin = self.origin
        body = self.block(node.body.body)
        if isinstance(node.orelse, cst.If):
            orelse = self.block([node.orelse])
        elif node.orelse is not None:
            orelse = self.block(node.orelse.body.body)
        else:
            orelse = ()
        self.body.append(ir.If(test, body, orelse, origin))

    def for_statement(self, node: cst.For):
        self.set_origin(node)
        origin = self.origin
        iterable = self.lower(node.iter)
        target = node.target
        prefix = []
        if isinstance(iterable, ir.Call) and iterable.func == "range":
            args = [self.loop_operand(self.atom(a, "range"), "range") for a in iterable.args]
            start, stop, step = ((ir.Const(0), args[0], ir.Const(1)) if len(args) == 1
                                 else (args[0], args[1], args[2] if len(args) == 3 else ir.Const(1)))
            index_name = target.value
        else:
            pair = isinstance(iterable, ir.Call) and iterable.func == "enumerate"
            sequence = self.loop_operand(
                self.atom(iterable.args[0] if pair else iterable, "items"), "items")
            start, stop, step = ir.Const(0), ir.Call("len", (sequence,)), ir.Const(1)
            if pair:
                index_name, item = (e.value.value for e in target.elements)
            else:
                index_name, item = f"{target.value}_index", target.value
                self.scope.mutable.add(index_name)
            prefix = [(item, ir.Subscript(sequence, ir.Name(index_name)))]
        self.blocks.append([])
        loop_var = self.define(index_name)
        if index_name not in self.assigned:
            self.static.add(loop_var)  # an integer on every trip
        for item, value in prefix:
            self.origin = origin
            self.emit(self.define(item), self.rename(value))
        self.loop_updates.append([])
        for stmt in node.body.body:
            self.block_statement(stmt)
        self.recheck_loop(self.loop_updates.pop())
        body = _skip_rest(self.blocks.pop())
        self.body.append(ir.For(loop_var, start, stop, step, body, origin))

    def loop_operand(self, atom, hint: str):
        """Python evaluates a loop's iterable once, before the first trip: a
        name the loop (or anything) may rebind is read into a temporary first."""
        if isinstance(atom, ir.Name) and atom.id in self.rebindable():
            copy = self.namer.fresh(hint)
            self.emit(copy, atom)
            return ir.Name(copy)
        return atom

    def rebindable(self) -> set:
        return {self.scope.base(n) for n in self.scope.mutable} | self.mutable

    def while_statement(self, node: cst.While):
        self.set_origin(node)
        origin = self.origin
        self.blocks.append([])
        test = self.atom(self.lower(node.test), "cond")
        test_body = tuple(self.blocks.pop())
        self.loop_updates.append([])
        body = _skip_rest(self.block(node.body.body))
        self.recheck_loop(self.loop_updates.pop())
        self.body.append(ir.While(test_body, test, body, origin))

    def simple_statement(self, small):
        if isinstance(small, cst.Expr):  # items.append(value), checked by the fence
            target = self.current[small.value.func.value.value]
            value = self.atom(self.lower(small.value.args[0].value), f"{target}_item")
            if isinstance(value, ir.Name):
                self.link(target, value.id)  # the list holds the item's object
            self.body.append(ir.Append(target, value, self.origin))
            return None
        if isinstance(small, (cst.Break, cst.Continue)):
            self.body.append(_Jump(isinstance(small, cst.Break), self.origin))
            return None
        if isinstance(small, cst.Assign):
            target = small.targets[0].target
            if isinstance(small.value, cst.IfExp):
                self.conditional_expression(target.value, small.value)
            elif isinstance(target, cst.Tuple):
                names = [t.value.value for t in target.elements]
                values = self.unpacked(small.value, names)
                # Every value is read before any name is bound (`a, b = b, a`):
                # a value held by a name the assignment rebinds is copied first.
                overwritten = {self.current.get(n) for n in names if n in self.scope.mutable}
                for k, (name, value) in enumerate(zip(names, values)):
                    if isinstance(value, ir.Name) and value.id in overwritten:
                        copy = self.namer.fresh(f"{name}_new")
                        self.emit(copy, value)
                        values[k] = ir.Name(copy)
                for name, value in zip(names, values):
                    self.assign(name, value)
            elif isinstance(target, cst.Subscript):
                self.set_item(target, self.lower(small.value))
            else:
                self.assign(target.value, self.lower(small.value))
        elif isinstance(small, cst.AugAssign):
            op = _AUG[type(small.operator)]
            if isinstance(small.target, cst.Subscript):
                old = self.lower(small.target)
                self.set_item(small.target, ir.BinOp(op, old, self.lower(small.value)))
            else:
                name = small.target.value
                current = self.current[name]
                # In place on an array, `y += e` changes every name of the object.
                self.check_in_place(current, name, f"`{name} {op}= ...`",
                                    f"write `{name} = {name} {op} ...`, which makes a new value")
                self.assign(name, ir.BinOp(op, ir.Name(current), self.lower(small.value)))
        elif isinstance(small, cst.Return):
            value = self.lower(small.value)
            if self.inlining:
                return self.atom(value, f"{self.inlining[-1]}_result")
            if isinstance(value, ir.Tuple):  # several outputs, each a name
                names = []
                for k, element in enumerate(value.elts, 1):
                    names.append(self.output(element, f"{RESULT_NAME}_{k}"))
                value = ir.Tuple(tuple(names))
            else:
                value = self.output(value, RESULT_NAME)
            self.body.append(ir.Return(value, self.origin))
        return None

    def unpacked(self, node, names: list) -> list:
        """The atoms ``a, b = node`` binds to ``names``: the items of a tuple
        written out, or of one a name holds; else items of the value read by
        position (``n, d = X.shape`` is ``X.shape[0]``, ``X.shape[1]``)."""
        if isinstance(node, cst.Tuple):
            return [self.atom(self.lower(e.value), name)
                    for e, name in zip(node.elements, names)]
        value = self.lower(node)
        if isinstance(value, ir.Call) and value.func in self.callees:
            value = self.inline(value, "_".join(names))
        if not is_static(value, self.static, self.static_calls):
            value = self.atom(value, "_".join(names))
        items = self.tuple_items.get(value.id) if isinstance(value, ir.Name) else None
        if items is None:
            return [ir.Subscript(value, ir.Const(k)) for k in range(len(names))]
        if len(items) != len(names):
            self.refuse(f"{len(names)} names unpack a tuple of {len(items)} values",
                        "unpack into one name per value")
        return list(items)

    def output(self, expr, label: str):
        """A returned value as a name: its own, or a new one (``result``,
        ``result_2``... never one of the user's)."""
        if isinstance(expr, ir.Name):
            return expr
        name = self.namer.fresh(label)
        if isinstance(expr, ir.Call) and expr.func in self.callees:
            expr = self.inline(expr, name)
        if not (isinstance(expr, (ir.Name, ir.Const))
                or is_static(expr, self.static, self.static_calls)):
            expr = self.primitive(expr, name)
        self.emit(name, expr)
        return ir.Name(name)

    def set_item(self, target: cst.Subscript, value) -> None:
        subscript = self.lower(target)
        array = subscript.value
        if array.id not in self.fresh:
            shown = version_base(array.id)
            source = self.alias_of.get(array.id)
            what = (f"`{shown}` is {version_base(source)} (or a view of it)" if source
                    else f"`{shown}` is an argument of the function")
            self.refuse(f"this writes into an array it did not create: {what}, and the "
                        "write would change that array too",
                        f"write into a copy: `{shown} = {shown}.copy()` first, or build "
                        f"the array with np.zeros(...)")
        shown = version_base(array.id)
        self.check_in_place(array.id, next((n for n, v in self.current.items()
                                            if v == array.id), shown),
                            f"`{shown}[...] = ...`",
                            f"write into a copy: `{shown} = {shown}.copy()` first")
        index = self.primitive(subscript, array.id).index
        value = self.atom(value, f"{array.id}_item")
        self.body.append(ir.SetItem(array.id, index, value, self.origin))

    def conditional_expression(self, name: str, node: cst.IfExp) -> None:
        origin = self.origin
        test = self.atom(self.lower(node.test), "cond")
        branches = []
        for branch in (node.body, node.orelse):
            self.blocks.append([])
            self.origin = origin
            self.assign(name, self.lower(branch))
            branches.append(tuple(self.blocks.pop()))
        self.body.append(ir.If(test, branches[0], branches[1], origin))

    def run(self) -> ir.Function:
        fn = self.parsed.node
        params = []
        for p in (*fn.params.posonly_params, *fn.params.params, *fn.params.kwonly_params):
            default = None if p.default is None else lower_expr(p.default, self.parsed.aliases, self.registry)
            params.append(ir.Param(p.name.value, default, _shape_annotation(p),
                                   p in fn.params.kwonly_params))
            self.define(p.name.value)
        docstring = None
        statements = list(fn.body.body)
        first = statements[0] if statements else None
        if (isinstance(first, cst.SimpleStatementLine) and isinstance(first.body[0], cst.Expr)
                and isinstance(first.body[0].value, (cst.SimpleString, cst.ConcatenatedString))):
            docstring = first.body[0].value.evaluated_value
        for stmt in statements:
            self.block_statement(stmt)
        body = tuple(self.body)
        body = self.copy_views_of_written(body, later_only=not self.copy_views)
        return ir.Function(fn.name.value, tuple(params), body, docstring,
                           frozenset(self.mutable))

    def copy_views_of_written(self, body, later_only: bool) -> tuple:
        """A value read from an array that is written in place (a copy of its
        name, a view, an item appended or put in a tuple) is taken as a copy:
        then no value the backward pass reads shares memory with an array
        that changes, which restoring written arrays and callbacks rely on.
        With ``later_only``, only where the array may be written after the
        read (later in the body, or on a later trip of an enclosing loop): a
        read after the last write sees what the backward pass sees, since
        writes are undone in reverse order.  The reads that NumPy would see
        changed are refused by the checks above."""

        def writes(stmts) -> set:
            return {s.target for s in ir.flatten_stmts(tuple(stmts))
                    if isinstance(s, (ir.SetItem, ir.Append))}

        if not writes(body):
            return body

        def copied(stmt, value) -> list:
            view = self.namer.fresh(f"{version_base(stmt.target)}_view")
            return [ir.Assign(view, value, stmt.origins),
                    ir.Assign(stmt.target, ir.Call("np.copy", (ir.Name(view),)), stmt.origins)]

        def block(stmts, later: set) -> tuple:
            out = []
            everything = writes(stmts) | later
            for i, stmt in enumerate(stmts):
                written = everything if not later_only else writes(stmts[i + 1:]) | later
                if isinstance(stmt, ir.Assign) and stmt.target not in written and (
                        self.alias_source(stmt.value) in written) and (
                        not isinstance(stmt.value, ir.Name)):
                    out += copied(stmt, stmt.value)
                elif isinstance(stmt, ir.Assign) and stmt.target not in written and (
                        isinstance(stmt.value, ir.Name) and stmt.value.id in written):
                    out.append(ir.Assign(stmt.target, ir.Call("np.copy", (stmt.value,)),
                                         stmt.origins))
                elif isinstance(stmt, ir.Append) and isinstance(stmt.value, ir.Name) and (
                        stmt.value.id in written):
                    item = self.namer.fresh(f"{stmt.target}_item")
                    out += [ir.Assign(item, ir.Call("np.copy", (stmt.value,)), stmt.origins),
                            ir.Append(stmt.target, ir.Name(item), stmt.origins)]
                elif isinstance(stmt, (ir.For, ir.While)):
                    # a later trip runs the whole body again
                    inner = written | writes(stmt.body)
                    out.append(_map_block(stmt, lambda b, inner=inner: block(b, inner)))
                else:
                    out.append(_map_block(stmt, lambda b, w=written: block(b, w)))
            return tuple(out)

        return block(body, set())


def _map_block(stmt, fn):
    if isinstance(stmt, ir.If):
        return ir.If(stmt.test, fn(stmt.body), fn(stmt.orelse), stmt.origins)
    if isinstance(stmt, ir.For):
        return ir.For(stmt.target, stmt.start, stmt.stop, stmt.step, fn(stmt.body),
                      stmt.origins, stmt.reverse, stmt.limit)
    if isinstance(stmt, ir.While):
        return ir.While(fn(stmt.test_body), stmt.test, fn(stmt.body), stmt.origins)
    return stmt


class _Jump:
    """``continue`` or ``break`` inside a loop body; removed by
    :func:`_skip_rest` before the loop is built (a break stays a ``break``)."""

    def __init__(self, is_break: bool, origins: tuple):
        self.is_break = is_break
        self.origins = origins


def _has_jump(stmt) -> bool:
    if isinstance(stmt, _Jump):
        return True
    return isinstance(stmt, ir.If) and any(_has_jump(s) for s in stmt.body + stmt.orelse)


def _skip_rest(block) -> tuple:
    """The block with each jump replaced by skipping what follows it: the
    statements after an ``if`` that may jump move into its branches, where
    they run only on the paths that do not jump."""
    out = []
    for index, stmt in enumerate(block):
        if isinstance(stmt, _Jump):
            if stmt.is_break:
                out.append(ir.Break(stmt.origins))
            break
        if _has_jump(stmt):
            rest = tuple(block[index + 1:])
            out.append(ir.If(stmt.test, _skip_rest(stmt.body + rest),
                             _skip_rest(stmt.orelse + rest), stmt.origins))
            break
        out.append(stmt)
    return tuple(out)


def normalize(parsed: ParsedFunction, registry, copy_views: bool = False) -> ir.Function:
    """The fenced function in A-normal form and SSA (see the module docstring).

    ``registry``: its primitives are primitives even if the module defines
    functions of the same name; its aliases resolve methods and attributes.
    ``copy_views``: read views of arrays written in place as copies (for
    callbacks, whose backward pass must leave the forward values as they are)."""
    return _Normalizer(parsed, registry, copy_views).run()


def primitive_of(value) -> str | None:
    """The registry key of an ANF right-hand side, None for copies and statics."""
    if isinstance(value, ir.Call):
        return value.func
    if isinstance(value, ir.BinOp):
        return OPERATOR_PRIMITIVES.get(value.op)
    if isinstance(value, ir.UnaryOp):
        return {"-": "operator.neg", "+": "operator.pos", "not": "operator.not_"}[value.op]
    if isinstance(value, ir.Subscript):
        return "operator.getitem"
    if isinstance(value, ir.Compare):
        return "compare"
    return None


def primitive_args(value) -> tuple:
    """(positional args, kwargs) of an ANF right-hand side, as the rule sees them."""
    if isinstance(value, ir.Call):
        return value.args, dict(value.kwargs)
    if isinstance(value, (ir.BinOp, ir.Compare)):
        return (value.left, value.right), {}
    if isinstance(value, ir.UnaryOp):
        return (value.operand,), {}
    if isinstance(value, ir.Subscript):
        return (value.value, value.index), {}
    return (), {}
