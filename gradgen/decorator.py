"""``@differentiable``: generate a function's gradient when its module is imported.

::

    import numpy as np
    from gradgen import differentiable

    @differentiable
    def f(x):
        return np.sum(np.sin(x) * x)

    f(x)            # unchanged: the decorator returns f itself
    f.grad(x)       # the gradient: f's parameters plus a trailing seed (default 1.0)
    f.grad_source   # the generated module text, as `gradgen` would print it

``@differentiable(wrt=("x", "y"), preserve_result=True)`` takes the options of
:func:`gradgen.grad`.  ``mode=`` picks what is generated and attached, under
its own names so that decorators stack: ``"reverse"`` (default) ``f.grad``
and ``f.grad_source``; ``"forward"`` ``f.jvp`` (``f.jvp(*args, *tangents)``
-> ``(output, tangent)``) and ``f.jvp_source``; ``"callback"`` ``f.vjp``
(``f.vjp(*args)`` -> ``(output, backprop)``) and ``f.vjp_source``; ``"hvp"``
``f.hvp`` (Hessian-vector products) and ``f.hvp_source``. Generation happens at decoration time, so an error in
the function (a :class:`~gradgen.errors.GradgenError` with file:line:col)
surfaces at import, where it points at the decorated code.

Generated text is kept in the on-disk cache of :mod:`gradgen.cache`. A hit
reads the cached module and nothing else: the generator (and with it libcst
and black) is imported only on a miss.

The cache key is made from the lines of the file that the function's
definition spans (decorators included), the NumPy import lines and the file
name that :func:`gradgen.api._function_source` adds, the options, and
gradgen's version and code; not from the function's line number, since the
generated text does not depend on it, so editing code above a function does
not regenerate it. On Python 3.11+ those lines come from the code object's
positions, without tokenizing the file; Python 3.10 keys on the exact text
``inspect`` finds.

Source text is read through :mod:`linecache`, so functions in files and in
Jupyter/IPython cells (IPython registers each cell in linecache) work;
lambdas and functions made by ``exec`` of a string or typed at a plain REPL
have no source and raise :class:`~gradgen.errors.SourceNotFoundError` saying
what to do instead.
"""

from __future__ import annotations

import linecache
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from gradgen import cache
from gradgen.errors import GradgenError, UsageError
from gradgen.options import Options, WrtLike

Rules = Any  # a path or a list of paths (gradgen.api.Rules)

__all__ = ["differentiable"]

_ATTRIBUTES = {"reverse": "grad", "forward": "jvp", "callback": "vjp", "hvp": "hvp"}


F = TypeVar("F", bound=Callable[..., Any])


@overload
def differentiable(func: F, *, wrt: WrtLike = ..., preserve_result: bool = ...,
                   simplify: bool = ..., shapes: Mapping[str, str] | None = ...,
                   mode: str = ..., rules: Rules = ...) -> F: ...


@overload
def differentiable(func: None = None, *, wrt: WrtLike = ..., preserve_result: bool = ...,
                   simplify: bool = ..., shapes: Mapping[str, str] | None = ...,
                   mode: str = ..., rules: Rules = ...) -> Callable[[F], F]: ...


def differentiable(
    func: Callable[..., Any] | None = None,
    *,
    wrt: WrtLike = (0,),
    preserve_result: bool = False,
    simplify: bool = True,
    shapes: Mapping[str, str] | None = None,
    mode: str = "reverse",
    rules: Rules = None,
) -> Any:
    """Attach ``.grad`` and ``.grad_source`` to ``func`` and return ``func`` itself
    (``.jvp``, ``.vjp`` or ``.hvp`` and their ``_source`` with another ``mode``).

    Use as ``@differentiable`` or ``@differentiable(wrt=..., ...)``; the
    options are those of :func:`gradgen.grad`, plus ``mode``.  ``rules``:
    extra rule files; a relative path is relative to the folder of the file
    that defines the function (so the module imports the same from anywhere),
    and the files' contents are part of the cache key.
    """
    # Errors about the user's code or options are raised from this frame (or
    # decorate's) with a traceback that ends at the user's offending line,
    # instead of the pipeline's frames: see _in_user_code.
    error: GradgenError | None = None
    try:
        options = Options.make(wrt, preserve_result, simplify, mode=mode, shapes=shapes,
                               rules=rules)
    except GradgenError as err:
        error = _in_user_code(err, None)
    if error is not None:
        raise error  # gradgen: the error is in your code; its frame is below

    def decorate(f):
        try:
            _attach(f, _beside(f, options, rules))
        except GradgenError as err:
            error = _in_user_code(err, f)
        else:
            return f
        raise error  # gradgen: the error is in your code; its frame is below

    if func is None:
        return decorate
    if not callable(func):
        raise UsageError(
            f"@differentiable got {type(func).__name__} {func!r} where a function was expected",
            hint="pass options by keyword: @differentiable(wrt=(0,)), not @differentiable(0)",
        )
    try:
        _attach(func, _beside(func, options, rules))
    except GradgenError as err:
        error = _in_user_code(err, func)
    else:
        return func
    raise error  # gradgen: the error is in your code; its frame is below


def _beside(func, options: Options, rules: Rules) -> Options:
    """``options`` with the rule files ``rules`` as given, relative ones
    resolved against the folder of the file defining ``func`` (``options``
    has already validated them)."""
    if not options.rules:
        return options
    import dataclasses
    import os

    filename = getattr(getattr(func, "__code__", None), "co_filename", None) or "."
    folder = os.path.dirname(os.path.abspath(filename))
    given = (rules,) if isinstance(rules, (str, os.PathLike)) else rules
    resolved = tuple(os.path.normpath(os.path.join(folder, os.fspath(path)))
                     for path in given)
    return dataclasses.replace(options, rules=resolved)


def _rule_files(options: Options) -> tuple[str, ...]:
    """What the cache key needs of the extra rule files: their contents."""
    if not options.rules:
        return ()  # (the warm path imports no hashlib)
    import hashlib

    found = []
    for path in options.rules:
        try:
            with open(path, "rb") as handle:
                found.append(hashlib.sha256(handle.read()).hexdigest())
        except OSError as exc:
            found.append(f"unreadable: {type(exc).__name__}")  # generation reports it
    return tuple(found)


def _in_user_code(err: GradgenError, func) -> GradgenError:
    """``err`` with its traceback replaced by one frame at the user's line.

    The frame is made as Jinja2 shows template lines in tracebacks: a
    ``raise`` compiled with the user's file name and line number, inside a
    function named like the user's, so that Python prints that file, line and
    source line.  Without a location in a file we can find, the traceback is
    just cleared.  The chained internal context is suppressed.
    """
    err.__cause__ = None
    err.__suppress_context__ = True
    err.with_traceback(None)  # (a raise appends to the traceback it carries)
    tb = None
    location = err.location
    path = _file_of(location.filename, func) if location is not None else None
    if path is not None and location is not None and location.line >= 1:
        name = getattr(func, "__name__", "<module>")
        if not name.isidentifier():
            name = "f"
        line = location.source_line or linecache.getline(path, location.line)
        col = max(location.col, 1)
        # The raise spans the user's statement to the end of its line, so that
        # Python underlines nothing (or all of it).
        width = max(len(line.rstrip()) - col, 8)
        statement = "raise(" + " " * (width - 8) + "e)"
        if location.line >= 2:
            text = ("\n" * (location.line - 2) + f"def {name}():\n"
                    + " " * col + statement)
        else:
            text = f"def {name}(): raise(e)"
        code = compile(text, path, "exec", dont_inherit=True)
        namespace: dict[str, object] = {"e": err}
        try:
            exec(code, namespace)
            namespace[name]()  # type: ignore[operator]
        except GradgenError as raised:
            tb = raised.__traceback__
            while tb is not None and tb.tb_frame.f_code.co_name != name:
                tb = tb.tb_next  # drop this frame: keep the user's line only
            if tb is not None:
                tb.tb_next = None
    return err.with_traceback(tb)


def _file_of(display: str, func) -> str | None:
    """The path of the file a location's display name stands for, if known:
    the decorated function's file (or a callee's), else an existing path."""
    import os

    from gradgen import api

    candidates = []
    if func is not None and hasattr(func, "__code__"):
        candidates.append(func.__code__.co_filename)
        try:
            candidates += [c.__code__.co_filename for c in api._callees(func, {func.__name__})]
        except Exception:  # noqa: BLE001 - only a nicer traceback is at stake
            pass
    for filename in candidates:
        if api._display_path(filename) == display and os.path.isfile(filename):
            return filename
    if os.path.isfile(display):
        return os.path.abspath(display)
    return None


def _key(func, options: Options) -> tuple[str, str, str]:
    """(cache key, function name, display file name) of ``func``'s gradient module."""
    from gradgen import api

    lines = _definition_lines(func)
    if api._callees(func, {func.__name__}):
        lines = None  # the module text includes callees: key on all of it
    if lines is None:  # Python 3.10, or no source: the exact (slower) way
        # (raises SourceNotFoundError for lambdas, exec'd strings, the REPL)
        text, filename, name, _ = api._function_source(func)
        parts: tuple[str, ...] = ("source", filename, text)
    else:
        name = func.__name__
        filename = api._display_path(func.__code__.co_filename)
        parts = ("lines", filename,
                 "\n".join(api._numpy_imports(func) + api.constant_lines(func)), lines)
    extra = parts[:-1] + _rule_files(options)
    return cache.make_key(parts[-1], options, extra=extra), name, filename


def _attach(func, options: Options) -> None:
    gradient, module_text = _gradient(func, options)
    attribute = _ATTRIBUTES[options.mode]
    if options.mode == "reverse" and options.simplify and not options.shapes:
        gradient = _specialised(func, options, gradient)
    setattr(func, attribute, gradient)
    setattr(func, f"{attribute}_source", module_text)


def _gradient(func, options: Options) -> tuple[Callable[..., Any], str]:
    """The generated function of ``options`` for ``func`` and its module text,
    from the cache or generated (and then cached)."""
    key, name, filename = _key(func, options)
    display = f"<gradgen: gradient of {name} from {filename}, {key[:8]}>"

    entry = cache.load(key, display)
    gradient = None
    if entry is not None and entry.name:
        # An entry that compiles but does not run is regenerated.
        try:
            gradient = _run(entry.code).get(entry.name)
        except Exception:  # noqa: BLE001
            gradient = None
    if callable(gradient) and entry is not None:
        module_text = entry.text
    else:
        from gradgen import api

        module_text = api.source(
            func,
            wrt=options.wrt,
            preserve_result=options.preserve_result,
            simplify=options.simplify,
            shapes=dict(options.shapes) or None,
            mode=options.mode,
            rules=list(options.rules),
        )
        gradient_name = api.function_name(name, options.mode)
        code = compile(module_text, display, "exec", dont_inherit=True)
        gradient = _run(code)[gradient_name]
        cache.put(key, module_text, gradient_name, code)

    # Tracebacks through the gradient show the generated lines.
    lines = module_text.splitlines(True)
    linecache.cache[display] = (len(module_text), None, lines, display)
    assert callable(gradient)
    return gradient, module_text


def _specialised(func, options: Options, generic: Callable[..., Any]) -> Callable[..., Any]:
    """``f.grad`` that runs, per shape signature of its arguments, the version
    generated for it (cached on disk like the generic one: see gradgen.specialize)."""
    import dataclasses
    import inspect

    from gradgen import api
    from gradgen.specialize import dispatcher

    def generate(shapes: dict) -> Callable[..., Any]:
        return _gradient(func, dataclasses.replace(options, shapes=tuple(sorted(shapes.items()))))[0]

    return dispatcher(generic, list(inspect.signature(func).parameters), generate,
                      api.function_name(func.__name__, options.mode))


def _run(code) -> dict:
    """Execute compiled generated code in a fresh namespace, as a pasted module would run."""
    namespace: dict = {"__name__": "gradgen_generated"}
    exec(code, namespace)
    return namespace


def _definition_lines(func) -> str | None:
    """The lines of its file that ``func``'s definition spans, decorators included.

    A superset of what ``inspect.getsourcelines`` returns, found without
    tokenizing: from ``co_firstlineno`` to the last line any instruction of the
    function (or of a function nested in it) spans, then on over blank lines,
    comments and lines indented deeper than the ``def`` (statements the
    compiler dropped). None where this cannot be done surely (Python < 3.11,
    no source, not a plain function).
    """
    if sys.version_info < (3, 11) or type(func) is not types.FunctionType:
        return None
    code = func.__code__
    if func.__name__ == "<lambda>" or code.co_name == "<lambda>":
        return None
    filename = code.co_filename
    linecache.checkcache(filename)  # the file may have changed since it was cached
    lines = linecache.getlines(filename, func.__globals__)
    first, last = code.co_firstlineno, _last_line(code)
    if not lines or not (1 <= first <= last <= len(lines)):
        return None
    head = lines[first - 1]
    indent = len(head) - len(head.lstrip())
    if not head.lstrip().startswith(("def ", "async def ", "@")):
        return None
    end = last
    while end < len(lines):
        line = lines[end]
        stripped = line.strip()
        if (
            stripped
            and not stripped.startswith("#")
            and len(line) - len(line.lstrip()) <= indent
        ):
            break
        end += 1
    return "".join(lines[first - 1 : end])


def _last_line(code: types.CodeType) -> int:
    last = 0
    # (co_positions: Python 3.11+, which _definition_lines checks)
    for _, end, _, _ in code.co_positions():  # type: ignore[attr-defined,unused-ignore]
        if end is not None and end > last:
            last = end
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            last = max(last, _last_line(const))
    return last
