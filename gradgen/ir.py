"""The intermediate representation every stage after parsing works on.

Expressions and statements are frozen dataclasses: hashable, compared by
structure, never mutated.  Two expressions that print the same are equal,
which is what common-subexpression elimination, the folding of repeated
partials and the pattern rewrites of the simplifier rely on.

``to_source`` prints an expression with the fewest parentheses that keep its
meaning (precedence and associativity as in Python's grammar); black then
formats the statements around it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Iterator, Union

# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Name:
    id: str


@dataclass(frozen=True)
class Const:
    """A literal: int, float, bool, None, str or Ellipsis."""

    value: object

    def __eq__(self, other):  # 1 == 1.0 == True in Python; not here.
        return (
            isinstance(other, Const)
            and type(self.value) is type(other.value)
            and self.value == other.value
        )

    def __hash__(self):
        return hash((type(self.value).__name__, self.value))


@dataclass(frozen=True)
class Call:
    """A call of a dotted name (``np.sum``, ``unbroadcast``, ``len``)."""

    func: str
    args: tuple = ()
    kwargs: tuple = ()  # ((name, Expr), ...), in source order

    def kwarg(self, name, default=None):
        for key, value in self.kwargs:
            if key == name:
                return value
        return default


@dataclass(frozen=True)
class BinOp:
    op: str  # + - * / ** @ // %
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True)
class UnaryOp:
    op: str  # "-", "+", "not"
    operand: "Expr"


@dataclass(frozen=True)
class Compare:
    op: str  # < <= > >= == != is "is not"
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True)
class BoolOp:
    op: str  # and, or, &, |
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True)
class Attribute:
    value: "Expr"
    attr: str


@dataclass(frozen=True)
class Subscript:
    value: "Expr"
    index: "Expr"


@dataclass(frozen=True)
class Slice:
    lower: "Expr | None" = None
    upper: "Expr | None" = None
    step: "Expr | None" = None


@dataclass(frozen=True)
class Tuple:
    elts: tuple = ()


Expr = Union[Name, Const, Call, BinOp, UnaryOp, Compare, BoolOp, Attribute, Subscript, Slice, Tuple]

LIST_LITERAL = "<list>"  # Call(LIST_LITERAL, items) is the literal [items...]

# ------------------------------------------------------------------ statements


@dataclass(frozen=True)
class Origin:
    """The user's statement an IR statement comes from, for comments and errors."""

    text: str
    line: int
    col: int


@dataclass(frozen=True)
class Assign:
    target: str
    value: Expr
    origins: tuple = ()  # Origin, ...: the source statements this computes


@dataclass(frozen=True)
class Return:
    value: Expr
    origins: tuple = ()


@dataclass(frozen=True)
class SetItem:
    """``target[index] = value`` (an in-place write into an array)."""

    target: str
    index: Expr
    value: Expr
    origins: tuple = ()


@dataclass(frozen=True)
class If:
    test: Expr  # an atom
    body: tuple
    orelse: tuple = ()
    origins: tuple = ()


@dataclass(frozen=True)
class For:
    """``for target in range(start, stop, step)``; other iterables are
    normalized to an index loop over ``range``."""

    target: str
    start: Expr
    stop: Expr
    step: Expr
    body: tuple
    origins: tuple = ()
    reverse: bool = False  # iterate the range backwards (the adjoint of a loop)
    limit: "Expr | None" = None  # only the first `limit` trips (a loop that broke early)


@dataclass(frozen=True)
class While:
    """``while test``: ``test_body`` recomputes the atom ``test`` before each trip."""

    test_body: tuple
    test: Expr
    body: tuple
    origins: tuple = ()


@dataclass(frozen=True)
class Append:
    """``target.append(value)`` on a list."""

    target: str
    value: Expr
    origins: tuple = ()


@dataclass(frozen=True)
class ListPop:
    """``target.pop()`` as a statement: undo an append in the backward pass."""

    target: str
    origins: tuple = ()


@dataclass(frozen=True)
class Break:
    origins: tuple = ()


@dataclass(frozen=True)
class Push:
    """``stack.append(value)``: the tape of a value the backward pass needs."""

    stack: str
    value: Expr
    origins: tuple = ()


@dataclass(frozen=True)
class Pop:
    """``target = stack.pop()``."""

    target: str
    stack: str
    origins: tuple = ()


Stmt = Union[Assign, Return, SetItem, If, For, While, Push, Pop, Break, Append, ListPop]
COMPOUND = (If, For, While)


def stmt_exprs(stmt) -> tuple:
    """The expressions a statement reads (not those of nested blocks)."""
    if isinstance(stmt, (Assign, Return)):
        return (stmt.value,)
    if isinstance(stmt, SetItem):
        return (Name(stmt.target), stmt.index, stmt.value)
    if isinstance(stmt, If):
        return (stmt.test,)
    if isinstance(stmt, For):
        limit = () if stmt.limit is None else (stmt.limit,)
        return (stmt.start, stmt.stop, stmt.step, *limit)
    if isinstance(stmt, While):
        return (stmt.test,)
    if isinstance(stmt, Push):
        return (Name(stmt.stack), stmt.value)
    if isinstance(stmt, Append):
        return (Name(stmt.target), stmt.value)
    if isinstance(stmt, ListPop):
        return (Name(stmt.target),)
    if isinstance(stmt, (Pop, Break)):
        return ()
    raise TypeError(stmt)


def blocks(stmt) -> tuple:
    """The nested statement lists of a compound statement."""
    if isinstance(stmt, If):
        return (stmt.body, stmt.orelse)
    if isinstance(stmt, For):
        return (stmt.body,)
    if isinstance(stmt, While):
        return (stmt.test_body, stmt.body)
    return ()


def flatten_stmts(body) -> Iterator:
    """Every statement of ``body``, nested ones included, in source order."""
    for stmt in body:
        yield stmt
        for block in blocks(stmt):
            yield from flatten_stmts(block)


def defined_names(stmt) -> set:
    if isinstance(stmt, (Assign, Pop)):
        return {stmt.target}
    if isinstance(stmt, (SetItem, Append)):
        return {stmt.target}
    if isinstance(stmt, For):
        return {stmt.target}
    return set()


@dataclass(frozen=True)
class Param:
    name: str
    default: Expr | None = None
    shape: str | None = None  # the annotation's shape text, e.g. "n d"
    keyword_only: bool = False  # after the ``*`` of the signature


@dataclass(frozen=True)
class Function:
    name: str
    params: tuple  # Param, ...
    body: tuple  # Stmt, ...
    docstring: str | None = None
    mutable: frozenset = field(default=frozenset())  # names assigned more than once in loops/branches


# ------------------------------------------------------------------ traversal


def children(expr) -> tuple:
    """The direct sub-expressions of ``expr``."""
    if isinstance(expr, Call):
        return tuple(expr.args) + tuple(v for _, v in expr.kwargs)
    if isinstance(expr, (BinOp, Compare, BoolOp)):
        return (expr.left, expr.right)
    if isinstance(expr, UnaryOp):
        return (expr.operand,)
    if isinstance(expr, Attribute):
        return (expr.value,)
    if isinstance(expr, Subscript):
        return (expr.value, expr.index)
    if isinstance(expr, Slice):
        return tuple(p for p in (expr.lower, expr.upper, expr.step) if p is not None)
    if isinstance(expr, Tuple):
        return tuple(expr.elts)
    return ()


def walk(expr) -> Iterator:
    """``expr`` and all its sub-expressions, parents first."""
    yield expr
    for child in children(expr):
        yield from walk(child)


def names_in(expr) -> set[str]:
    """Names read by ``expr``; ``stack.pop()`` reads ``stack``."""
    names = set()
    for e in walk(expr):
        if isinstance(e, Name):
            names.add(e.id)
        elif isinstance(e, Call) and e.func.endswith(".pop"):
            names.add(e.func[: -len(".pop")])
    return names


def map_children(expr, fn):
    """``expr`` with ``fn`` applied to each direct sub-expression."""
    if isinstance(expr, Call):
        return Call(
            expr.func,
            tuple(fn(a) for a in expr.args),
            tuple((k, fn(v)) for k, v in expr.kwargs),
        )
    if isinstance(expr, BinOp):
        return BinOp(expr.op, fn(expr.left), fn(expr.right))
    if isinstance(expr, Compare):
        return Compare(expr.op, fn(expr.left), fn(expr.right))
    if isinstance(expr, BoolOp):
        return BoolOp(expr.op, fn(expr.left), fn(expr.right))
    if isinstance(expr, UnaryOp):
        return UnaryOp(expr.op, fn(expr.operand))
    if isinstance(expr, Attribute):
        return Attribute(fn(expr.value), expr.attr)
    if isinstance(expr, Subscript):
        return Subscript(fn(expr.value), fn(expr.index))
    if isinstance(expr, Slice):
        return Slice(*(None if p is None else fn(p) for p in (expr.lower, expr.upper, expr.step)))
    if isinstance(expr, Tuple):
        return Tuple(tuple(fn(e) for e in expr.elts))
    return expr


def substitute(expr, mapping: dict):
    """Replace names by expressions, everywhere in ``expr``."""
    if isinstance(expr, Name):
        return mapping.get(expr.id, expr)
    if isinstance(expr, Call) and expr.func.endswith(".pop"):
        # ``stack.pop()`` names its list in ``func`` (names_in reads it there too)
        renamed = mapping.get(expr.func[: -len(".pop")])
        if isinstance(renamed, Name):
            expr = dataclasses.replace(expr, func=f"{renamed.id}.pop")
    return map_children(expr, lambda e: substitute(e, mapping))


def replace_subexpr(expr, old, new):
    """Replace every occurrence of the sub-expression ``old`` by ``new``."""
    if expr == old:
        return new
    return map_children(expr, lambda e: replace_subexpr(e, old, new))


# -------------------------------------------------------------------- printing

_BINARY_PRECEDENCE = {
    "or": 1, "and": 2,
    "|": 6, "^": 7, "&": 8,
    "+": 10, "-": 10,
    "*": 11, "/": 11, "//": 11, "%": 11, "@": 11,
    "**": 13,
}  # fmt: skip
_COMPARE_PRECEDENCE = 5
_NOT_PRECEDENCE = 3
_UNARY_PRECEDENCE = 12
_ATOM_PRECEDENCE = 20


def precedence(expr) -> int:
    if isinstance(expr, (BinOp, BoolOp)):
        return _BINARY_PRECEDENCE[expr.op]
    if isinstance(expr, Compare):
        return _COMPARE_PRECEDENCE
    if isinstance(expr, UnaryOp):
        return _NOT_PRECEDENCE if expr.op == "not" else _UNARY_PRECEDENCE
    if isinstance(expr, Const) and isinstance(expr.value, (int, float)) and not isinstance(
        expr.value, bool
    ):
        return _UNARY_PRECEDENCE if expr.value < 0 else _ATOM_PRECEDENCE
    if isinstance(expr, Tuple):
        return 0  # always parenthesised when nested
    return _ATOM_PRECEDENCE


def _wrap(expr, min_precedence: int) -> str:
    text = to_source(expr)
    if precedence(expr) < min_precedence:
        return f"({text})"
    return text


def _const_source(value) -> str:
    if value is Ellipsis:
        return "..."
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return {"nan": "np.nan", "inf": "np.inf", "-inf": "-np.inf"}[repr(value)]
    return repr(value)


def _index_source(index) -> str:
    if isinstance(index, Tuple):
        if not index.elts:
            return "()"
        parts = [_index_source(e) for e in index.elts]
        return ", ".join(parts) + ("," if len(parts) == 1 else "")
    if isinstance(index, Slice):
        lower = "" if index.lower is None else to_source(index.lower)
        upper = "" if index.upper is None else to_source(index.upper)
        text = f"{lower}:{upper}"
        if index.step is not None:
            text += f":{to_source(index.step)}"
        return text
    return to_source(index)


def to_source(expr) -> str:
    """Python source for ``expr``, minimally parenthesised."""
    if isinstance(expr, Name):
        return expr.id
    if isinstance(expr, Const):
        return _const_source(expr.value)
    if isinstance(expr, Call):
        if expr.func == "np.transpose" and len(expr.args) == 1 and not expr.kwargs:
            return f"{_wrap(expr.args[0], _ATOM_PRECEDENCE)}.T"
        if expr.func == LIST_LITERAL or (expr.func == "list" and not expr.args):
            return "[" + ", ".join(to_source(a) for a in expr.args) + "]"
        args = [to_source(a) for a in expr.args]
        args += [f"{k}={to_source(v)}" for k, v in expr.kwargs]
        return f"{expr.func}({', '.join(args)})"
    if isinstance(expr, (BinOp, BoolOp)):
        p = _BINARY_PRECEDENCE[expr.op]
        if expr.op == "**":  # right-associative; binds tighter than unary minus on its left
            return f"{_wrap(expr.left, p + 1)} ** {_wrap(expr.right, _UNARY_PRECEDENCE)}"
        return f"{_wrap(expr.left, p)} {expr.op} {_wrap(expr.right, p + 1)}"
    if isinstance(expr, Compare):
        p = _COMPARE_PRECEDENCE
        return f"{_wrap(expr.left, p + 1)} {expr.op} {_wrap(expr.right, p + 1)}"
    if isinstance(expr, UnaryOp):
        if expr.op == "not":
            return f"not {_wrap(expr.operand, _NOT_PRECEDENCE)}"
        return f"{expr.op}{_wrap(expr.operand, _UNARY_PRECEDENCE)}"
    if isinstance(expr, Attribute):
        base = _wrap(expr.value, _ATOM_PRECEDENCE)
        if isinstance(expr.value, Const) and isinstance(expr.value.value, int):
            base = f"({base})"
        return f"{base}.{expr.attr}"
    if isinstance(expr, Subscript):
        return f"{_wrap(expr.value, _ATOM_PRECEDENCE)}[{_index_source(expr.index)}]"
    if isinstance(expr, Slice):
        return f"slice({', '.join(to_source(p) if p is not None else 'None' for p in (expr.lower, expr.upper, expr.step))})"
    if isinstance(expr, Tuple):
        if len(expr.elts) == 1:
            return f"({to_source(expr.elts[0])},)"
        return "(" + ", ".join(to_source(e) for e in expr.elts) + ")"
    raise TypeError(f"not an IR expression: {expr!r}")


def stmt_source(stmt) -> str:
    """One line of source for a simple statement (compound ones: see emit)."""
    if isinstance(stmt, Assign):
        return f"{stmt.target} = {to_source(stmt.value)}"
    if isinstance(stmt, SetItem):
        return f"{stmt.target}[{_index_source(stmt.index)}] = {to_source(stmt.value)}"
    if isinstance(stmt, Push):
        return f"{stmt.stack}.append({to_source(stmt.value)})"
    if isinstance(stmt, Break):
        return "break"
    if isinstance(stmt, Append):
        return f"{stmt.target}.append({to_source(stmt.value)})"
    if isinstance(stmt, ListPop):
        return f"{stmt.target}.pop()"
    if isinstance(stmt, Pop):
        return f"{stmt.target} = {stmt.stack}.pop()"
    if isinstance(stmt, Return):
        value = stmt.value
        if isinstance(value, Tuple) and value.elts:
            return "return " + ", ".join(to_source(e) for e in value.elts)
        return f"return {to_source(value)}"
    raise TypeError(f"not an IR statement: {stmt!r}")
