"""gradgen fuzz case: wrong (float32/dtype).

Found by FUZZ_SEED=1 program 52, shrunk from 37 to 9 lines.
Replay: .venv/bin/python -m tests.fuzz replay wrong_e4399581a1.py
A regression test once moved into tests/fuzz/regressions/.
"""
import numpy as np

STATUS = 'wrong'
CHECK = 'float32/dtype'
SIGNATURE = 'wrong:float32/dtype | Add, Div, Mod, aug Mult name, index read, np.ones, np.sin, np.sum, tuple assign, while'
MESSAGE = '''
d_u is float64, expected float32

all modes on this program:
reverse: pass
raw: pass
preserve: pass
forward: pass
callback: pass
hvp: pass
float32: wrong float32/dtype
'''
FUNCTION = 'f'
WRT = ('w', 'u')
ORACLE_SEED = 700537033
ARGS = {
    'w': np.array([[-0.8], [0.5]]),
    'u': np.array([0.5, 1.3, 0.7]),
}
SOURCE = '''
import numpy as np


def f(w, u):
    h, p = (np.ones((2, 3)), u)
    u = 1.0
    cnt = 0
    while False:
        u *= np.sin(np.sum(h, 0) / p)
        w = w + p[0, None][cnt % 1]
    return w
'''
