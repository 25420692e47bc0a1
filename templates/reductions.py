"""Reductions along ``axis`` (with ``keepdims``): one line each, the partial
derivative in ``x`` as a lambda in which ``y`` stands for the result
broadcast back to ``x``'s shape (so a partial that needs the
reduced result itself, as the mean's count does, is written out in full).  The reverse rule spreads ``d[y]`` back over
the reduced axes and multiplies by the partial; forward mode sums the tangent
times the partial over the same axes.  ``where`` and selection rules that do
not fit the form are written out in full below.
"""

import numpy as np

from .contract import adjoint, d, reduction, unreduce, unsupported

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
         test=dict(domain="nonzero"), note="assumes no zero in x (as autograd does)")
def prod(y, x, axis=None, keepdims=False):
    d[x] = unreduce(d[y] * y, x, axis, keepdims) / x


@adjoint(np.linalg.norm, shape="reduction", static=("ord", "axis", "keepdims"),
         test=dict(domain="nonzero"), note="the 2-norm / Frobenius norm; undefined at 0")
def norm(y, x, ord=None, axis=None, keepdims=False):
    if ord is not None:
        unsupported("only the 2-norm / Frobenius norm (ord=None) has a gradient rule")
    d[x] = unreduce(d[y] / y, x, axis, keepdims) * x
