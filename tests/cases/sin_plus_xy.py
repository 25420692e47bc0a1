# case: function=sin_plus_xy wrt=x,y
# Seed 004: reverse mode on scalars.
import numpy as np


def sin_plus_xy(x, y):
    return np.sin(x) + x * y
