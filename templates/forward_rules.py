"""Forward-mode (tangent) rules: what is not derived from the reverse rules.

gradgen keeps ONE source for both modes.  A primitive's tangent comes from:

1. a declaration here, for the primitives that are linear (or multilinear)
   in some of their parameters: their tangent is the primitive itself,
   applied to tangents.  ``np.sum(x, axis=1)`` has the tangent
   ``np.sum(t_x, axis=1)``, ``a @ b`` has ``t_a @ b + a @ t_b``.  No
   formula is written, so none can drift from the primitive;
2. otherwise, the primitive's reverse rule in numpy_rules.py, transposed.
   A reverse rule is a linear map from ``d[y]`` to ``d[x]``, built from
   products by partials, ``unbroadcast``, ``unreduce``...; its transpose,
   applied to ``t[x]``, is the tangent of ``y``: ``d[x] = d[y] * y`` (exp)
   gives ``t[y] = t[x] * y``, ``unreduce(...)`` becomes ``np.sum(...)`` and
   ``unbroadcast`` becomes NumPy's own broadcasting.  The partials are the
   reverse rule's partials, literally (README.md, "Forward mode").

``args`` names parameters of the primitive's ``@adjoint`` rule.  ``linear``:
linear in ``args`` jointly (an inactive argument is replaced by 0);
``multilinear``: linear in each separately (one term per active argument, the
others left as they are).  tests/test_forward.py checks every primitive
against finite differences and checks <u, J t> == <J^T u, t> between the
forward and reverse code gradgen generates for it.
"""

import numpy as np

from .contract import (
    checked_seed,
    linear,
    matmul_grad_a,
    matmul_grad_b,
    multilinear,
    operator,
    unbroadcast,
    unindex,
    unreduce,
)

# Sums, differences, negation.
linear(operator.add, np.add, operator.sub, np.subtract, args=("x", "y"))
linear(operator.neg, np.negative, operator.pos, np.positive, args=("x",))

# Reductions that are linear, and every shape change or selection.
linear(np.sum, np.mean, args=("x",))
linear(np.transpose, np.reshape, np.expand_dims, np.squeeze, np.ravel, args=("x",))
linear(operator.getitem, np.copy, args=("x",))
linear(np.stack, np.concatenate, args=("arrays",))
linear(np.array, np.asarray, args=("object",))
linear(np.where, args=("x", "y"))

# Constructors whose values are linear in some arguments.
linear(np.full, args=("fill_value",))
linear(np.linspace, args=("start", "stop"))

# Products that are linear in each factor.
multilinear(operator.matmul, np.matmul, np.dot, np.outer, args=("a", "b"))

# The run-time helpers of generated gradients (for Hessian-vector products,
# which run forward mode over a gradient): linear in the gradient ``g``;
# the other arguments only give shapes, except in the matmul helpers.
linear(unbroadcast, unreduce, unindex, args=("g",))
linear(checked_seed, args=("seed",))
multilinear(matmul_grad_a, args=("g", "b"))
multilinear(matmul_grad_b, args=("g", "a"))
