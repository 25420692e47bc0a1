# case: function=cosine_loss wrt=X,Y mode=callback shapes=X:n,Y:n
# Seed 000's last step: the backward pass moved into a callback (cosine_loss_v3).
import numpy as np


def cosine_loss(X, Y):
    xnorm = np.sqrt(np.sum(X * X))
    ynorm = np.sqrt(np.sum(Y * Y))
    similarity = np.sum(X * Y) / (xnorm * ynorm)
    return 1 - similarity
