"""Reductions along ``axis`` (with ``keepdims``): one line each, the partial
derivative in ``x`` as a lambda in which ``y`` stands for the result
broadcast back to ``x``'s shape (so a partial that needs the
reduced result itself, as the mean's count does, is written out in full).  The reverse rule spreads ``d[y]`` back over
the reduced axes and multiplies by the partial; forward mode sums the tangent
times the partial over the same axes.  ``where`` and selection rules that do
not fit the form are written out in full below.
"""

import numpy as np

from .contract import adjoint, d, reduction, t, tangent, unbroadcast, undiff, unreduce, unsupported

reduction(np.sum, lambda y, x, axis=None, keepdims=False: 1, methods="sum", linear="x")

@adjoint(np.max, np.amax, shape="reduction", methods="max", static=("axis", "keepdims"),
         note="ties share the gradient evenly")
def max(y, x, axis=None, keepdims=False):
    # The count keeps x's floating dtype.
    mask = x == unreduce(y, x, axis, keepdims)
    count = np.sum(mask, axis=axis, keepdims=True, dtype=x.dtype)
    d[x] = unreduce(d[y], x, axis, keepdims) * mask / count


@adjoint(np.min, np.amin, shape="reduction", methods="min", static=("axis", "keepdims"),
         note="ties share the gradient evenly")
def min(y, x, axis=None, keepdims=False):
    mask = x == unreduce(y, x, axis, keepdims)
    count = np.sum(mask, axis=axis, keepdims=True, dtype=x.dtype)
    d[x] = unreduce(d[y], x, axis, keepdims) * mask / count


@adjoint(np.mean, shape="reduction", methods="mean", linear="x", static=("axis", "keepdims"))
def mean(y, x, axis=None, keepdims=False):
    d[x] = unreduce(d[y], x, axis, keepdims) / (np.size(x) / np.size(y))


@adjoint(np.prod, shape="reduction", methods="prod", static=("axis", "keepdims"),
         note=("exact where x has zeros: the product of the other entries (0 where a "
               "slice has two zeros or more); second derivatives across a zero entry are "
               "those of the zero-free formula (0)"))
def prod(y, x, axis=None, keepdims=False):
    # The product of the other entries of each slice, without dividing by 0:
    # with no zero, y / x; with one zero, the product of the nonzero entries at
    # the zero and 0 elsewhere; with two or more, 0 everywhere.
    zero = x == 0
    nonzero = np.where(zero, 1, x)
    rest = np.prod(nonzero, axis=axis, keepdims=True)
    zeros = np.sum(zero, axis=axis, keepdims=True)
    others = np.where(zeros == 0, rest / nonzero, np.where(zero & (zeros == 1), rest, 0))
    d[x] = unreduce(d[y], x, axis, keepdims) * others


@adjoint(np.linalg.norm, shape="reduction", static=("ord", "axis", "keepdims"),
         test=dict(static=dict(ord=[None, "fro", 1, 2, 3, -1, 1e999, -1e999, 0]),
                   domain="nonzero",
                   exclude=[dict(axis=None, ord=2), dict(axis=None, ord=-1),
                            dict(axis=(0, 1), ord=2)]),
         note=("vector ords 1, 2, inf, -inf, 0 (integer-valued: gradient 0) and any p; "
               "matrix ords 'fro', 1, -1, inf, -inf (ties split as max does); 2, -2 and "
               "'nuc' need an SVD and are refused; the 2-norm's gradient is undefined at "
               "x = 0 (NaN, as autograd and JAX); |x| ** (p - 1) is infinite at 0 for p < 1"))
def norm(y, x, ord=None, axis=None, keepdims=False):
    # An axis that is one of these ints asks for a vector norm; any other
    # axis is a pair (a matrix norm).
    if ord == "nuc":
        unsupported("np.linalg.norm(..., ord='nuc') needs an SVD: no gradient rule")
    if ord is None or ord == "fro":
        d[x] = unreduce(d[y] / y, x, axis, keepdims) * x
    elif ord == 0:
        d[x] = 0  # the number of nonzero entries: piecewise constant
    elif axis is None or (axis == 0 or axis == 1 or axis == 2 or axis == 3 or axis == 4
                          or axis == -1 or axis == -2 or axis == -3 or axis == -4):
        if axis is None and (ord == 2 or ord == -2 or ord == -1):
            unsupported("np.linalg.norm(x, ord=2, -2 or -1) needs axis= (-1: a vector norm)")
        if ord == 2:
            d[x] = unreduce(d[y] / y, x, axis, keepdims) * x
        elif ord == 1 and axis is None:
            # A vector as one column: its 1-norm is the column's sum, as for matrices.
            column = np.reshape(np.abs(x), (np.shape(x)[0], -1))
            sums = np.sum(column, axis=0, keepdims=True)
            top = sums == np.max(sums)
            share = np.reshape(top / np.sum(top, dtype=x.dtype) * np.ones_like(column),
                               np.shape(x))
            d[x] = unreduce(d[y], x, axis, keepdims) * np.sign(x) * share
        elif ord == 1:
            d[x] = unreduce(d[y], x, axis, keepdims) * np.sign(x)
        elif (ord == np.inf or ord == -np.inf) and axis is None:
            # A vector as one column: its rows are its entries.
            column = np.reshape(np.abs(x), (np.shape(x)[0], -1))
            sums = np.sum(column, axis=1, keepdims=True)
            if ord > 0:
                top = sums == np.max(sums)
            else:
                top = sums == np.min(sums)
            share = np.reshape(top / np.sum(top, dtype=x.dtype) * np.ones_like(column),
                               np.shape(x))
            d[x] = unreduce(d[y], x, axis, keepdims) * np.sign(x) * share
        elif ord == np.inf or ord == -np.inf:
            top = np.abs(x) == unreduce(y, x, axis, keepdims)
            share = top / np.sum(top, axis=axis, keepdims=True, dtype=x.dtype)
            d[x] = unreduce(d[y], x, axis, keepdims) * np.sign(x) * share
        else:
            ratio = np.abs(x) / unreduce(y, x, axis, keepdims)
            d[x] = unreduce(d[y], x, axis, keepdims) * np.sign(x) * ratio ** (ord - 1)
    elif ord == 2 or ord == -2:
        unsupported("np.linalg.norm of matrices with ord=2 or -2 needs an SVD: no gradient rule")
    elif ord == 1 or ord == -1:
        # The largest (smallest) column sum: rows along axis[0], columns along axis[1].
        sums = np.sum(np.abs(x), axis=axis[0], keepdims=True)
        if ord > 0:
            top = sums == np.max(sums, axis=axis[1], keepdims=True)
        else:
            top = sums == np.min(sums, axis=axis[1], keepdims=True)
        share = top / np.sum(top, axis=axis[1], keepdims=True, dtype=x.dtype)
        d[x] = unreduce(d[y], x, axis, keepdims) * np.sign(x) * share
    elif ord == np.inf or ord == -np.inf:
        sums = np.sum(np.abs(x), axis=axis[1], keepdims=True)
        if ord > 0:
            top = sums == np.max(sums, axis=axis[0], keepdims=True)
        else:
            top = sums == np.min(sums, axis=axis[0], keepdims=True)
        share = top / np.sum(top, axis=axis[0], keepdims=True, dtype=x.dtype)
        d[x] = unreduce(d[y], x, axis, keepdims) * np.sign(x) * share
    else:
        unsupported("np.linalg.norm of matrices takes ord=None, 'fro', 1, -1, inf or -inf")


# Spreads: the partials of the mean square deviation, in x's dtype (the
# divisors are Python numbers).


@adjoint(np.var, shape="reduction", methods="var", static=("axis", "ddof", "keepdims"),
         test=dict(static=dict(ddof=[0, 1])))
def var(y, x, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    if out is not None:
        unsupported("np.var(..., out=...): gradgen does not follow writes")
    centred = x - np.mean(x, axis=axis, keepdims=True)
    count = np.size(x) / np.size(y)
    d[x] = unreduce(d[y], x, axis, keepdims) * centred * (2 / (count - ddof))


@adjoint(np.std, shape="reduction", methods="std", static=("axis", "ddof", "keepdims"),
         test=dict(static=dict(ddof=[0, 1])),
         note=("0 where the spread is 0 (a subgradient, as np.abs at 0; autograd and JAX "
               "give NaN there: std is not differentiable at a constant slice)"))
def std(y, x, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    if out is not None:
        unsupported("np.std(..., out=...): gradgen does not follow writes")
    centred = x - np.mean(x, axis=axis, keepdims=True)
    count = np.size(x) / np.size(y)
    spread = np.where(y == 0, 1, y)  # at zero spread, centred is 0: the gradient is 0
    d[x] = unreduce(d[y] / spread, x, axis, keepdims) * centred / (count - ddof)


@adjoint(np.ptp, shape="reduction", static=("axis", "keepdims"),
         note="ties share the gradient evenly, as in max and min; 0 for a constant slice")
def ptp(y, x, axis=None, out=None, keepdims=False):
    if out is not None:
        unsupported("np.ptp(..., out=...): gradgen does not follow writes")
    high = x == np.max(x, axis=axis, keepdims=True)
    low = x == np.min(x, axis=axis, keepdims=True)
    share = (high / np.sum(high, axis=axis, keepdims=True, dtype=x.dtype)
             - low / np.sum(low, axis=axis, keepdims=True, dtype=x.dtype))
    d[x] = unreduce(d[y], x, axis, keepdims) * share


# NaN entries are skipped by the nan-reductions: their gradient is 0.


@adjoint(np.nansum, shape="reduction", static=("axis", "keepdims"),
         note="0 at NaN entries")
def nansum(y, x, axis=None, dtype=None, out=None, keepdims=False):
    if out is not None:
        unsupported("np.nansum(..., out=...): gradgen does not follow writes")
    d[x] = np.where(np.isnan(x), 0, unreduce(d[y], x, axis, keepdims))


@adjoint(np.nanmean, shape="reduction", static=("axis", "keepdims"),
         note="0 at NaN entries; the mean of the others")
def nanmean(y, x, axis=None, dtype=None, out=None, keepdims=False):
    if out is not None:
        unsupported("np.nanmean(..., out=...): gradgen does not follow writes")
    count = np.sum(np.logical_not(np.isnan(x)), axis=axis, keepdims=True, dtype=x.dtype)
    d[x] = np.where(np.isnan(x), 0, unreduce(d[y], x, axis, keepdims) / count)


@adjoint(np.nanmax, shape="reduction", static=("axis", "keepdims"),
         note="ties share the gradient evenly; 0 at NaN entries and for all-NaN slices")
def nanmax(y, x, axis=None, out=None, keepdims=False):
    if out is not None:
        unsupported("np.nanmax(..., out=...): gradgen does not follow writes")
    mask = x == unreduce(y, x, axis, keepdims)  # False at NaN entries
    count = np.maximum(np.sum(mask, axis=axis, keepdims=True, dtype=x.dtype), 1)
    d[x] = unreduce(d[y], x, axis, keepdims) * mask / count


@adjoint(np.nanmin, shape="reduction", static=("axis", "keepdims"),
         note="ties share the gradient evenly; 0 at NaN entries and for all-NaN slices")
def nanmin(y, x, axis=None, out=None, keepdims=False):
    if out is not None:
        unsupported("np.nanmin(..., out=...): gradgen does not follow writes")
    mask = x == unreduce(y, x, axis, keepdims)
    count = np.maximum(np.sum(mask, axis=axis, keepdims=True, dtype=x.dtype), 1)
    d[x] = unreduce(d[y], x, axis, keepdims) * mask / count


@adjoint(np.average, shape="reduction", static=("axis", "returned", "keepdims"),
         test=dict(shapes=[("3",), ("2 3",), ("2 3 4",), ("2 3", "2 3"), ("2 3", "3"),
                           ("2 3 4", "2 3 4")],
                   domain=dict(weights="positive"),
                   exclude=[dict(axis=0, shapes=("2 3", "2 3")),
                            dict(axis=0, shapes=("2 3 4", "2 3 4"))]),
         note=("weights of a's shape, or 1-D along the last axis (axis=-1); with weights, "
               "an int axis other than -1 is refused (1-D weights along it would need "
               "moving axes)"))
def average(y, a, axis=None, weights=None, returned=False, keepdims=False):
    if returned:
        unsupported("np.average(..., returned=True) returns a pair: take np.sum(w) apart")
    if weights is None:
        d[a] = unreduce(d[y], a, axis, keepdims) / (np.size(a) / np.size(y))
    else:
        if (axis == 0 or axis == 1 or axis == 2 or axis == 3 or axis == 4 or axis == 5
                or axis == -2 or axis == -3 or axis == -4 or axis == -5 or axis == -6):
            # Write np.sum(a * w, axis=k) / np.sum(w, axis=k) instead.
            unsupported("np.average with weights= takes axis=None, -1 or a tuple here")
        # NumPy broadcasts weights against a from the last axis, as here.
        total = np.sum(weights * np.ones_like(a), axis=axis, keepdims=True)
        d[a] = unreduce(d[y], a, axis, keepdims) * (weights / total)
        deviation = (a - unreduce(y, a, axis, keepdims)) / total
        d[weights] = unbroadcast(unreduce(d[y], a, axis, keepdims) * deviation, weights)


@tangent(np.average)
def average_tangent(y, a, axis=None, weights=None, returned=False, keepdims=False):
    # Linear in a; in the weights, the quotient rule (reverse: unbroadcast of a
    # reduction, which forward mode does not transpose).
    if weights is None:
        t[y] = np.average(t[a], axis=axis, keepdims=keepdims)
    else:
        total = np.sum(weights * np.ones_like(a), axis=axis, keepdims=True)
        deviation = a - unreduce(y, a, axis, keepdims)
        t[y] = np.sum((t[a] * weights + t[weights] * deviation) / total, axis=axis,
                      keepdims=keepdims)


# Running sums and products along an axis (None: the flattened array).


@adjoint(np.cumsum, shape="along_axis", methods="cumsum", linear="x", static="axis",
         test=dict(shapes=[("3",), ("2 3",), ("2 3 4",)], static=dict(axis=[None, 0, -1, 1])))
def cumsum(y, x, axis=None, dtype=None, out=None):
    # The adjoint sums from the end: a running sum of the reversed gradient.
    if out is not None:
        unsupported("np.cumsum(..., out=...): gradgen does not follow writes")
    if axis is None:
        d[x] = np.reshape(np.flip(np.cumsum(np.flip(d[y]))), np.shape(x))
    else:
        d[x] = np.flip(np.cumsum(np.flip(d[y], axis), axis), axis)


@adjoint(np.cumprod, shape="along_axis", methods="cumprod", static="axis",
         test=dict(shapes=[("3",), ("2 3",), ("2 3 4",)], static=dict(axis=[None, 0, -1, 1]),
                   domain="nonzero"),
         note=("divides by x, as autograd's prod did: assumes no zero in x (a zero gives "
               "inf or NaN); an exact form needs a backward scan"))
def cumprod(y, x, axis=None, dtype=None, out=None):
    # d[x]_k = sum over i >= k of d[y]_i * y_i / x_k: a reversed running sum.
    if out is not None:
        unsupported("np.cumprod(..., out=...): gradgen does not follow writes")
    if axis is None:
        d[x] = np.reshape(np.flip(np.cumsum(np.flip(d[y] * y))), np.shape(x)) / x
    else:
        d[x] = np.flip(np.cumsum(np.flip(d[y] * y, axis), axis), axis) / x


@tangent(np.cumprod)
def cumprod_tangent(y, x, axis=None, dtype=None, out=None):
    t[y] = y * np.cumsum(t[x] / x, axis=axis)


@adjoint(np.diff, linear="a", static=("n", "axis"),
         test=dict(shapes=[("3",), ("2 3",), ("2 3 4",)], static=dict(n=[1, 2], axis=[-1, 0])))
def diff(y, a, n=1, axis=-1, prepend=None, append=None):
    if prepend is not None or append is not None:
        unsupported("np.diff(..., prepend=, append=): np.concatenate them to a first")
    d[a] = undiff(d[y], n, axis)


@adjoint(undiff, linear="g", static=("n", "axis"),
         test=dict(shapes=[("2",), ("2 3",)], static=dict(n=[1, 2], axis=[-1, 0])))
def undiff_grad(y, g, n=1, axis=-1):
    # undiff is the adjoint of np.diff: its adjoint is np.diff again.
    d[g] = np.diff(d[y], n, axis)
