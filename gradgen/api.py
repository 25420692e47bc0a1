"""The Python API: thin doors onto the ``str -> str`` core in :mod:`gradgen.driver`.

``source`` returns generated text; ``grad`` compiles that text with plain
``exec`` into a fresh namespace holding only NumPy, exactly as a user who
pasted the generated module would run it.

The pipeline (libcst, black) is imported on first use, not by
``import gradgen``: a decorated module whose gradients come from the cache
never loads it.
"""

from __future__ import annotations

import inspect
import os
import textwrap
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gradgen.errors import SourceChangedError, SourceNotFoundError, UsageError
from gradgen.options import Options, WrtLike, check_parameters

#: ``shapes=``: ``{parameter: "n d"}`` shape annotations (see :class:`Options`).
Shapes = Mapping[str, str] | None
#: ``rules=``: paths of extra rule files (see :class:`Options`).
Rules = str | os.PathLike | Sequence[str | os.PathLike] | None

_PREFIXES = {"reverse": "grad_", "forward": "jvp_", "callback": "vjp_", "hvp": "hvp_"}


def gradient_name(function: str) -> str:
    """The name of the generated gradient function of ``function``."""
    return f"grad_{function}"


def function_name(function: str, mode: str = "reverse") -> str:
    """The name of what ``mode`` generates for ``function``: ``grad_f``,
    ``jvp_f`` (forward), ``vjp_f`` (callback) or ``hvp_f``."""
    return _PREFIXES[mode] + function


def _numpy_imports(func) -> list:
    """Import lines recreating the names through which ``func`` reaches NumPy."""
    import numpy as np

    lines = []
    for name, value in sorted(func.__globals__.items()):
        if value is np:
            lines.append(f"import numpy as {name}")
        elif value is np.linalg:
            lines.append(f"import numpy.linalg as {name}")
        elif callable(value) and getattr(np, name, None) is value:
            lines.append(f"from numpy import {name}")
    return lines


#: Module-level arrays up to this many elements are copied into the
#: generated code as constants; a larger one must be passed as a parameter.
MAX_CONSTANT_SIZE = 1000


def constant_lines(func) -> list:
    """``NAME = value`` lines for the module-level numbers and small NumPy
    arrays that ``func`` reads, written from their values now (as a jit
    captures constants: a later rebinding is not seen), one line each."""
    import numpy as np

    numpy_name = next((n for n, v in sorted(func.__globals__.items()) if v is np), None)
    lines = []
    for name in func.__code__.co_names:
        if name not in func.__globals__:
            continue
        value = func.__globals__[name]
        text = _literal(value, numpy_name)
        if text is not None:
            lines.append(f"{name} = {text}")
    return lines


def _literal(value, numpy_name: str | None) -> str | None:
    """Source text that evaluates to ``value`` exactly, for numbers, tuples
    of them and small arrays of numbers; None for anything else."""
    import math

    import numpy as np

    if type(value) is bool or type(value) is int:
        return repr(value)
    if type(value) is tuple and len(value) <= MAX_CONSTANT_SIZE:
        found = [_literal(v, numpy_name) for v in value]
        items = [item for item in found if item is not None]
        if len(items) != len(found):
            return None
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if type(value) is float:
        if math.isfinite(value):
            return repr(value)
        if numpy_name is None:
            return None
        return f"{numpy_name}.nan" if math.isnan(value) else (
            f"{numpy_name}.inf" if value > 0 else f"-{numpy_name}.inf")
    if (type(value) is np.ndarray and numpy_name is not None
            and value.size <= MAX_CONSTANT_SIZE and value.dtype.kind in "biuf"
            and np.all(np.isfinite(value))):
        return (f"{numpy_name}.array({value.tolist()!r}, "
                f"dtype={numpy_name}.{value.dtype.name})")
    return None


def _function_source(func) -> tuple[str, str, str, int]:
    """(text, file name, function name, line offset) for a Python function.

    The text is the function's own source, dedented, preceded by import lines
    for the NumPy names it uses, so nested functions and notebook cells work
    as well as module-level functions.  The line offset maps lines of the
    text back to lines of the file.
    """
    if not isinstance(func, types.FunctionType):
        raise SourceNotFoundError(
            f"gradgen differentiates Python functions, not {type(func).__name__} objects",
            hint="pass a function defined with `def` in a file",
        )
    name = func.__name__
    if name == "<lambda>":
        raise SourceNotFoundError(
            "cannot differentiate a lambda",
            hint="define the function with `def name(...):` in a file or notebook cell",
        )
    _check_unchanged(func, func.__code__.co_filename)
    try:
        lines, first = inspect.getsourcelines(func)
        filename = inspect.getsourcefile(func) or func.__code__.co_filename
    except (OSError, TypeError) as exc:
        raise SourceNotFoundError(
            f"the source of {name}() cannot be found ({exc})",
            hint=(
                "gradgen reads source text: define the function in a .py file or a "
                "Jupyter/IPython cell, not in a plain REPL or via exec() of a string; "
                "or call gradgen.source_from_text(text, name) yourself"
            ),
        ) from None
    callees = _callees(func, {name})
    imports = list(dict.fromkeys(
        _numpy_imports(func) + [line for c in callees for line in _numpy_imports(c)]))
    imports += constant_lines(func)
    text = "\n".join(imports) + "\n" + textwrap.dedent("".join(lines))
    for callee in callees:  # after the function, so its line numbers stay exact
        text += "\n\n" + textwrap.dedent(inspect.getsource(callee))
    return text, _display_path(filename), name, first - 1 - len(imports)


def _code_signature(code) -> tuple:
    """What a code object computes, without its line numbers."""
    consts = tuple(_code_signature(c) if isinstance(c, types.CodeType) else (type(c), repr(c))
                   for c in code.co_consts)
    return (code.co_code, code.co_names, code.co_varnames, code.co_freevars, consts)


def _find_code(code, qualname: str, name: str):
    """The code object of the function ``qualname`` compiled within ``code``."""
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            if getattr(const, "co_qualname", const.co_name) == qualname or (
                    const.co_name == name and not hasattr(const, "co_qualname")):
                return const
            found = _find_code(const, qualname, name)
            if found is not None:
                return found
    return None


def _check_unchanged(func, filename: str) -> None:
    """Refuse to differentiate a file edited after the function was loaded:
    the function compiled from the text found (the whole file, as Python
    compiled it, since the code of a function depends on its module) must be
    the one Python runs."""
    import linecache

    linecache.checkcache(filename)
    text = "".join(linecache.getlines(filename))
    if not text:
        return  # no text at all: reported as a missing source by the caller
    try:
        module = compile(text, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        found = None
    else:
        found = _find_code(module, func.__qualname__, func.__name__)
    if found is None or _code_signature(found) != _code_signature(func.__code__):
        raise SourceChangedError(
            f"the source of {func.__name__}() in {_display_path(filename)} is not the code "
            "Python loaded: the file changed after the function was imported",
            hint="reload the module (importlib.reload) or restart the interpreter, then "
                 "call gradgen again")


def _callees(func, seen: set) -> list:
    """The Python functions ``func`` calls through its globals (helpers of its
    module, or imported from the user's own modules), recursively, in a
    deterministic order; gradgen inlines them."""
    found = []
    for name in func.__code__.co_names:
        value = func.__globals__.get(name)
        if (name in seen or not isinstance(value, types.FunctionType)
                or value.__name__ != name):
            continue
        try:
            inspect.getsource(value)
        except (OSError, TypeError):
            continue  # no source: the fence reports the call
        seen.add(name)
        found.append(value)
        found += _callees(value, seen)
    return found


def _display_path(filename: str) -> str:
    """The file name as generated headers show it: relative to the working
    directory when inside it, else the bare name (never machine-specific).
    os.path rather than pathlib: this runs on every warm decorated import."""
    try:
        rel = os.path.relpath(os.path.realpath(filename), os.path.realpath(os.getcwd()))
    except (ValueError, OSError):
        return os.path.basename(os.path.normpath(filename))
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return os.path.basename(os.path.normpath(filename))
    return rel.replace(os.sep, "/")


def parameters(text: str, function: str) -> list[str] | None:
    """The parameter names of the top-level ``def function`` in module ``text``
    (positional-only, positional and keyword-only, as the core reads them), or
    None when it cannot be found (the core then says why)."""
    import ast

    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == function:
            args = node.args
            return [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    return None


def _check(options: Options, text: str, function: str) -> None:
    params = parameters(text, function)
    if params is not None:
        check_parameters(options, function, params)


def source(func: Callable[..., Any], wrt: WrtLike = (0,), preserve_result: bool = False,
           simplify: bool = True, shapes: Shapes = None, mode: str = "reverse",
           explain: list[str] | None = None, rules: Rules = None) -> str:
    """The source text of a standalone module holding ``func``'s gradient
    (or, with ``mode``, its JVP, callback-style forward pass or HVP).

    ``explain``: a list to which each simplifier rewrite applied is appended
    (``rule: before -> after``), to see why the output looks as it does.
    Options of the wrong type, malformed shapes, and ``wrt`` entries or shapes
    that name no parameter are a :class:`~gradgen.errors.UsageError`."""
    options = Options.make(wrt, preserve_result, simplify, mode=mode, shapes=shapes,
                           rules=rules)
    text, filename, name, line_offset = _function_source(func)
    _check(options, text, name)
    from gradgen import driver
    from gradgen.runner import run_generation  # (lazily: threading is not needed warm)

    logged = len(explain) if explain is not None else 0

    def reset() -> None:
        if explain is not None:
            del explain[logged:]

    return run_generation(lambda: driver.generate_module(
        text, [(name, options)], filename=filename, line_offset=line_offset,
        explain=explain), filename, text, name, line_offset, reset)


def source_from_text(
    text: str,
    function: str,
    wrt: WrtLike = (0,),
    preserve_result: bool = False,
    simplify: bool = True,
    shapes: Shapes = None,
    filename: str = "<string>",
    mode: str = "reverse",
    rules: Rules = None,
) -> str:
    """Like :func:`source`, for a function given as module source text."""
    options = Options.make(wrt, preserve_result, simplify, mode=mode, shapes=shapes,
                           rules=rules)
    if not isinstance(text, str):
        raise UsageError(f"text must be module source text (a str), not {type(text).__name__}")
    _check(options, text, function)
    from gradgen import driver
    from gradgen.runner import run_generation

    return run_generation(lambda: driver.generate_module(
        text, [(function, options)], filename=filename), filename, text, function)


def compile_module(module_source: str, filename: str = "<gradgen>") -> dict[str, Any]:
    """Execute generated module text in a fresh namespace and return it."""
    namespace: dict = {"__name__": "gradgen_generated"}
    exec(compile(module_source, filename, "exec"), namespace)
    return namespace


def grad(func: Callable[..., Any], wrt: WrtLike = (0,), preserve_result: bool = False,
         simplify: bool = True, shapes: Shapes = None, rules: Rules = None,
         specialize: bool = True) -> Callable[..., Any]:
    """The gradient of ``func`` as a callable.

    The callable takes ``func``'s parameters plus a trailing output seed
    (default ``1.0``) and returns the gradient: one value for one ``wrt``, a
    tuple in ``wrt`` order for several; ``(value, gradient)`` with
    ``preserve_result=True``.

    Without ``shapes``, each call whose arguments have shapes not seen
    before runs a version generated for them (see :mod:`gradgen.specialize`;
    ``specialize=False`` keeps the generic code only).
    """
    text = source(func, wrt, preserve_result, simplify, shapes, rules=rules)
    generic = compile_module(text, f"<gradient of {func.__name__}>")[gradient_name(func.__name__)]
    if shapes is not None or not specialize or not simplify:
        return generic

    def generate(found: dict) -> Callable[..., Any]:
        version = source(func, wrt, preserve_result, simplify, found, rules=rules)
        return compile_module(version, f"<gradient of {func.__name__}, shapes {found}>")[
            gradient_name(func.__name__)]

    params = list(inspect.signature(func).parameters)
    return _specialised(generic, params, func.__name__, generate)


def grad_from_source(
    text: str,
    function: str,
    wrt: WrtLike = (0,),
    preserve_result: bool = False,
    simplify: bool = True,
    shapes: Shapes = None,
    filename: str = "<string>",
    rules: Rules = None,
    specialize: bool = True,
) -> Callable[..., Any]:
    """Like :func:`grad`, for a function given as module source text."""
    module = source_from_text(text, function, wrt, preserve_result, simplify, shapes, filename,
                              rules=rules)
    generic = compile_module(module)[gradient_name(function)]
    if shapes is not None or not specialize or not simplify:
        return generic

    def generate(found: dict) -> Callable[..., Any]:
        version = source_from_text(text, function, wrt, preserve_result, simplify, found,
                                   filename, rules=rules)
        return compile_module(version)[gradient_name(function)]

    return _specialised(generic, parameters(text, function) or [], function, generate)


def _specialised(generic: Callable[..., Any], params: list[str], function: str,
                 generate: Callable[[dict], Callable[..., Any]]) -> Callable[..., Any]:
    from gradgen.specialize import dispatcher

    return dispatcher(generic, params, generate, gradient_name(function))


# ---------------------------------------------------------------- other modes


def _compiled(module_text: str, function: str, mode: str, what: str) -> Callable[..., Any]:
    return compile_module(module_text, f"<{what} of {function}>")[function_name(function, mode)]


def jvp(func: Callable[..., Any], wrt: WrtLike = (0,), simplify: bool = True,
        shapes: Shapes = None, rules: Rules = None) -> Callable[..., Any]:
    """Forward mode: ``jvp_f(*args, *tangents) -> (output, tangent of the output)``.

    One tangent per ``wrt`` parameter, in ``wrt`` order, each of its
    parameter's shape; they come after ``func``'s parameters (before any
    parameter that has a default).
    """
    text = source(func, wrt, False, simplify, shapes, mode="forward", rules=rules)
    return _compiled(text, func.__name__, "forward", "JVP")


def jvp_from_source(text: str, function: str, wrt: WrtLike = (0,), simplify: bool = True,
                    shapes: Shapes = None, filename: str = "<string>", rules: Rules = None
                    ) -> Callable[..., Any]:
    """Like :func:`jvp`, for a function given as module source text."""
    module = source_from_text(text, function, wrt, False, simplify, shapes, filename, "forward",
                              rules)
    return _compiled(module, function, "forward", "JVP")


def vjp(func: Callable[..., Any], wrt: WrtLike = (0,), simplify: bool = True,
        shapes: Shapes = None, rules: Rules = None) -> Callable[..., Any]:
    """Callback style (Thinc): ``vjp_f(*args) -> (output, backprop)``.

    ``backprop(d_output=1.0)`` returns the gradient (a tuple in ``wrt`` order
    for several), from the forward values it closes over; it can be called
    any number of times.
    """
    text = source(func, wrt, False, simplify, shapes, mode="callback", rules=rules)
    return _compiled(text, func.__name__, "callback", "VJP")


def vjp_from_source(text: str, function: str, wrt: WrtLike = (0,), simplify: bool = True,
                    shapes: Shapes = None, filename: str = "<string>", rules: Rules = None
                    ) -> Callable[..., Any]:
    """Like :func:`vjp`, for a function given as module source text."""
    module = source_from_text(text, function, wrt, False, simplify, shapes, filename, "callback",
                              rules)
    return _compiled(module, function, "callback", "VJP")


def hvp(func: Callable[..., Any], wrt: WrtLike = (0,), preserve_result: bool = False,
        simplify: bool = True, shapes: Shapes = None, rules: Rules = None
        ) -> Callable[..., Any]:
    """Hessian-vector products, forward mode over the generated gradient.

    ``hvp_f(*args, *vectors, d_output=1.0) -> H @ v``: one vector per ``wrt``
    parameter (of its shape); for several, the result is a tuple in ``wrt``
    order (the blocks of the Hessian times the stacked vector).  With
    ``preserve_result=True``: ``(gradient, H @ v)``.
    """
    text = source(func, wrt, preserve_result, simplify, shapes, mode="hvp", rules=rules)
    return _compiled(text, func.__name__, "hvp", "HVP")


def hvp_from_source(text: str, function: str, wrt: WrtLike = (0,),
                    preserve_result: bool = False, simplify: bool = True,
                    shapes: Shapes = None, filename: str = "<string>", rules: Rules = None
                    ) -> Callable[..., Any]:
    """Like :func:`hvp`, for a function given as module source text."""
    module = source_from_text(text, function, wrt, preserve_result, simplify, shapes, filename,
                              "hvp", rules)
    return _compiled(module, function, "hvp", "HVP")
