"""Stage 8, emit and format: IR gradient functions -> one standalone module.

The module holds a header (where it came from, for which ``wrt``, with which
gradgen version, and the command that regenerates it: no timestamp),
``import numpy as np``, the run-time helpers the functions still call (copied
from templates/helpers.py, so the module never imports gradgen), and the
gradient functions.  Backward statements are headed by ``# Grad of:``
comments quoting the user's statements they differentiate.  black formats
the result in-process, so the same input always gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import black

from gradgen import ir
from gradgen.rules import Registry


@dataclass(frozen=True)
class EmittedFunction:
    name: str
    function: ir.Function
    n_forward: int
    summary: str  # "cosine_loss (wrt X, Y)"
    docstring: str


def helpers_used(functions, registry: Registry) -> list:
    """Names of the helpers the functions call, with their dependencies, in file order."""
    needed: set = set()
    pending = [
        e.func
        for fn in functions
        for stmt in ir.flatten_stmts(fn.function.body)
        for e in ir.walk(ir.Tuple(ir.stmt_exprs(stmt)))
        if isinstance(e, ir.Call) and e.func in registry.helpers
    ]
    while pending:
        name = pending.pop()
        if name not in needed:
            needed.add(name)
            pending.extend(registry.helpers[name].uses)
    return [name for name in registry.helpers if name in needed]


def _comment_lines(origins) -> list:
    """One comment per source statement, in the order the backward pass runs."""
    ordered = sorted(origins, key=lambda o: (-o.line, -o.col))
    return [f"# Grad of: {origin.text}" for origin in ordered]


def range_source(stmt: ir.For) -> str:
    """``range(...)`` as a for loop iterates it: reversed, or cut to its trips."""
    start, stop, step = stmt.start, stmt.stop, stmt.step
    if step == ir.Const(1):
        args = [stop] if start == ir.Const(0) else [start, stop]
    else:
        args = [start, stop, step]
    text = f"range({', '.join(ir.to_source(a) for a in args)})"
    if stmt.limit is not None:
        text += f"[:{ir.to_source(stmt.limit)}]"
    return f"reversed({text})" if stmt.reverse else text


def compound_lines(stmt, indent: str, render) -> list:
    """Source lines of an if/for/while; ``render(body, indent)`` gives the
    lines of a nested block (each mode renders its own comments)."""
    inner = indent + "    "

    def block(body):
        return render(body, inner) or [inner + "pass"]

    if isinstance(stmt, ir.If):
        if not stmt.body and stmt.orelse:  # `if c: pass else: ...` reads better negated
            test = ir.to_source(ir.UnaryOp("not", stmt.test))
            return [f"{indent}if {test}:", *block(stmt.orelse)]
        lines = [f"{indent}if {ir.to_source(stmt.test)}:", *block(stmt.body)]
        if stmt.orelse:
            lines += [f"{indent}else:", *block(stmt.orelse)]
        return lines
    if isinstance(stmt, ir.For):
        return [f"{indent}for {stmt.target} in {range_source(stmt)}:", *block(stmt.body)]
    if isinstance(stmt, ir.While):
        return [*render(stmt.test_body, indent), f"{indent}while {ir.to_source(stmt.test)}:",
                *block(stmt.body + stmt.test_body)]
    raise TypeError(stmt)


def _lines(body, indent: str, backward: bool, previous=None) -> list:
    lines = []
    for stmt in body:
        if backward and stmt.origins and stmt.origins != previous:
            lines += [indent + c for c in _comment_lines(stmt.origins)]
            previous = stmt.origins
        if isinstance(stmt, ir.COMPOUND):
            lines += compound_lines(stmt, indent, lambda b, ind: _lines(b, ind, backward))
            previous = None
        else:
            lines.append(indent + ir.stmt_source(stmt))
    return lines


def body_lines(body, n_forward: int, indent: str = "    ") -> list:
    """Source lines of a function body; statements from index ``n_forward`` on
    are backward statements, headed by ``# Grad of:`` comments."""
    return _lines(body[:n_forward], indent, False) + _lines(body[n_forward:], indent, True)


def signature(name: str, params) -> str:
    """``def name(...):``, keyword-only parameters of the differentiated
    function kept keyword-only, after the seeds and tangents gradgen adds."""

    def one(p) -> str:
        return p.name if p.default is None else f"{p.name}={ir.to_source(p.default)}"

    parts = [one(p) for p in params if not p.keyword_only]
    keyword = [one(p) for p in params if p.keyword_only]
    if keyword:
        parts += ["*", *keyword]
    return f"def {name}({', '.join(parts)}):"


def function_source(emitted: EmittedFunction) -> str:
    fn = emitted.function
    lines = [signature(emitted.name, fn.params), f'    """{emitted.docstring}"""']
    lines += body_lines(fn.body, emitted.n_forward)
    return "\n".join(lines) + "\n"


def modules_used(functions) -> list:
    """The import lines the functions need: NumPy always, ``math`` and
    ``scipy.special`` when called (only where the user's code calls them)."""
    lines = ["import numpy as np"]
    calls = {e.func for fn in functions for stmt in ir.flatten_stmts(fn.function.body)
             for e in ir.walk(ir.Tuple(ir.stmt_exprs(stmt))) if isinstance(e, ir.Call)}
    if any(name.startswith("math.") for name in calls):
        lines.insert(0, "import math\n")
    if any(name.startswith("scipy.special.") for name in calls):
        lines.append("import scipy.special")
    return lines


def module_source(
    functions, registry: Registry, filename: str, version: str, command: str | None
) -> str:
    header = [
        f"# Generated by gradgen {version} from {filename}. Do not edit: regenerate.",
        "# Gradients:",
        *(f"#   {fn.summary}" for fn in functions),
    ]
    if command:
        header.append(f"# Regenerate with: {command}")
    parts = ["\n".join(header) + "\n\n" + "\n".join(modules_used(functions))]
    parts += [registry.helpers[name].source for name in helpers_used(functions, registry)]
    parts += [getattr(fn, "source", None) or function_source(fn) for fn in functions]
    return format_source("\n\n\n".join(parts) + "\n")


def format_source(text: str) -> str:
    """black, in-process, with its default style."""
    return black.format_str(text, mode=black.Mode())
