# case: function=rnn_loss wrt=W,U shapes=x:T_d,W:d_k,U:k_k,h0:k
# The RNN pattern: an array filled row by row in a loop.
import numpy as np


def rnn_loss(x, W, U, h0):
    T = x.shape[0]
    h = np.zeros((T + 1, h0.shape[0]))
    h[0] = h0
    for t in range(T):
        h[t + 1] = np.tanh(x[t] @ W + h[t] @ U)
    return np.sum(h[T] * h[T])
