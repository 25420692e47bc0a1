"""gradgen fuzz case: wrong (reverse/fd).

Found by FUZZ_SEED=1 program 485, shrunk from 7 to 6 lines.
Replay: .venv/bin/python -m tests.fuzz replay wrong_299866befa.py
A regression test once moved into tests/fuzz/regressions/.
"""
import numpy as np

STATUS = 'wrong'
CHECK = 'reverse/fd'
SIGNATURE = 'wrong:reverse/fd | .squeeze(), Add, aug Add element, index read, name copy, np.mean, np.zeros'
MESSAGE = '''
d_x: gradient at (2,): np.float64(0.6412938785329401) vs np.float64(0.70665063080995) (generated vs central difference)
  generated: [-0.5098042839774795, 0.2606509190809936, 0.6412938785329401]
  numerical: [-0.44444753170760565, 0.32600767134331615, 0.70665063080995]

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
WRT = ('x',)
ORACLE_SEED = 1492218983
ARGS = {
    'x': np.array([0.9, -0.6, 1.0]),
}
SOURCE = '''
import numpy as np


def f(x):
    z = np.zeros((2, 3))
    z[-1] += x[:, None].squeeze()
    a = z
    return x + np.mean(a)
'''
