"""gradgen fuzz case: wrong (preserve/value).

Found by FUZZ_SEED=1 program 445, shrunk from 9 to 6 lines.
Replay: .venv/bin/python -m tests.fuzz replay wrong_fe194fe8a7.py
A regression test once moved into tests/fuzz/regressions/.
"""
import numpy as np

STATUS = 'wrong'
CHECK = 'preserve/value'
SIGNATURE = 'wrong:preserve/value | element write, np.zeros, several outputs, tuple assign'
MESSAGE = '''
output 1 differs from the function's: at (0, 1): np.float64(0.0) vs np.float64(1.0)

all modes on this program:
reverse: pass
raw: pass
preserve: wrong preserve/value
forward: pass
callback: pass
hvp: pass
float32: skipped float32/promotes
'''
FUNCTION = 'f'
WRT = ('w',)
ORACLE_SEED = 1607897983
ARGS = {
    'w': np.array([[0.8, 0.7], [1.1, 1.4]]),
}
SOURCE = '''
import numpy as np


def f(w):
    z = np.zeros((1, 3))
    z[0, 1] = 1.0
    z, w = (w, z)
    return (1.0, w)
'''
