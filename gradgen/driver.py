"""The pipeline, stage by stage: source text in, gradient module text out.

    parse -> fence -> normalize -> transform -> simplify -> rename -> emit/format

Each stage is a function in its own module; this driver only lists them in
order.  Everything here is a pure function of its arguments: the same input
gives the same bytes in any process.
"""

from __future__ import annotations

from gradgen import __version__, emit, fence, normalize, parse, rename, simplify, transform
from gradgen.api import gradient_name
from gradgen.options import Options
from gradgen.rules import load_registry

__all__ = ["generate_function", "generate_module", "gradient_name"]


def _docstring(adjoint: transform.Adjoint, preserve_result: bool) -> str:
    wrt = ", ".join(adjoint.wrt)
    text = f"Gradient of {adjoint.primal.name} with respect to {wrt}.\n\n"
    text += f"    {adjoint.seed} is the gradient of the output (default 1.0)."
    if preserve_result:
        text += "\n    Returns (output, gradient)."
    return text + "\n    "


def generate_function(text: str, function: str, options: Options, filename: str = "<string>",
                      line_offset: int = 0) -> emit.EmittedFunction:
    """One gradient function, through every stage but the final formatting."""
    registry = load_registry()
    parsed = parse.parse_function(text, function, filename, line_offset)
    fence.check(parsed, registry)
    primal = normalize.normalize(parsed)
    adjoint = transform.reverse(primal, options.wrt, registry, options.preserve_result, filename)
    if options.simplify:
        adjoint = simplify.simplify(adjoint, dict(options.shapes))
    function_ir, n_forward = rename.coalesce(adjoint.function, adjoint.n_forward)
    return emit.EmittedFunction(
        name=gradient_name(function),
        function=function_ir,
        n_forward=n_forward,
        summary=f"{function} (wrt {', '.join(adjoint.wrt)})",
        docstring=_docstring(adjoint, options.preserve_result),
    )


def generate_module(text: str, requests, filename: str = "<string>", line_offset: int = 0,
                    command: str | None = None) -> str:
    """The module text holding the gradients of ``requests``: [(function, Options)]."""
    functions = [generate_function(text, name, options, filename, line_offset)
                 for name, options in requests]
    return emit.module_source(functions, load_registry(), filename, __version__, command)
