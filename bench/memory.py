"""Peak memory of the generated gradient against the forward pass.

NumPy reports its data buffers to :mod:`tracemalloc`, so the traced peak of a
call, above what was allocated before it, is the extra memory the call needed
at its worst moment (temporaries plus the result). Inputs are made before
tracing starts. Peers are not measured: JAX and PyTorch allocate outside
tracemalloc's view.
"""

from __future__ import annotations

import gc
import tracemalloc

TOOLS = ("forward", "handwritten", "gradgen", "gradgen+shapes")


def traced_peak(fn) -> int:
    """Bytes: traced peak during ``fn()`` minus traced memory just before it."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    return peak - base


def measure(workload, log=print) -> dict:
    """Peak bytes of forward, hand-written, gradgen and gradgen+shapes on one workload."""
    from bench import peers

    inputs = workload.make_inputs()
    input_bytes = sum(getattr(a, "nbytes", 0) for a in inputs)
    row = {"workload": workload.key, "label": workload.label, "input_bytes": input_bytes}
    for tool in TOOLS:
        try:
            prepared = peers.prepare(tool, workload, inputs)
            prepared.call()  # warm: first-call allocations (caches) out of the way
            row[tool] = {"status": "ok", "peak_bytes": min(traced_peak(prepared.call) for _ in range(2))}
        except Exception as exc:  # noqa: BLE001 - a failing tool is a result
            row[tool] = {"status": f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"}
    fwd = row["forward"].get("peak_bytes")
    for tool in TOOLS[1:]:
        peak = row[tool].get("peak_bytes")
        if fwd and peak is not None:
            row[tool]["ratio_to_forward"] = peak / fwd
    log(
        "  "
        + workload.label
        + ": "
        + ", ".join(
            f"{t} {row[t]['peak_bytes'] / 2**20:.1f} MiB" if "peak_bytes" in row[t] else f"{t} {row[t]['status']}"
            for t in TOOLS
        )
    )
    return row
