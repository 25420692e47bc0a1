"""Tape memory and time of a gradient through a 10,000-step Python loop.

    python bench/loop_memory.py [T]

The loop is examples/recurrent.py::rnn_loss (an unrolled tanh RNN filling a
preallocated array), gradient with respect to all four arguments, shapes
annotated.  Peak traced memory (tracemalloc; NumPy reports its buffers) of
the forward pass and of the gradient, then medians of 5 untraced runs.
"""

from __future__ import annotations

import sys
import timeit
import tracemalloc

import numpy as np

import gradgen
from examples import recurrent

SHAPES = {"x": "T d", "W": "d k", "U": "k k", "h0": "k"}


def main(steps: int = 10_000, d: int = 8, k: int = 16) -> None:
    rng = np.random.default_rng(0)
    args = (rng.standard_normal((steps, d)), rng.standard_normal((d, k)) * 0.3,
            rng.standard_normal((k, k)) * 0.3, rng.standard_normal(k))
    grad = gradgen.grad(recurrent.rnn_loss, wrt=(0, 1, 2, 3), shapes=SHAPES)
    calls = {"forward": lambda: recurrent.rnn_loss(*args), "gradient": lambda: grad(*args)}
    print(f"rnn_loss, T={steps}, d={d}, k={k}; h itself is {(steps + 1) * k * 8 / 1e6:.2f} MB")
    for label, call in calls.items():
        call()
        tracemalloc.start()
        call()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        seconds = sorted(timeit.repeat(call, number=1, repeat=5))[2]
        print(f"  {label:9s} peak {peak / 1e6:6.2f} MB   median {seconds * 1e3:7.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
