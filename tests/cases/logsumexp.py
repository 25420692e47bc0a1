# case: function=logsumexp shapes=x:n
# The stable log-sum-exp: the max's gradient and the shift's cancel exactly.
import numpy as np


def logsumexp(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))
