"""Gradient checking for users: compare a gradient function with finite differences.

Everything here depends on NumPy only and works in any pytest suite::

    from gradgen.testing import check_grads

    def f(x, y):
        return np.sum(np.sin(x) * y)

    check_grads(f, (x, y), wrt=(0, 1))            # builds gradgen.grad(f) itself
    check_grads(f, (x, y), wrt=(0, 1), grad=df)   # or checks a gradient you have

A gradient function follows gradgen's calling convention: it takes the
function's parameters plus a trailing output cotangent (the seed; generated
gradients call it ``d_<output>``), passed by keyword, and returns the
gradient of ``np.sum(seed * func(*args))``: one array for one ``wrt``, a
tuple in ``wrt`` order for several.

Two checks, both in float64:

* **entrywise** (:func:`numerical_gradient`): every entry of the gradient is
  compared with a central difference.  It costs two calls of ``func`` per
  input entry, and it tells you *which* entry is wrong.
* **dot product** (:func:`check_dot_product`, a.k.a. the VJP/JVP consistency
  test): for a random input direction ``v`` and a random output cotangent
  ``u``, ``<grad(..., u), v>`` must equal ``<u, J v>``, where ``J v`` is one
  central difference along ``v``.  It costs two calls of ``func`` per argument
  whatever the input size, and exercises a non-trivial cotangent, so it
  catches transposed or mis-broadcast Jacobians that a seed of ones can hide.

Failures raise :class:`GradientCheckError`, an ``AssertionError`` whose message
names the argument, the worst entry, both values, the errors and the
tolerances.

This module must not import gradgen's pipeline at import time: ``gradgen.api``
is imported inside :func:`check_grads` only when no ``grad`` is given.
"""

from __future__ import annotations

import copy
import inspect
import numbers

import numpy as np

__all__ = [
    "DEFAULT_ATOL",
    "DEFAULT_RTOL",
    "NOISE_FACTOR",
    "REL_STEP",
    "GradientCheckError",
    "check_dot_product",
    "check_grads",
    "numerical_gradient",
]

_EPS_MACH = float(np.finfo(np.float64).eps)

#: Relative step of the central differences: the cube root of float64's machine
#: epsilon, about 6.06e-6.  The error of ``(f(x+h) - f(x-h)) / 2h`` is a
#: truncation term ``h**2 |f'''| / 6`` plus a rounding term ``eps_mach |f| / h``;
#: with ``f`` and its derivatives of the same scale, their sum is smallest at
#: ``h ~ eps_mach ** (1/3)``, where both are ~ ``eps_mach ** (2/3)`` ~ 4e-11.
#: The step of entry ``x_i`` is ``REL_STEP * max(1, |x_i|)`` (as in SciPy's
#: ``approx_derivative``): proportional to ``|x_i|`` when it is large, so that
#: rounding ``x_i + h`` costs nothing, and not shrinking to nothing near 0.
#: For comparison, torch's ``gradcheck`` uses an absolute 1e-6 and JAX's
#: ``check_grads`` an absolute 1e-4 (times a normal random direction); both
#: are fine at unit scale, and neither adapts to large ``|x|``.
REL_STEP = _EPS_MACH ** (1.0 / 3.0)

#: Safety factor of the rounding-noise floor added to the tolerances.  A
#: central difference cannot resolve changes of ``f`` below the rounding error
#: of ``f`` itself, ~ ``eps_mach (|f(x+h)| + |f(x-h)|)``; divided by the step,
#: that is a floor under which analytic and numerical values cannot be told
#: apart.  It matters for large outputs (a loss summed over 1000 terms of size
#: 1e3 has a floor ~1e-5) and is ~1e-10 for outputs of order 1.  The factor 2
#: covers a couple of roundings inside ``func``; the rounding errors at
#: ``x+h`` and ``x-h`` are correlated, so the floor is pessimistic.
NOISE_FACTOR = 2.0

#: Default relative tolerance of :func:`check_grads` (float64): the same as
#: ``jax.test_util.check_grads`` for float64 (1e-5), tighter than
#: ``torch.autograd.gradcheck`` (1e-3), which must also serve float32 and
#: complex code.  Our central differences are accurate to ~1e-10 relative on
#: well-scaled functions (and to ~1e-7 on rough ones such as ``1/x`` near
#: 0.1), so 1e-5 leaves ample room for curvature while still flagging a
#: gradient off by 0.01%.
DEFAULT_RTOL = 1e-5

#: Default absolute tolerance of :func:`check_grads`, for entries whose true
#: value is (near) zero, where the relative test is meaningless: the same order
#: as torch (1e-5) and JAX (1e-5), a little tighter because the rounding of
#: large outputs is covered separately by the noise floor (:data:`NOISE_FACTOR`).
DEFAULT_ATOL = 1e-6


class GradientCheckError(AssertionError):
    """A gradient disagrees with finite differences (or has the wrong shape).

    Attributes (``None`` where they do not apply):

    check: ``"entrywise"``, ``"dot product"``, ``"shape"`` or ``"structure"``.
    argument: the checked argument, e.g. ``"'x' (argument 0)"``.
    index: the worst entry's index (a tuple; ``()`` for a scalar), entrywise only.
    analytic, numerical: the two values compared there.
    abs_error, rel_error: ``|analytic - numerical|`` and that over ``|numerical|``.
    rtol, atol: the tolerances used.
    """

    def __init__(
        self,
        message: str,
        *,
        check: str,
        argument: str,
        index=None,
        analytic=None,
        numerical=None,
        abs_error=None,
        rel_error=None,
        rtol=None,
        atol=None,
    ):
        super().__init__(message)
        self.check = check
        self.argument = argument
        self.index = index
        self.analytic = analytic
        self.numerical = numerical
        self.abs_error = abs_error
        self.rel_error = rel_error
        self.rtol = rtol
        self.atol = atol


# ---------------------------------------------------------------------------
# helpers


class _Arg:
    """One differentiated argument: its position, its name, how to print it."""

    def __init__(self, index: int, name: str | None, requested):
        self.index = index
        self.name = name
        self.requested = requested  # what the caller wrote in wrt (index or name)

    @property
    def label(self) -> str:
        if self.name is None:
            return f"argument {self.index}"
        return f"'{self.name}' (argument {self.index})"

    def entry(self, index: tuple) -> str:
        """``x[1, 2]`` for an array entry, ``x`` for a scalar."""
        base = self.name if self.name is not None else f"args[{self.index}]"
        if index == ():
            return base
        return f"{base}[{', '.join(str(int(i)) for i in index)}]"


def _positional_names(func) -> list[str] | None:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in signature.parameters.values() if p.kind in kinds]


def _resolve_wrt(func, nargs: int, wrt) -> _Arg:
    """Turn an index or a parameter name into an :class:`_Arg`."""
    names = _positional_names(func)
    if isinstance(wrt, str):
        if names is None:
            raise ValueError(
                f"cannot resolve wrt={wrt!r}: the signature of {func!r} is unknown; "
                "pass the argument's position instead"
            )
        if wrt not in names:
            raise ValueError(
                f"wrt={wrt!r} is not a positional parameter of "
                f"{getattr(func, '__name__', func)!r}; its parameters are {names}"
            )
        index = names.index(wrt)
        if index >= nargs:
            raise ValueError(
                f"wrt={wrt!r} is parameter {index}, but only {nargs} args were given"
            )
        return _Arg(index, wrt, wrt)
    if isinstance(wrt, bool) or not isinstance(wrt, numbers.Integral):
        raise TypeError(
            f"wrt must be an argument index or a parameter name, not {wrt!r}"
        )
    index = int(wrt)
    if not -nargs <= index < nargs:
        raise ValueError(f"wrt={index} is out of range for {nargs} args")
    index %= nargs
    name = names[index] if names is not None and index < len(names) else None
    return _Arg(index, name, index)


def _resolve_many(func, nargs: int, wrt) -> list[_Arg]:
    items = (wrt,) if isinstance(wrt, (str, numbers.Integral)) else tuple(wrt)
    if not items:
        raise ValueError("wrt is empty: name at least one argument to differentiate")
    resolved = [_resolve_wrt(func, nargs, w) for w in items]
    positions = [a.index for a in resolved]
    if len(set(positions)) != len(positions):
        raise ValueError(f"wrt={items!r} names the same argument twice")
    return resolved


def _to_float64(value, what: str):
    """A float64 copy of a real number or array (a Python float for scalars)."""
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise TypeError(
            f"{what} must be real numbers (int or float) to be differentiated, "
            f"got dtype {array.dtype}"
        )
    if isinstance(value, np.ndarray) or array.ndim > 0:
        return np.array(array, dtype=np.float64)  # always a copy
    return float(array)


def _fresh(args) -> list:
    """Copies of the arguments, so that a function that mutates them harms nobody."""
    return [a.copy() if isinstance(a, np.ndarray) else copy.deepcopy(a) for a in args]


def _output(func, args) -> np.ndarray:
    """``func(*args)`` on fresh copies, as a float64 array."""
    out = func(*_fresh(args))
    if isinstance(out, (tuple, list)):
        raise TypeError(
            f"the function must return one number or array, got a {type(out).__name__}"
        )
    array = np.asarray(out)
    if array.dtype.kind not in "iufb":
        raise TypeError(
            f"the function must return real numbers, got dtype {array.dtype}"
        )
    return array.astype(np.float64)


def _step(x, eps):
    if eps is None:
        return REL_STEP * np.maximum(1.0, np.abs(x))
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps!r}")
    return float(eps)


def _rng(random_state) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)


def _default_seed(out_shape: tuple):
    return 1.0 if out_shape == () else np.ones(out_shape)


def _check_seed(seed, out_shape: tuple):
    shape = np.shape(seed)
    if shape not in ((), out_shape):
        raise ValueError(
            f"seed has shape {shape}, but the function's output has shape {out_shape}; "
            "pass a scalar or an array shaped like the output"
        )
    if isinstance(seed, np.ndarray):
        return seed.copy()
    return seed


def _rounding_size(weights, out_plus, out_minus) -> float:
    """``sum |w| (|f+| + |f-|)`` over the outputs that changed.

    Outputs that are bitwise equal at both points difference to an exact zero
    and add no rounding error, so they do not count.
    """
    changed = out_plus != out_minus
    return float(
        np.sum(np.abs(weights) * (np.abs(out_plus) + np.abs(out_minus)) * changed)
    )


def _fmt(value) -> str:
    return f"{float(value):.10g}"


def _err(value) -> str:
    return f"{float(value):.3g}"


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _positional_count(func, given: int) -> int:
    """How many positional parameters ``func`` has (``given`` if it takes ``*args``
    or has no signature)."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return given
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return given
    return sum(p.kind in _POSITIONAL for p in params)


def _seed_parameter(grad, func, given: int) -> str | None:
    """The name under which ``grad`` takes the output seed, if it can be told.

    Gradients follow gradgen's convention: ``func``'s parameters, then the
    seed (``d_<output>`` in generated code; any name in a hand-written one).
    So the seed is ``grad``'s parameter just after as many positional
    parameters as ``func`` has, when it can be passed by keyword.
    """
    try:
        params = list(inspect.signature(grad).parameters.values())
    except (TypeError, ValueError):
        return None
    position = _positional_count(func, given)
    positional = [p for p in params if p.kind in _POSITIONAL]
    if position < len(positional):
        candidate = positional[position]
        if candidate.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            return candidate.name
        return None
    if position == len(positional):
        keyword_only = [p for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]
        if keyword_only:
            return keyword_only[0].name
    return None


def _takes_varargs(func) -> bool:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)


def _positional_with_defaults(func, point) -> list:
    """``point`` followed by the defaults of ``func``'s positional parameters that
    it leaves out, so that a seed passed after it cannot land in one of them."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return list(point)
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    filled = list(point)
    for param in params[len(point):]:
        if param.kind not in kinds or param.default is inspect.Parameter.empty:
            break
        filled.append(param.default)
    return filled


def _call_grad(grad, point, seed, args: list[_Arg], func=None) -> list:
    """Call ``grad`` at ``point`` with the output ``seed``; check the structure
    and shapes of the result.

    The seed is passed by keyword when ``grad``'s signature names it (see
    :func:`_seed_parameter`), so that it never lands in a parameter of
    ``func`` that ``point`` leaves at its default (``def f(w, c=0.0)``); to a
    ``grad(*args)`` it is passed after every positional parameter of
    ``func`` (defaults filled in); otherwise right after ``point``.
    """
    name = _seed_parameter(grad, func, len(point)) if func is not None else None
    if name is not None:
        result = grad(*_fresh(point), **{name: _fresh([seed])[0]})
    else:
        positional = point
        if func is not None and _takes_varargs(grad):
            positional = _positional_with_defaults(func, point)
        result = grad(*_fresh(positional), *_fresh([seed]))
    if len(args) == 1:
        if isinstance(result, (tuple, list)):
            raise GradientCheckError(
                f"the gradient function returned a {type(result).__name__} of "
                f"{len(result)} for one wrt argument ({args[0].label}); "
                "it should return the gradient itself",
                check="structure",
                argument=args[0].label,
            )
        grads = [result]
    else:
        if not isinstance(result, (tuple, list)) or len(result) != len(args):
            got = (
                f"a {type(result).__name__} of {len(result)}"
                if isinstance(result, (tuple, list))
                else "one value"
            )
            raise GradientCheckError(
                f"the gradient function returned {got} for {len(args)} wrt arguments "
                f"({', '.join(a.label for a in args)}); it should return a tuple "
                "of gradients in wrt order",
                check="structure",
                argument=", ".join(a.label for a in args),
            )
        grads = list(result)
    checked = []
    for arg, g in zip(args, grads):
        x_shape = np.shape(point[arg.index])
        g_shape = np.shape(g)
        if g_shape != x_shape:
            raise GradientCheckError(
                f"the gradient for {arg.label} has shape {g_shape}, but the argument "
                f"has shape {x_shape}; a gradient must have its argument's shape",
                check="shape",
                argument=arg.label,
            )
        g_array = np.asarray(g)
        if g_array.dtype.kind not in "iuf":
            raise GradientCheckError(
                f"the gradient for {arg.label} has dtype {g_array.dtype}; "
                "expected real numbers",
                check="structure",
                argument=arg.label,
            )
        checked.append(g_array.astype(np.float64))
    return checked


def _prepare(func, args, wrt):
    args = tuple(args)
    resolved = _resolve_many(func, len(args), wrt)
    point = list(args)
    for arg in resolved:
        point[arg.index] = _to_float64(args[arg.index], arg.label)
    return resolved, point


def _build_grad(func, resolved: list[_Arg]):
    from gradgen import api  # lazily: gradgen.testing must not need the pipeline

    return api.grad(func, wrt=tuple(a.requested for a in resolved))


# ---------------------------------------------------------------------------
# public API


def numerical_gradient(func, args, wrt=0, seed=None, eps=None):
    """The gradient of ``np.sum(seed * func(*args))`` by central differences.

    func: a function of ``args`` returning a number or an array of reals.
    args: the point (a tuple of positional arguments).
    wrt: the argument to differentiate, by position or by parameter name.
    seed: the output cotangent, broadcast against the output (default ``1.0``:
        the gradient of the sum of the outputs).
    eps: an absolute step for every entry.  By default each entry ``x_i`` gets
        the step ``REL_STEP * max(1, |x_i|)`` with ``REL_STEP = eps_mach**(1/3)
        ~ 6.06e-6``: it balances the truncation error ``h**2 |f'''| / 6`` of
        central differences against the rounding error ``eps_mach |f| / h``,
        giving ~1e-10 relative accuracy on well-scaled functions; the
        ``max(1, |x|)`` factor keeps the step meaningful for large ``|x|``.
        The quotient uses the step actually taken, ``(x+h) - (x-h)`` in
        floating point, not ``2h``.  Near a singularity far below 1 (``log``
        at 1e-3, say) the default step is too coarse: pass a smaller ``eps``.

    The outputs at ``x+h`` and ``x-h`` are subtracted before they are weighted
    and summed, so outputs the entry does not affect cancel exactly and add no
    rounding noise (a small entry next to a huge output stays accurate).

    Everything is computed in float64.  The argument is converted to a float64
    copy before it is perturbed and ``func`` always receives fresh copies, so
    the caller's arrays are never modified.  Returns a float for a Python or
    NumPy scalar argument, else an array of the argument's shape.
    """
    args = tuple(args)
    arg = _resolve_wrt(func, len(args), wrt)
    point = list(args)
    point[arg.index] = _to_float64(args[arg.index], arg.label)
    gradient, _ = _central_differences(func, point, arg, seed, eps)
    if isinstance(point[arg.index], float):
        return float(gradient)
    return gradient


def _central_differences(func, point, arg: _Arg, seed, eps, scale: float = 1.0,
                         only=None):
    """The central-difference gradient of ``sum(seed * func)`` and its rounding noise.

    ``point[arg.index]`` must already be float64.  The noise estimate of each
    entry is ``NOISE_FACTOR * eps_mach * sum(|seed| (|f(x+)| + |f(x-)|)) / step``:
    what rounding the outputs to float64 can contribute to the quotient.
    ``scale`` multiplies the step; ``only`` (a boolean array) limits the work
    to those entries (the others are 0).
    """
    x = point[arg.index]
    weights = 1.0 if seed is None else np.array(seed, dtype=np.float64)

    def change(plus, minus, delta) -> tuple[float, float]:
        # Difference the outputs before weighting and summing them: outputs that
        # the perturbed entry does not affect then cancel exactly, instead of
        # adding the rounding error of a large sum to a small derivative.
        trial_plus, trial_minus = list(point), list(point)
        trial_plus[arg.index], trial_minus[arg.index] = plus, minus
        out_plus, out_minus = _output(func, trial_plus), _output(func, trial_minus)
        with np.errstate(invalid="ignore", over="ignore"):
            value = float(np.sum(weights * (out_plus - out_minus))) / delta
            size = _rounding_size(weights, out_plus, out_minus)
        return value, NOISE_FACTOR * _EPS_MACH * size / abs(delta)

    if isinstance(x, float):
        h = float(_step(x, eps)) * scale
        plus, minus = x + h, x - h
        if plus == minus:
            raise ValueError(f"step {h!r} is too small to move {arg.entry(())}={x!r}")
        value, noise = change(plus, minus, plus - minus)
        return np.float64(value), np.float64(noise)

    gradient, noises = np.zeros(x.shape), np.zeros(x.shape)
    steps = np.broadcast_to(_step(x, eps), x.shape) * scale
    for k in np.ndindex(x.shape):
        if only is not None and not only[k]:
            continue
        plus_array, minus_array = x.copy(), x.copy()
        plus_array[k] = x[k] + steps[k]
        minus_array[k] = x[k] - steps[k]
        delta = plus_array[k] - minus_array[k]
        if delta == 0:
            raise ValueError(
                f"step {steps[k]!r} is too small to move {arg.entry(k)}={x[k]!r}"
            )
        gradient[k], noises[k] = change(plus_array, minus_array, delta)
    return gradient, noises


def _refined(func, point, arg: _Arg, seed, eps, coarse, noise, only):
    """Richardson extrapolation where the plain central difference is in doubt.

    For the entries in ``only`` (those that failed the plain check), the
    difference is taken again with half the step: with ``D(h)`` and
    ``D(h/2)`` of truncation errors ``c h**2`` and ``c h**2 / 4``, the
    extrapolation ``(4 D(h/2) - D(h)) / 3`` cancels the ``h**2`` term, and
    ``|D(h/2) - D(h)|`` (three times the truncation error of ``D(h/2)``, and
    far more than that of the extrapolation) is added to the tolerance as
    its error estimate, with the rounding floor of the extrapolation (about
    three times that of ``D(h)``).  So a correct gradient of a smooth
    function cannot fail for want of accuracy of the finite differences
    (``np.sum(np.sin(x) * x)`` at ``|x| ~ 1e3``, where the step must grow
    with ``|x|``), while an error larger than that estimate still fails.
    Returns the new (numerical, noise); other entries are unchanged.
    """
    fine, fine_noise = _central_differences(func, point, arg, seed, eps, scale=0.5,
                                            only=only)
    with np.errstate(invalid="ignore", over="ignore"):
        extrapolated = (4.0 * fine - coarse) / 3.0
        estimate = np.abs(fine - coarse) + (4.0 * fine_noise + noise) / 3.0
    return (np.where(only, extrapolated, coarse), np.where(only, estimate, noise))


def check_grads(
    func,
    args,
    wrt=(0,),
    grad=None,
    *,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    eps=None,
    random_state=0,
    seed=None,
) -> None:
    """Check a reverse-mode gradient of ``func`` at ``args`` against finite differences.

    func: the function, returning a number or an array of reals.
    args: the point, a tuple of positional arguments.  The ``wrt`` arguments
        are converted to float64 (ints too) and both ``func`` and ``grad`` are
        evaluated there, always on fresh copies: nothing passed in is modified.
    wrt: the argument(s) to check, by position or parameter name; one or a tuple.
    grad: the gradient function: ``func``'s parameters, then the output seed
        (as generated gradients take ``d_<output>``); it returns one gradient
        for one ``wrt``, a tuple in ``wrt`` order for several.  It is called
        with ``args`` and the seed *by keyword* (the name of its parameter
        after ``func``'s own), so that the seed never lands in a parameter of
        ``func`` that ``args`` leaves at its default (``def f(w, c=0.0)``
        checked at ``(w,)``).  If ``None``, it is built with
        ``gradgen.api.grad(func, wrt=wrt)``.
    rtol, atol: an entry passes when ``|analytic - numerical| <= atol + rtol *
        |numerical| + noise`` (``np.allclose`` with the finite difference as
        the reference, plus the difference's rounding floor ``noise``, see
        :data:`NOISE_FACTOR`; negligible unless the output is large).
        Defaults 1e-5 and 1e-6; see :data:`DEFAULT_RTOL` and
        :data:`DEFAULT_ATOL` for the reasoning and the comparison with torch
        (``gradcheck``: eps 1e-6, atol 1e-5, rtol 1e-3) and JAX
        (``check_grads``: eps 1e-4, atol = rtol = 1e-5 in float64).
    eps: the finite-difference step (see :func:`numerical_gradient`); the
        default is relative, ``~6e-6 * max(1, |x|)``.
    random_state: seed (or ``np.random.Generator``) of the dot-product test's
        random vectors; the default ``0`` makes the check deterministic.
    seed: the output cotangent of the entrywise check: a scalar or an array of
        the output's shape; default ones (the gradient of the sum of outputs).

    Runs, for each ``wrt`` argument: a shape check (the gradient must have the
    argument's shape), the entrywise check, then the dot-product test of
    :func:`check_dot_product` with a random cotangent.  Raises
    :class:`GradientCheckError` on the first failure; returns ``None``.

    Where a plain central difference disagrees, it is not trusted alone: the
    difference is taken again with half the step and Richardson-extrapolated,
    with the change between the two steps as its error estimate (see
    :func:`_refined`); so the check does not reject a correct gradient where
    the step must be large (``np.sum(np.sin(x) * x)`` at ``|x| ~ 1e3``), and it
    costs nothing more where the plain check passes.
    """
    resolved, point = _prepare(func, args, wrt)
    if grad is None:
        grad = _build_grad(func, resolved)
    out_shape = _output(func, point).shape
    seed = _default_seed(out_shape) if seed is None else _check_seed(seed, out_shape)

    analytic = _call_grad(grad, point, seed, resolved, func)
    for arg, g in zip(resolved, analytic):
        numerical, noise = _central_differences(func, point, arg, seed, eps)
        doubt = np.asarray(_violation(g, numerical, noise, rtol, atol) > 1)
        refined = bool(doubt.any())
        if refined:
            numerical, noise = _refined(func, point, arg, seed, eps, numerical, noise,
                                        doubt)
            if isinstance(point[arg.index], float):
                numerical, noise = np.float64(numerical), np.float64(noise)
        _compare_entries(arg, g, numerical, noise, rtol, atol, seed, refined)

    _dot_product(func, point, resolved, grad, rtol, atol, eps, random_state, out_shape)


def check_dot_product(
    func,
    args,
    wrt=(0,),
    grad=None,
    *,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    eps=None,
    random_state=0,
) -> None:
    """The dot-product (VJP/JVP consistency) test alone: cheap for any input size.

    For each ``wrt`` argument ``x``, draws a random direction ``v`` (standard
    normal, scaled entrywise by ``max(1, |x|)``) and one random output
    cotangent ``u``, and checks ``<grad(*args, u), v> == <u, J v>`` where ``J v``
    is the central difference ``(f(x + h v) - f(x - h v)) / 2h`` (computed with
    the displacement actually taken in floating point).  The step ``h`` moves
    no entry by more than ``REL_STEP * max(1, |x_i|)`` (or ``eps`` if given).

    The test passes when ``|analytic - numerical| <= atol + rtol * scale +
    noise`` with ``scale = sum |u * J v|`` (``noise``: the rounding floor of
    the difference, see :data:`NOISE_FACTOR`).  The scale is the sum of the
    magnitudes of the terms of the inner product, so that cancellation between
    terms does not make the test fail spuriously.  The scale comes from the
    finite differences only, so a wildly wrong gradient cannot loosen its own
    test.

    It costs two calls of ``func`` per argument and one call of ``grad``, but
    an error confined to a single entry of a large array moves the inner
    product by only that entry's share; use :func:`check_grads` to find such
    errors and to learn which entry is wrong.  Same arguments as
    :func:`check_grads`; raises :class:`GradientCheckError`.
    """
    resolved, point = _prepare(func, args, wrt)
    if grad is None:
        grad = _build_grad(func, resolved)
    out_shape = _output(func, point).shape
    _dot_product(func, point, resolved, grad, rtol, atol, eps, random_state, out_shape)


# ---------------------------------------------------------------------------
# the two comparisons


def _violation(analytic, numerical, noise, rtol, atol) -> np.ndarray:
    """``|a - n| / (atol + rtol |n| + noise)``: > 1 fails; inf if not finite."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        diff = np.abs(analytic - numerical)
        bound = atol + rtol * np.abs(numerical) + noise
        ratio = np.where(diff == 0, 0.0, diff / bound)
    same = analytic == numerical  # equal infinities agree
    bad = ~(np.isfinite(analytic) & np.isfinite(numerical)) & ~same
    ratio = np.where(same, 0.0, ratio)
    return np.where(bad | np.isnan(ratio), np.inf, ratio)


def _rel(abs_error: float, numerical: float) -> float:
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.float64(abs_error) / np.abs(np.float64(numerical)))


def _tolerance_line(reference: str, rtol, atol, noise, refined: bool = False) -> str:
    what = ("the error estimate of the Richardson extrapolation from steps h and h/2: "
            "truncation and rounding" if refined
            else "the rounding floor of the finite difference")
    return (
        f"  tolerance: |analytic - numerical| <= atol + rtol * {reference} + noise "
        f"with rtol={rtol:g}, atol={atol:g}, noise={_err(noise)} ({what})"
    )


def _compare_entries(arg: _Arg, analytic, numerical, noise, rtol, atol, seed,
                     refined: bool = False) -> None:
    ratio = _violation(analytic, numerical, noise, rtol, atol)
    failing = int(np.count_nonzero(ratio > 1))
    if failing == 0:
        return
    flat = np.unravel_index(int(np.argmax(ratio)), ratio.shape) if ratio.ndim else ()
    index: tuple[int, ...] = tuple(int(i) for i in flat)
    a, n = float(analytic[index]), float(numerical[index])
    abs_error = abs(a - n)
    rel_error = _rel(abs_error, n)
    seed_text = "ones" if np.all(np.asarray(seed) == 1) else "the given seed"
    where = "" if index == () else f" at index {index}"
    lines = [
        f"gradient check failed for {arg.label}{where}: "
        f"{arg.entry(index)} disagrees with central differences",
        f"  analytic:  {_fmt(a)}",
        f"  numerical: {_fmt(n)}",
        f"  abs error: {_err(abs_error)}, rel error: {_err(rel_error)}",
        _tolerance_line("|numerical|", rtol, atol, float(noise[index]), refined),
    ]
    if analytic.ndim:
        lines.append(
            f"  {failing} of {analytic.size} entries out of tolerance "
            f"(the worst, by error / tolerance, is shown); output seed: {seed_text}"
        )
    raise GradientCheckError(
        "\n".join(lines),
        check="entrywise",
        argument=arg.label,
        index=index,
        analytic=a,
        numerical=n,
        abs_error=abs_error,
        rel_error=rel_error,
        rtol=rtol,
        atol=atol,
    )


def _dot_product(func, point, resolved, grad, rtol, atol, eps, random_state, out_shape):
    rng = _rng(random_state)
    u = rng.standard_normal(out_shape)
    seed = float(u) if out_shape == () else u
    analytic = _call_grad(grad, point, seed, resolved, func)
    for arg, g in zip(resolved, analytic):
        x = point[arg.index]
        shape = np.shape(x)
        if int(np.prod(shape)) == 0:
            continue
        v = rng.standard_normal(shape)
        w = v * np.maximum(1.0, np.abs(x))
        if eps is None:
            h0 = REL_STEP / float(np.max(np.abs(v)))
        else:
            h0 = float(_step(x, eps)) / float(np.max(np.abs(w)))

        def along(h, x=x, w=w, g=g, arg=arg):
            """(analytic, numerical, scale, noise) of the test with step h."""
            plus, minus = x + h * w, x - h * w
            if isinstance(x, float):
                plus, minus = float(plus), float(minus)
            else:  # keep 0-d arrays arrays (x + scalar would give a NumPy scalar)
                plus, minus = np.asarray(plus), np.asarray(minus)
            # the displacement actually taken, (x + hw) - (x - hw) in floating point
            displacement = np.asarray(plus, dtype=np.float64) - np.asarray(
                minus, dtype=np.float64
            )
            trial_plus, trial_minus = list(point), list(point)
            trial_plus[arg.index], trial_minus[arg.index] = plus, minus
            out_plus, out_minus = _output(func, trial_plus), _output(func, trial_minus)
            with np.errstate(invalid="ignore", over="ignore"):
                terms = u * (out_plus - out_minus)
                numerical = float(np.sum(terms)) / (2 * h)
                scale = float(np.sum(np.abs(terms))) / (2 * h)
                size = _rounding_size(u, out_plus, out_minus)
                noise = NOISE_FACTOR * _EPS_MACH * size / (2 * h)
                value = float(np.sum(g * displacement)) / (2 * h)
            return value, numerical, scale, noise

        value, numerical, scale, noise = along(h0)
        abs_error = abs(value - numerical)
        bound = atol + rtol * scale + noise
        finite = np.isfinite(value) and np.isfinite(numerical)
        if finite and abs_error <= bound:
            continue
        if finite:
            # In doubt: Richardson on the difference itself, as in _refined.
            value2, numerical2, scale2, noise2 = along(h0 / 2)
            d1, d2 = value - numerical, value2 - numerical2
            with np.errstate(invalid="ignore", over="ignore"):
                abs_error = abs((4.0 * d2 - d1) / 3.0)
                noise = abs(d2 - d1) + (4.0 * noise2 + noise) / 3.0
                numerical = (4.0 * numerical2 - numerical) / 3.0
                value = numerical + (4.0 * d2 - d1) / 3.0
                scale = max(scale, scale2)
            bound = atol + rtol * scale + noise
            if np.isfinite(abs_error) and abs_error <= bound:
                continue
        rel_error = _rel(abs_error, numerical)
        lines = [
            f"dot-product test failed for {arg.label}: <grad(args, u), v> disagrees "
            "with <u, J v> from a central difference along v",
            f"  analytic  <grad(args, u), v>: {_fmt(value)}",
            f"  numerical <u, J v>:           {_fmt(numerical)}",
            f"  abs error: {_err(abs_error)}, rel error: {_err(rel_error)}",
            _tolerance_line(f"sum|u * J v| (= {_err(scale)})", rtol, atol, noise,
                            finite),
            f"  u, v: random (random_state={random_state!r}); the entrywise check "
            "(check_grads) finds which entries are wrong",
        ]
        raise GradientCheckError(
            "\n".join(lines),
            check="dot product",
            argument=arg.label,
            analytic=value,
            numerical=numerical,
            abs_error=abs_error,
            rel_error=rel_error,
            rtol=rtol,
            atol=atol,
        )
