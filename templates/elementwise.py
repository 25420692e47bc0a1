"""Elementwise functions: one line each, the partial derivative as a lambda
of the result and the argument (``y`` is the result, ``x`` the argument).

Forward mode multiplies the same partial by the tangent; the systematic
tests check each entry on a scalar, a vector and a matrix, in the domain
its ``test=`` names (``positive``, ``unit`` for (-1, 1), ``gt1`` for > 1).
"""

import numpy as np

from .contract import elementwise

elementwise(np.exp, lambda y, x: y)
elementwise(np.expm1, lambda y, x: y + 1)
elementwise(np.log, lambda y, x: 1 / x, test=dict(domain="positive"))
elementwise(np.log1p, lambda y, x: 1 / (1 + x), test=dict(domain="positive"))
elementwise(np.sqrt, lambda y, x: 1 / (2 * y), test=dict(domain="positive"))
elementwise(np.square, lambda y, x: 2 * x)
elementwise((np.abs, np.absolute, abs), lambda y, x: np.sign(x), test=dict(domain="nonzero"),
            note="the gradient at 0 is 0 (np.sign)")
elementwise(np.sin, lambda y, x: np.cos(x))
elementwise(np.cos, lambda y, x: -np.sin(x))
elementwise(np.tan, lambda y, x: 1 + y * y, test=dict(domain="unit"))
elementwise(np.arcsin, lambda y, x: 1 / np.sqrt(1 - x * x), test=dict(domain="unit"))
elementwise(np.arccos, lambda y, x: -1 / np.sqrt(1 - x * x), test=dict(domain="unit"))
elementwise(np.arctan, lambda y, x: 1 / (1 + x * x))
elementwise(np.sinh, lambda y, x: np.cosh(x))
elementwise(np.cosh, lambda y, x: np.sinh(x))
elementwise(np.tanh, lambda y, x: 1 - y * y)

# Ties split the gradient evenly, as JAX and PyTorch do; the masks keep the
# operands' floating dtype.
elementwise(np.maximum, lambda z, x1, x2: np.heaviside(x1 - x2, 0.5),
            lambda z, x1, x2: np.heaviside(x2 - x1, 0.5), note="ties split the gradient evenly")
elementwise(np.minimum, lambda z, x1, x2: np.heaviside(x2 - x1, 0.5),
            lambda z, x1, x2: np.heaviside(x1 - x2, 0.5), note="ties split the gradient evenly")

# The step function: constant in x1 away from 0; its value at 0 is x2.
elementwise(np.heaviside, None, lambda y, x1, x2: x1 == 0, test=dict(skip="piecewise "
            "constant in x1; x2 matters only where x1 == 0, which random inputs never hit"))
