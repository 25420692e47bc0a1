"""Run-time helpers that gradient rules may call.

A helper is emitted verbatim into a generated module only when the
simplifier cannot replace every call of it by plain NumPy (which it does
whenever shapes prove the helper an identity, or make the reduction it
performs explicit).  Each helper therefore imports nothing but NumPy and
reads as ordinary code.
"""

import numpy as np


def unbroadcast(g, x):
    """Sum ``g`` over the axes along which ``x`` was broadcast, to ``x``'s shape."""
    shape = np.shape(x)
    while np.ndim(g) > len(shape):
        g = np.sum(g, axis=0)
    # g may have fewer axes than x: the scalar 0.0 stands for a zero gradient.
    tail = shape[len(shape) - np.ndim(g):]
    axes = tuple(i for i, (n, m) in enumerate(zip(tail, np.shape(g))) if n == 1 and m != 1)
    if axes:
        g = np.sum(g, axis=axes, keepdims=True)
    return g


def unreduce(g, x, axis=None, keepdims=False):
    """Broadcast the gradient ``g`` of a reduction of ``x`` back to ``x``'s shape."""
    if axis is not None and not keepdims and np.ndim(g):
        g = np.expand_dims(g, axis)
    return g * np.ones_like(x)


def unindex(g, x, index):
    """The gradient of ``x[index]``: ``g`` added into zeros shaped like ``x``."""
    out = np.zeros(np.shape(x), dtype=np.result_type(g, x))
    np.add.at(out, index, g)
    return out


def _as_matrices(a, b):
    """``a`` and ``b`` as matmul sees them: 1-D operands get a unit axis."""
    a2 = np.reshape(a, (1, -1)) if np.ndim(a) == 1 else a
    b2 = np.reshape(b, (-1, 1)) if np.ndim(b) == 1 else b
    return a2, b2


def _matmul_result_2d(g, a2, b2):
    """``g`` with the unit axes that matmul dropped for 1-D operands restored."""
    batch = np.broadcast_shapes(np.shape(a2)[:-2], np.shape(b2)[:-2])
    return np.reshape(g, batch + (np.shape(a2)[-2], np.shape(b2)[-1]))


def matmul_grad_a(g, a, b):
    """The gradient of ``a @ b`` with respect to ``a``."""
    if np.ndim(a) == 2 and np.ndim(b) == 2:
        return g @ b.T
    a2, b2 = _as_matrices(a, b)
    ga = _matmul_result_2d(g, a2, b2) @ np.swapaxes(b2, -1, -2)
    return np.reshape(unbroadcast(ga, a2), np.shape(a))


def matmul_grad_b(g, a, b):
    """The gradient of ``a @ b`` with respect to ``b``."""
    if np.ndim(a) == 2 and np.ndim(b) == 2:
        return a.T @ g
    a2, b2 = _as_matrices(a, b)
    gb = np.swapaxes(a2, -1, -2) @ _matmul_result_2d(g, a2, b2)
    return np.reshape(unbroadcast(gb, b2), np.shape(b))


def unstack(g, arrays, axis=0):
    """The gradient of ``np.stack(arrays, axis)``: ``g`` split back into a
    list (``g`` itself when ``arrays`` was one array, as for ``np.array(x)``)."""
    if isinstance(arrays, (list, tuple)):
        return list(np.moveaxis(g, axis, 0))
    return g


def _piece_sizes(g, arrays, axis):
    """The extent along ``axis`` of each array's piece of ``g``: an array with
    fewer axes than ``g`` (``np.vstack`` of vectors, ``np.append`` without an
    axis) fills the part of the axis its size makes up."""
    other = max(np.size(g) // max(np.shape(g)[axis], 1), 1)
    return [np.shape(a)[axis] if np.ndim(a) == np.ndim(g) else np.size(a) // other
            for a in arrays]


def unconcatenate(g, arrays, axis=0):
    """The gradient of ``np.concatenate(arrays, axis)``: ``g`` cut back into
    pieces, each in its array's shape."""
    pieces = np.split(g, np.cumsum(_piece_sizes(g, arrays, axis))[:-1], axis=axis)
    return [np.reshape(piece, np.shape(a)) for piece, a in zip(pieces, arrays)]


def undiff(g, n=1, axis=-1):
    """The gradient of ``np.diff(x, n, axis)``: ``g`` differenced back ``n``
    times (the adjoint of one difference: zeros around it, shifted and subtracted)."""
    for _ in range(n):
        edge = np.zeros_like(np.sum(g, axis=axis, keepdims=True))
        g = np.concatenate([edge, g], axis) - np.concatenate([g, edge], axis)
    return g


def add_lists(a, b):
    """Two lists of gradients added element by element."""
    return [x + y for x, y in zip(a, b)]


def checked_seed(seed, output, function):
    """``seed``, the gradient of ``output``, once it is checked to have the
    output's shape: the default seed 1.0 only makes sense for a scalar output."""
    if np.shape(seed) != np.shape(output):
        raise ValueError(
            f"the output of {function}() has shape {np.shape(output)}, its seed "
            f"(the gradient of the output) has shape {np.shape(seed)}: pass a seed "
            "of the output's shape (that gives the vector-Jacobian product)"
        )
    return seed


def restack(grads, g, axis=0):
    """The gradient of ``unstack(g, ...)``: the pieces' gradients stacked back
    along ``axis``, a zero (0.0) piece as zeros of its piece's shape."""
    pieces = np.moveaxis(np.zeros_like(g), axis, 0)
    return np.stack([piece + grad for piece, grad in zip(pieces, grads)], axis)


def reconcatenate(grads, arrays, axis=0, g=None):
    """The gradient of ``unconcatenate(g, arrays, axis)``: the pieces'
    gradients joined back, a zero (0.0) piece as zeros of its array's shape,
    each in the shape of its piece of ``g``."""
    grads = [np.zeros_like(a) + grad for a, grad in zip(arrays, grads)]
    if g is None:
        return np.concatenate(grads, axis)
    pieces = np.split(g, np.cumsum(_piece_sizes(g, arrays, axis))[:-1], axis=axis)
    return np.concatenate([np.reshape(grad, np.shape(piece))
                           for grad, piece in zip(grads, pieces)], axis)


def in_dtype_of(g, x):
    """``g`` in ``x``'s floating dtype: a gradient keeps its variable's
    precision where NumPy promoted through float64 constants (integers are
    promoted to float64)."""
    dtype = np.result_type(x, 1.0)
    if np.result_type(g) == dtype:
        return g
    return np.asarray(g, dtype=dtype)[()]


def undiag(g, v, k=0):
    """The gradient of ``np.diag(v, k)``: the diagonal of ``g`` for a vector
    ``v``; for a matrix ``v``, ``g`` put on its ``k``-th diagonal in zeros."""
    if np.ndim(v) == 1:
        return np.diagonal(g, k)
    out = np.zeros(np.shape(v), dtype=np.result_type(g, v))
    steps = np.arange(np.shape(g)[0])
    out[steps + max(-k, 0), steps + max(k, 0)] = g
    return out


def _tensordot_axes(a, b, axes):
    """The axes ``np.tensordot(a, b, axes)`` contracts, as two lists of
    non-negative axes of ``a`` and ``b``, paired in order."""
    if isinstance(axes, int):
        return list(range(np.ndim(a) - axes, np.ndim(a))), list(range(axes))
    axes_a, axes_b = ([x] if isinstance(x, int) else list(x) for x in axes)
    return [i % np.ndim(a) for i in axes_a], [i % np.ndim(b) for i in axes_b]


def tensordot_grad_a(g, a, b, axes=2):
    """The gradient of ``np.tensordot(a, b, axes)`` with respect to ``a``."""
    axes_a, axes_b = _tensordot_axes(a, b, axes)
    free_a = [i for i in range(np.ndim(a)) if i not in axes_a]
    free_b = [i for i in range(np.ndim(b)) if i not in axes_b]
    # g's axes are a's free axes, then b's; the product's, a's free axes,
    # then b's contracted axes in b's order (each stands for its partner in a).
    ga = np.tensordot(g, b, (list(range(len(free_a), np.ndim(g))), free_b))
    source = free_a + [axes_a[axes_b.index(i)] for i in sorted(axes_b)]
    return np.transpose(ga, np.argsort(source))


def tensordot_grad_b(g, a, b, axes=2):
    """The gradient of ``np.tensordot(a, b, axes)`` with respect to ``b``."""
    axes_a, axes_b = _tensordot_axes(a, b, axes)
    free_a = [i for i in range(np.ndim(a)) if i not in axes_a]
    free_b = [i for i in range(np.ndim(b)) if i not in axes_b]
    gb = np.tensordot(a, g, (free_a, list(range(len(free_a)))))
    source = [axes_b[axes_a.index(i)] for i in sorted(axes_a)] + free_b
    return np.transpose(gb, np.argsort(source))


def _kron_blocks(g, a, b):
    """``g`` (shaped like ``np.kron(a, b)``) with each axis split in two, an
    axis of ``a`` then one of ``b``, and the shapes of ``a`` and ``b`` padded
    with leading 1s to the same number of axes, as np.kron pads them."""
    n = max(np.ndim(a), np.ndim(b))
    shape_a = (1,) * (n - np.ndim(a)) + np.shape(a)
    shape_b = (1,) * (n - np.ndim(b)) + np.shape(b)
    blocks = np.reshape(g, tuple(d for pair in zip(shape_a, shape_b) for d in pair))
    return blocks, shape_a, shape_b


def kron_grad_a(g, a, b):
    """The gradient of ``np.kron(a, b)`` with respect to ``a``."""
    blocks, shape_a, shape_b = _kron_blocks(g, a, b)
    n = len(shape_a)
    ga = np.tensordot(blocks, np.reshape(b, shape_b), (list(range(1, 2 * n, 2)), list(range(n))))
    return np.reshape(ga, np.shape(a))


def kron_grad_b(g, a, b):
    """The gradient of ``np.kron(a, b)`` with respect to ``b``."""
    blocks, shape_a, shape_b = _kron_blocks(g, a, b)
    n = len(shape_a)
    gb = np.tensordot(blocks, np.reshape(a, shape_a), (list(range(0, 2 * n, 2)), list(range(n))))
    return np.reshape(gb, np.shape(b))
