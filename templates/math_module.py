"""Python's ``math`` module on Python floats: one line each, as the NumPy
elementwise functions (a ``math`` function takes and returns a float).

Generated code for float-only values may call ``math`` too (it is about ten
times faster than NumPy on a Python float); the generated module then
imports ``math``.
"""

import math

from .contract import elementwise

elementwise(math.log, lambda y, x: 1 / x, test=dict(domain="positive", shapes=[("",)]))
