"""gradgen fuzz case: crash (reverse/generate).

Found by FUZZ_SEED=11 program 2861, shrunk from 19 to 6 lines.
Replay: .venv/bin/python -m tests.fuzz replay crash_f3e4388c98.py
A regression test once moved into tests/fuzz/regressions/.
"""
import numpy as np

STATUS = 'crash'
CHECK = 'reverse/generate'
SIGNATURE = 'crash:reverse/generate InvalidInput: cannot parse: N:N | .append(), list, np.sum'
MESSAGE = '''
InvalidInput: cannot parse: N:N

all modes on this program:
reverse: crash reverse/generate
raw: crash raw/generate
preserve: crash preserve/generate
forward: pass
callback: crash callback/generate
hvp: crash hvp/generate
float32: crash float32/generate
'''
FUNCTION = 'f'
WRT = ('x',)
ORACLE_SEED = 1218335756
ARGS = {
    'x': np.array([[-1.4, 0.7], [0.4, -0.9]]),
}
SOURCE = '''
import numpy as np


def f(x):
    hs = [x, x]
    hs.append(x)
    x = np.sum(hs)
    return x
'''
