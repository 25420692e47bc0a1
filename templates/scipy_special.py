"""scipy.special, where the user's code imports it (``from scipy import
special``, ``import scipy.special``, ``from scipy.special import expit``):
the generated module then imports ``scipy.special`` too, and only then.
scipy is not a dependency of gradgen.

Elementwise functions are one line each, as in elementwise.py; the
functions along an axis (logsumexp, softmax, log_softmax) are written out,
with an explicit forward rule where the reverse one sums the gradient along
the axis.
"""

import numpy as np
from scipy import special

from .contract import adjoint, d, elementwise, unbroadcast, unreduce, unsupported

# The logistic sigmoid and its inverse.
elementwise(special.expit, lambda y, x: y * (1 - y))
elementwise(special.logit, lambda y, x: 1 / (x * (1 - x)), test=dict(domain="prob"))

# 2 / sqrt(pi) * exp(-x ** 2).
elementwise(special.erf, lambda y, x: 1.1283791670955126 * np.exp(-(x * x)))
elementwise(special.erfc, lambda y, x: -1.1283791670955126 * np.exp(-(x * x)))

# The derivative of digamma is the trigamma function polygamma(1, x), which
# scipy computes as the Hurwitz zeta(2, x); special.zeta keeps float32 where
# special.polygamma gives float64.
elementwise(special.gammaln, lambda y, x: special.digamma(x), test=dict(domain="positive"))
elementwise(special.digamma, lambda y, x: special.zeta(2, x), test=dict(domain="positive"))


@adjoint(special.zeta, shape="elementwise",
         test=dict(shapes=[("",), ("3",)], fixed=dict(x=3), domain="positive"),
         note="differentiable in q only")
def zeta(y, x, q):
    # The Hurwitz zeta, the sum over k of (k + q) ** -x: differentiable in q
    # only (the Riemann zeta(x), without q, has no rule).
    d[q] = unbroadcast(-(d[y] * x) * special.zeta(x + 1, q), q)


@adjoint(special.polygamma, shape="elementwise", static="n",
         test=dict(shapes=[("",), ("3",)], static=dict(n=[0, 1, 2]), domain="positive"))
def polygamma(y, n, x):
    d[x] = d[y] * special.polygamma(n + 1, x)


# x * log(y) and x * log1p(y), 0 where x == 0 (for every y): there the
# gradient in y is 0.
elementwise(special.xlogy, lambda z, x, y: np.log(y), lambda z, x, y: x / np.where(x == 0, 1, y),
            test=dict(domain=dict(y="positive")), note="the gradient in y is 0 where x == 0")
elementwise(special.xlog1py, lambda z, x, y: np.log1p(y),
            lambda z, x, y: x / np.where(x == 0, 1, 1 + y),
            test=dict(domain=dict(y="positive")), note="the gradient in y is 0 where x == 0")


@adjoint(special.logsumexp, shape="reduction", static=("axis", "keepdims", "return_sign"))
def logsumexp(y, a, axis=None, b=None, keepdims=False, return_sign=False):
    # The softmax of a along the axis, times the gradient spread back.
    if b is not None:
        unsupported("special.logsumexp with the weights b= has no gradient rule")
    if return_sign:
        unsupported("special.logsumexp with return_sign=True has no gradient rule")
    d[a] = unreduce(d[y], a, axis, keepdims) * np.exp(a - unreduce(y, a, axis, keepdims))


# The sums along the axis are written as unbroadcast(., total), total being
# of the reduced shape, and spread back with unreduce(., x, axis, True): the
# forms forward mode transposes (the softmax's Jacobian is symmetric).
@adjoint(special.softmax, shape="like:x", static="axis",
         test=dict(shapes=[("3",), ("2 3",), ("2 3 4",)], static=dict(axis=[None, 0, -1, (0, 1)])))
def softmax(y, x, axis=None):
    total = np.sum(y, axis=axis, keepdims=True)
    d[x] = y * d[y] - y * unreduce(unbroadcast(d[y] * y, total), x, axis, True)


@adjoint(special.log_softmax, shape="like:x", static="axis",
         test=dict(shapes=[("3",), ("2 3",), ("2 3 4",)], static=dict(axis=[None, 0, -1, (0, 1)])))
def log_softmax(y, x, axis=None):
    total = np.sum(y, axis=axis, keepdims=True)
    d[x] = d[y] - np.exp(y) * unreduce(unbroadcast(d[y], total), x, axis, True)
