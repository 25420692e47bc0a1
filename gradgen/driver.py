"""The pipeline, stage by stage: source text in, gradient module text out.

    parse -> fence -> normalize -> transform -> simplify -> rename -> emit/format

Other modes (``Options.mode``) reuse the same stages: forward mode
(forward.py) replaces ``transform``; callback style (callback.py) runs the
reverse pipeline and moves the backward pass into a nested ``backprop``;
``hvp`` runs forward mode over the reverse-mode gradient.

Each stage is a function in its own module; this driver only lists them in
order.  Everything here is a pure function of its arguments: the same input
gives the same bytes in any process.
"""

from __future__ import annotations

from gradgen import __version__, emit, fence, normalize, parse, rename, simplify, transform
from gradgen.api import gradient_name
from gradgen.options import Options
from gradgen.rules import load_registry

__all__ = ["generate_function", "generate_module", "generate_other", "gradient_name"]


def _docstring(adjoint: transform.Adjoint, preserve_result: bool) -> str:
    wrt = ", ".join(adjoint.wrt)
    text = f"Gradient of {adjoint.primal.name} with respect to {wrt}.\n\n"
    seeds = [seed for seed, _ in adjoint.seeds] or [adjoint.seed]
    if len(seeds) == 1:
        text += f"    {adjoint.seed} is the gradient of the output (default 1.0)."
    else:
        text += (f"    {', '.join(seeds)} are the gradients of the outputs (by default\n"
                 f"    1.0 for the first, 0.0 for the others).")
    if preserve_result:
        text += "\n    Returns (output, gradient)."
    return text + "\n    "


def front(text: str, function: str, options: Options, filename: str = "<string>",
          line_offset: int = 0, path: str | None = None):
    """The front end every mode shares: parse, fence, normalize.  Returns the
    function in ANF and the registry of the rules ``options`` names."""
    registry = load_registry(options.rules)
    parsed = parse.parse_function(text, function, filename, line_offset, path)
    fence.check(parsed, registry)
    return normalize.normalize(parsed, registry, copy_views=options.mode == "callback"), registry


def generate_function(text: str, function: str, options: Options, filename: str = "<string>",
                      line_offset: int = 0, explain: list | None = None,
                      path: str | None = None, stage_log: list | None = None
                      ) -> emit.EmittedFunction:
    """One gradient function, through every stage but the final formatting."""
    primal, registry = front(text, function, options, filename, line_offset, path)
    adjoint = transform.reverse(primal, options.wrt, registry, options.preserve_result, filename,
                                dict(options.shapes))
    if stage_log is not None:
        stage_log.append(("normalize", primal.body, len(primal.body), primal.params))
        stage_log.append(("transform", adjoint.function.body, adjoint.n_forward,
                          adjoint.function.params))
    if options.simplify:
        adjoint = simplify.simplify(adjoint, dict(options.shapes), explain, registry)
    if stage_log is not None and options.simplify:
        stage_log.append(("simplify", adjoint.function.body, adjoint.n_forward,
                          adjoint.function.params))
    function_ir, n_forward = rename.coalesce(adjoint.function, adjoint.n_forward)
    return emit.EmittedFunction(
        name=gradient_name(function),
        function=function_ir,
        n_forward=n_forward,
        summary=f"{function} (wrt {', '.join(adjoint.wrt)})",
        docstring=_docstring(adjoint, options.preserve_result),
    )


def generate_other(text: str, function: str, options: Options, filename: str = "<string>",
                   line_offset: int = 0):
    """What a mode other than reverse generates: forward (``jvp_f``, forward.py),
    callback (``vjp_f``, callback.py) or hvp (``hvp_f``: forward over reverse)."""
    from gradgen import callback, forward

    make = {"forward": forward.jvp_function, "callback": callback.vjp_function,
            "hvp": forward.hvp_function}[options.mode]
    return make(text, function, options, filename, line_offset)


def generate_module(text: str, requests, filename: str = "<string>", line_offset: int = 0,
                    command: str | None = None, explain: list | None = None,
                    path: str | None = None) -> str:
    """The module text holding the gradients of ``requests``: [(function, Options)]."""
    functions = [generate_function(text, name, options, filename, line_offset, explain, path)
                 if options.mode == "reverse" else
                 generate_other(text, name, options, filename, line_offset)
                 for name, options in requests]
    return emit.module_source(functions, load_registry(), filename, __version__, command)


def stages(text: str, function: str, options: Options, filename: str = "<string>",
           path: str | None = None) -> str:
    """The function after each stage (normalize, transform, simplify), then
    each simplifier rewrite applied: what `gradgen show --stages` prints."""
    log: list = []
    explain: list = []
    generate_function(text, function, options, filename, explain=explain, path=path,
                      stage_log=log)
    parts = []
    for name, body, n_forward, params in log:
        signature = emit.signature(function, params)
        lines = emit.body_lines(body, n_forward)
        parts.append(f"# ---- after {name}\n{signature}\n" + "\n".join(lines))
    parts.append("# ---- rewrites applied\n" + "\n".join(f"# {line}" for line in explain))
    return "\n\n".join(parts) + "\n"
