"""gradgen fuzz case: wrong (preserve/value).

Found by FUZZ_SEED=1 program 328, shrunk from 21 to 5 lines.
Replay: .venv/bin/python -m tests.fuzz replay wrong_0efd86754f.py
A regression test once moved into tests/fuzz/regressions/.
"""
import numpy as np

STATUS = 'wrong'
CHECK = 'preserve/value'
SIGNATURE = 'wrong:preserve/value | element write, index read, np.zeros_like'
MESSAGE = '''
output 0 differs from the function's: at (1, 0): np.float64(0.0) vs np.float64(0.6)

all modes on this program:
reverse: pass
raw: pass
preserve: wrong preserve/value
forward: pass
callback: pass
hvp: pass
float32: pass
'''
FUNCTION = 'f'
WRT = ('y',)
ORACLE_SEED = 1533555316
ARGS = {
    'y': np.array([0.7, 0.6]),
}
SOURCE = '''
import numpy as np


def f(y):
    z = np.zeros_like(y)
    z[1:] = y[-1]
    return z[:, None]
'''
