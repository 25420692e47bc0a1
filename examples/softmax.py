"""Batched softmax cross-entropy from seed 002 (002_36db3381b8ef6700.txt).

The seed's PyTorch ``SoftmaxLossFunc`` in NumPy: ``X`` is (N, C) logits, ``T``
the (N, C) one-hot targets; the loss is averaged over the batch.
"""

import numpy as np


def softmax_cross_entropy(X, T):
    exp_x = np.exp(X)
    Z = exp_x.sum(axis=1, keepdims=True)
    y = exp_x / Z
    loss = -np.sum(T * np.log(y)) / X.shape[0]
    return loss
