"""A one-hidden-layer network with log loss, from seed 003 (003_8227181a9120482e.txt).

The seed's ``FeedForward(input_dim, hidden_dim)``: linear layer, ReLU, linear
layer, sigmoid, then ``LogLoss`` (mean binary cross-entropy).  Shapes: X (n, d),
W1 (d, h), b1 (h,), W2 (h, 1), b2 (1,), y (n, 1).
"""

import numpy as np


def mlp_log_loss(W1, b1, W2, b2, X, y):
    hidden = np.maximum(X @ W1 + b1, 0)
    logits = hidden @ W2 + b2
    p = 1 / (1 + np.exp(-logits))
    loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    return loss
