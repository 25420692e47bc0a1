"""Logistic regression loss: the sigmoid and log loss of seed 003 on a linear model.

X (n, d), w (d,), b a scalar, y (n,) of 0/1 labels; the loss is the mean binary
cross-entropy, written as in seed 003's ``Sigmoid`` and ``LogLoss``.
"""

import numpy as np


def logistic_loss(w, b, X, y):
    z = X @ w + b
    p = 1 / (1 + np.exp(-z))
    loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    return loss
