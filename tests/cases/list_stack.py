# case: function=rnn_list wrt=W,U shapes=x:T_d,W:d_k,U:k_k,h0:k
# A list grown in a loop and stacked: the gradient of the list is a list, and
# each append's adjoint pops its element's gradient.
import numpy as np


def rnn_list(x, W, U, h0):
    hs = []
    h = h0
    for t in range(x.shape[0]):
        h = np.tanh(x[t] @ W + h @ U)
        hs.append(h)
    return np.sum(np.stack(hs))
