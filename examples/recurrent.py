"""Code with loops, overwrites and calls (issue 3's examples).

An unrolled tanh RNN filling a preallocated array, a numerically stable
log-sum-exp written with a max subtraction, and a loss that calls a helper
of this module.
"""

import numpy as np


def rnn_loss(x, W, U, h0):
    # x: (T, d) inputs, W: (d, k), U: (k, k), h0: (k,)
    T = x.shape[0]
    h = np.zeros((T + 1, h0.shape[0]))
    h[0] = h0
    for t in range(T):
        h[t + 1] = np.tanh(x[t] @ W + h[t] @ U)
    return np.sum(h[T] * h[T])


def logsumexp(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


def softplus(z):
    return np.log1p(np.exp(z))


def softplus_loss(X, w, y):
    # Logistic loss written with a helper: softplus(-y * X @ w), averaged.
    margins = y * (X @ w)
    return np.mean(softplus(-margins))
