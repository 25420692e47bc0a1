# case: function=cosine_loss
# Seed 000 with X and Y of one shape: no helper, at most 20 lines of code.
import numpy as np


def cosine_loss(X: "n", Y: "n"):
    xnorm = np.sqrt(np.sum(X * X))
    ynorm = np.sqrt(np.sum(Y * Y))
    similarity = np.sum(X * Y) / (xnorm * ynorm)
    return 1 - similarity
