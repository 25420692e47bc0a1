"""Call-time shape specialisation: the gradient of a function called the
ordinary way (no ``shapes=``) runs code generated for its arguments' shapes.

Shape annotations let the simplifier drop ``unbroadcast``/``unreduce`` and the
``np.ones_like`` products that generic code needs in case arguments
broadcast; without them a gradient of Python floats pays microseconds per
call for helpers that do nothing.  :func:`dispatcher` wraps the generic
gradient in a function with the same signature that, on a call whose
arguments have a new *shape signature*, generates the version specialised to
it (``generate(shapes)``), and afterwards runs it directly.

The shape signature of an argument is what the annotations can say about it:

* a Python ``float`` (or ``int``): the annotation ``""`` (a scalar);
* a NumPy array (exactly ``np.ndarray``) of rank >= 1: one dimension per
  axis, ``1`` where the size is 1, otherwise a symbol shared by the axes of
  all arguments that have that same size (``X: "n0 n1", w: "n1"``);
* anything else (lists, 0-d arrays, NumPy scalars, other array types): no
  annotation: the specialised version is generic in that argument.

Soundness: a symbol only ever tells the simplifier "these sizes are equal"
(see :mod:`gradgen.shapes`: a symbol may stand for any size, 1 included), so
a version is valid for every call whose arguments have the annotated types
and ranks, a 1 wherever it says ``1``, and equal sizes wherever it repeats a
symbol.  The dispatcher's guard checks exactly those facts before it runs a
version; a call that breaks them goes to the slow path, which finds or
generates the right version.  No version ever runs on arguments it was not
generated for.

The guard is compiled into the dispatcher itself (its code is regenerated
when a version is added, and swapped into the same function object, so the
callable the user holds stays valid): a Python-level table lookup per call
would cost more than the helpers it saves on small inputs.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: Versions per gradient, after which new signatures run the generic code
#: (a function called with ever-changing ranks must not generate forever).
MAX_VERSIONS = 8

#: A dimension of size 1 in a shape signature (size classes are numbered from 0).
UNIT = -1

Generate = Callable[[dict], Callable[..., Any]]


def shape_signature(values: Sequence[Any]) -> tuple:
    """Per argument: ``None`` (not specialised), ``"float"``/``"int"``, or a
    tuple of dimensions: ``UNIT`` for a size of 1, else a size-class number,
    classes numbered from 0 in order of first appearance over all arguments."""
    classes: dict[int, int] = {}
    signature: list = []
    for value in values:
        kind = type(value)
        if kind is float or kind is int:
            signature.append(kind.__name__)
        elif kind is np.ndarray and value.ndim >= 1:
            signature.append(tuple(UNIT if n == 1 else classes.setdefault(n, len(classes))
                                   for n in value.shape))
        else:
            signature.append(None)
    return tuple(signature)


def shape_annotations(params: Sequence[str], signature: tuple) -> dict[str, str]:
    """The ``shapes=`` annotations that a signature states."""
    found = {}
    for name, sig in zip(params, signature):
        if sig in ("float", "int"):
            found[name] = ""
        elif isinstance(sig, tuple):
            found[name] = " ".join("1" if d == UNIT else f"n{d}" for d in sig)
    return found


def guard(params: Sequence[str], signature: tuple) -> str:
    """A Python condition on the parameters that holds exactly when their
    arguments satisfy the facts ``shape_annotations(params, signature)`` states."""
    tests: list[str] = []
    first: dict[int, str] = {}
    for name, sig in zip(params, signature):
        if sig in ("float", "int"):
            tests.append(f"type({name}) is {sig}")
        elif isinstance(sig, tuple):
            tests.append(f"type({name}) is _ndarray and {name}.ndim == {len(sig)}")
    for name, sig in zip(params, signature):
        if not isinstance(sig, tuple):
            continue
        for axis, dim in enumerate(sig):
            here = f"{name}.shape[{axis}]"
            if dim == UNIT:
                tests.append(f"{here} == 1")
            elif dim in first:
                tests.append(f"{here} == {first[dim]}")
            else:
                first[dim] = here
    return " and ".join(tests) or "True"


def dispatcher(generic: Callable[..., Any], params: Sequence[str], generate: Generate,
               name: str) -> Callable[..., Any]:
    """A function with ``generic``'s signature that runs, for each call, the
    version of the gradient specialised to its arguments' shape signature
    (``params``: the differentiated function's parameters, which come first
    in ``generic``'s signature; ``generate(shapes)``: the gradient generated
    with those annotations).  ``.generic`` is the generic gradient;
    ``.versions`` maps each signature to its source annotations."""
    signature = inspect.signature(generic)
    params = [p for p in params if p in signature.parameters]
    state = _State(generic, params, generate, signature)
    namespace: dict = {"_ndarray": np.ndarray, "_slow": state.slow, "_generic": generic}
    text = _dispatch_source(name, signature, params, [], namespace)
    exec(compile(text, f"<gradgen dispatcher of {name}>", "exec"), namespace)
    function = namespace[name]
    function.__doc__ = generic.__doc__
    function.__wrapped__ = generic
    function.generic = generic
    function.versions = state.annotated
    state.function, state.namespace, state.name = function, namespace, name
    return function


class _State:
    """The versions of one dispatcher, and its slow path."""

    def __init__(self, generic: Callable[..., Any], params: Sequence[str], generate: Generate,
                 signature: inspect.Signature) -> None:
        self.generic, self.params, self.generate = generic, list(params), generate
        self.signature = signature
        self.versions: dict[tuple, Callable[..., Any]] = {}
        self.annotated: dict[tuple, dict] = {}
        self.unspecialised: set[tuple] = set()
        self.lock = threading.Lock()
        self.function: Any = None
        self.namespace: dict = {}
        self.name = ""

    def slow(self, *args: Any, **kwargs: Any) -> Any:
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        key = shape_signature([bound.arguments[p] for p in self.params])
        return self.version(key)(*args, **kwargs)

    def version(self, key: tuple) -> Callable[..., Any]:
        with self.lock:
            if key in self.versions:
                return self.versions[key]
            shapes = shape_annotations(self.params, key)
            if not shapes or key in self.unspecialised or len(self.versions) >= MAX_VERSIONS:
                return self.generic
            from gradgen.errors import GradgenError

            try:
                version = self.generate(shapes)
            except GradgenError:
                # The generic gradient exists, so the function is accepted;
                # a signature the annotations cannot serve runs the generic one.
                self.unspecialised.add(key)
                return self.generic
            self.versions[key] = version
            self.annotated[key] = shapes
            self._rebuild()
            return version

    def _rebuild(self) -> None:
        guarded = [(guard(self.params, key), f"_v{k}")
                   for k, key in enumerate(self.versions)]
        for (_, alias), version in zip(guarded, self.versions.values()):
            self.namespace[alias] = version
        text = _dispatch_source(self.name, self.signature, self.params, guarded, {})
        scratch = dict(self.namespace)
        exec(compile(text, f"<gradgen dispatcher of {self.name}>", "exec"), scratch)
        self.function.__code__ = scratch[self.name].__code__


def _dispatch_source(name: str, signature: inspect.Signature, params, guarded,
                     namespace: dict) -> str:
    """``def name(<signature>):`` trying each guard in turn, then the slow path.

    Defaults are bound as names in the namespace (``_d0``...), so any default
    object works; the code object swapped in later reads the same names."""
    header: list[str] = []
    call: list[str] = []
    for k, p in enumerate(signature.parameters.values()):
        text = p.name
        if p.default is not inspect.Parameter.empty:
            namespace[f"_d{k}"] = p.default
            text += f"=_d{k}"
        if p.kind is p.KEYWORD_ONLY and not any(h.startswith("*") for h in header):
            header.append("*")
        if p.kind is p.VAR_POSITIONAL:
            text, passed = "*" + p.name, "*" + p.name
        elif p.kind is p.VAR_KEYWORD:
            text, passed = "**" + p.name, "**" + p.name
        elif p.kind is p.KEYWORD_ONLY:
            passed = f"{p.name}={p.name}"
        else:
            passed = p.name
        header.append(text)
        call.append(passed)
        if p.kind is p.POSITIONAL_ONLY and (
                k + 1 == len(signature.parameters)
                or list(signature.parameters.values())[k + 1].kind is not p.POSITIONAL_ONLY):
            header.append("/")
    args = ", ".join(call)
    lines = [f"def {name}({', '.join(header)}):"]
    for condition, alias in guarded:
        lines += [f"    if {condition}:", f"        return {alias}({args})"]
    lines.append(f"    return _slow({args})")
    return "\n".join(lines) + "\n"
