"""gradgen fuzz case: wrong (float32/dtype).

Found by FUZZ_SEED=1 program 1130, shrunk from 15 to 6 lines.
Replay: .venv/bin/python -m tests.fuzz replay wrong_64ebcebf93.py
A regression test once moved into tests/fuzz/regressions/.
"""
import numpy as np

STATUS = 'wrong'
CHECK = 'float32/dtype'
SIGNATURE = 'wrong:float32/dtype | for range, np.ones, tuple assign'
MESSAGE = '''
d_v is float64, expected float32

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
WRT = ('v', 'x')
ORACLE_SEED = 13955659
ARGS = {
    'v': np.array([[1.1, 1.0], [-1.4, 1.4]]),
    'x': np.array([[1.2, -0.6], [0.3, -1.0]]),
}
SOURCE = '''
import numpy as np


def f(v, x):
    v, x = (1.0, v)
    for i in range(2):
        v = np.ones((2, 3))
    return x
'''
