"""gradgen fuzz case: wrong (float32/dtype).

Found by FUZZ_SEED=1 program 50, shrunk from 8 to 4 lines.
Replay: .venv/bin/python -m tests.fuzz replay wrong_9f51211be1.py
A regression test once moved into tests/fuzz/regressions/.
"""
import numpy as np

STATUS = 'wrong'
CHECK = 'float32/dtype'
SIGNATURE = 'wrong:float32/dtype | aug Mult name, list, np.stack, np.sum'
MESSAGE = '''
d_x is float64, expected float32

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
WRT = ('x',)
ORACLE_SEED = 869551906
ARGS = {
    'x': np.array([-1.2, -0.9, 0.5]),
}
SOURCE = '''
import numpy as np


def f(x):
    x *= np.sum(np.stack([3.0, 0.25]))
    return x
'''
