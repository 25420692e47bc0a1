"""gradgen fuzz case: pass (none).

Found by FUZZ_SEED=3 program 337.
Replay: .venv/bin/python -m tests.fuzz replay example_element_writes.py
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
WRT = ('y',)
ORACLE_SEED = 1725435150
ARGS = {
    'y': np.array([[-0.9395136926287435, 0.2442731221309069, -1.2383550465378441], [-0.8419300183711749, -1.0840698635087884, -1.354153031486891]]),
    'n': 0,
}
SOURCE = '''
import numpy as np


def f(y, n):
    z = np.zeros((2, 3))
    z[1:, 0] -= ((np.abs(np.sin(np.sum(y, axis=None))) + 0.5) ** 0.5) * np.sum(z[0], axis=-1)
    z[-1, -1] += np.sum(z)
    for i in range(1, 2):
        z = np.tanh(z) * np.sum(np.stack([z, y]), axis=0)
    z = np.arctan(z * y[:, 1:].dot(np.arctan(np.sum(z, axis=(1,), keepdims=True))))
    z = z
    return np.max(np.stack([z / np.exp(np.tanh(np.sum(y, axis=-1, keepdims=True))), 0.5 / (0.5 + 0.5 * np.square(np.tanh(z)))], axis=-1), axis=-1)
'''
