"""Linear algebra: traces and diagonals, products of tensors, and the
functions of ``np.linalg``.

The products (``tensordot``, ``kron``, ``inner``...) are linear in each
operand: forward mode applies them to tangents (``multilinear=``), and the
reverse rules are their transposes, written with helpers (helpers.py) whose
own rules are below, so that generated gradients differentiate again.

The matrix functions (``inv``, ``det``, ``solve``, ``cholesky``, ``pinv``)
use the standard adjoint formulas (Giles, "An extended collection of matrix
derivative results", 2008) on the last two axes, so stacks of matrices work
as NumPy broadcasts them.  Their reverse rules are not of a form forward mode
transposes (products by matrices on both sides), so each has an explicit
``@tangent`` rule, the forward formula of the same reference; the
systematic tests check both directions against finite differences.
"""

import numpy as np

from .contract import (
    adjoint,
    d,
    kron_grad_a,
    kron_grad_b,
    t,
    tangent,
    tensordot_grad_a,
    tensordot_grad_b,
    unbroadcast,
    undiag,
    unsupported,
)

# ---------------------------------------------------------------- matrix axes


@adjoint(np.swapaxes, methods="swapaxes", view=True, linear="x", static=("axis1", "axis2"),
         test=dict(shapes=[("2 3",), ("2 3 4",)], static=dict(axis1=[0, -1], axis2=[1])))
def swapaxes(y, x, axis1, axis2):
    d[x] = np.swapaxes(d[y], axis1, axis2)


@adjoint(np.moveaxis, view=True, linear="x", static=("source", "destination"),
         test=dict(shapes=[("2 3 4",)], static=dict(source=[0, (0, 1)], destination=[-1, (2, 0)])))
def moveaxis(y, x, source, destination):
    d[x] = np.moveaxis(d[y], destination, source)


# ------------------------------------------------------- traces and diagonals


@adjoint(np.trace, methods="trace", linear="x", static=("offset", "axis1", "axis2"),
         test=dict(shapes=[("3 3",), ("2 3",), ("2 3 4",)],
                   static=dict(offset=[0, 1, -1], axis2=[1, 2])))
def trace(y, x, offset=0, axis1=0, axis2=1):
    # d[y] on the offset diagonal of the (axis1, axis2) planes (times ones
    # like y: a seed given as a Python float keeps y's dtype).
    eye = np.eye(np.shape(x)[axis1], np.shape(x)[axis2], offset, dtype=y.dtype)
    g = np.expand_dims(d[y] * np.ones_like(y), (-2, -1))
    d[x] = np.moveaxis(g * eye, (-2, -1), (axis1, axis2))


@adjoint(np.diagonal, methods="diagonal", view=True, linear="x",
         static=("offset", "axis1", "axis2"),
         test=dict(shapes=[("3 3",), ("2 3",), ("2 3 4",)],
                   static=dict(offset=[0, 1, -1], axis2=[1, 2])))
def diagonal(y, x, offset=0, axis1=0, axis2=1):
    # Entry i of the diagonal is x[i + first, i + first + offset] in its plane.
    if offset < 0:
        first = -offset
    else:
        first = 0
    rows = np.eye(np.shape(y)[-1], np.shape(x)[axis1], first, dtype=y.dtype)
    eye = np.eye(np.shape(x)[axis1], np.shape(x)[axis2], offset, dtype=y.dtype)
    d[x] = np.moveaxis(np.expand_dims(d[y] @ rows, -1) * eye, (-2, -1), (axis1, axis2))


@adjoint(np.diag, linear="v", static="k",
         test=dict(shapes=[("3",), ("3 3",), ("2 4",), ("4 2",)], static=dict(k=[0, 1, -1])))
def diag(y, v, k=0):
    # A vector's diagonal matrix, or a matrix's diagonal: undiag does the other.
    d[v] = undiag(d[y], v, k)


@adjoint(undiag, linear="g", static="k",
         test=dict(shapes=[("3 3", "3"), ("2", "2 3")], fixed=dict(k=1)))
def undiag_grad(y, g, v, k=0):
    d[g] = np.diag(d[y], k)
    d[v] = 0  # v gives only a shape


@adjoint(np.triu, linear="m", static="k", shape="like:m",
         test=dict(shapes=[("3 3",), ("2 3 4",)], static=dict(k=[0, 1, -1])))
def triu(y, m, k=0):
    d[m] = np.triu(d[y], k)


@adjoint(np.tril, linear="m", static="k", shape="like:m",
         test=dict(shapes=[("3 3",), ("2 3 4",)], static=dict(k=[0, 1, -1])))
def tril(y, m, k=0):
    d[m] = np.tril(d[y], k)


# ------------------------------------------------------------------- products


@adjoint(np.tensordot, multilinear=("a", "b"), static="axes",
         test=dict(shapes=[("2 3", "3 4"), ("2 3 4", "3 4 2"), ("3 4", "3 4")],
                   static=dict(axes=[1, 2, 0, ((0,), (0,)), ((1, 0), (0, 1))])))
def tensordot(y, a, b, axes=2):
    d[a] = tensordot_grad_a(d[y], a, b, axes)
    d[b] = tensordot_grad_b(d[y], a, b, axes)


@adjoint(tensordot_grad_a, shape="like:a", multilinear=("g", "b"), static="axes",
         test=dict(shapes=[("2 4", "2 3", "3 4")], fixed=dict(axes=1)))
def tensordot_grad_a_grad(y, g, a, b, axes=2):
    # tensordot_grad_a(., a, b) is the adjoint of A -> tensordot(A, b).
    d[g] = np.tensordot(d[y], b, axes)
    d[b] = tensordot_grad_b(g, d[y], b, axes)
    d[a] = 0  # a gives only a shape


@adjoint(tensordot_grad_b, shape="like:b", multilinear=("g", "a"), static="axes",
         test=dict(shapes=[("2 4", "2 3", "3 4")], fixed=dict(axes=1)))
def tensordot_grad_b_grad(y, g, a, b, axes=2):
    # tensordot_grad_b(., a, b) is the adjoint of B -> tensordot(a, B).
    d[g] = np.tensordot(a, d[y], axes)
    d[a] = tensordot_grad_a(g, a, d[y], axes)
    d[b] = 0  # b gives only a shape


@adjoint(np.inner, multilinear=("a", "b"),
         test=dict(shapes=[("3", "3"), ("2 3", "4 3"), ("3", "2 3"), ("2 2 3", "3")]))
def inner(y, a, b):
    # np.inner contracts the last axes: tensordot(a, b, (-1, -1)).
    d[a] = tensordot_grad_a(d[y], a, b, (-1, -1))
    d[b] = tensordot_grad_b(d[y], a, b, (-1, -1))


@adjoint(np.vdot, multilinear=("a", "b"),
         test=dict(shapes=[("3", "3"), ("2 3", "3 2")]))
def vdot(y, a, b):
    # Real arrays: the sum of the products of the flattened arrays.
    d[a] = np.reshape(d[y] * b, np.shape(a))
    d[b] = np.reshape(d[y] * a, np.shape(b))


@adjoint(np.kron, multilinear=("a", "b"),
         test=dict(shapes=[("2", "3"), ("2 3", "2 2"), ("3", "2 2"), ("2 1 2", "2 3")]))
def kron(y, a, b):
    d[a] = kron_grad_a(d[y], a, b)
    d[b] = kron_grad_b(d[y], a, b)


@adjoint(kron_grad_a, shape="like:a", multilinear=("g", "b"),
         test=dict(shapes=[("4 6", "2 3", "2 2")]))
def kron_grad_a_grad(y, g, a, b):
    # kron_grad_a(., a, b) is the adjoint of A -> kron(A, b).
    d[g] = np.kron(d[y], b)
    d[b] = kron_grad_b(g, d[y], b)
    d[a] = 0  # a gives only a shape


@adjoint(kron_grad_b, shape="like:b", multilinear=("g", "a"),
         test=dict(shapes=[("4 6", "2 3", "2 2")]))
def kron_grad_b_grad(y, g, a, b):
    d[g] = np.kron(a, d[y])
    d[a] = kron_grad_a(g, a, d[y])
    d[b] = 0  # b gives only a shape


@adjoint(np.cross, multilinear=("a", "b"), static=("axisa", "axisb", "axisc", "axis"),
         test=dict(shapes=[("3", "3"), ("2 3", "3"), ("4 3", "1 3")], static=dict(axis=[None, -1])),
         note="3-vectors (np.linalg.cross in the gradient refuses 2-vectors at run time); "
              "one axis for all operands (axis=), not axisa/axisb/axisc")
def cross(y, a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    # y = a x b is -(b x a): <g, a x b> = <b x g, a> = <g x a, b>.
    if axis is not None:
        d[a] = unbroadcast(np.linalg.cross(b, d[y], axis=axis), a)
        d[b] = unbroadcast(np.linalg.cross(d[y], a, axis=axis), b)
    elif axisa != -1 or axisb != -1 or axisc != -1:
        unsupported("np.cross with axisa=, axisb= or axisc= has no gradient rule: give axis=")
    else:
        d[a] = unbroadcast(np.linalg.cross(b, d[y]), a)
        d[b] = unbroadcast(np.linalg.cross(d[y], a), b)


@adjoint(np.linalg.cross, multilinear=("x1", "x2"), static="axis",
         test=dict(shapes=[("3", "3"), ("2 3", "3")]), note="3-vectors (NumPy 2.0 and later)")
def linalg_cross(y, x1, x2, axis=-1):
    d[x1] = unbroadcast(np.linalg.cross(x2, d[y], axis=axis), x1)
    d[x2] = unbroadcast(np.linalg.cross(d[y], x1, axis=axis), x2)


# ------------------------------------------------------------- np.linalg


@adjoint(np.linalg.inv, shape="like:x", test=dict(shapes=[("3 3",), ("2 3 3",)],
                                                  domain="invertible"))
def inv(y, x):
    yt = np.swapaxes(y, -1, -2)
    d[x] = -(yt @ d[y] @ yt)


@tangent(np.linalg.inv)
def inv_tangent(y, x):
    t[y] = -(y @ t[x] @ y)


@adjoint(np.linalg.det, test=dict(shapes=[("3 3",), ("2 3 3",), ("1 1",)], domain="invertible"))
def det(y, x):
    # d det(x) = det(x) tr(inv(x) dx); the stacked form broadcasts d[y] * y.
    d[x] = np.expand_dims(d[y] * y, (-2, -1)) * np.swapaxes(np.linalg.inv(x), -1, -2)


@tangent(np.linalg.det)
def det_tangent(y, x):
    t[y] = y * np.trace(np.linalg.solve(x, t[x]), axis1=-2, axis2=-1)


@adjoint(np.linalg.solve,
         test=dict(shapes=[("3 3", "3"), ("3 3", "3 2"), ("2 3 3", "3"), ("2 3 3", "2 3 2"),
                           ("2 3 3", "3 2")], domain=dict(a="invertible")),
         note="b is a vector when it has one axis, else a stack of matrices (NumPy 2)")
def solve(x, a, b):
    # In matrix form: a vector b (and x) as one column; 1 // ndim is 1 for
    # a vector, 0 for matrices.
    column = (1,) * (1 // np.ndim(b))
    xm = np.reshape(x, np.shape(x) + column)
    gb = np.linalg.solve(np.swapaxes(a, -1, -2), np.reshape(d[x], np.shape(x) + column))
    d[a] = unbroadcast(-(gb @ np.swapaxes(xm, -1, -2)), a)
    d[b] = unbroadcast(np.reshape(gb, np.shape(x)), b)


@tangent(np.linalg.solve)
def solve_tangent(x, a, b):
    column = (1,) * (1 // np.ndim(b))
    xm = np.reshape(x, np.shape(x) + column)
    tb = np.reshape(t[b], np.shape(b) + column)
    t[x] = np.reshape(np.linalg.solve(a, tb - t[a] @ xm), np.shape(x))


@adjoint(np.linalg.cholesky, shape="like:x",
         test=dict(shapes=[("3 3",), ("2 3 3",)],
                   build=dict(x="x @ np.swapaxes(x, -1, -2) + 3 * np.eye(3, dtype=x.dtype)")),
         note="NumPy reads only the lower triangle of x: the gradient is that of the lower "
              "triangle (zero above the diagonal)")
def cholesky(y, x):
    # Murray (2016): with phi the lower triangle with its diagonal halved, and
    # s = inv(L).T @ phi(L.T @ d[L]) @ inv(L), the gradient with respect to a
    # symmetric input is sym(s); NumPy reads x's lower triangle, whose
    # entries below the diagonal stand for two entries of the matrix.
    half = np.tril(np.ones_like(y)) - 0.5 * np.eye(np.shape(y)[-1], dtype=y.dtype)
    linv = np.linalg.inv(y)
    s = np.swapaxes(linv, -1, -2) @ ((np.swapaxes(y, -1, -2) @ d[y]) * half) @ linv
    d[x] = np.tril(s + np.swapaxes(s, -1, -2), -1) + s * np.eye(np.shape(y)[-1], dtype=y.dtype)


@tangent(np.linalg.cholesky)
def cholesky_tangent(y, x):
    # The symmetric matrix NumPy reads from x's lower triangle, differentiated.
    half = np.tril(np.ones_like(y)) - 0.5 * np.eye(np.shape(y)[-1], dtype=y.dtype)
    linv = np.linalg.inv(y)
    sym = np.tril(t[x]) + np.swapaxes(np.tril(t[x], -1), -1, -2)
    t[y] = y @ ((linv @ sym @ np.swapaxes(linv, -1, -2)) * half)


@adjoint(np.linalg.pinv, test=dict(shapes=[("3 3",), ("2 3",), ("3 2",), ("2 3 2",)],
                                   domain="invertible"),
         note="full-rank inputs (the pseudo-inverse is not differentiable where the rank drops)")
def pinv(y, x):
    # Golub and Pereyra (1973), transposed: with P = pinv(x),
    # d[x] = -P.T G P.T + (I - x P) G.T P P.T + P.T P G.T (I - P x).
    yt = np.swapaxes(y, -1, -2)
    gt = np.swapaxes(d[y], -1, -2)
    left = np.eye(np.shape(x)[-2], dtype=y.dtype) - x @ y
    right = np.eye(np.shape(x)[-1], dtype=y.dtype) - y @ x
    d[x] = -(yt @ d[y] @ yt) + left @ gt @ y @ yt + yt @ y @ gt @ right


@tangent(np.linalg.pinv)
def pinv_tangent(y, x):
    yt = np.swapaxes(y, -1, -2)
    tt = np.swapaxes(t[x], -1, -2)
    left = np.eye(np.shape(x)[-2], dtype=y.dtype) - x @ y
    right = np.eye(np.shape(x)[-1], dtype=y.dtype) - y @ x
    t[y] = -(y @ t[x] @ y) + y @ yt @ tt @ left + right @ tt @ yt @ y
