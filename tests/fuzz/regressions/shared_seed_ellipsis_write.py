"""gradgen fuzz case: wrong (reverse/fd).

Found by FUZZ_SEED=1 program 1140, shrunk from 10 to 5 lines.
Replay: .venv/bin/python -m tests.fuzz replay wrong_bb46fe3811.py
A regression test once moved into tests/fuzz/regressions/.
"""
import numpy as np

STATUS = 'wrong'
CHECK = 'reverse/fd'
SIGNATURE = 'wrong:reverse/fd | Add, element write, np.zeros_like'
MESSAGE = '''
d_y: gradient at (0, 2): np.float64(1.3496842033098042) vs np.float64(0.0) (generated vs central difference)
  generated: [[1.037345364928988, -1.0085522525177302, 1.3496842033098042], [-0.8764820366324325, 1.0612125617800063, 0.9049349457528038]]
  numerical: [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]

all modes on this program:
reverse: wrong reverse/fd
raw: wrong raw/differs
preserve: wrong preserve/differs
forward: wrong forward/dot
callback: wrong callback/differs
hvp: pass
float32: pass
'''
FUNCTION = 'f'
WRT = ('y', 'v')
ORACLE_SEED = 2075609020
ARGS = {
    'y': np.array([[-0.8, -1.3, 1.4], [-1.0, -0.2, -1.0]]),
    'v': np.array([[0.7, -0.6, -0.3], [-0.7, -0.9, -0.9]]),
}
SOURCE = '''
import numpy as np


def f(y, v):
    z = np.zeros_like(v)
    z[...] = y
    return 1.0 + z
'''
