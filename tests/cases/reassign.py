# case: function=f
# A name assigned twice: the forward pass keeps the user's names where the
# overwritten value is not needed later, and a second name where it is.
import numpy as np


def f(x):
    x = x * x
    x = np.sin(x)
    y = x * 2
    y += x
    return np.sum(y * x)
