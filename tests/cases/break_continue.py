# case: function=clipped_walk
# continue nests the rest of the body into the branch that does not jump; a
# loop that may break counts its trips and its adjoint loops over those.
import numpy as np


def clipped_walk(x, n: int):
    y = x
    for i in range(n):
        if i % 2 == 1:
            continue
        y = np.sin(y) + x
        if np.sum(y * y) > 10.0:
            break
    return np.sum(y)
