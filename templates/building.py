"""Arrays joined from a sequence of pieces along one axis.

Each is ``np.concatenate`` of its pieces, once they have the axes the
function gives them (``np.vstack`` makes a vector a row): linear in the
pieces, so forward mode applies the function to the tangents, and the
reverse rule cuts the gradient back into pieces, each reshaped to its
array's shape (``unconcatenate``).  Sequences are not systematic cases:
tests/test_shaping_edges.py checks each of these in every mode.
"""

import numpy as np

from .contract import adjoint, d, unconcatenate


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
