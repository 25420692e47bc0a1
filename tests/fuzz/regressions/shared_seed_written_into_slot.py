"""gradgen fuzz case: wrong (reverse/fd).

Found by FUZZ_SEED=1 program 1200, shrunk from 17 to 5 lines.
Replay: .venv/bin/python -m tests.fuzz replay wrong_260a939869.py
A regression test once moved into tests/fuzz/regressions/.
"""
import numpy as np

STATUS = 'wrong'
CHECK = 'reverse/fd'
SIGNATURE = 'wrong:reverse/fd | Add, element write, index read, np.sum, np.zeros'
MESSAGE = '''
d_y: gradient at (0,): np.float64(0.4645856241816517) vs np.float64(1.8260528880041298) (generated vs central difference)
  generated: [0.4645856241816517, 0.2161480077297924]
  numerical: [1.8260528880041298, 0.21614800771430664]

all modes on this program:
reverse: wrong reverse/fd
raw: pass
preserve: pass
forward: wrong forward/dot
callback: pass
hvp: pass
float32: skipped float32/promotes
'''
FUNCTION = 'f'
WRT = ('y',)
ORACLE_SEED = 1156512324
ARGS = {
    'y': np.array([-1.3, -0.3]),
}
SOURCE = '''
import numpy as np


def f(y):
    z = np.zeros((2, 3))
    z[:, 0] = y[:1]
    return y + np.sum(z)
'''
