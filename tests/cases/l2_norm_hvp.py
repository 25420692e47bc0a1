# case: function=L2_norm mode=hvp
# Forward over reverse: the gradient's statements, each followed by its tangent.
import numpy as np


def L2_norm(X):
    XX = X * X
    XX_sum = np.sum(XX)
    XX_sqrt = np.sqrt(XX_sum)
    return XX_sqrt
