# case: function=L2_norm
# Seed 000: the hand-cleaned target is two backward lines and no helper.
import numpy as np


def L2_norm(X):
    XX = X * X
    XX_sum = np.sum(XX)
    XX_sqrt = np.sqrt(XX_sum)
    return XX_sqrt
