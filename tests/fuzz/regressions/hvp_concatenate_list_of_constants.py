"""gradgen fuzz case: crash (hvp/run).

Found by FUZZ_SEED=1 program 421, shrunk from 9 to 4 lines.
Replay: .venv/bin/python -m tests.fuzz replay crash_a2c1ddcda7.py
A regression test once moved into tests/fuzz/regressions/.
"""
import numpy as np

STATUS = 'crash'
CHECK = 'hvp/run'
SIGNATURE = 'crash:hvp/run ValueError: setting an array element with a sequence. The requested array has an i | index read, list, np.concatenate, np.max, np.ones'
MESSAGE = '''
ValueError: setting an array element with a sequence. The requested array has an i

all modes on this program:
reverse: pass
raw: pass
preserve: pass
forward: pass
callback: pass
hvp: crash hvp/run
float32: skipped float32/promotes
'''
FUNCTION = 'f'
WRT = ('y',)
ORACLE_SEED = 1584265152
ARGS = {
    'y': np.array([[1.2], [0.3]]),
}
SOURCE = '''
import numpy as np


def f(y):
    a = np.ones((3,))
    return np.max(np.concatenate([y[0], a]))
'''
