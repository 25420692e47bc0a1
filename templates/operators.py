"""Python's arithmetic operators (and their NumPy function forms), indexing
and the matrix product.

The contract (README.md beside this file): an ``elementwise`` entry gives
the partial derivative in each parameter as a lambda of the result and the
parameters; an ``@adjoint`` rule assigns ``d[p]`` for each parameter ``p``.
Broadcasting is undone by the constructor (``unbroadcast``), and forward
mode uses the same partials.
"""

import math

import numpy as np

from .contract import (
    adjoint,
    constant,
    d,
    elementwise,
    matmul_grad_a,
    matmul_grad_b,
    operator,
    unbroadcast,
    unindex,
)

elementwise((operator.add, np.add), lambda z, x, y: 1, lambda z, x, y: 1, linear=("x", "y"))
elementwise((operator.sub, np.subtract), lambda z, x, y: 1, lambda z, x, y: -1,
            linear=("x", "y"))
elementwise((operator.mul, np.multiply), lambda z, x, y: y, lambda z, x, y: x)
elementwise((operator.truediv, np.divide, np.true_divide), lambda z, x, y: 1 / y,
            lambda z, x, y: -z / y, test=dict(domain=dict(y="nonzero")))
elementwise((operator.neg, np.negative), lambda y, x: -1, linear="x")
elementwise((operator.pos, np.positive), lambda y, x: 1, linear="x")


@adjoint(operator.pow, np.power, shape="elementwise",
         test=dict(domain=dict(x="positive"), shapes=[("2 3", "2 3"), ("3", ""), ("", "3")]))
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
    if constant(x) and x > 0:
        # math.log gives a Python float, which keeps y's precision.
        d[y] = unbroadcast(d[z] * z * math.log(x), y)
    else:
        d[y] = unbroadcast(d[z] * z * np.log(np.where(x == 0, 1.0, x)), y)


# z = x - floor(x / y) * y (Python's and NumPy's sign convention): piecewise
# linear; np.fmod truncates instead (C's convention).
elementwise((operator.mod, np.mod, np.remainder), lambda z, x, y: 1,
            lambda z, x, y: -np.floor(x / y), test=dict(domain=dict(y="positive")))
elementwise(np.fmod, lambda z, x, y: 1, lambda z, x, y: -np.trunc(x / y),
            test=dict(domain=dict(y="positive")))


@adjoint(operator.matmul, np.matmul, np.dot, shape="matmul", methods="dot",
         multilinear=("a", "b"),
         test=dict(shapes=[("2 3", "3 4"), ("3", "3 2"), ("2 3", "3"), ("3", "3")]))
def matmul(z, a, b):
    # np.dot agrees with matmul for operands of at most two dimensions.
    d[a] = matmul_grad_a(d[z], a, b)
    d[b] = matmul_grad_b(d[z], a, b)


@adjoint(operator.getitem, view=True, linear="x", test=dict(skip="indexing is tested "
         "by the control-flow and fuzz suites, which generate its index forms"))
def getitem(y, x, index):
    d[x] = unindex(d[y], x, index)
