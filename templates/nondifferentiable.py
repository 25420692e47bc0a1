"""Primitives reviewed to carry no gradient: each is piecewise constant, or
integer- or boolean-valued, in every floating argument (its derivative is
zero wherever it exists).  A function that is linear or smooth in any float
argument does not belong here, even if it is usually called with integers.
"""

import numpy as np

from .contract import nondifferentiable, operator

# Shapes and sizes: known before any array is computed.
nondifferentiable(np.shape, shape="shape-tuple")
nondifferentiable(np.ndim, np.size, len, shape="static")

# Arrays whose values do not depend on the arguments' values.
nondifferentiable(np.zeros_like, np.ones_like, np.empty_like, shape="like:a")
nondifferentiable(np.zeros, np.ones, np.empty, shape="constructor")
nondifferentiable(np.eye)

# Piecewise constant: rounding, signs, comparisons, tests, orderings.
nondifferentiable(np.sign, np.floor, np.ceil, np.round, np.rint, np.trunc, np.isnan,
                  np.isinf, np.isfinite, np.logical_and, np.logical_or, np.logical_not,
                  np.greater, np.less, np.equal, np.greater_equal, np.less_equal,
                  np.not_equal, shape="elementwise")
nondifferentiable(np.argmax, np.argmin, np.argsort)

# Boolean combinations of masks.
nondifferentiable(operator.and_, operator.or_, operator.xor, operator.not_,
                  shape="elementwise")

# Tests of values: booleans, counts and exact comparisons.
nondifferentiable(np.all, np.any, np.count_nonzero, shape="reduction")
nondifferentiable(np.isclose, shape="elementwise")
nondifferentiable(np.allclose, np.array_equal)

# Positions: integers (bins, insertion points, indices of nonzero entries),
# and the distinct values, whose number and order are piecewise constant.
nondifferentiable(np.digitize, shape="like:x")
nondifferentiable(np.searchsorted, shape="like:v@1")
nondifferentiable(np.argwhere, np.nonzero, np.flatnonzero)

# Random draws whose arguments are only shapes.  np.random.normal, uniform and
# choice are not here: their draws move with loc, scale, low, high and the
# values chosen from (loc + scale * z), so they are not piecewise constant.
nondifferentiable(np.random.rand, np.random.randn, np.random.randint)

# Floor division: floor(x / y), piecewise constant.
nondifferentiable(operator.floordiv, np.floor_divide, shape="elementwise")
