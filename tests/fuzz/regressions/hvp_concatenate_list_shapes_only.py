"""gradgen fuzz case: crash (hvp/run).

Found by FUZZ_SEED=1 program 890, shrunk from 12 to 4 lines.
Replay: .venv/bin/python -m tests.fuzz replay crash_07c784504d.py
A regression test once moved into tests/fuzz/regressions/.
"""
import numpy as np

STATUS = 'crash'
CHECK = 'hvp/run'
SIGNATURE = 'crash:hvp/run ValueError: setting an array element with a sequence. The requested array has an i | aug Mult name, list, np.concatenate, np.sum'
MESSAGE = '''
ValueError: setting an array element with a sequence. The requested array has an i

all modes on this program:
reverse: pass
raw: pass
preserve: pass
forward: pass
callback: pass
hvp: crash hvp/run
float32: pass
'''
FUNCTION = 'f'
WRT = ('x',)
ORACLE_SEED = 1164835676
ARGS = {
    'u': np.array([-0.7, -0.7, 0.8]),
    'x': 1.1,
}
SOURCE = '''
import numpy as np


def f(u, x):
    u *= x
    return np.sum(np.concatenate([u, np.sum(u, (0,), keepdims=True)]))
'''
