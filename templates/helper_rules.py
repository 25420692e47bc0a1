"""Rules of the run-time helpers (helpers.py) that generated gradients call.

With these, gradgen differentiates its own output again (the gradient of a
gradient, and Hessian-vector products: forward mode over a gradient).  Each
helper is linear in its gradient argument ``g``; the matmul helpers are
bilinear.  An argument that gives only a shape is stated ``d[x] = 0``.
"""

import numpy as np

from .contract import (
    add_lists,
    adjoint,
    checked_seed,
    d,
    in_dtype_of,
    matmul_grad_a,
    matmul_grad_b,
    nondifferentiable,
    reconcatenate,
    restack,
    unbroadcast,
    unconcatenate,
    unindex,
    unreduce,
    unstack,
)

# Slices of generated indices.
nondifferentiable(slice)


@adjoint(unbroadcast, shape="like:x", linear="g",
         test=dict(shapes=[("2 3", "3"), ("2 3", "1 3"), ("3", "")]))
def unbroadcast_grad(y, g, x):
    # y sums g down to x's shape; the adjoint broadcasts back to g's shape.
    d[g] = unreduce(d[y], g, None, False)
    d[x] = 0  # x gives only a shape


@adjoint(unreduce, shape="like:x", linear="g", static=("axis", "keepdims"),
         test=dict(shapes=[("3", "2 3")], static=dict(axis=[0], keepdims=[False, True])))
def unreduce_grad(y, g, x, axis=None, keepdims=False):
    # y broadcasts g back to x's shape; the adjoint sums the broadcast axes.
    if axis is None:
        d[g] = unbroadcast(d[y], g)
    else:
        d[g] = unbroadcast(np.sum(d[y], axis=axis, keepdims=keepdims), g)
    d[x] = 0  # x gives only a shape


@adjoint(unindex, shape="like:x", linear="g", static="index",
         test=dict(shapes=[("3", "2 3")], fixed=dict(index=1)))
def unindex_grad(y, g, x, index):
    # y adds g into zeros at index; the adjoint reads the entries back.
    d[g] = unbroadcast(d[y][index], g)
    d[x] = 0  # x gives only a shape


@adjoint(matmul_grad_a, shape="like:a", multilinear=("g", "b"),
         test=dict(shapes=[("2 4", "2 3", "3 4"), ("4", "3", "3 4")]))
def matmul_grad_a_grad(y, g, a, b):
    # matmul_grad_a(., a, b) is the adjoint of A -> A @ b: its adjoint is that map.
    d[g] = d[y] @ b
    d[b] = matmul_grad_b(g, d[y], b)
    d[a] = 0  # a gives only a shape


@adjoint(matmul_grad_b, shape="like:b", multilinear=("g", "a"),
         test=dict(shapes=[("2 4", "2 3", "3 4"), ("4", "3", "3 4")]))
def matmul_grad_b_grad(y, g, a, b):
    # matmul_grad_b(., a, b) is the adjoint of B -> a @ B.
    d[g] = a @ d[y]
    d[a] = matmul_grad_a(g, a, d[y])
    d[b] = 0  # b gives only a shape


@adjoint(checked_seed, shape="like:seed", linear="seed", static="function",
         test=dict(shapes=[("3", "3")], fixed=dict(function="f")))
def checked_seed_grad(y, seed, output, function):
    # The seed itself, once checked: the identity in the seed.
    d[seed] = d[y]
    d[output] = 0  # the output gives only a shape


@adjoint(add_lists, linear=("a", "b"), test=dict(skip="takes lists: tested by the fuzzer's "
                                                     "lists in every mode"))
def add_lists_grad(y, a, b):
    d[a] = d[y]
    d[b] = d[y]


@adjoint(unstack, linear="g", static="axis",
         test=dict(skip="returns a list: tested by the fuzzer's lists in every mode"))
def unstack_grad(y, g, arrays, axis=0):
    d[g] = restack(d[y], g, axis)
    d[arrays] = 0  # the arrays give only shapes


@adjoint(unconcatenate, linear="g", static="axis",
         test=dict(skip="returns a list: tested by the fuzzer's lists in every mode"))
def unconcatenate_grad(y, g, arrays, axis=0):
    d[g] = reconcatenate(d[y], arrays, axis, g)
    d[arrays] = 0  # the arrays give only shapes


@adjoint(in_dtype_of, shape="like:g", linear="g",
         test=dict(shapes=[("3", "3"), ("", "")]))
def in_dtype_of_grad(y, g, x):
    d[g] = in_dtype_of(d[y], g)
    d[x] = 0  # x gives only a dtype
