"""Shape changes, selection, building arrays from pieces, and constructors.

Each of these is linear in its array arguments: forward mode applies the
primitive itself to tangents (``linear=``), and the reverse rule is its
transpose.
"""

import numpy as np

from .contract import (
    adjoint,
    d,
    in_dtype_of,
    unbroadcast,
    unconcatenate,
    unreduce,
    unstack,
    unsupported,
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


@adjoint(np.rollaxis, shape="permute-axes",
         view=True, linear="a", static=("axis", "start"),
         test=dict(shapes=[("2 3 4",)], static=dict(axis=[2, -1, 0], start=[0, 1, 3])))
def rollaxis(y, a, axis, start=0):
    # y = np.moveaxis(a, axis, start - (start > axis)), axis and start normalized first.
    axis_ = axis % np.ndim(a)
    start_ = start % (np.ndim(a) + 1)
    d[a] = np.moveaxis(d[y], start_ - int(start_ > axis_), axis_)


@adjoint(np.fliplr, shape="like:m", view=True, linear="m", test=dict(shapes=[("2 3",),
                                                                             ("2 3 2",)]))
def fliplr(y, m):
    d[m] = np.fliplr(d[y])


@adjoint(np.flipud, shape="like:m", view=True, linear="m", test=dict(shapes=[("2 3",), ("3",)]))
def flipud(y, m):
    d[m] = np.flipud(d[y])


@adjoint(np.rot90, shape="permute-axes",
         view=True, linear="m", static=("k", "axes"),
         test=dict(shapes=[("2 3",), ("2 3 4",)], static=dict(k=[1, 2, 3, -1, 4],
                                                             axes=[(0, 1), (1, 0)])))
def rot90(y, m, k=1, axes=(0, 1)):
    d[m] = np.rot90(d[y], -k, axes)


@adjoint(np.roll, shape="like:a", linear="a", static=("shift", "axis"),
         test=dict(shapes=[("2 3",), ("5",)], static=dict(shift=[1, -2, (1, 2)],
                                                         axis=[None, 0, -1, (0, 1)])))
def roll(y, a, shift, axis=None):
    if axis is None:
        d[a] = np.roll(d[y], np.negative(shift))
    else:
        d[a] = np.roll(d[y], np.negative(shift), axis)


@adjoint(np.broadcast_to, shape="constructor", view=True, linear="array", static="shape",
         test=dict(shapes=[("3",), ("2 1",), ("",)], fixed=dict(shape=(4, 2, 3))))
def broadcast_to(y, array, shape):
    d[array] = unbroadcast(d[y], array)


@adjoint(np.atleast_1d, view=True, linear="arys",
         test=dict(shapes=[("",), ("3",), ("2 3",)]))
def atleast_1d(y, arys):
    d[arys] = np.reshape(d[y], np.shape(arys))


@adjoint(np.atleast_2d, view=True, linear="arys",
         test=dict(shapes=[("",), ("3",), ("2 3",)]))
def atleast_2d(y, arys):
    d[arys] = np.reshape(d[y], np.shape(arys))


@adjoint(np.atleast_3d, view=True, linear="arys",
         test=dict(shapes=[("",), ("3",), ("2 3",), ("2 3 2",)]))
def atleast_3d(y, arys):
    d[arys] = np.reshape(d[y], np.shape(arys))


@adjoint(np.tile, linear="A", static="reps",
         test=dict(shapes=[("3",), ("2 3",), ("",)], static=dict(reps=[2, (2, 1), (2, 1, 3)])))
def tile(y, A, reps):
    # y's axes, in pairs (copies, A's extent): the copies are summed away.
    shape = (1,) * (np.ndim(y) - np.ndim(A)) + np.shape(A)
    pairs = np.ravel(np.stack([np.floor_divide(np.shape(y), np.maximum(shape, 1)), shape], axis=1))
    d[A] = np.reshape(np.sum(np.reshape(d[y], pairs),
                             axis=tuple(range(0, 2 * np.ndim(y), 2))), np.shape(A))


@adjoint(np.repeat, methods="repeat", linear="a", static=("repeats", "axis"),
         test=dict(shapes=[("3",), ("2 3",)], static=dict(repeats=[2, (1, 0, 2)],
                                                         axis=[None, 0, -1])))
def repeat(y, a, repeats, axis=None):
    # y = a's entries along axis, each copied repeats times: y's axis is E @ a's,
    # E the identity with its rows repeated; the adjoint applies E's transpose.
    if axis is None:
        copies = np.repeat(np.eye(np.size(a), dtype=y.dtype), repeats, axis=0)
        d[a] = np.reshape(np.ravel(d[y]) @ copies, np.shape(a))
    else:
        copies = np.repeat(np.eye(np.shape(a)[axis], dtype=y.dtype), repeats, axis=0)
        d[a] = np.moveaxis(np.moveaxis(d[y], axis, -1) @ copies, -1, axis)


@adjoint(np.pad, linear="array", static=("pad_width", "mode", "constant_values"),
         test=dict(shapes=[("3",), ("2 3",)], static=dict(pad_width=[1, (1, 2), ((0, 1), (2, 0))])))
def pad(y, array, pad_width, mode="constant", constant_values=0):
    if mode != "constant" or constant_values != 0:
        unsupported("only mode='constant' with constant_values=0 has a gradient rule")
    # y is array with zeros around it: the adjoint cuts the middle back out
    # (a box, so the masked entries come in array's order).
    inside = np.pad(np.ones(np.shape(array), dtype=bool), pad_width)
    d[array] = np.reshape(d[y][inside], np.shape(array))


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


@adjoint(np.astype, methods="astype", shape="like:x", static="dtype",
         test=dict(skip="dtype is positional-only: tested in test_shaping_edges"),
         note="a cast to an integer or boolean dtype is piecewise constant: its gradient is 0")
def astype(y, x, dtype):
    # The identity on values for a floating dtype; 0 for an integer one.  The
    # factor in x's floating dtype brings a float32 gradient back to float64
    # (a float32 x cast up keeps a float64 gradient: forward mode derives its
    # tangent from this rule, and cannot transpose a cast).
    keep = np.ones_like(x, dtype=np.result_type(x, 1.0)) * np.issubdtype(y.dtype, np.inexact)
    d[x] = d[y] * keep


@adjoint(np.float64, linear="x", shape="like:x",
         test=dict(shapes=[("",), ("2 3",)]))
def float64(y, x):
    # A cast: the identity on values; the gradient returns to x's floating dtype.
    d[x] = in_dtype_of(d[y], x)


@adjoint(np.float32, linear="x", shape="like:x",
         test=dict(skip="rounds to float32, below central differences' step: test_shaping_edges"))
def float32(y, x):
    d[x] = in_dtype_of(d[y], x)


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
