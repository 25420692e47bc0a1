# case: function=affine wrt=W,b
# Shapes make the broadcast axes explicit: the bias gradient is a plain sum.
import numpy as np


def affine(X: "n d", W: "d k", b: "k"):
    return np.sum(np.tanh(X @ W + b))
