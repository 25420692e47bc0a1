"""gradgen fuzz case: crash (reverse/generate).

Found by FUZZ_SEED=11 program 21, shrunk from 12 to 6 lines.
Replay: .venv/bin/python -m tests.fuzz replay crash_d4780641a4.py
A regression test once moved into tests/fuzz/regressions/.
"""
import numpy as np

STATUS = 'crash'
CHECK = 'reverse/generate'
SIGNATURE = 'crash:reverse/generate InvalidInput: cannot parse: N:N | .append(), index read, list, name copy, np.sum'
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
WRT = ('v',)
ORACLE_SEED = 1394409788
ARGS = {
    'v': np.array([[0.7, 0.6, 1.2], [0.6, 1.5, 1.1]]),
}
SOURCE = '''
import numpy as np


def f(v):
    hs = [np.sum(v, axis=-2)]
    a = v
    hs.append(a[1])
    return hs
'''
