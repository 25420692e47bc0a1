# case: function=grow
# A while loop: the forward pass counts its trips, the adjoint loops that often.
import numpy as np


def grow(x):
    y = x
    while np.sum(y * y) < 50.0:
        y = y * 1.5 + 0.1
    return np.sum(y)
