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

# Logarithms and powers in other bases: ln 2 and ln 10 are Python floats,
# which keep float32 (np.log(2) would promote it to float64).
elementwise(np.log2, lambda y, x: 1 / (x * 0.6931471805599453), test=dict(domain="positive"))
elementwise(np.log10, lambda y, x: 1 / (x * 2.302585092994046), test=dict(domain="positive"))
elementwise(np.exp2, lambda y, x: y * 0.6931471805599453)
elementwise(np.cbrt, lambda y, x: 1 / (3 * y * y), test=dict(domain="nonzero"),
            note="the gradient is infinite at 0")
elementwise(np.reciprocal, lambda y, x: -(y * y), test=dict(domain="nonzero"))
elementwise(np.fabs, lambda y, x: np.sign(x), test=dict(domain="nonzero"),
            note="the gradient at 0 is 0 (np.sign)")

# Inverse hyperbolic functions.
elementwise(np.arcsinh, lambda y, x: 1 / np.sqrt(x * x + 1))
elementwise(np.arccosh, lambda y, x: 1 / np.sqrt(x * x - 1), test=dict(domain="gt1"))
elementwise(np.arctanh, lambda y, x: 1 / (1 - x * x), test=dict(domain="unit"))

# Angles: multiplications by pi / 180 and 180 / pi.
elementwise((np.deg2rad, np.radians), lambda y, x: 0.017453292519943295, linear="x")
elementwise((np.rad2deg, np.degrees), lambda y, x: 57.29577951308232, linear="x")

# np.sinc(x) = sin(pi x) / (pi x); its derivative (cos(pi x) - sinc(x)) / x
# has the limit 0 at 0, where the numerator is 0 and the divisor is made 1.
elementwise(np.sinc, lambda y, x: (np.cos(np.pi * x) - y) / np.where(x == 0, 1, x),
            note="the gradient at 0 is its limit, 0")

# Binary functions; the constructor undoes broadcasting.
elementwise(np.hypot, lambda z, x1, x2: x1 / z, lambda z, x1, x2: x2 / z,
            test=dict(domain="nonzero"), note="undefined where both arguments are 0")
elementwise(np.arctan2, lambda z, x1, x2: x2 / (x1 * x1 + x2 * x2),
            lambda z, x1, x2: -x1 / (x1 * x1 + x2 * x2), test=dict(domain="nonzero"),
            note="undefined at (0, 0); discontinuous across x1 = 0 where x2 < 0")
elementwise(np.logaddexp, lambda z, x1, x2: np.exp(x1 - z), lambda z, x1, x2: np.exp(x2 - z))
elementwise(np.logaddexp2, lambda z, x1, x2: np.exp2(x1 - z), lambda z, x1, x2: np.exp2(x2 - z))

# np.fmax / np.fmin return the other operand where one is NaN (NaN where both
# are): np.fmax(x, -inf) is x with its NaNs read as -inf, so the gradient
# goes to the operand returned.  Ties split it evenly, as for np.maximum.
elementwise(np.fmax,
            lambda z, x1, x2: np.heaviside(np.fmax(x1, -np.inf) - np.fmax(x2, -np.inf), 0.5),
            lambda z, x1, x2: np.heaviside(np.fmax(x2, -np.inf) - np.fmax(x1, -np.inf), 0.5),
            note=("ties split the gradient evenly; where one operand is NaN, all of it "
                  "goes to the other (the value returned); NaN where both are"))
elementwise(np.fmin,
            lambda z, x1, x2: np.heaviside(np.fmin(x2, np.inf) - np.fmin(x1, np.inf), 0.5),
            lambda z, x1, x2: np.heaviside(np.fmin(x1, np.inf) - np.fmin(x2, np.inf), 0.5),
            note=("ties split the gradient evenly; where one operand is NaN, all of it "
                  "goes to the other (the value returned); NaN where both are"))

# np.float_power computes in float64 (its result is float64 whatever the
# inputs); 0 ** 0 has the gradient 0 in x1 and 0 ** x2 has 0 in x2, as np.power.
elementwise(np.float_power,
            lambda z, x1, x2: x2 * np.float_power(x1, np.where(x2 == 0, 1, x2 - 1)),
            lambda z, x1, x2: z * np.log(np.where(x1 == 0, 1, x1)),
            test=dict(domain=dict(x1="positive")),
            note="the gradient in x2 needs x1 >= 0 (a negative base gives NaN)")

# |x1| with the sign of x2: piecewise constant in x2.
elementwise(np.copysign, lambda z, x1, x2: np.sign(x1) * np.copysign(1, x2), None,
            test=dict(domain="nonzero"),
            note="no gradient in x2 (only its sign is used); the gradient in x1 at 0 is 0")

# The identity where x is finite, a constant where it replaced NaN or an
# infinity.  The replacement values must be literals.
elementwise(np.nan_to_num,
            lambda y, x, copy=True, nan=0.0, posinf=None, neginf=None: np.isfinite(x),
            static=("copy", "nan", "posinf", "neginf"),
            note="the gradient is 1 where x is finite, 0 where a value was replaced")

# Real and imaginary parts, for real floating inputs only: gradgen does not
# differentiate complex numbers (it refuses complex literals; a complex array
# passed in cannot be detected when the gradient is generated).
elementwise(np.real, lambda y, x: 1, attribute="real", linear="x",
            note="real inputs only (the identity); complex numbers are not supported")
elementwise(np.imag, lambda y, x: 0, attribute="imag",
            note="real inputs only (the constant 0); complex numbers are not supported")
elementwise((np.conj, np.conjugate), lambda y, x: 1, methods=("conj", "conjugate"),
            linear="x", note="real inputs only (the identity); complex numbers are not supported")
