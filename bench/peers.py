"""The tools measured, each prepared as a zero-argument callable.

``prepare(tool, workload, inputs)`` returns a :class:`Prepared`: ``call()``
runs the tool once on the prepared inputs (for a gradient tool: returns the
gradients in ``wrt`` order), ``to_numpy(result)`` turns what ``call`` returned
into a tuple of NumPy values for the agreement check.

Tools:

- ``forward``      the example function itself (NumPy): the baseline
- ``handwritten``  the gradient in ``examples/handwritten.py``
- ``gradgen``      ``gradgen.grad(func, wrt)`` called the ordinary way: the version
                   generated for the inputs' shapes at the first call
                   (gradgen.specialize), which is part of the setup
- ``gradgen+shapes`` the same with the workload's shape annotations
                   (``shapes={"X": "n c", ...}``), which let the simplifier prove
                   ``unbroadcast``/``ones_like`` away
- ``autograd``     ``autograd.grad`` on the same function with ``np`` rebound to
                   ``autograd.numpy``
- ``jax``          ``jax.grad`` eager (op-by-op dispatch), ``np`` rebound to ``jax.numpy``
- ``jax.jit``      ``jax.jit(jax.grad(...))``, compiled by a first call before timing
- ``torch``        PyTorch eager on the CPU: forward with ``np`` rebound to a thin
                   shim over ``torch``, then ``torch.autograd.grad``

The peers run *the example's own code*: the module's globals are copied, every
name bound to NumPy is rebound to the peer's NumPy-like module, and the
module's functions are re-created over the copy. No peer gets a hand-tuned
rewrite. Everything is float64 (JAX with ``jax_enable_x64``). Inputs are
converted once, outside the timed call (``torch.from_numpy`` shares memory;
JAX arrays are placed on the CPU device); JAX results are waited for with
``block_until_ready``.

A peer that is not installed raises :class:`Skipped` with
"skipped (not installed)"; that is a result, never a failure.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

TOOLS = ["forward", "handwritten", "gradgen", "gradgen+shapes", "autograd", "jax", "jax.jit", "torch"]
OURS = ["forward", "handwritten", "gradgen", "gradgen+shapes"]
PEERS = ["autograd", "jax", "jax.jit", "torch"]
LABELS = {
    "forward": "forward (NumPy)",
    "handwritten": "hand-written",
    "gradgen": "gradgen",
    "gradgen+shapes": "gradgen (shapes)",
    "autograd": "autograd",
    "jax": "JAX eager",
    "jax.jit": "jax.jit",
    "torch": "PyTorch eager",
}


class Skipped(Exception):
    """The tool cannot run here; the message says why (shown in the table)."""


@dataclass
class Prepared:
    call: Callable[[], Any]
    to_numpy: Callable[[Any], tuple]
    setup_s: float = 0.0  # one-time cost (generation, jit compile), not in the timings
    setup_what: str = ""


def _as_tuple(result) -> tuple:
    if isinstance(result, (tuple, list)):
        return tuple(result)
    return (result,)


def _numpy_tuple(result) -> tuple:
    return tuple(np.asarray(r) for r in _as_tuple(result))


# -- versions -------------------------------------------------------------------


def version(dist: str) -> str | None:
    """The installed version of a distribution, or None (does not import it)."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def peer_versions() -> dict:
    return {
        name: version(name)
        for name in ("autograd", "jax", "jaxlib", "torch", "matplotlib")
    }


def _import(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        raise Skipped("skipped (not installed)") from None


# -- rebinding the example's code onto another NumPy-like module --------------


def rebind(func: types.FunctionType, np_like) -> types.FunctionType:
    """``func`` re-created over a copy of its module's globals with NumPy replaced.

    Other functions of the module are re-created over the same copy, so that a
    helper called by ``func`` sees the same replacement.
    """
    module = sys.modules[func.__module__]
    namespace = dict(vars(module))
    for name, value in list(namespace.items()):
        if value is np:
            namespace[name] = np_like
    for name, value in list(namespace.items()):
        if isinstance(value, types.FunctionType) and value.__module__ == module.__name__:
            clone = types.FunctionType(
                value.__code__, namespace, value.__name__, value.__defaults__, value.__closure__
            )
            clone.__kwdefaults__ = value.__kwdefaults__
            namespace[name] = clone
    return namespace[func.__name__]


class _TorchNumpy:
    """Just enough of NumPy's namespace over ``torch`` for the examples.

    ``torch`` already accepts ``axis=``/``keepdims=`` and has ``sum``, ``mean``,
    ``exp``, ``log``, ``sqrt``, ``sin``, ``linalg.norm``...; the differences
    patched here are Python-number arguments and NumPy-only names.
    """

    def __init__(self, torch):
        self._torch = torch
        self.linalg = torch.linalg
        self.newaxis = None
        self.float64 = torch.float64

    def __getattr__(self, name):
        return getattr(self._torch, name)

    def _t(self, v, like):
        if isinstance(v, self._torch.Tensor):
            return v
        return self._torch.as_tensor(v, dtype=like.dtype)

    def maximum(self, a, b):
        if not isinstance(b, self._torch.Tensor):
            b = self._t(b, a)
        if not isinstance(a, self._torch.Tensor):
            a = self._t(a, b)
        return self._torch.maximum(a, b)

    def minimum(self, a, b):
        if not isinstance(b, self._torch.Tensor):
            b = self._t(b, a)
        if not isinstance(a, self._torch.Tensor):
            a = self._t(a, b)
        return self._torch.minimum(a, b)

    def dot(self, a, b):
        return self._torch.matmul(a, b)

    def multiply(self, a, b):
        return a * b

    def add(self, a, b):
        return a + b

    def subtract(self, a, b):
        return a - b

    def divide(self, a, b):
        return a / b

    def negative(self, a):
        return -a

    def power(self, a, b):
        return a**b


# -- the tools -------------------------------------------------------------------


def prepare(tool: str, workload, inputs: tuple) -> Prepared:
    """Prepare ``tool`` on ``workload`` with ``inputs``; raise :class:`Skipped` if it cannot run."""
    func = workload.func()
    wrt = workload.wrt
    if tool == "forward":
        return Prepared(lambda: func(*inputs), _numpy_tuple)
    if tool == "handwritten":
        hw = workload.handwritten_func()
        return Prepared(lambda: hw(*inputs), _numpy_tuple)
    if tool == "gradgen":
        return _prepare_gradgen(func, wrt, inputs)
    if tool == "gradgen+shapes":
        return _prepare_gradgen(func, wrt, inputs, shapes=workload.shapes)
    if tool == "autograd":
        return _prepare_autograd(func, wrt, inputs)
    if tool in ("jax", "jax.jit"):
        return _prepare_jax(func, wrt, inputs, jit=tool == "jax.jit")
    if tool == "torch":
        return _prepare_torch(func, wrt, inputs)
    raise ValueError(f"unknown tool {tool!r}")


def _prepare_gradgen(func, wrt, inputs, shapes=None) -> Prepared:
    import gradgen

    t0 = time.perf_counter()
    g = gradgen.grad(func, wrt=wrt, shapes=shapes) if shapes else gradgen.grad(func, wrt=wrt)
    # Without shapes the first call generates the version for the inputs'
    # shapes (gradgen.specialize): part of the setup, as jax.jit's compile is.
    g(*inputs)
    setup = time.perf_counter() - t0
    return Prepared(lambda: g(*inputs), _numpy_tuple, setup, "generate + compile + first call")


def _prepare_autograd(func, wrt, inputs) -> Prepared:
    autograd = _import("autograd")
    anp = _import("autograd.numpy")
    f = rebind(func, anp)
    g = autograd.grad(f, argnum=wrt if len(wrt) > 1 else wrt[0])
    return Prepared(lambda: g(*inputs), _numpy_tuple)


_jax_ready = False


def _jax_modules():
    global _jax_ready
    jax = _import("jax")
    if not _jax_ready:
        # float64 everywhere: must be set before any array is made.
        jax.config.update("jax_enable_x64", True)
        jax.config.update("jax_platforms", "cpu")
        _jax_ready = True
    return jax, importlib.import_module("jax.numpy")


def _prepare_jax(func, wrt, inputs, jit: bool) -> Prepared:
    jax, jnp = _jax_modules()
    f = rebind(func, jnp)
    g = jax.grad(f, argnums=wrt if len(wrt) > 1 else wrt[0])
    jargs = tuple(
        jax.device_put(np.asarray(a)) if isinstance(a, np.ndarray) else a for a in inputs
    )
    setup = 0.0
    what = ""
    if jit:
        g = jax.jit(g)
        t0 = time.perf_counter()
        jax.block_until_ready(g(*jargs))  # compile, excluded from the timings
        setup = time.perf_counter() - t0
        what = "jit compile (first call)"
    block = jax.block_until_ready
    return Prepared(lambda: block(g(*jargs)), _numpy_tuple, setup, what)


def _prepare_torch(func, wrt, inputs) -> Prepared:
    torch = _import("torch")
    f = rebind(func, _TorchNumpy(torch))
    targs = []
    for i, a in enumerate(inputs):
        if isinstance(a, np.ndarray):
            t = torch.from_numpy(a)
        elif isinstance(a, float):
            t = torch.tensor(a, dtype=torch.float64)
        else:
            t = a
        if i in wrt:
            t.requires_grad_(True)
        targs.append(t)
    leaves = [targs[i] for i in wrt]
    grad = torch.autograd.grad

    def call():
        return grad(f(*targs), leaves)

    def to_numpy(result):
        return tuple(r.detach().numpy() for r in _as_tuple(result))

    return Prepared(call, to_numpy)


def compare(result: tuple, reference: tuple, rtol: float = 1e-6) -> tuple[bool, float, str]:
    """(agrees, max relative error, message) of ``result`` against ``reference``.

    Per gradient: shapes must match and ``allclose(rtol, atol=1e-9 * max|ref|)``;
    the error is ``max|a - ref| / max|ref|``.
    """
    if len(result) != len(reference):
        return False, float("inf"), f"{len(result)} gradients, expected {len(reference)}"
    worst = 0.0
    for k, (a, r) in enumerate(zip(result, reference)):
        a = np.asarray(a, dtype=np.float64)
        r = np.asarray(r, dtype=np.float64)
        if a.shape != r.shape:
            return False, float("inf"), f"gradient {k}: shape {a.shape}, expected {r.shape}"
        scale = float(np.max(np.abs(r))) if r.size else 0.0
        err = float(np.max(np.abs(a - r))) / scale if scale > 0 else float(np.max(np.abs(a)))
        if not np.isfinite(err):
            return False, float("inf"), f"gradient {k}: non-finite values"
        worst = max(worst, err)
        if not np.allclose(a, r, rtol=rtol, atol=1e-9 * scale):
            return False, worst, f"gradient {k}: max relative error {err:.2e}"
    return True, worst, ""
