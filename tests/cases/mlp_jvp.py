# case: function=mlp_log_loss wrt=W1,b1 mode=forward
# Seed 003 propagates derivatives forward through a network: the same, generated.
import numpy as np


def mlp_log_loss(W1: "d h", b1: "h", W2: "h 1", b2: "1", X: "n d", y: "n 1"):
    hidden = np.maximum(X @ W1 + b1, 0)
    logits = hidden @ W2 + b2
    p = 1 / (1 + np.exp(-logits))
    loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    return loss
