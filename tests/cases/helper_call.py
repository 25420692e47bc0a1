# case: function=softplus_loss wrt=w shapes=X:n_d,w:d,y:n
# A call to a helper of the same module is inlined: its statements are
# differentiated where they run, with their own "Grad of" comments.
import numpy as np


def softplus(z):
    return np.log1p(np.exp(z))


def softplus_loss(X, w, y):
    margins = y * (X @ w)
    return np.mean(softplus(-margins))
