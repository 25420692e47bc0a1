"""Names the rule files use, so that they import and lint as ordinary Python.

gradgen never executes the rule files: it reads their source.  These
definitions only give linters and readers something to resolve.
"""

import operator  # noqa: F401  (rule files refer to operator.add etc.)

from .helpers import (  # noqa: F401
    checked_seed,
    in_dtype_of,
    kron_grad_a,
    kron_grad_b,
    matmul_grad_a,
    matmul_grad_b,
    add_lists,
    reconcatenate,
    restack,
    tensordot_grad_a,
    tensordot_grad_b,
    unbroadcast,
    unconcatenate,
    undiag,
    undiff,
    unindex,
    unreduce,
    unstack,
)


class _Gradients(dict):
    """``d[x]``: the gradient of the value ``x`` (of the function's output)."""


d = _Gradients()


def adjoint(*primitives):
    """Mark a function as the reverse-mode rule of one or more primitives."""

    def register(rule):
        return rule

    return register


def nondifferentiable(*primitives):
    """Declare primitives whose outputs carry no gradient (shapes, masks...)."""


def constant(value):
    """In a rule's ``if``: whether the argument is a literal (a number, None,
    a tuple of them), known when the rule is instantiated."""
    return True


def unsupported(message):
    """In a rule, refuse a static case (e.g. an ``ord=``) with this message."""
    raise NotImplementedError(message)


def linear(*primitives, args):
    """Forward mode: the primitives are linear in the parameters ``args`` jointly;
    their tangent is the primitive applied to the tangents (see forward_rules.py)."""


def multilinear(*primitives, args):
    """Forward mode: the primitives are linear in each of ``args`` separately;
    their tangent is a sum of one application per active argument."""


t = _Gradients()  # in a @tangent rule, t[x] is the tangent of x


def tangent(*primitives):
    """Mark a function as the explicit forward-mode rule of primitives whose
    reverse rule forward mode cannot transpose: ``t[y] = ...`` from ``t[x]``."""

    def register(rule):
        return rule

    return register


def elementwise(primitives, *partials, **facts):
    """An elementwise primitive (or a tuple of aliases) and its partial
    derivative in each parameter: ``lambda y, x: np.cos(x)``."""


def reduction(primitives, partial, **facts):
    """A reduction along ``axis`` (with ``keepdims``) and its partial in
    ``x``, where ``y`` stands for the result broadcast back to ``x``."""
