"""Shape changes, selection, building arrays from pieces, and constructors.

Each of these is linear in its array arguments: forward mode applies the
primitive itself to tangents (``linear=``), and the reverse rule is its
transpose.
"""

import numpy as np

from .contract import (
    adjoint,
    d,
    unbroadcast,
    unconcatenate,
    unreduce,
    unstack,
)


@adjoint(np.transpose, shape="transpose", attribute="T", methods="transpose",
         method_varargs="axes", view=True, linear="x", static="axes",
         test=dict(shapes=[("2 3",), ("3",), ("2 3 4",)]))
def transpose(y, x, axes=None):
    if axes is None:
        d[x] = np.transpose(d[y])
    else:
        d[x] = np.transpose(d[y], np.argsort(axes))


@adjoint(np.reshape, shape="reshape", methods="reshape", method_varargs="shape", view=True,
         linear="x", static="shape",
         test=dict(shapes=[("2 3",)], static=dict(shape=[(3, 2), (6,), (-1,)])))
def reshape(y, x, shape):
    d[x] = np.reshape(d[y], np.shape(x))


@adjoint(np.expand_dims, shape="expand_dims", view=True, linear="x", static="axis",
         test=dict(shapes=[("2 3",)], static=dict(axis=[0, 1, -1])))
def expand_dims(y, x, axis):
    d[x] = np.reshape(d[y], np.shape(x))


@adjoint(np.squeeze, methods="squeeze", view=True, linear="x", static="axis",
         test=dict(shapes=[("2 1",), ("1 3 1",)]))
def squeeze(y, x, axis=None):
    d[x] = np.reshape(d[y], np.shape(x))


@adjoint(np.ravel, shape="ravel", methods=("ravel", "flatten"), view=True, linear="x",
         test=dict(shapes=[("2 3",), ("3",)]))
def ravel(y, x):
    d[x] = np.reshape(d[y], np.shape(x))


@adjoint(np.where, shape="elementwise", linear=("x", "y"),
         test=dict(skip="the condition comes from a comparison: tested in test_primitives"))
def where(z, condition, x, y):
    d[condition] = 0  # a mask: piecewise constant
    d[x] = unbroadcast(np.where(condition, d[z], 0), x)
    d[y] = unbroadcast(np.where(condition, 0, d[z]), y)


@adjoint(np.clip, shape="elementwise", methods="clip",
         test=dict(shapes=[("2 3", "", ""), ("3", "3", "3")],
                   domain=dict(a_min="negative", a_max="positive")),
         note="bounds as NumPy: a_min <= a_max")
def clip(y, x, a_min, a_max):
    if a_min is None:
        inside = x <= a_max
    elif a_max is None:
        inside = x >= a_min
    else:
        inside = (x >= a_min) & (x <= a_max)
    d[x] = unbroadcast(d[y] * inside, x)
    d[a_min] = unbroadcast(d[y] * (x < a_min), a_min)
    d[a_max] = unbroadcast(d[y] * (x > a_max), a_max)


@adjoint(np.stack, linear="arrays",
         test=dict(skip="takes a sequence: tested in test_control_flow and the fuzzer"))
def stack(y, arrays, axis=0):
    d[arrays] = unstack(d[y], arrays, axis)


@adjoint(np.array, np.asarray, linear="object",
         test=dict(skip="takes a sequence: tested in test_control_flow and the fuzzer"))
def array(y, object):
    # A list of arrays is stacked; an array is copied.
    d[object] = unstack(d[y], object, 0)


@adjoint(np.concatenate, linear="arrays",
         test=dict(skip="takes a sequence: tested in test_control_flow and the fuzzer"))
def concatenate(y, arrays, axis=0):
    d[arrays] = unconcatenate(d[y], arrays, axis)


@adjoint(np.outer, shape="outer", multilinear=("a", "b"), test=dict(shapes=[("3", "4")]))
def outer(z, a, b):
    d[a] = np.reshape(d[z] @ np.ravel(b), np.shape(a))
    d[b] = np.reshape(np.ravel(a) @ d[z], np.shape(b))


@adjoint(np.copy, methods="copy", linear="x", shape="like:x")
def copy(y, x):
    # Generated code copies arrays it writes into (and the values it tapes).
    d[x] = d[y]


# ---------------------------------------------------------------- constructors


@adjoint(np.full, shape="constructor", linear="fill_value", static=("shape", "dtype"),
         test=dict(shapes=[("",)], fixed=dict(shape=(2, 3))))
def full(y, shape, fill_value, dtype=None):
    d[fill_value] = unbroadcast(unreduce(d[y], y, None, False), fill_value)


@adjoint(np.arange, test=dict(skip="its arguments are integers in practice"))
def arange(y, start, stop=None, step=None, dtype=None):
    # The values are start + k * step; their number is piecewise constant.
    if stop is None:
        d[start] = 0  # np.arange(stop): 0, 1, ..., whatever stop is
    else:
        d[start] = np.sum(d[y])
        d[stop] = 0
        d[step] = np.sum(d[y] * np.arange(np.size(y)))


@adjoint(np.linspace, linear=("start", "stop"), static=("num", "endpoint"),
         test=dict(shapes=[("", "")], fixed=dict(num=5)))
def linspace(y, start, stop, num=50, endpoint=True):
    # y = start + (stop - start) * frac along axis 0, frac = linspace(0, 1, num).
    frac = np.reshape(np.linspace(0.0, 1.0, num, endpoint=endpoint, dtype=y.dtype),
                      (-1,) + (1,) * (np.ndim(y) - 1))
    d[start] = unbroadcast(np.sum(d[y] * (1 - frac), axis=0), start)
    d[stop] = unbroadcast(np.sum(d[y] * frac, axis=0), stop)
