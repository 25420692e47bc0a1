# case: function=L2_norm mode=forward
# Seed 000's norm in forward mode: each tangent follows the statement it differentiates.
import numpy as np


def L2_norm(X):
    XX = X * X
    XX_sum = np.sum(XX)
    XX_sqrt = np.sqrt(XX_sum)
    return XX_sqrt
