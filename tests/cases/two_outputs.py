# case: function=loss_and_norm wrt=w
# Several outputs, one seed each: the first is differentiated by default.
import numpy as np


def loss_and_norm(x, w):
    pred = np.tanh(x @ w)
    loss = np.sum(pred * pred)
    norm = np.sum(w * w)
    return loss, norm
