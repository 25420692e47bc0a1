# case: function=cosine_loss
# Seed 000 without shape facts: X * Y may broadcast, so one unbroadcast stays.
import numpy as np


def cosine_loss(X, Y):
    xnorm = np.sqrt(np.sum(X * X))
    ynorm = np.sqrt(np.sum(Y * Y))
    similarity = np.sum(X * Y) / (xnorm * ynorm)
    return 1 - similarity
