"""Hand-written gradients of the examples, as the seed authors derived them.

Pure NumPy, no gradgen: these are the references that tests/ checks gradgen's
output against, and the "hand-written" entries of the benchmark.  Each
function says where its formula comes from.  Conventions: a gradient has the
shape of the argument it is taken with respect to, and it is the gradient of
the function's scalar result (output seed 1.0).
"""

import numpy as np

# --- seed 000 (000_3668e43861e08f77.txt) -------------------------------------


def L2_norm_grad(X):
    """Gradient of ``L2_norm(X) = sqrt(sum(X * X))``: ``X / ||X||``.

    Seed 000's hand-cleaned Tangent output ``dL2_normdX_v2``:
    ``bXX_sum = bXX_sqrt / (2.0 * XX_sqrt)`` then ``return 2 * X * bXX_sum``.
    """
    XX = X * X
    XX_sum = np.sum(XX)
    XX_sqrt = np.sqrt(XX_sum)
    bXX_sum = 1.0 / (2.0 * XX_sqrt)
    return 2 * X * bXX_sum


def cosine_loss_grad_X(X, Y):
    """Gradient of ``cosine_loss(X, Y) = 1 - <X, Y> / (|X| |Y|)`` w.r.t. ``X``.

    The StackExchange formula quoted in seed 000 (math.stackexchange.com
    question 1923613), ``d_cos/dX = Y / (|X||Y|) - cos * X / |X|**2``, negated
    because the loss is ``1 - cos``.  (Seed 000's own ``cosine_loss_v3`` and
    the formula in its comment are not the gradient; see tests.)
    """
    xnorm = np.sqrt(np.sum(X * X))
    ynorm = np.sqrt(np.sum(Y * Y))
    similarity = np.sum(X * Y) / (xnorm * ynorm)
    return -(Y / (xnorm * ynorm) - similarity * (X / xnorm**2))


def cosine_loss_grad_Y(X, Y):
    """Gradient of ``cosine_loss(X, Y)`` w.r.t. ``Y``: the formula above, X and Y swapped."""
    xnorm = np.sqrt(np.sum(X * X))
    ynorm = np.sqrt(np.sum(Y * Y))
    similarity = np.sum(X * Y) / (xnorm * ynorm)
    return -(X / (xnorm * ynorm) - similarity * (Y / ynorm**2))


def sx_cosine_loss(yh, y):
    """Seed 000's ``sx_cosine_loss``, verbatim: returns ``(loss, -d_yh)``.

    ``d_yh`` is the gradient of the cosine w.r.t. ``yh``; ``-d_yh`` is the
    gradient of ``loss = |1 - cosine|`` because ``cosine <= 1`` (Cauchy-Schwarz),
    so the loss is ``1 - cosine``.  Both are taken at the shifted inputs
    ``yh + 1e-8``, ``y + 1e-8``, which is exactly the gradient of this
    function's ``loss`` (a constant shift has derivative 1), and within about
    1e-8 of the gradient of the unshifted ``cosine_loss``.
    """
    # Add a small constant to avoid 0 vectors
    yh = yh + 1e-8
    y = y + 1e-8
    # https://math.stackexchange.com/questions/1923613/partial-derivative-of-cosine-similarity
    norm_yh = np.linalg.norm(yh)
    norm_y = np.linalg.norm(y)
    mul_norms = norm_yh * norm_y
    cosine = (yh * y).sum() / mul_norms
    d_yh = (y / mul_norms) - (cosine * (yh / norm_yh**2))
    loss = np.abs(1 - cosine).sum()
    return loss, -d_yh


def get_cossim_loss(yh, y):
    """spaCy's batched ``get_cossim_loss`` from seed 000 (``xp`` -> ``np``): ``(loss, -d_yh)``.

    Rows are examples.  ``d_yh`` (shape of ``yh``) is the row-wise gradient of
    ``cosine`` w.r.t. ``yh``, so ``-d_yh`` is the gradient of
    ``loss = np.abs(1 - cosine).sum()`` wherever ``1 - cosine > 0``, i.e.
    wherever a row of ``yh`` is not parallel to the row of ``y``: mathematically
    ``cosine <= 1`` always, so the ``abs`` never flips the sign.  Where a row
    pair is parallel the loss has its minimum there and ``-d_yh`` is (up to
    rounding) 0, which is again its gradient; the only disagreement is that
    rounding can push ``cosine`` a hair above 1, where ``d|1 - c|`` would be
    ``+d_yh`` -- but that vector is itself ~0.  The gradient is that of the
    shifted inputs, which is exactly the gradient of this function's loss.
    Checked against central differences in tests/test_handwritten.py.
    """
    # Add a small constant to avoid 0 vectors
    yh = yh + 1e-8
    y = y + 1e-8
    # https://math.stackexchange.com/questions/1923613/partial-derivative-of-cosine-similarity
    norm_yh = np.linalg.norm(yh, axis=1, keepdims=True)
    norm_y = np.linalg.norm(y, axis=1, keepdims=True)
    mul_norms = norm_yh * norm_y
    cosine = (yh * y).sum(axis=1, keepdims=True) / mul_norms
    d_yh = (y / mul_norms) - (cosine * (yh / norm_yh**2))
    loss = np.abs(1 - cosine).sum()
    return loss, -d_yh


# --- seed 001 (001_ba251009dc54c007.txt) -------------------------------------


def cosine_similarity_grads(x, y):
    """``(grad_x, grad_y)`` of ``S(x, y) = <x, y> / (|x| |y|)``.

    Seed 001's result, as in its ``CosineSimilarity.backward``:
    ``grad_x = y / (|x||y|) - (S / |x|**2) * x`` and
    ``grad_y = x / (|x||y|) - (S / |y|**2) * y``.
    """
    x_norm = np.linalg.norm(x)
    y_norm = np.linalg.norm(y)
    norm_product = x_norm * y_norm
    s = np.sum(x * y) / norm_product
    grad_x = y / norm_product - (s / (x_norm * x_norm)) * x
    grad_y = x / norm_product - (s / (y_norm * y_norm)) * y
    return grad_x, grad_y


# --- seed 002 (002_36db3381b8ef6700.txt) -------------------------------------


def softmax_cross_entropy_grad(X, T):
    """Gradient of the batched softmax cross-entropy w.r.t. the logits ``X``.

    Seed 002's manual backward: ``grad_input = grad_output * (y - t) / N``
    with ``y = softmax(X)`` row-wise.  ``y - t`` relies on each row of ``T``
    summing to 1 (one-hot targets), as in the seed's derivation.
    """
    exp_x = np.exp(X)
    y = exp_x / exp_x.sum(axis=1, keepdims=True)
    return (y - T) / X.shape[0]


# --- seed 003 (003_8227181a9120482e.txt) -------------------------------------


def mlp_log_loss_grads(W1, b1, W2, b2, X, y):
    """``(dW1, db1, dW2, db2)`` of ``examples.network.mlp_log_loss``.

    The usual backprop of seed 003's network: sigmoid then log loss give
    ``d_logits = (p - y) / n`` (the seed's ``Sigmoid.grad`` ``u / (1 + u)**2``
    times ``LogLoss``'s ``-y / p + (1 - y) / (1 - p)``, averaged over the
    batch); a linear layer ``a @ W + b`` passes back ``a.T @ d``, ``d.sum(0)``
    and ``d @ W.T``; ReLU passes ``d`` where its input is not negative (the
    seed's ``ReLU.grad`` is 1 where ``x >= 0``).
    """
    z1 = X @ W1 + b1
    hidden = np.maximum(z1, 0)
    logits = hidden @ W2 + b2
    p = 1 / (1 + np.exp(-logits))
    d_logits = (p - y) / y.size
    dW2 = hidden.T @ d_logits
    db2 = d_logits.sum(axis=0)
    d_hidden = d_logits @ W2.T
    d_z1 = d_hidden * (z1 >= 0)
    dW1 = X.T @ d_z1
    db1 = d_z1.sum(axis=0)
    return dW1, db1, dW2, db2


def logistic_loss_grads(w, b, X, y):
    """``(dw, db)`` of ``examples.logistic.logistic_loss``.

    Same derivation as above with no hidden layer: ``dz = (p - y) / n``,
    ``dw = X.T @ dz``, ``db = sum(dz)``.
    """
    z = X @ w + b
    p = 1 / (1 + np.exp(-z))
    dz = (p - y) / y.size
    dw = X.T @ dz
    db = np.sum(dz)
    return dw, db


# --- seed 004 (004_9d508875672d5956.txt) -------------------------------------


def sin_plus_xy_grads(x, y):
    """``(dL/dx, dL/dy)`` of ``L(x, y) = sin(x) + x * y``: ``(cos(x) + y, x)``.

    Seed 004's update equations ``x -> x - lr * (cos(x) + y)``,
    ``y -> y - lr * x``.  Elementwise for arrays of one shape; the second
    gradient is ``x`` itself, not a copy.
    """
    return np.cos(x) + y, x
