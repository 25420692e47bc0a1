# case: function=gated
# A conditional expression is a branch; a nested helper is inlined where it
# is called and reads the enclosing names at the call.
import numpy as np


def gated(x, a: ""):
    scale = a * a

    def act(v):
        return np.tanh(v) * scale

    g = act(x) if a > 0 else -x
    return np.sum(g * x)
