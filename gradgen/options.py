"""Options of one gradient request, as a frozen value.

One ``Options`` describes what to generate for one function; it is part of
the decorator's cache key, so every field must be hashable and have a stable
``repr``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

# reverse: grad_f, the gradient; forward: jvp_f, (output, tangent of the output);
# callback: vjp_f, (output, backprop) with backprop(d_output) -> gradient (Thinc);
# hvp: hvp_f, Hessian-vector products (forward mode over the gradient).
MODES = ("reverse", "forward", "callback", "hvp")


@dataclass(frozen=True)
class Options:
    """What to generate for one function.

    wrt: parameters to differentiate with respect to, by index or name.
    preserve_result: the gradient function returns ``(value, gradient)``.
    simplify: run the simplifier (``False`` keeps the raw adjoint, for debugging).
    mode: ``"reverse"`` (a gradient function), ``"forward"`` (a JVP),
        ``"callback"`` (forward pass returning ``(output, backprop)``) or
        ``"hvp"`` (Hessian-vector products); see ``MODES``.
    shapes: optional ``{param: "n d"}`` shape annotations; they add to
        annotations written in the function's signature.
    rules: paths of extra rule files (the contract of templates/README.md),
        read after the bundled ones: a rule there overrides a bundled one.
    """

    wrt: tuple[int | str, ...] = (0,)
    preserve_result: bool = False
    simplify: bool = True
    mode: str = "reverse"
    shapes: tuple[tuple[str, str], ...] = field(default=())
    rules: tuple[str, ...] = ()

    @staticmethod
    def make(
        wrt: WrtLike = (0,),
        preserve_result: bool = False,
        simplify: bool = True,
        mode: str = "reverse",
        shapes: Mapping[str, str] | None = None,
        rules: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    ) -> Options:
        """Build Options from loose user values (an int, a name, a list, a dict).

        Raises :class:`~gradgen.errors.UsageError` for a value of the wrong type
        or a malformed shape string; whether the names exist is checked later,
        against the function (:func:`check_parameters`).
        """
        wrt_items = normalize_wrt(wrt)
        if not isinstance(mode, str) or mode not in MODES:
            raise _usage(f"unknown mode {mode!r}", hint=f"modes: {', '.join(MODES)}")
        return Options(wrt_items, _flag("preserve_result", preserve_result),
                       _flag("simplify", simplify), mode, normalize_shapes(shapes),
                       normalize_rules(rules))


WrtLike = int | str | Sequence[int | str]

_WRT_HINT = ('wrt is a parameter index or name, or a tuple of them: wrt=0, wrt="x", '
             'wrt=("x", "y")')
SHAPE_HINT = ('a shape is dimensions separated by spaces or commas: sizes (3), symbols '
              '(n: equal symbols are equal sizes) or _ for unknown; "" is a scalar, '
              'e.g. shapes={"X": "n d", "w": "d", "b": ""}')


def _usage(message: str, hint: str = ""):
    from gradgen.errors import UsageError  # (lazily: this module is on the warm path)

    return UsageError(message, hint=hint)


def _flag(name: str, value: object) -> bool:
    if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    if type(value).__name__ == "bool_":  # numpy.bool_, without importing numpy
        return bool(value)
    raise _usage(f"{name}={value!r}: expected True or False")


def _is_index(item: object) -> bool:
    return isinstance(item, int) and not isinstance(item, bool)


def normalize_wrt(wrt: object) -> tuple[int | str, ...]:
    """``wrt`` as a tuple of indices and names, or a UsageError saying what is wrong."""
    items = (wrt,) if isinstance(wrt, (int, str)) and not isinstance(wrt, bool) else wrt
    if not isinstance(items, (tuple, list)):
        raise _usage(f"wrt={wrt!r} is not a parameter index, name or tuple of them",
                     hint=_WRT_HINT)
    for item in items:
        if not (_is_index(item) or (isinstance(item, str) and item.isidentifier())):
            raise _usage(f"wrt entry {item!r} is neither a parameter index (an int) "
                         "nor a parameter name", hint=_WRT_HINT)
    if not items:
        raise _usage("wrt is empty: name at least one parameter", hint=_WRT_HINT)
    return tuple(items)


def shape_problem(text: object) -> str | None:
    """Why ``text`` is not a shape annotation string (``"n d"``, ``"3, d"``, ``""``),
    or None."""
    if not isinstance(text, str):
        return f"{text!r} is not a string such as \"n d\""
    parts = text.split(",")
    if len(parts) > 1 and not parts[-1].strip():
        parts = parts[:-1]  # one trailing comma, as in a Python tuple: "n,"
    if len(parts) > 1 and any(not part.strip() for part in parts):
        return f"{text!r} has an empty dimension between commas"
    for part in parts:
        for token in part.split():
            if not (token.isdigit() or token.isidentifier() or token in ("_", "?", "*")):
                return f"{text!r}: {token!r} is not a size, a symbol or _"
    return None


def normalize_rules(rules: object) -> tuple[str, ...]:
    """Rule file paths, absolute, in the order given (later ones override)."""
    if rules is None:
        return ()
    items = (rules,) if isinstance(rules, (str, os.PathLike)) else rules
    if not isinstance(items, (tuple, list)) or not all(
            isinstance(r, (str, os.PathLike)) for r in items):
        raise _usage(f"rules={rules!r} is not a path or a list of paths of rule files",
                     hint='rules=["tools/grad_rules.py"]')
    return tuple(os.path.abspath(os.fspath(r)) for r in items)


def normalize_shapes(shapes: object) -> tuple[tuple[str, str], ...]:
    """``{param: "n d"}`` as sorted items, or a UsageError saying what is wrong."""
    if shapes is None:
        return ()
    if not isinstance(shapes, Mapping):
        raise _usage(f"shapes={shapes!r} is not a dict of parameter names to shapes",
                     hint=SHAPE_HINT)
    for name, text in shapes.items():
        if not (isinstance(name, str) and name.isidentifier()):
            raise _usage(f"shapes: {name!r} is not a parameter name", hint=SHAPE_HINT)
        problem = shape_problem(text)
        if problem is not None:
            raise _usage(f"shapes[{name!r}]: {problem}", hint=SHAPE_HINT)
    return tuple(sorted(shapes.items()))


def parameter_problems(options: Options, function: str,
                       params: Sequence[str]) -> list[tuple[str, str, str]]:
    """What in ``options`` names no parameter of ``function(params)``:
    ``(option, message, hint)`` for each wrt entry and shape."""
    problems = []
    listed = ", ".join(params) if params else "none"
    hint = f"parameters of {function}(): {listed}"
    for item in options.wrt:
        if _is_index(item):
            if not -len(params) <= item < len(params):  # type: ignore[operator]
                problems.append(("wrt", f"wrt={item} is out of range: {function}() has "
                                 f"{len(params)} parameter{'' if len(params) == 1 else 's'}",
                                 hint))
        elif item not in params:
            problems.append(("wrt", f"wrt={item!r} is not a parameter of {function}()", hint))
    for name, _ in options.shapes:
        if name not in params:
            problems.append(("shapes", f"shapes names {name!r}, which is not a parameter "
                             f"of {function}()", hint))
    return problems


def check_parameters(options: Options, function: str, params: Sequence[str]) -> None:
    """Raise a UsageError if a wrt entry or a shape names no parameter."""
    problems = parameter_problems(options, function, params)
    if problems:
        _, message, hint = problems[0]
        raise _usage(message, hint=hint)
