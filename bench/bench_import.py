"""Import-time cost of ``@differentiable``, cold (empty cache) and warm (cache filled).

Writes a temporary module with ten decorated NumPy functions and the same
module without decorators, then imports each in fresh subprocesses
(``python -c "import mod"``, with PYTHONPATH, GRADGEN_CACHE_DIR and
PYTHONPYCACHEPREFIX pointing at temporary directories, bytecode caching on).
The subprocess imports NumPy first, then times ``import mod``; the
undecorated module's time (taken just before, paired) is subtracted, so only
what the decorators add is counted: importing gradgen, spread over the ten
functions, and the decorations. Medians of several runs.

    python bench/bench_import.py [--runs N] [--cold-runs N] [--json PATH]

``main(argv=None) -> dict`` returns the numbers (seconds) that ``--json``
writes. The goal: a warm import under 2 ms per function.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

GOAL_WARM_PER_FUNCTION_S = 0.002

FUNCTIONS = [
    ("sin_x", "x", "np.sum(np.sin(x) * x)"),
    ("l2_norm", "x", "np.sqrt(np.sum(x * x))"),
    ("softplus", "x", "np.sum(np.log(1.0 + np.exp(x)))"),
    ("tanh_sq", "x", "np.sum(np.tanh(x) * np.tanh(x))"),
    ("cubic", "x", "np.sum(x * x * x - 2.0 * x)"),
    ("exp_mean", "x", "np.mean(np.exp(-x * x))"),
    ("dot_xy", "x, y", "np.sum(x * y + y)"),
    ("cos_sin", "x", "np.sum(np.cos(x) + np.sin(2.0 * x))"),
    ("quot", "x", "np.sum(x / (1.0 + x * x))"),
    ("sq_diff", "x, y", "np.sum((x - y) * (x - y))"),
]

PROBE = (
    "import sys, time\n"
    "import numpy\n"  # outside the timing: only what the module adds is measured
    "t = time.perf_counter()\n"
    "import {module}\n"
    "t = time.perf_counter() - t\n"
    "heavy = [m for m in ('libcst', 'black') if m in sys.modules]\n"
    "print(repr(t), ','.join(heavy))\n"
)


def module_text(decorated: bool, import_gradgen: bool = True) -> str:
    """The benchmark module: FUNCTIONS, decorated or not."""
    lines = ["import numpy as np"]
    if import_gradgen:
        lines.append("from gradgen.decorator import differentiable")
    for name, params, expr in FUNCTIONS:
        lines += ["", ""]
        if decorated:
            lines.append("@differentiable")
        lines += [f"def {name}({params}):", f"    return {expr}"]
    return "\n".join(lines) + "\n"


def _gradgen_root() -> str:
    spec = importlib.util.find_spec("gradgen")
    if spec is None or spec.origin is None:
        return str(Path(__file__).resolve().parent.parent)
    return str(Path(spec.origin).resolve().parent.parent)


def _time_import(
    module: str, workdir: Path, cache_dir: Path
) -> tuple[float, list[str]]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(workdir), _gradgen_root()])
    env["GRADGEN_CACHE_DIR"] = str(cache_dir)
    # Imports as users see them: from bytecode (.pyc), kept out of the checkout.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(workdir.parent / "pycache")
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"importing {module} failed:\n{out.stderr}")
    elapsed, _, heavy = out.stdout.strip().partition(" ")
    return float(elapsed), [m for m in heavy.split(",") if m]


def _empty(directory: Path) -> None:
    for entry in directory.iterdir():
        entry.unlink()


def run(runs: int = 15, cold_runs: int = 5) -> dict:
    """Measure; return the numbers (seconds) as a dict."""
    n = len(FUNCTIONS)
    with tempfile.TemporaryDirectory(prefix="gradgen-bench-import-") as tmp:
        work = Path(tmp) / "mods"
        cache_dir = Path(tmp) / "cache"
        work.mkdir()
        cache_dir.mkdir()
        (work / "bench_plain.py").write_text(module_text(False, import_gradgen=False))
        (work / "bench_gradgen_only.py").write_text(
            module_text(False, import_gradgen=True)
        )
        (work / "bench_decorated.py").write_text(module_text(True))

        def time_import(module):
            return _time_import(module, work, cache_dir)

        # Warm-up: writes the .pyc files of the modules and of gradgen itself.
        for module in ("bench_plain", "bench_gradgen_only", "bench_decorated"):
            time_import(module)

        # Each sample is paired with a baseline taken just before it, so that
        # drifts in machine load cancel out.
        cold = []
        for _ in range(cold_runs):
            _empty(cache_dir)
            base = time_import("bench_plain")[0]
            cold.append(time_import("bench_decorated")[0] - base)
        entries = len(list(cache_dir.glob("*.gradgen")))

        plain, gradgen_only, warm, warm_heavy = [], [], [], set()
        for _ in range(runs):
            base = time_import("bench_plain")[0]
            plain.append(base)
            gradgen_only.append(time_import("bench_gradgen_only")[0] - base)
            t, heavy = time_import("bench_decorated")
            warm.append(t - base)
            warm_heavy.update(heavy)

    results = {
        "python": sys.version.split()[0],
        "functions": n,
        "runs": runs,
        "cold_runs": cold_runs,
        "cache_entries_after_cold": entries,
        "baseline_import_s": statistics.median(plain),
        "gradgen_import_s": statistics.median(gradgen_only),
        "cold_total_s": statistics.median(cold),
        "warm_total_s": statistics.median(warm),
        "warm_total_min_s": min(warm),
        "warm_imports_heavy": sorted(warm_heavy),
    }
    results["cold_per_function_s"] = results["cold_total_s"] / n
    results["warm_per_function_s"] = results["warm_total_s"] / n
    results["warm_per_function_min_s"] = results["warm_total_min_s"] / n
    # Per function, not counting the one-off cost of importing gradgen.
    results["warm_marginal_per_function_s"] = (
        results["warm_total_s"] - results["gradgen_import_s"]
    ) / n
    results["goal_warm_per_function_s"] = GOAL_WARM_PER_FUNCTION_S
    results["goal_met"] = results["warm_per_function_s"] < GOAL_WARM_PER_FUNCTION_S
    return results


def format_table(r: dict) -> str:
    ms = lambda s: f"{s * 1e3:9.2f}"  # noqa: E731
    n = r["functions"]
    rows = [
        f"import time added to a NumPy-only module ({ms(r['baseline_import_s']).strip()} ms "
        f"after numpy) by {n} decorated functions; median of {r['runs']} warm / "
        f"{r['cold_runs']} cold runs; Python {r['python']}",
        f"{'':28}{'total ms':>9}  {'per fn ms':>9}",
        f"{'import gradgen only':28}{ms(r['gradgen_import_s'])}",
        f"{'cold (empty cache)':28}{ms(r['cold_total_s'])}  {ms(r['cold_per_function_s'])}",
        f"{'warm (cache filled)':28}{ms(r['warm_total_s'])}  {ms(r['warm_per_function_s'])}",
        f"{'warm, fastest run':28}{ms(r['warm_total_min_s'])}  {ms(r['warm_per_function_min_s'])}",
        f"{'warm, less gradgen import':28}{'':9}  {ms(r['warm_marginal_per_function_s'])}",
        f"goal: warm < {r['goal_warm_per_function_s'] * 1e3:g} ms per function: "
        + ("met" if r["goal_met"] else "NOT met"),
    ]
    if r["warm_imports_heavy"]:
        rows.append(
            "warning: a warm import loaded " + ", ".join(r["warm_imports_heavy"])
        )
    if r["cache_entries_after_cold"] != n:
        rows.append(
            f"warning: {r['cache_entries_after_cold']} cache entries after a cold import, expected {n}"
        )
    return "\n".join(rows)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="warm runs (default 15)")
    parser.add_argument(
        "--cold-runs", type=int, default=5, help="cold runs (default 5)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the numbers here")
    args = parser.parse_args(argv)
    results = run(args.runs, args.cold_runs)
    print(format_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return results


if __name__ == "__main__":
    main()
