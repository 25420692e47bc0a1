"""Selection and ordering: gathers of entries by index (take, take_along_axis,
sort) and reversal.

A gather reads entries of ``x`` at positions known from its arguments; its
gradient adds ``d[y]`` back at those positions (repeated positions
accumulate).  One mechanism serves every gather: the same gather applied to
the flat positions of ``x`` (``np.arange(np.size(x))`` in ``x``'s shape)
gives, for each entry of the result, where in ``x`` it came from; ``unindex``
adds ``d[y]`` there, and forward mode indexes the tangent the same way.
"""

import numpy as np

from .contract import adjoint, d, nondifferentiable, unbroadcast, unindex, unsupported

# Index arithmetic: integer-valued.
nondifferentiable(np.unravel_index, np.ravel_multi_index)


@adjoint(np.flip, shape="like:m", view=True, linear="m", static="axis",
         test=dict(shapes=[("3",), ("2 3",), ("2 3 4",)], static=dict(axis=[None, 0, -1, (0, 1)])))
def flip(y, m, axis=None):
    d[m] = np.flip(d[y], axis)


@adjoint(np.take, methods="take", linear="a", static=("axis", "mode"),
         test=dict(shapes=[("3",), ("2 3",), ("2 3 4",)],
                   static=dict(indices=[[1, 0, 1], [[0, 1], [1, 1]]], axis=[None, 0, -1, 1])),
         note="repeated indices accumulate their gradients")
def take(y, a, indices, axis=None, out=None, mode="raise"):
    if out is not None:
        unsupported("np.take(..., out=...): gradgen does not follow writes")
    if mode != "raise":
        unsupported("np.take(..., mode=): np.mod or np.clip the indices first")
    # Where each entry of y comes from in a: the same take of a's flat positions.
    source = np.take(np.reshape(np.arange(np.size(a)), np.shape(a)), indices, axis=axis)
    d[a] = unindex(d[y], a, np.unravel_index(source, np.shape(a)))


@adjoint(np.take_along_axis, linear="arr", static="axis",
         test=dict(skip="its indices are an integer array, which a signature cannot write: "
                        "tested in every mode by tests/test_reductions_edges.py"),
         note="repeated indices accumulate their gradients")
def take_along_axis(y, arr, indices, axis=-1):
    source = np.take_along_axis(np.reshape(np.arange(np.size(arr)), np.shape(arr)), indices,
                                axis=axis)
    d[arr] = unindex(d[y], arr, np.unravel_index(source, np.shape(arr)))


@adjoint(np.sort, shape="along_axis", static=("axis", "kind", "order"),
         test=dict(shapes=[("3",), ("2 3",), ("2 3 4",)], static=dict(axis=[-1, 0, None])),
         note=("the gradient follows the permutation of a stable argsort: tied entries "
               "each take the gradient of the position they were sorted to (sort is "
               "continuous there, not differentiable)"))
def sort(y, x, axis=-1, kind=None, order=None):
    if order is not None:
        unsupported("np.sort(..., order=...) sorts structured arrays: no gradient")
    # y = x at the sorted positions: the flat positions of x, sorted along axis.
    perm = np.argsort(x, axis=axis, kind="stable")
    source = np.take_along_axis(np.reshape(np.arange(np.size(x)), np.shape(x)), perm, axis=axis)
    d[x] = unindex(d[y], x, np.unravel_index(source, np.shape(x)))



# gradgen passes a list literal of arrays to these as one array (np.asarray
# of it): the choices are stacked along a first axis, as NumPy reads them.


@adjoint(np.choose, linear="choices",
         test=dict(skip="the choices come as a list: tested in every mode by "
                        "tests/test_reductions_edges.py"),
         note="the choices as one array (a list literal is stacked, so of one shape)")
def choose(y, a, choices, out=None, mode="raise"):
    if out is not None:
        unsupported("np.choose(..., out=...): gradgen does not follow writes")
    if mode != "raise":
        unsupported("np.choose(..., mode=): np.mod or np.clip the indices first")
    # Choice k gets d[y] where a picks k; a holds integer indices (no gradient).
    picks = np.reshape(np.arange(np.shape(choices)[0]), (-1,) + (1,) * np.ndim(a))
    d[choices] = unbroadcast(np.where(a == picks, d[y], 0), choices)


@adjoint(np.select, linear=("choicelist", "default"),
         test=dict(skip="the conditions and choices come as lists: tested in every mode "
                        "by tests/test_reductions_edges.py"),
         note="conditions and choices as arrays (list literals are stacked, so of one shape)")
def select(y, condlist, choicelist, default=0):
    # Each entry comes from the first condition that holds, else the default.
    first = condlist & (np.cumsum(condlist, axis=0) == 1)
    d[choicelist] = unbroadcast(np.where(first, d[y], 0), choicelist)
    d[default] = unbroadcast(np.where(np.sum(condlist, axis=0) > 0, 0, d[y]), default)
