"""gradgen fuzz case: wrong (reverse/fd).

Found by FUZZ_SEED=11 program 2348, shrunk from 20 to 6 lines.
Replay: .venv/bin/python -m tests.fuzz replay wrong_3f7b5b98ad.py
A regression test once moved into tests/fuzz/regressions/.
"""
import numpy as np

STATUS = 'wrong'
CHECK = 'reverse/fd'
SIGNATURE = 'wrong:reverse/fd | element write, index read, name copy, np.maximum, np.sum, np.zeros_like'
MESSAGE = '''
d_v: gradient at (1, 0): np.float64(0.0) vs np.float64(-0.5959277498162527) (generated vs central difference)
  generated: [[-0.5959277498055175, 0.0, 0.0], [0.0, 0.0, 0.0]]
  numerical: [[-0.5959277498116724, 0.0, 0.0], [-0.5959277498162527, 0.0, 0.0]]

all modes on this program:
reverse: wrong reverse/fd
raw: wrong raw/differs
preserve: pass
forward: wrong forward/dot
callback: wrong callback/differs
hvp: pass
float32: pass
'''
FUNCTION = 'f'
WRT = ('w', 'v')
ORACLE_SEED = 1076491186
ARGS = {
    'w': np.array([-1.2, -0.2, -0.6]),
    'v': np.array([[1.3, 0.6, 1.2], [0.8, 0.9, 1.3]]),
}
SOURCE = '''
import numpy as np


def f(w, v):
    z = np.zeros_like(w)
    z[1] = np.sum(np.maximum(v[:, 0], z[:2]))
    p = z
    return p
'''
