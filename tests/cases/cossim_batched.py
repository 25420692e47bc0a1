# case: function=cossim_loss_batched shapes=yh:n_d,y:n_d
# spaCy's batched cosine loss (seed 000): norms along axis 1 with keepdims.
import numpy as np


def cossim_loss_batched(yh, y):
    yh = yh + 1e-8
    y = y + 1e-8
    norm_yh = np.linalg.norm(yh, axis=1, keepdims=True)
    norm_y = np.linalg.norm(y, axis=1, keepdims=True)
    mul_norms = norm_yh * norm_y
    cosine = (yh * y).sum(axis=1, keepdims=True) / mul_norms
    loss = np.abs(1 - cosine).sum()
    return loss
