"""gradgen fuzz case: wrong (float32/dtype).

Found by FUZZ_SEED=1 program 1063, shrunk from 11 to 4 lines.
Replay: .venv/bin/python -m tests.fuzz replay wrong_360b33ef4a.py
A regression test once moved into tests/fuzz/regressions/.
"""
import numpy as np

STATUS = 'wrong'
CHECK = 'float32/dtype'
SIGNATURE = 'wrong:float32/dtype | Mult, aug Add name, index read, list, np.array, np.sqrt'
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
WRT = ('u',)
ORACLE_SEED = 994663111
ARGS = {
    'u': np.array([[1.3, 1.0, 1.2], [0.8, 1.3, 0.9]]),
}
SOURCE = '''
import numpy as np


def f(u):
    u += np.sqrt(-2.0 * -2.0)
    return u[np.array([0, 1, 1])]
'''
