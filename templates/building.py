"""Arrays joined from a sequence of pieces along one axis.

Each is ``np.concatenate`` of its pieces, once they have the axes the
function gives them (``np.vstack`` makes a vector a row): linear in the
pieces, so forward mode applies the function to the tangents, and the
reverse rule cuts the gradient back into pieces, each reshaped to its
array's shape (``unconcatenate``).  Sequences are not systematic cases:
tests/test_shaping_edges.py checks each of these in every mode.
"""

import numpy as np

from .contract import adjoint, d, reconcatenate, unconcatenate, unsupported


@adjoint(np.hstack, linear="tup", test=dict(skip="takes a sequence: tested in test_shaping_edges"))
def hstack(y, tup):
    # Along axis 0 for vectors (and numbers), along axis 1 otherwise.
    d[tup] = unconcatenate(d[y], tup, int(np.ndim(y) > 1))


@adjoint(np.vstack, linear="tup", test=dict(skip="takes a sequence: tested in test_shaping_edges"))
def vstack(y, tup):
    d[tup] = unconcatenate(d[y], tup, 0)


@adjoint(np.dstack, linear="tup", test=dict(skip="takes a sequence: tested in test_shaping_edges"))
def dstack(y, tup):
    d[tup] = unconcatenate(d[y], tup, 2)


@adjoint(np.column_stack, linear="tup", test=dict(skip="takes a sequence: tested in test_shaping_edges"))
def column_stack(y, tup):
    d[tup] = unconcatenate(d[y], tup, 1)


@adjoint(np.append, linear=("arr", "values"), static="axis",
         test=dict(shapes=[("3", ""), ("2 3", "4"), ("2 3", "1 3"), ("2 3", "2 2")],
                   static=dict(axis=[None, 0, 1])))
def append(y, arr, values, axis=None):
    # y is np.concatenate((arr, values), axis), both flattened when axis is None.
    if axis is None:
        d[arr] = np.reshape(d[y][:np.size(arr)], np.shape(arr))
        d[values] = np.reshape(d[y][np.size(arr):], np.shape(values))
    else:
        d[arr] = np.moveaxis(np.moveaxis(d[y], axis, 0)[:np.shape(arr)[axis]], 0, axis)
        d[values] = np.moveaxis(np.moveaxis(d[y], axis, 0)[np.shape(arr)[axis]:], 0, axis)


# ------------------------------------------------------------- splitting
# These return a list of arrays.  The core has no gradient for a list that a
# primitive returns and user code indexes (``operator.getitem``'s rule makes
# the gradient of ``p[0]`` an array shaped like ``p``, which a list of unequal
# pieces is not) or unpacks (refused before any rule is read), so each is
# refused, with its location, until it has one.

@adjoint(np.split, np.array_split, static=("indices_or_sections", "axis"),
         test=dict(skip="refused: tested in test_shaping_edges"))
def split(y, ary, indices_or_sections, axis=0):
    unsupported("it returns a list of arrays, which has no gradient yet: slice instead (x[:2], x[2:])")
    d[ary] = reconcatenate(d[y], y, axis)


@adjoint(np.hsplit, np.vsplit, np.dsplit, static="indices_or_sections",
         test=dict(skip="refused: tested in test_shaping_edges"))
def hsplit(y, ary, indices_or_sections):
    unsupported("it returns a list of arrays, which has no gradient yet: slice instead (x[:, :2])")
    d[ary] = reconcatenate(d[y], y, 0)
