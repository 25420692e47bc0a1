"""gradgen's benchmark: run time, generation time, import time and memory.

Run it with ``python -m bench.run`` (full, about 5 minutes on 2 cores, writes
``bench/results.{md,json,png}``) or ``python -m bench.run --quick`` (under a
minute, writes to a temporary directory unless ``--out`` is given).

Modules:

- :mod:`bench.workloads`   the seed workloads: inputs, sizes, hand-written gradients
- :mod:`bench.peers`       the tools measured: forward pass, hand-written, gradgen,
                           autograd, JAX (eager and jit), PyTorch (eager, CPU)
- :mod:`bench.gen_scaling` generation time per seed function and against function size
- :mod:`bench.memory`      peak traced memory of the gradient against the forward pass
- :mod:`bench.plot`        the grouped bar chart
- :mod:`bench.run`         the driver and the report writers

Peers are optional (``pip install .[bench]``); a missing one is reported as
"skipped (not installed)". Nothing here asserts on timings.
"""
