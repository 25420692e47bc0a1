"""Reverse-mode rules for NumPy and Python's arithmetic operators.

The contract (README.md beside this file): a rule's first parameter is the
primal's result, the others are the primitive's parameters with their
defaults; ``d[v]`` is the gradient of ``v``.  A rule assigns ``d[p]`` for each
parameter it can differentiate; gradgen instantiates only the assignments
whose parameter is active.  ``if`` tests on static arguments (``axis``,
``keepdims``, ``ord``...) are decided when the rule is instantiated.

Every rule produces a gradient of exactly its argument's shape: broadcasting
is undone with ``unbroadcast`` and reductions with ``unreduce``; the
simplifier removes both wherever shapes prove them unnecessary.
"""

import numpy as np

from .contract import (
    adjoint,
    constant,
    d,
    matmul_grad_a,
    matmul_grad_b,
    nondifferentiable,
    operator,
    unbroadcast,
    unconcatenate,
    unindex,
    unreduce,
    unstack,
    unsupported,
)

# Outputs that carry no gradient: shapes, masks, constructors, and functions
# that are piecewise constant (their derivative is zero almost everywhere).
nondifferentiable(
    np.shape, np.ndim, np.size, len,
    np.zeros_like, np.ones_like, np.empty_like, np.zeros, np.ones, np.empty,
    np.eye,
    np.sign, np.floor, np.ceil, np.round, np.rint, np.trunc,
    np.argmax, np.argmin, np.argsort, np.isnan, np.isinf, np.isfinite,
    np.logical_and, np.logical_or, np.logical_not,
    np.greater, np.less, np.equal, np.greater_equal, np.less_equal, np.not_equal,
)  # fmt: skip

# ------------------------------------------------------------------ operators


@adjoint(operator.add, np.add)
def add(z, x, y):
    d[x] = unbroadcast(d[z], x)
    d[y] = unbroadcast(d[z], y)


@adjoint(operator.sub, np.subtract)
def sub(z, x, y):
    d[x] = unbroadcast(d[z], x)
    d[y] = unbroadcast(-d[z], y)


@adjoint(operator.mul, np.multiply)
def mul(z, x, y):
    d[x] = unbroadcast(d[z] * y, x)
    d[y] = unbroadcast(d[z] * x, y)


@adjoint(operator.truediv, np.divide, np.true_divide)
def truediv(z, x, y):
    d[x] = unbroadcast(d[z] / y, x)
    d[y] = unbroadcast(-d[z] * z / y, y)


@adjoint(operator.pow, np.power)
def pow(z, x, y):
    # As autograd: 0 ** 0 has the gradient 0 in x, and 0 ** y has 0 in y
    # (the limit along the positive axis); a literal exponent reads plainly.
    if constant(y):
        if y != 0:
            d[x] = unbroadcast(d[z] * y * x ** (y - 1), x)
        else:
            d[x] = 0
    else:
        d[x] = unbroadcast(d[z] * y * x ** np.where(y == 0, 1.0, y - 1), x)
        d[y] = unbroadcast(d[z] * z * np.log(np.where(x == 0, 1.0, x)), y)


@adjoint(operator.mod, np.mod, np.remainder)
def mod(z, x, y):
    # z = x - floor(x / y) * y: piecewise linear (NumPy's and Python's sign convention).
    d[x] = unbroadcast(d[z], x)
    d[y] = unbroadcast(-d[z] * np.floor(x / y), y)


@adjoint(np.fmod)
def fmod(z, x, y):
    # z = x - trunc(x / y) * y (C's sign convention).
    d[x] = unbroadcast(d[z], x)
    d[y] = unbroadcast(-d[z] * np.trunc(x / y), y)


@adjoint(operator.neg, np.negative)
def neg(y, x):
    d[x] = -d[y]


@adjoint(operator.pos, np.positive)
def pos(y, x):
    d[x] = d[y]


@adjoint(operator.matmul, np.matmul, np.dot)
def matmul(z, a, b):
    # np.dot agrees with matmul for operands of at most two dimensions.
    d[a] = matmul_grad_a(d[z], a, b)
    d[b] = matmul_grad_b(d[z], a, b)


@adjoint(operator.getitem)
def getitem(y, x, index):
    d[x] = unindex(d[y], x, index)


# ------------------------------------------------------- elementwise functions


@adjoint(np.exp)
def exp(y, x):
    d[x] = d[y] * y


@adjoint(np.expm1)
def expm1(y, x):
    d[x] = d[y] * (y + 1)


@adjoint(np.log)
def log(y, x):
    d[x] = d[y] / x


@adjoint(np.log1p)
def log1p(y, x):
    d[x] = d[y] / (1 + x)


@adjoint(np.sqrt)
def sqrt(y, x):
    d[x] = d[y] / (2 * y)


@adjoint(np.square)
def square(y, x):
    d[x] = 2 * d[y] * x


@adjoint(np.abs, np.absolute, abs)
def absolute(y, x):
    d[x] = d[y] * np.sign(x)


@adjoint(np.sin)
def sin(y, x):
    d[x] = d[y] * np.cos(x)


@adjoint(np.cos)
def cos(y, x):
    d[x] = -d[y] * np.sin(x)


@adjoint(np.tan)
def tan(y, x):
    d[x] = d[y] * (1 + y * y)


@adjoint(np.arcsin)
def arcsin(y, x):
    d[x] = d[y] / np.sqrt(1 - x * x)


@adjoint(np.arccos)
def arccos(y, x):
    d[x] = -d[y] / np.sqrt(1 - x * x)


@adjoint(np.arctan)
def arctan(y, x):
    d[x] = d[y] / (1 + x * x)


@adjoint(np.sinh)
def sinh(y, x):
    d[x] = d[y] * np.cosh(x)


@adjoint(np.cosh)
def cosh(y, x):
    d[x] = d[y] * np.sinh(x)


@adjoint(np.tanh)
def tanh(y, x):
    d[x] = d[y] * (1 - y * y)


@adjoint(np.maximum)
def maximum(z, x1, x2):
    # Ties split the gradient evenly (as JAX and PyTorch do); heaviside keeps
    # the operand's floating dtype.
    d[x1] = unbroadcast(d[z] * np.heaviside(x1 - x2, 0.5), x1)
    d[x2] = unbroadcast(d[z] * np.heaviside(x2 - x1, 0.5), x2)


@adjoint(np.minimum)
def minimum(z, x1, x2):
    d[x1] = unbroadcast(d[z] * np.heaviside(x2 - x1, 0.5), x1)
    d[x2] = unbroadcast(d[z] * np.heaviside(x1 - x2, 0.5), x2)


@adjoint(np.where)
def where(z, condition, x, y):
    d[x] = unbroadcast(np.where(condition, d[z], 0), x)
    d[y] = unbroadcast(np.where(condition, 0, d[z]), y)


@adjoint(np.clip)
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


# ----------------------------------------------------------------- reductions


@adjoint(np.sum)
def sum(y, x, axis=None, keepdims=False):
    d[x] = unreduce(d[y], x, axis, keepdims)


@adjoint(np.mean)
def mean(y, x, axis=None, keepdims=False):
    d[x] = unreduce(d[y], x, axis, keepdims) / (np.size(x) / np.size(y))


@adjoint(np.max, np.amax)
def max(y, x, axis=None, keepdims=False):
    # Ties share the gradient evenly.
    mask = x == unreduce(y, x, axis, keepdims)
    count = np.sum(mask, axis=axis, keepdims=True, dtype=x.dtype)
    d[x] = unreduce(d[y], x, axis, keepdims) * mask / count


@adjoint(np.min, np.amin)
def min(y, x, axis=None, keepdims=False):
    mask = x == unreduce(y, x, axis, keepdims)
    count = np.sum(mask, axis=axis, keepdims=True, dtype=x.dtype)
    d[x] = unreduce(d[y], x, axis, keepdims) * mask / count


@adjoint(np.prod)
def prod(y, x, axis=None, keepdims=False):
    # Assumes no zero in x (as autograd does); a zero gives nan/inf.
    d[x] = unreduce(d[y] * y, x, axis, keepdims) / x


@adjoint(np.linalg.norm)
def norm(y, x, ord=None, axis=None, keepdims=False):
    if ord is not None:
        unsupported("only the 2-norm / Frobenius norm (ord=None) has a gradient rule")
    # Undefined where the norm is zero.
    d[x] = unreduce(d[y] / y, x, axis, keepdims) * x


# --------------------------------------------------------------- constructors


@adjoint(np.full)
def full(y, shape, fill_value, dtype=None):
    d[fill_value] = unbroadcast(unreduce(d[y], y, None, False), fill_value)


@adjoint(np.arange)
def arange(y, start, stop=None, step=None, dtype=None):
    # The values are start + k * step; their number is piecewise constant.
    if stop is None:
        d[start] = 0  # np.arange(stop): 0, 1, ..., whatever stop is
    else:
        d[start] = np.sum(d[y])
        d[stop] = 0
        d[step] = np.sum(d[y] * np.arange(np.size(y)))


@adjoint(np.linspace)
def linspace(y, start, stop, num=50, endpoint=True):
    # y = start + (stop - start) * t along axis 0, with t = linspace(0, 1, num).
    t = np.reshape(np.linspace(0.0, 1.0, num, endpoint=endpoint),
                   (-1,) + (1,) * (np.ndim(y) - 1))
    d[start] = unbroadcast(np.sum(d[y] * (1 - t), axis=0), start)
    d[stop] = unbroadcast(np.sum(d[y] * t, axis=0), stop)


# ------------------------------------------------------------- shape changes


@adjoint(np.transpose)
def transpose(y, x, axes=None):
    if axes is None:
        d[x] = np.transpose(d[y])
    else:
        d[x] = np.transpose(d[y], np.argsort(axes))


@adjoint(np.reshape)
def reshape(y, x, shape):
    d[x] = np.reshape(d[y], np.shape(x))


@adjoint(np.expand_dims)
def expand_dims(y, x, axis):
    d[x] = np.reshape(d[y], np.shape(x))


@adjoint(np.squeeze)
def squeeze(y, x, axis=None):
    d[x] = np.reshape(d[y], np.shape(x))


@adjoint(np.ravel)
def ravel(y, x):
    d[x] = np.reshape(d[y], np.shape(x))


@adjoint(np.stack)
def stack(y, arrays, axis=0):
    d[arrays] = unstack(d[y], arrays, axis)


@adjoint(np.array, np.asarray)
def array(y, object):
    # A list of arrays is stacked; an array is copied.
    d[object] = unstack(d[y], object, 0)


@adjoint(np.concatenate)
def concatenate(y, arrays, axis=0):
    d[arrays] = unconcatenate(d[y], arrays, axis)


@adjoint(np.outer)
def outer(z, a, b):
    d[a] = np.reshape(d[z] @ np.ravel(b), np.shape(a))
    d[b] = np.reshape(np.ravel(a) @ d[z], np.shape(b))


# Boolean combinations of masks carry no gradient either.
nondifferentiable(operator.and_, operator.or_, operator.xor, operator.not_)
