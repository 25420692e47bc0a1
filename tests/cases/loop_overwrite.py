# case: function=power_loop
# A loop-carried value overwritten each trip: the forward pass saves it on a
# list, the backward loop runs in reverse and restores it.
import numpy as np


def power_loop(x, n: int):
    y = x
    for i in range(n):
        y = y * x
    return np.sum(y)
