"""Python's builtins on numbers, as people write them in loss functions.

``abs`` is NumPy's absolute value (templates/elementwise.py), ``len`` a
static size (templates/nondifferentiable.py).  ``min``/``max`` of two
numbers pass the gradient to the operand they return: Python returns the
first of equal operands, so a tie sends all of it to the first.
"""

from .contract import adjoint, d, elementwise, nondifferentiable

# float(x) of a number or a 0-d array: the same value, a Python float.
elementwise(float, lambda y, x: 1.0, test=dict(shapes=[("",)]))

# Integer- or boolean-valued: int(x) truncates, round(x) rounds, bool(x)
# and isinstance(x, T) test.
nondifferentiable(int, round, bool, isinstance)


@adjoint(max, shape="elementwise", test=dict(shapes=[("", "")]))
def max_(y, a, b):
    d[a] = d[y] * (a >= b)
    d[b] = d[y] * (b > a)


@adjoint(min, shape="elementwise", test=dict(shapes=[("", "")]))
def min_(y, a, b):
    d[a] = d[y] * (a <= b)
    d[b] = d[y] * (b < a)
