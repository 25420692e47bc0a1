"""Generation time: per seed function, and how it grows with function size.

``seed_functions()`` times ``gradgen.source(func, wrt)`` end to end (parse to
black) for each function of :data:`bench.workloads.SEED_FUNCTIONS`: the first
call in the process and the median of warm calls.

``scaling(sizes)`` generates straight-line functions of N statements
(:func:`straight_line_source`), times ``gradgen.source_from_text`` on each,
and fits the exponent ``k`` of ``time ~ N**k`` on log-log axes. Each size runs
in its own subprocess with a time limit, after a warm-up generation that pays
for the imports, so a superlinear blow-up shows as a timeout, not a hang.

Run one size by hand with ``python -m bench.gen_scaling 1000``; add
``--show`` to print the generated input function.
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_UNARY = ["np.sin", "np.cos", "np.tanh"]
_FORMS = [
    "v{i} = {u}(v{a}) * v{b} + v{c}",
    "v{i} = {u}(v{a}) - v{b} * v{c}",
    "v{i} = v{a} * v{b} + {u}(v{c})",
    "v{i} = {u}(v{a} * v{b}) + v{c}",
    "v{i} = (v{a} + v{b}) * {u}(v{c})",
]


def straight_line_source(n: int, seed: int = 0) -> str:
    """Module text of ``f(v0, v1, v2)`` with ``n`` elementwise statements, then ``return np.sum(...)``.

    Statement ``i`` always reads ``v{i-1}`` (so every statement reaches the
    output and nothing is dead code) and two other earlier variables picked by
    a seeded RNG, e.g. ``v7 = np.sin(v6) * v3 + v1``. Deterministic in ``(n, seed)``.
    """
    rng = random.Random(f"gradgen-bench-{n}-{seed}")
    nparams = 3
    lines = ["import numpy as np", "", "", "def f(v0, v1, v2):"]
    for k in range(n):
        i = nparams + k
        prev = i - 1
        others = [rng.randrange(0, i) for _ in range(2)]
        slots = [prev] + others
        rng.shuffle(slots)
        form = rng.choice(_FORMS)
        u = rng.choice(_UNARY)
        lines.append("    " + form.format(i=i, u=u, a=slots[0], b=slots[1], c=slots[2]))
    lines.append(f"    return np.sum(v{nparams + n - 1})")
    return "\n".join(lines) + "\n"


WRT = (0, 1, 2)


def _median_time(fn, repeats: int, budget_s: float) -> tuple[float, list[float]]:
    times = []
    start = time.perf_counter()
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget_s and len(times) >= 1:
            break
    return statistics.median(times), times


def time_one_size(n: int, repeats: int = 5, budget_s: float = 20.0) -> dict:
    """Time ``source_from_text`` on the N-statement function, in this process."""
    import gradgen

    # Warm-up: pay imports, template loading and black's start-up outside the timing.
    gradgen.source_from_text(straight_line_source(3, seed=1), "f", wrt=WRT)
    text = straight_line_source(n)
    out = {}

    def gen():
        out["text"] = gradgen.source_from_text(text, "f", wrt=WRT)

    median, times = _median_time(gen, repeats, budget_s)
    return {
        "statements": n,
        "median_s": median,
        "times_s": times,
        "per_statement_s": median / n,
        "output_lines": out["text"].count("\n"),
    }


def fit_exponent(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(time) against log(N); None with fewer than 2 points."""
    pts = [(math.log(n), math.log(t)) for n, t in points if n > 0 and t > 0]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    sxy = sum((x - mx) * (y - my) for x, y in pts)
    return sxy / sxx if sxx else None


def describe_growth(k: float | None) -> str:
    if k is None:
        return "not enough points to fit"
    if k < 0.85:
        return f"sublinear (N^{k:.2f}): fixed costs dominate at these sizes"
    if k <= 1.2:
        return f"about linear (N^{k:.2f})"
    if k <= 1.6:
        return f"mildly superlinear (N^{k:.2f})"
    return f"superlinear (N^{k:.2f}): a quadratic pass is likely"


def scaling(sizes, timeout_s: float = 240.0, repeats: int = 5, log=print) -> dict:
    """Time each size in a subprocess; fit the exponent on the sizes that finished."""
    rows = []
    for n in sizes:
        cmd = [sys.executable, "-m", "bench.gen_scaling", str(n), "--repeats", str(repeats), "--json"]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s,
                env={**os.environ, "PYTHONHASHSEED": "0"},
            )
        except subprocess.TimeoutExpired:
            rows.append({"statements": n, "status": f"timed out after {timeout_s:.0f} s"})
            log(f"  {n:5d} statements: timed out after {timeout_s:.0f} s")
            continue
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
            rows.append({"statements": n, "status": f"error: {tail[0][:200]}"})
            log(f"  {n:5d} statements: error: {tail[0][:200]}")
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        row["status"] = "ok"
        row["subprocess_wall_s"] = wall
        rows.append(row)
        log(
            f"  {n:5d} statements: {row['median_s'] * 1e3:9.1f} ms "
            f"({row['per_statement_s'] * 1e3:.2f} ms/statement)"
        )
    ok = [(r["statements"], r["median_s"]) for r in rows if r.get("status") == "ok"]
    k = fit_exponent(ok)
    return {"rows": rows, "exponent": k, "growth": describe_growth(k), "wrt": list(WRT)}


def seed_functions(functions, repeats: int = 5, log=print) -> list[dict]:
    """Time ``gradgen.source`` on each seed function: first call and warm median."""
    import importlib

    rows = []
    try:
        import gradgen
    except Exception as exc:  # noqa: BLE001 - report, never crash the benchmark
        log(f"  gradgen does not import: {exc}")
        return [
            {"function": f"{m.split('.')[-1]}.{f}", "wrt": list(w), "status": f"error: {exc}"}
            for m, f, w in functions
        ]
    for module, name, wrt in functions:
        row = {"function": f"{module.split('.')[-1]}.{name}", "wrt": list(wrt)}
        try:
            func = getattr(importlib.import_module(module), name)
            t0 = time.perf_counter()
            text = gradgen.source(func, wrt=wrt)
            row["first_s"] = time.perf_counter() - t0
            row["median_s"], row["times_s"] = _median_time(
                lambda func=func, wrt=wrt: gradgen.source(func, wrt=wrt), repeats, 10.0
            )
            row["output_lines"] = text.count("\n")
            row["status"] = "ok"
            log(f"  {row['function']:36s} {row['median_s'] * 1e3:8.1f} ms (first {row['first_s'] * 1e3:.1f} ms)")
        except Exception as exc:  # noqa: BLE001
            row["status"] = f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
            log(f"  {row['function']:36s} {row['status']}")
        rows.append(row)
    return rows


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("n", type=int, help="number of statements")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", action="store_true", help="print one JSON line")
    p.add_argument("--show", action="store_true", help="print the generated input function")
    args = p.parse_args(argv)
    if args.show:
        print(straight_line_source(args.n))
        return 0
    row = time_one_size(args.n, args.repeats)
    if args.json:
        print(json.dumps(row))
    else:
        print(f"{args.n} statements: {row['median_s'] * 1e3:.1f} ms, {row['per_statement_s'] * 1e3:.3f} ms/statement")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
