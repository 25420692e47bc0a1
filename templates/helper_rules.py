"""Reverse-mode rules of the run-time helpers (helpers.py).

Generated gradients call ``unbroadcast``, ``unreduce``, ``unindex`` and the
matmul helpers; with these rules gradgen can differentiate its own output
again (the gradient of a gradient), and forward mode can read their
parameters (forward_rules.py declares them linear).  Each helper is linear
in its gradient argument ``g``; the matmul helpers are bilinear.
"""

import numpy as np

from .contract import (
    adjoint,
    checked_seed,
    d,
    matmul_grad_a,
    matmul_grad_b,
    nondifferentiable,
    unbroadcast,
    unindex,
    unreduce,
)

# Piecewise constant (masks of maximum/minimum); slices of generated indices.
nondifferentiable(np.heaviside, slice)


@adjoint(unbroadcast)
def unbroadcast_grad(y, g, x):
    # y sums g down to x's shape; the adjoint broadcasts back to g's shape.
    d[g] = unreduce(d[y], g, None, False)
    d[x] = 0  # x gives only a shape


@adjoint(unreduce)
def unreduce_grad(y, g, x, axis=None, keepdims=False):
    # y broadcasts g back to x's shape; the adjoint sums the broadcast axes.
    if axis is None:
        d[g] = unbroadcast(d[y], g)
    else:
        d[g] = unbroadcast(np.sum(d[y], axis=axis, keepdims=keepdims), g)
    d[x] = 0  # x gives only a shape


@adjoint(unindex)
def unindex_grad(y, g, x, index):
    # y adds g into zeros at index; the adjoint reads the entries back.
    d[g] = unbroadcast(d[y][index], g)
    d[x] = 0  # x gives only a shape


@adjoint(matmul_grad_a)
def matmul_grad_a_grad(y, g, a, b):
    # matmul_grad_a(., a, b) is the adjoint of A -> A @ b: its adjoint is that map.
    d[g] = d[y] @ b
    d[b] = matmul_grad_b(g, d[y], b)


@adjoint(matmul_grad_b)
def matmul_grad_b_grad(y, g, a, b):
    # matmul_grad_b(., a, b) is the adjoint of B -> a @ B.
    d[g] = a @ d[y]
    d[a] = matmul_grad_a(g, a, d[y])


@adjoint(np.copy)
def copy(y, x):
    # Generated code copies arrays it writes into (and the values it tapes).
    d[x] = d[y]


@adjoint(checked_seed)
def checked_seed_grad(y, seed, output, function):
    # The seed itself, once checked: the identity in the seed.
    d[seed] = d[y]
    d[output] = 0  # the output gives only a shape
