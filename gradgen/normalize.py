"""Stage 3, normalize: fenced libcst function -> IR in A-normal form and SSA.

After this stage:

* every statement computes one primitive from atoms (names, constants and
  *static* expressions such as ``X.shape[0]`` or ``(0, 2)``), or copies an atom;
* every name is assigned once.  A source name assigned again gets a new
  version ``name@2``; the ``@`` cannot occur in Python, so a version that
  survived to the end by mistake would fail to compile.  The emitter turns
  versions back into plain names where lifetimes allow (``rename.py``);
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
from gradgen.lowering import OPERATOR_PRIMITIVES, lower_expr
from gradgen.parse import ParsedFunction

STATIC_CALLS = frozenset({"np.shape", "np.ndim", "np.size", "len"})
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


def is_static(expr, static_names: frozenset | set = frozenset()) -> bool:
    """True for values known before any array is computed: shapes, sizes, literals."""
    if isinstance(expr, ir.Const):
        return True
    if isinstance(expr, ir.Name):
        return expr.id in static_names or expr.id.startswith("np.")
    if isinstance(expr, ir.Attribute):
        return expr.attr in ("shape", "ndim", "size", "dtype")
    if isinstance(expr, ir.Call) and expr.func in STATIC_CALLS:
        return True
    if isinstance(expr, (ir.Tuple, ir.Slice, ir.BinOp, ir.UnaryOp, ir.Subscript)):
        return all(is_static(c, static_names) for c in ir.children(expr))
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


class _Normalizer:
    def __init__(self, parsed: ParsedFunction):
        self.parsed = parsed
        self.namer = Namer(_all_names(parsed.node) | {"np"})
        self.current: dict = {}  # source name -> its current SSA name
        self.versions: dict = {}  # source name -> number of versions so far
        self.static: set = set()
        self.body: list = []
        self.origin: tuple = ()

    # -- names
    def define(self, name: str) -> str:
        count = self.versions.get(name, 0) + 1
        self.versions[name] = count
        ssa = name if count == 1 else f"{name}@{count}"
        self.current[name] = ssa
        return ssa

    def rename(self, expr):
        return ir.substitute(expr, {k: ir.Name(v) for k, v in self.current.items()})

    # -- A-normal form
    def emit(self, target: str, value) -> None:
        self.body.append(ir.Assign(target, value, self.origin))
        if is_static(value, self.static):
            self.static.add(target)

    def atom(self, expr, hint: str):
        if isinstance(expr, (ir.Name, ir.Const)) or is_static(expr, self.static):
            return expr
        value = self.primitive(expr, hint)
        label = describe(value)
        if label is None or len(label) > MAX_TEMP_NAME:
            label = f"{hint}_{_short(value)}"
        name = self.namer.fresh(label)
        self.emit(name, value)
        return ir.Name(name)

    def primitive(self, expr, hint: str):
        """``expr`` with every operand reduced to an atom."""

        def atom(e):
            return self.atom(e, hint)

        if isinstance(expr, ir.Subscript):
            index = expr.index
            parts = index.elts if isinstance(index, ir.Tuple) else (index,)
            parts = tuple(p if is_static(p, self.static) else atom(p) for p in parts)
            new_index = ir.Tuple(parts) if isinstance(index, ir.Tuple) else parts[0]
            return ir.Subscript(atom(expr.value), new_index)
        if isinstance(expr, ir.Attribute):
            return expr
        return ir.map_children(expr, atom)

    def assign(self, name: str, expr) -> None:
        if isinstance(expr, (ir.Name, ir.Const)) or is_static(expr, self.static):
            value = expr
        else:
            value = self.primitive(expr, name)
        self.emit(self.define(name), value)

    # -- statements
    def statement(self, stmt: cst.SimpleStatementLine, small) -> None:
        code = " ".join(self.parsed.code(small).split())
        location = self.parsed.location(stmt)
        self.origin = (ir.Origin(code, location.line, location.col),)
        lower = lambda node: self.rename(lower_expr(node, self.parsed.aliases))  # noqa: E731
        if isinstance(small, cst.Assign):
            target = small.targets[0].target
            if isinstance(target, cst.Tuple):
                values = [self.atom(lower(e.value), e_target.value.value)
                          for e, e_target in zip(small.value.elements, target.elements)]
                for element, value in zip(target.elements, values):
                    self.assign(element.value.value, value)
            else:
                self.assign(target.value, lower(small.value))
        elif isinstance(small, cst.AugAssign):
            name = small.target.value
            op = _AUG[type(small.operator)]
            self.assign(name, ir.BinOp(op, ir.Name(self.current[name]), lower(small.value)))
        elif isinstance(small, cst.Return):
            value = lower(small.value)
            if not isinstance(value, ir.Name):
                self.assign(RESULT_NAME, value)
                value = ir.Name(self.current[RESULT_NAME])
            self.body.append(ir.Return(value, self.origin))

    def run(self) -> ir.Function:
        fn = self.parsed.node
        params = []
        for p in (*fn.params.posonly_params, *fn.params.params, *fn.params.kwonly_params):
            default = None if p.default is None else lower_expr(p.default, self.parsed.aliases)
            params.append(ir.Param(p.name.value, default, _shape_annotation(p)))
            self.define(p.name.value)
        docstring = None
        for index, stmt in enumerate(fn.body.body):
            for small in stmt.body:
                if isinstance(small, cst.Expr):
                    docstring = small.value.evaluated_value if index == 0 else None
                elif not isinstance(small, cst.Pass):
                    self.statement(stmt, small)
        return ir.Function(fn.name.value, tuple(params), tuple(self.body), docstring)


def normalize(parsed: ParsedFunction) -> ir.Function:
    """The fenced function in A-normal form and SSA (see the module docstring)."""
    return _Normalizer(parsed).run()


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
