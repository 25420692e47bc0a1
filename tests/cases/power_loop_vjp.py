# case: function=power_loop mode=callback
# A loop: backprop copies the tapes it pops, so it can be called again.
import numpy as np


def power_loop(x, n: "int"):
    y = x
    for i in range(n):
        y = np.sin(y) * x
    return np.sum(y)
