# case: function=L2_norm simplify=false
# The transform's raw output, before the simplifier: what Tangent printed.
import numpy as np


def L2_norm(X):
    XX = X * X
    XX_sum = np.sum(XX)
    XX_sqrt = np.sqrt(XX_sum)
    return XX_sqrt
