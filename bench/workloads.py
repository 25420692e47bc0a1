"""The seed workloads: which function, at which size, against which hand-written gradient.

A :class:`Workload` names an example function (``examples/``), the arguments it
is differentiated with respect to, a deterministic input maker, and the
hand-written gradient from ``examples/handwritten.py`` that returns the same
gradients in ``wrt`` order. Sizes come in three modes: ``full`` (the issue's
sizes), ``quick`` (smaller, for ``--quick``) and ``tiny`` (for the smoke test).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

SEED = 0


@dataclass(frozen=True)
class Workload:
    """One benchmark case: ``func(*make_inputs())`` differentiated w.r.t. ``wrt``."""

    key: str  # unique, used by --only and in results.json
    label: str  # what the table shows
    module: str  # examples module
    function: str  # function name in it
    wrt: tuple[int, ...]
    make_inputs: Callable[[], tuple]
    handwritten: str  # function name in examples.handwritten
    size: str  # human-readable size
    nbytes_hint: int = 0  # bytes of the largest input, to order/skip work
    notes: str = ""
    shapes: dict = field(default_factory=dict)  # gradgen shape annotations, for "gradgen+shapes"

    def func(self):
        import importlib

        return getattr(importlib.import_module(self.module), self.function)

    def handwritten_func(self):
        import importlib

        hw = getattr(importlib.import_module("examples.handwritten"), self.handwritten)
        nwrt = len(self.wrt)

        if nwrt == 1:
            return hw

        def all_grads(*args):
            return tuple(hw(*args))[:nwrt]

        all_grads.__name__ = hw.__name__
        return all_grads


def _rng(tag: str):
    # Deterministic per workload, independent of the order they are built in.
    return np.random.default_rng([SEED, sum(map(ord, tag))])


def _cosine_inputs(n: int):
    def make():
        rng = _rng(f"cosine{n}")
        return rng.uniform(size=n), rng.uniform(size=n)

    return make


def _l2_inputs(n: int):
    def make():
        return (_rng(f"l2{n}").uniform(size=n),)

    return make


def _softmax_inputs(n: int, c: int):
    def make():
        rng = _rng(f"softmax{n}x{c}")
        X = rng.standard_normal((n, c))
        T = np.zeros((n, c))
        T[np.arange(n), rng.integers(0, c, size=n)] = 1.0
        return X, T

    return make


def _mlp_inputs(n: int, d: int, h: int):
    def make():
        rng = _rng(f"mlp{n}x{d}x{h}")
        W1 = rng.standard_normal((d, h)) / np.sqrt(d)
        b1 = 0.1 * rng.standard_normal(h)
        W2 = rng.standard_normal((h, 1)) / np.sqrt(h)
        b2 = 0.1 * rng.standard_normal(1)
        X = rng.standard_normal((n, d))
        y = (rng.uniform(size=(n, 1)) < 0.5).astype(np.float64)
        return W1, b1, W2, b2, X, y

    return make


def _scalar_inputs():
    def make():
        return 0.5, -1.25  # Python floats, as in seed 004

    return make


def _fmt_n(n: int) -> str:
    if n >= 1000 and n % 10 ** (len(str(n)) - 1) == 0:
        return f"1e{len(str(n)) - 1}" if str(n)[0] == "1" else f"{str(n)[0]}e{len(str(n)) - 1}"
    return str(n)


def cosine(n: int) -> Workload:
    return Workload(
        key=f"cosine_loss-{_fmt_n(n)}",
        label=f"cosine_loss, n={_fmt_n(n)}",
        module="examples.cosine",
        function="cosine_loss",
        wrt=(0,),
        make_inputs=_cosine_inputs(n),
        handwritten="cosine_loss_grad_X",
        size=f"X, Y: ({n},)",
        nbytes_hint=8 * n,
        notes="gradient w.r.t. X",
        shapes={"X": "n", "Y": "n"},
    )


def l2(n: int) -> Workload:
    return Workload(
        key=f"L2_norm-{_fmt_n(n)}",
        label=f"L2_norm, n={_fmt_n(n)}",
        module="examples.cosine",
        function="L2_norm",
        wrt=(0,),
        make_inputs=_l2_inputs(n),
        handwritten="L2_norm_grad",
        size=f"X: ({n},)",
        nbytes_hint=8 * n,
        shapes={"X": "n"},
    )


def softmax(n: int, c: int) -> Workload:
    return Workload(
        key=f"softmax_xent-{n}x{c}",
        label=f"softmax cross-entropy, {n}x{c}",
        module="examples.softmax",
        function="softmax_cross_entropy",
        wrt=(0,),
        make_inputs=_softmax_inputs(n, c),
        handwritten="softmax_cross_entropy_grad",
        size=f"X, T: ({n}, {c})",
        nbytes_hint=8 * n * c,
        notes="T one-hot; gradient w.r.t. X",
        shapes={"X": "n c", "T": "n c"},
    )


def mlp(n: int, d: int = 30, h: int = 50) -> Workload:
    return Workload(
        key=f"mlp_log_loss-{n}",
        label=f"mlp_log_loss, batch {n}",
        module="examples.network",
        function="mlp_log_loss",
        wrt=(0, 1, 2, 3),
        make_inputs=_mlp_inputs(n, d, h),
        handwritten="mlp_log_loss_grads",
        size=f"X: ({n}, {d}), W1: ({d}, {h}), W2: ({h}, 1)",
        nbytes_hint=8 * max(n * d, d * h),
        notes="gradient w.r.t. W1, b1, W2, b2",
        shapes={"W1": "d h", "b1": "h", "W2": "h 1", "b2": "1", "X": "n d", "y": "n 1"},
    )


def scalar() -> Workload:
    return Workload(
        key="sin_plus_xy-float",
        label="sin(x) + x*y, floats",
        module="examples.scalar",
        function="sin_plus_xy",
        wrt=(0, 1),
        make_inputs=_scalar_inputs(),
        handwritten="sin_plus_xy_grads",
        size="x, y: Python float",
        notes="gradient w.r.t. x and y",
        shapes={"x": "", "y": ""},
    )


def workloads(mode: str = "full") -> list[Workload]:
    """The runtime workloads of one mode (``full``, ``quick`` or ``tiny``)."""
    if mode == "full":
        return [
            cosine(128),
            cosine(100_000),
            cosine(10_000_000),
            l2(100_000),
            softmax(64, 10),
            softmax(3200, 3200),
            mlp(128),
            scalar(),
        ]
    if mode == "quick":
        return [
            cosine(128),
            cosine(100_000),
            l2(100_000),
            softmax(64, 10),
            softmax(400, 400),
            mlp(128),
            scalar(),
        ]
    if mode == "tiny":
        return [cosine(128), l2(1000), softmax(16, 10), mlp(16), scalar()]
    raise ValueError(f"unknown mode {mode!r}")


def memory_workloads(mode: str = "full") -> list[Workload]:
    """The workloads whose peak memory is measured (the largest ones)."""
    if mode == "full":
        return [cosine(10_000_000), softmax(3200, 3200)]
    if mode == "quick":
        return [cosine(1_000_000), softmax(800, 800)]
    return [cosine(1000), softmax(16, 10)]


#: Functions whose generation time is measured, with the wrt used.
SEED_FUNCTIONS = [
    ("examples.cosine", "L2_norm", (0,)),
    ("examples.cosine", "cosine_loss", (0,)),
    ("examples.cosine", "cossim_loss_batched", (0,)),
    ("examples.cosine", "cosine_similarity", (0, 1)),
    ("examples.softmax", "softmax_cross_entropy", (0,)),
    ("examples.network", "mlp_log_loss", (0, 1, 2, 3)),
    ("examples.logistic", "logistic_loss", (0, 1)),
    ("examples.scalar", "sin_plus_xy", (0, 1)),
]
