"""Python's ``math`` module on Python floats: one line each, as the NumPy
elementwise functions (a ``math`` function takes and returns a float).

Generated code for float-only values may call ``math`` too (it is about ten
times faster than NumPy on a Python float); the generated module then
imports ``math``.  ``from math import sin`` in user code reads as
``math.sin``.
"""

import math

import numpy as np

from .contract import adjoint, d, elementwise, nondifferentiable

elementwise(math.exp, lambda y, x: y, test=dict(shapes=[("",)]))
elementwise(math.expm1, lambda y, x: y + 1, test=dict(shapes=[("",)]))
elementwise(math.log2, lambda y, x: 1 / (x * 0.6931471805599453),
            test=dict(domain="positive", shapes=[("",)]))
elementwise(math.log10, lambda y, x: 1 / (x * 2.302585092994046),
            test=dict(domain="positive", shapes=[("",)]))
elementwise(math.log1p, lambda y, x: 1 / (1 + x), test=dict(domain="positive", shapes=[("",)]))
elementwise(math.sqrt, lambda y, x: 1 / (2 * y), test=dict(domain="positive", shapes=[("",)]))


@adjoint(math.log, shape="elementwise",
         test=dict(domain=dict(x="positive", base="gt1"), shapes=[("",), ("", "")]))
def log(y, x, base=None):
    # math.log(x, base) = ln x / ln base; without a base, the natural logarithm.
    if base is None:
        d[x] = d[y] / x
    else:
        d[x] = d[y] / (x * math.log(base))
        d[base] = -(d[y] * y) / (base * math.log(base))


# math.pow(x, y) as x ** y: 0 ** y has the gradient 0 in y (the limit along
# the positive axis), as np.power's rule.
@adjoint(math.pow, shape="elementwise",
         test=dict(domain=dict(x="positive"), shapes=[("", "")]))
def pow(z, x, y):
    d[x] = d[z] * y * math.pow(x, y - 1)
    d[y] = d[z] * z * np.log(np.where(x == 0, 1.0, x))


elementwise(math.sin, lambda y, x: math.cos(x), test=dict(shapes=[("",)]))
elementwise(math.cos, lambda y, x: -math.sin(x), test=dict(shapes=[("",)]))
elementwise(math.tan, lambda y, x: 1 + y * y, test=dict(domain="unit", shapes=[("",)]))
elementwise(math.asin, lambda y, x: 1 / math.sqrt(1 - x * x),
            test=dict(domain="unit", shapes=[("",)]))
elementwise(math.acos, lambda y, x: -1 / math.sqrt(1 - x * x),
            test=dict(domain="unit", shapes=[("",)]))
elementwise(math.atan, lambda y, x: 1 / (1 + x * x), test=dict(shapes=[("",)]))
# math.atan2(y, x): the angle of the point (x, y).
elementwise(math.atan2, lambda z, y, x: x / (x * x + y * y),
            lambda z, y, x: -y / (x * x + y * y),
            test=dict(domain="nonzero", shapes=[("", "")]),
            note="undefined at (0, 0); discontinuous across y = 0 where x < 0")
elementwise(math.sinh, lambda y, x: math.cosh(x), test=dict(shapes=[("",)]))
elementwise(math.cosh, lambda y, x: math.sinh(x), test=dict(shapes=[("",)]))
elementwise(math.tanh, lambda y, x: 1 - y * y, test=dict(shapes=[("",)]))
elementwise(math.asinh, lambda y, x: 1 / math.sqrt(x * x + 1), test=dict(shapes=[("",)]))
elementwise(math.acosh, lambda y, x: 1 / math.sqrt(x * x - 1),
            test=dict(domain="gt1", shapes=[("",)]))
elementwise(math.atanh, lambda y, x: 1 / (1 - x * x), test=dict(domain="unit", shapes=[("",)]))

# The two-argument form of math.hypot (it also takes one, or three and more).
elementwise(math.hypot, lambda z, x, y: x / z, lambda z, x, y: y / z,
            test=dict(domain="nonzero", shapes=[("", "")]), note="undefined at (0, 0)")
elementwise(math.fabs, lambda y, x: np.sign(x), test=dict(domain="nonzero", shapes=[("",)]),
            note="the gradient at 0 is 0 (np.sign)")
# 2 / sqrt(pi) * exp(-x ** 2).
elementwise(math.erf, lambda y, x: 1.1283791670955126 * math.exp(-(x * x)),
            test=dict(shapes=[("",)]))
elementwise(math.erfc, lambda y, x: -1.1283791670955126 * math.exp(-(x * x)),
            test=dict(shapes=[("",)]))
elementwise(math.radians, lambda y, x: 0.017453292519943295, linear="x",
            test=dict(shapes=[("",)]))
elementwise(math.degrees, lambda y, x: 57.29577951308232, linear="x", test=dict(shapes=[("",)]))
# |x| with the sign of y: piecewise constant in y.
elementwise(math.copysign, lambda z, x, y: np.sign(x) * math.copysign(1.0, y), None,
            test=dict(domain="nonzero", shapes=[("", "")]),
            note="no gradient in y (only its sign is used); the gradient in x at 0 is 0")

# Rounding to an integer: piecewise constant.  (Declared here rather than in
# nondifferentiable.py, where math is not imported.)
nondifferentiable(math.floor, math.ceil, math.trunc)
