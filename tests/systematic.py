"""The systematic tests of every registry entry, generated from its test
signature (``test=`` in templates/), as autograd's test_systematic does.

For each case: the loss ``np.sum(P(args, **static) * u)`` with a fixed random
cotangent ``u`` (so a vector-valued primitive is tested through its full
VJP), as source text, and its inputs.  ``tests/test_systematic.py`` checks
the reverse mode (raw, simplified, and simplified with the shapes
annotated) against central differences, forward mode against central
differences, and the HVP against central differences of the gradient.

A test signature is a dict:

* ``shapes``: a list of cases, each a tuple of shape strings ("2 3", "3",
  "" for a scalar), one per differentiable parameter in the rule's order;
* ``static``: parameter -> list of literal values (every combination runs);
* ``fixed``: parameter -> a literal passed in every case;
* ``domain``: "any", "positive", "negative", "unit" (inside (-1, 1)),
  "prob" (inside (0, 1)), "gt1", "nonzero" or "invertible" (matrices near
  the identity, full rank and well conditioned), for every argument or per
  parameter (a dict);
* ``build``: parameter -> an expression of it that the loss passes instead
  (``"x @ x.T + 3 * np.eye(3)"``: a symmetric positive definite matrix,
  so that finite differences stay in the primitive's domain);
* ``exclude``: a list of dicts of static values (and optionally ``shapes``, a
  shape case): combinations that match one are not generated (a case the
  rule refuses, whose refusal is tested elsewhere);
* ``skip``: why the entry is tested elsewhere instead.

Infinite floats (``1e999`` in a signature) are written ``np.inf``.

Entries without one get the default of their family.  An entry of a module
gradgen does not depend on (``scipy.special.expit``) is imported in the case
and has no case where that module is not installed (see ``missing_module``).
"""

from __future__ import annotations

import importlib
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from gradgen.rules import load_registry

HELPERS = load_registry().helpers
DEFAULT_SHAPES = {
    1: [("",), ("3",), ("2 3",)],
    2: [("2 3", "2 3"), ("2 1", "1 3"), ("", "3"), ("3", "")],
    3: [("2 3", "2 3", "2 3"), ("3", "", "")],
}
REDUCTION_SHAPES = [("3",), ("2 3",), ("2 3 4",)]
REDUCTION_AXES = [None, 0, -1, (0, 1)]


@dataclass(frozen=True)
class Case:
    label: str
    source: str
    args: tuple  # the differentiable inputs, then u
    wrt: tuple
    shapes: dict  # annotations, for the shape-specialised run
    keeps_float32: bool  # the primitive itself gives float32 for float32 inputs


def _dims(text: str) -> tuple:
    return tuple(int(t) for t in text.split())


def _sample(rng, shape, domain):
    size = rng.uniform(0.5, 2.0, size=shape)
    if domain == "positive":
        value = size
    elif domain == "unit":
        value = rng.uniform(-0.8, 0.8, size=shape)
    elif domain == "prob":
        value = rng.uniform(0.1, 0.9, size=shape)
    elif domain == "gt1":
        value = 1.0 + size
    elif domain == "negative":
        value = -size
    elif domain == "invertible":
        value = rng.standard_normal(shape) * 0.3 + np.eye(*shape[-2:])
    elif domain == "nonzero":
        value = size * rng.choice([-1.0, 1.0], size=shape)
    else:
        value = rng.standard_normal(shape) * 0.8
    return float(value) if shape == () else value


# Python's operators are written as operators, as users write them.
OPERATORS = {
    "operator.add": "{} + {}", "operator.sub": "{} - {}", "operator.mul": "{} * {}",
    "operator.truediv": "{} / {}", "operator.pow": "{} ** {}", "operator.mod": "{} % {}",
    "operator.matmul": "{} @ {}", "operator.neg": "-{}", "operator.pos": "+{}",
}  # fmt: skip


def _expression(primitive: str, call_args: str, names: list) -> str:
    if primitive in OPERATORS:
        return "(" + OPERATORS[primitive].format(*names) + ")"
    return f"{primitive}({call_args})"


def _valid_axis(axis, ndim: int) -> bool:
    axes = axis if isinstance(axis, tuple) else (axis,)
    return axis is None or all(-ndim <= a < ndim for a in axes) and len(set(
        a % ndim for a in axes)) == len(axes)


BUILTIN_MODULES = ("np", "math", "operator")


def _module(primitive: str) -> str | None:
    """The module a primitive outside NumPy, math and operator comes from."""
    module = primitive.rpartition(".")[0]
    return None if not module or module.split(".")[0] in BUILTIN_MODULES else module


def missing_module(primitive: str) -> str | None:
    """The module the primitive needs where it is not installed, else None."""
    module = _module(primitive)
    if module is None:
        return None
    try:
        importlib.import_module(module)
    except ImportError:
        return module
    return None


def cases(primitive: str, entry) -> list:
    """The cases of one entry (empty when its signature says ``skip``, or
    when its module is not installed)."""
    test = dict(entry.test or {})
    if "skip" in test or missing_module(primitive):
        return []
    rule = entry.rule
    params = [p for p in rule.params if p in rule.differentiable and p not in entry.static]
    params = [p for p in params if p not in dict(test.get("fixed", {}))]
    static = dict(test.get("static", {}))
    if entry.family == "reduction" or entry.shape == "reduction":
        shapes = test.get("shapes", REDUCTION_SHAPES)
        static.setdefault("axis", REDUCTION_AXES)
        static.setdefault("keepdims", [False, True])
        static = {k: v for k, v in static.items() if k in rule.params}
    else:
        shapes = test.get("shapes", DEFAULT_SHAPES.get(len(params), [("2 3",) * len(params)]))
    domain = test.get("domain", "any")
    found = []
    rng = np.random.default_rng(abs(hash(primitive)) % 2**32)
    keys = sorted(static)
    for shape_case in shapes:
        shape_case = tuple(shape_case)
        names = params[:len(shape_case)]
        for values in itertools.product(*(static[k] for k in keys)) if keys else [()]:
            kwargs = dict(zip(keys, values))
            ndim = max((len(_dims(s)) for s in shape_case), default=0)
            if "axis" in kwargs and not _valid_axis(kwargs["axis"], ndim):
                continue
            if "axis" in kwargs and kwargs["axis"] is not None and ndim == 0:
                continue
            if any(_excluded(dict(ex), kwargs, shape_case) for ex in test.get("exclude", ())):
                continue
            kwargs.update(dict(test.get("fixed", {})))
            found.append(_case(primitive, rule.params, names, shape_case, kwargs, domain, rng,
                               dict(test.get("build", {}))))
    return [c for c in found if c is not None]


def _excluded(exclude: dict, kwargs: dict, shape_case: tuple) -> bool:
    shapes = exclude.pop("shapes", None)
    if shapes is not None and tuple(shapes) != shape_case:
        return False
    return all(k in kwargs and kwargs[k] == v for k, v in exclude.items())


def _source(value) -> str:
    """A literal as source: ``np.inf`` for an infinite float."""
    if isinstance(value, float) and math.isinf(value):
        return "np.inf" if value > 0 else "-np.inf"
    if isinstance(value, tuple):
        items = ", ".join(_source(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, list):
        return "[" + ", ".join(_source(v) for v in value) + "]"
    return repr(value)


def _arguments(order, names, kwargs, build=None) -> str:
    """The call's arguments in the rule's order: positional until the first
    one given by keyword (NumPy's ufuncs take no keywords for their inputs);
    ``build`` gives the expressions passed instead of some parameters."""
    parts, keyword = [], False
    build = build or {}
    for param in order:
        if param in kwargs:
            parts.append(f"{param}={_source(kwargs[param])}")
            keyword = True
        elif param in names:
            value = build.get(param, param)
            parts.append(f"{param}={value}" if keyword else value)
    return ", ".join(parts)


def _case(primitive, order, names, shape_case, kwargs, domain, rng, build=None):
    args = [_sample(rng, _dims(s), domain.get(n, "any") if isinstance(domain, Mapping) else domain)
            for n, s in zip(names, shape_case)]
    shown = [(build or {}).get(n, n) for n in names]
    call = _expression(primitive, _arguments(order, names, kwargs, build), shown)
    namespace: dict = {"np": np, "math": math}
    module = _module(primitive)
    if module is not None:
        importlib.import_module(module)
        namespace[module.split(".")[0]] = importlib.import_module(module.split(".")[0])
    for helper in HELPERS.values():  # generated code's helpers are primitives too
        exec(helper.source, namespace)
    try:
        out = eval(call, namespace, dict(zip(names, args)))  # the test's own expression
    except Exception:
        return None  # this combination is not valid for the primitive
    u = rng.standard_normal(np.shape(out))
    u = float(u) if np.ndim(out) == 0 else u
    params = ", ".join(names + ["u"])
    needed = {name for name in HELPERS if name in call}
    while True:
        more = set().union(*(HELPERS[n].uses for n in needed)) - needed if needed else set()
        if not more:
            break
        needed |= more
    helpers = "".join("\n\n" + HELPERS[name].source for name in HELPERS if name in needed)
    imports = "" if module is None else f"import {module}\n"
    source = (f"import math\n\nimport numpy as np\n{imports}{helpers}\n\ndef loss({params}):\n"
              f"    return np.sum({call} * u)\n")
    label = f"{primitive}[{','.join(shape_case)}]{kwargs or ''}"
    annotations = {n: s for n, s in zip(names, shape_case)}
    annotations["u"] = " ".join(str(d) for d in np.shape(out))
    float32 = np.asarray(eval(call, namespace, {n: np.float32(a) if np.ndim(a) == 0 else
                                              np.asarray(a, np.float32)
                                              for n, a in zip(names, args)})).dtype
    return Case(label, source, (*args, u), tuple(range(len(names))), annotations,
                float32 == np.float32)


def all_cases(registry=None) -> list:
    """(primitive, [cases]) for every differentiable entry, in name order."""
    registry = registry or load_registry()
    return [(p, cases(p, e)) for p, e in sorted(registry.entries.items()) if e.rule is not None]
