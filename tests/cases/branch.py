# case: function=branch
# A branch's adjoint is a branch on the same test; nothing is overwritten on
# any path, so nothing is saved.
import numpy as np


def branch(x):
    s = np.sum(x)
    if s > 0:
        z = np.sin(x) * s
    else:
        z = x * x
    return np.sum(z)
