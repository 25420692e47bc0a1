"""gradgen fuzz case: pass (none).

Found by FUZZ_SEED=3 program 69.
Replay: .venv/bin/python -m tests.fuzz replay example_while_nested_for.py
A regression test once moved into tests/fuzz/regressions/.
"""
import numpy as np

STATUS = 'pass'
CHECK = 'none'
SIGNATURE = 'example'
MESSAGE = '''
An example of the format: this program passed every oracle when it was written. Findings (fuzz-findings/*.py) have the same format; move one here to keep it fixed.
'''
FUNCTION = 'f'
WRT = ('v', 'y')
ORACLE_SEED = 867225016
ARGS = {
    'v': np.array([1.267579565660648, 0.9444168415759608, 1.4856893191503728]),
    'y': np.array([[1.248140416072092, -1.4989401859696947, -0.41341586241936046], [1.0971342644629356, -1.1596670813689567, 0.49732886933157466]]),
}
SOURCE = '''
import numpy as np


def f(v, y):
    j = 0
    while j < 2:
        j += 1
        y = np.sin(0.5 * y + (y[:1] * v[None]))
        for i in range(j):
            y = np.tanh(y * (y[::2] * y[:1]))
    return y[1, 0]
'''
