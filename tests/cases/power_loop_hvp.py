# case: function=power_loop mode=hvp
# A loop: the gradient's tapes get tangent tapes, its reversed loop a tangent.
import numpy as np


def power_loop(x, n: "int"):
    y = x
    for i in range(n):
        y = np.sin(y) * x
    return np.sum(y)
