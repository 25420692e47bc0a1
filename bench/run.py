"""Run gradgen's benchmark and write results.md, results.json and results.png.

    python -m bench.run                 # full run (~5 min on 2 cores): writes bench/results.*
    python -m bench.run --quick         # < 1 min, smaller sizes; writes to a temp dir
    python -m bench.run --quick --out /tmp/b
    python -m bench.run --only cosine --peers none --skip scaling,import,memory

What it measures (see the "Method" section of results.md):

1. run time of each seed workload for each tool (:mod:`bench.peers`): median
   per-call time over >= 5 repeats of an adaptive ``timeit``-style loop, after
   checking that every gradient agrees with gradgen's (``allclose``);
2. generation time per seed function and against function size
   (:mod:`bench.gen_scaling`);
3. cold and warm import of decorated functions (``bench/bench_import.py``);
4. peak traced memory of the gradient against the forward pass (:mod:`bench.memory`).

No step can fail the run: a missing peer is "skipped (not installed)", an
error is recorded in the results and the run goes on. The exit status is 0
unless the harness itself breaks.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import gen_scaling, memory, peers, workloads

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: Timing settings per mode: minimum seconds per repeat, repeats, seconds per tool.
TIMING = {
    "full": {"min_time": 0.2, "repeats": 7, "budget": 4.0},
    "quick": {"min_time": 0.02, "repeats": 5, "budget": 0.2},
    "tiny": {"min_time": 0.001, "repeats": 5, "budget": 0.02},
}
SCALING_SIZES = {"full": [10, 30, 100, 300, 1000], "quick": [10, 30, 60], "tiny": [5, 10]}
SCALING_TIMEOUT = {"full": 240.0, "quick": 20.0, "tiny": 60.0}
STEPS = ("runtime", "generation", "scaling", "import", "memory", "plot")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# -- timing ---------------------------------------------------------------------


def _loop(fn, number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return time.perf_counter() - t0


def calibrate(fn, min_time: float) -> tuple[int, float]:
    """(number, seconds): a loop count whose loop takes at least ``min_time``, and that loop's time."""
    number = 1
    while True:
        t = _loop(fn, number)
        if t >= min_time or number >= 10**7:
            return number, t
        number = max(number * 2, int(number * min_time / max(t, 1e-9) * 1.1))


def time_calls(fns: dict, min_time: float, repeats: int, budget: float, min_repeats: int = 5) -> dict:
    """Median seconds per call of each callable in ``fns`` (``timeit`` style, GC off).

    Each callable gets its own loop count (:func:`calibrate`); then rounds run in
    which every callable's loop runs once, interleaved, so that a change in the
    machine's background load hits all tools alike. ``repeats`` rounds, fewer
    when they would exceed ``budget`` seconds per tool on average, never fewer
    than ``min_repeats``.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        numbers, round_s = {}, 0.0
        for name, fn in fns.items():
            numbers[name], t = calibrate(fn, min_time)
            round_s += t
        r = max(min_repeats, min(repeats, int(budget * len(fns) / max(round_s, 1e-12))))
        times = {name: [] for name in fns}
        for _ in range(r):
            for name, fn in fns.items():
                times[name].append(_loop(fn, numbers[name]) / numbers[name])
    finally:
        if enabled:
            gc.enable()
    return {
        name: {
            "median_s": statistics.median(ts),
            "min_s": min(ts),
            "number": numbers[name],
            "repeats": r,
        }
        for name, ts in times.items()
    }


# -- machine ----------------------------------------------------------------------


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal"):
                    mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                    break
    except OSError:
        pass
    blas = None
    try:
        cfg = np.show_config(mode="dicts")
        b = cfg["Build Dependencies"]["blas"]
        blas = f"{b.get('name')} {b.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - informational only
        pass
    try:
        import gradgen

        gradgen_version = gradgen.__version__
    except Exception as exc:  # noqa: BLE001
        gradgen_version = f"import failed: {exc}"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip() or "no commit"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas,
        "gradgen": gradgen_version,
        "commit": commit,
        "peers": peers.peer_versions(),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
    }
    return info


# -- run time ---------------------------------------------------------------------


def _err(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"error: {type(exc).__name__}" + (f": {text[0][:160]}" if text else "")


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def run_workload(w, tools, timing: dict) -> dict:
    """Prepare, check and time every tool on one workload."""
    log(f"[runtime] {w.label} ({w.size})")
    load_before = _loadavg()
    inputs = w.make_inputs()
    row = {
        "key": w.key,
        "label": w.label,
        "function": f"{w.module.split('.')[-1]}.{w.function}",
        "size": w.size,
        "wrt": list(w.wrt),
        "notes": w.notes,
        "tools": {},
    }
    prepared, results = {}, {}
    for tool in tools:
        entry = row["tools"][tool] = {}
        try:
            p = peers.prepare(tool, w, inputs)
            out = p.call()
            results[tool] = p.to_numpy(out)
            prepared[tool] = p
            entry["status"] = "ok"
            if p.setup_what:
                entry["setup_s"] = p.setup_s
                entry["setup_what"] = p.setup_what
        except peers.Skipped as exc:
            entry["status"] = str(exc)
        except Exception as exc:  # noqa: BLE001 - a failing tool is a result
            entry["status"] = _err(exc)
        if entry["status"] != "ok":
            log(f"    {tool:12s} {entry['status']}")

    # Agreement: against gradgen, or against the hand-written gradient if gradgen failed.
    ref_tool = "gradgen" if "gradgen" in results else ("handwritten" if "handwritten" in results else None)
    row["reference"] = ref_tool
    for tool in tools:
        if tool == "forward" or tool not in results or tool == ref_tool:
            continue
        ok, err, msg = peers.compare(results[tool], results[ref_tool]) if ref_tool else (None, None, "")
        entry = row["tools"][tool]
        entry["agrees"] = ok
        entry["max_rel_err"] = err
        if ok is False:
            entry["mismatch"] = msg
            log(f"    !!! {tool} DISAGREES with {ref_tool}: {msg}")
    results.clear()

    try:
        timings = time_calls({tool: p.call for tool, p in prepared.items()}, **timing)
    except Exception as exc:  # noqa: BLE001 - a tool that worked once and fails later
        timings = {}
        for tool in prepared:
            row["tools"][tool]["status"] = _err(exc)
    for tool, t in timings.items():
        entry = row["tools"][tool]
        entry.update(t)
        log(f"    {tool:12s} {fmt_time(entry['median_s']):>10s}  (number={entry['number']}, repeats={entry['repeats']})")
    prepared.clear()

    g = row["tools"].get("gradgen", {}).get("median_s")
    for tool in tools:
        t = row["tools"][tool].get("median_s")
        if g and t and tool != "gradgen":
            row["tools"][tool]["ratio_to_gradgen"] = t / g
    for tool in ("gradgen", "gradgen+shapes"):
        if tool in row["tools"]:
            ratios = _baseline_ratios(row, tool)
            prefix = tool.replace("+", "_")
            row[f"{prefix}_over_forward"] = ratios["over_forward"]
            row[f"{prefix}_over_handwritten"] = ratios["over_hand"]
            row[f"{prefix}_over_handwritten_best"] = ratios["over_hand_best"]
    row["loadavg_1min"] = [load_before, _loadavg()]
    del inputs
    gc.collect()
    return row


def runtime_summary(rows, tools) -> list[dict]:
    """Per tool: geometric mean, min and max of (tool time / gradgen time) over workloads."""
    out = []
    for tool in tools:
        if tool in ("gradgen", "forward"):
            continue
        ratios = [r["tools"][tool]["ratio_to_gradgen"] for r in rows if r["tools"].get(tool, {}).get("ratio_to_gradgen")]
        if not ratios:
            statuses = [r["tools"][tool]["status"] for r in rows if tool in r["tools"]]
            status = next((s for s in statuses if s != "ok"), None)
            if status is None:
                status = "no gradgen timing to compare with" if statuses else "not run"
            out.append({"tool": tool, "status": status})
            continue
        best = min(rows, key=lambda r: r["tools"].get(tool, {}).get("ratio_to_gradgen") or math.inf)
        worst = max(rows, key=lambda r: r["tools"].get(tool, {}).get("ratio_to_gradgen") or -math.inf)
        out.append(
            {
                "tool": tool,
                "status": "ok",
                "workloads": len(ratios),
                "geomean_ratio": math.exp(sum(map(math.log, ratios)) / len(ratios)),
                "min_ratio": min(ratios),
                "min_at": best["label"],
                "max_ratio": max(ratios),
                "max_at": worst["label"],
                "gradgen_faster_in": sum(1 for x in ratios if x > 1.0),
                "mismatches": sum(1 for r in rows if r["tools"].get(tool, {}).get("agrees") is False),
            }
        )
    return out


# -- import time --------------------------------------------------------------------


IMPORT_ARGV = {
    "full": ["--runs", "15", "--cold-runs", "5"],
    "quick": ["--runs", "2", "--cold-runs", "1"],
    "tiny": ["--runs", "1", "--cold-runs", "1"],
}


def run_import_bench(mode: str) -> dict:
    """bench/bench_import.py's ``main(argv) -> dict``; its absence or failure is 'skipped'."""
    try:
        from bench import bench_import  # written separately; optional
    except ImportError as exc:
        return {"status": f"skipped (bench/bench_import.py not available: {exc})"}
    argv = IMPORT_ARGV[mode]
    try:
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):  # it prints its own table
            try:
                result = bench_import.main(argv)
            except SystemExit:  # its options changed: take its defaults
                argv = []
                result = bench_import.main(argv)
    except SystemExit as exc:
        return {"status": f"skipped (bench_import.main exited {exc.code})"}
    except Exception as exc:  # noqa: BLE001
        return {"status": f"skipped ({_err(exc)})"}
    if not isinstance(result, dict):
        return {"status": f"skipped (main() returned {type(result).__name__}, not a dict)"}
    return {"status": "ok", "argv": argv, "result": result}


# -- formatting -------------------------------------------------------------------------


def fmt_time(s) -> str:
    if s is None:
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if s >= scale or unit == "ns":
            v = s / scale
            return f"{v:.3g} {unit}" if v < 1000 else f"{v:.0f} {unit}"
    return f"{s} s"


def fmt_bytes(b) -> str:
    if b is None:
        return "—"
    if b >= 2**20:
        return f"{b / 2**20:.1f} MiB"
    if b >= 2**10:
        return f"{b / 2**10:.1f} KiB"
    return f"{b} B"


def fmt_ratio(x) -> str:
    return "—" if x is None else f"{x:.2f}×"


def short(status: str, n: int = 48) -> str:
    """A status for a table cell: one line, no pipes, at most ``n`` characters."""
    status = " ".join(str(status).split()).replace("|", "/")
    return status if len(status) <= n else status[: n - 1] + "…"


def _cell(entry: dict, tool: str, ref: str | None) -> str:
    status = entry.get("status", "not run")
    if status != "ok" or entry.get("median_s") is None:
        return short(status)
    text = fmt_time(entry["median_s"])
    if entry.get("ratio_to_gradgen") is not None and tool != "forward":
        text += f" ({fmt_ratio(entry['ratio_to_gradgen'])})"
    if entry.get("agrees") is False:
        text = f"**MISMATCH vs {ref}** {text}"
    return text


def _table(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> str:
    align = align or ["---"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(res: dict) -> str:
    tools = res["tools"]
    labels = peers.LABELS
    m = res["machine"]
    out = [
        "# gradgen benchmark results",
        "",
        f"Generated by `{res['command']}` on {m['date_utc']} UTC "
        f"(mode: **{res['mode']}**, wall time {res['wall_s']:.0f} s: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in (res.get("step_s") or {}).items())
        + "). "
        "Regenerate with `make bench`; numbers are from one 2-core machine and move by "
        "a few percent between runs.",
        "",
    ]

    # --- run time
    rows = res.get("runtime") or []
    if rows:
        out += ["## Gradient run time", ""]
        out.append(
            "Median time per call. In parentheses: that tool's time divided by gradgen's "
            "(**> 1: gradgen is faster**). `gradgen` is `gradgen.grad(f, wrt)` as a user calls it; "
            "`gradgen (shapes)` passes the inputs' shape annotations too (`shapes={\"X\": \"n c\", "
            "...}`), which let the simplifier prove `unbroadcast`/`ones_like` away. "
            "Every gradient was checked against gradgen's (`allclose`, rtol 1e-6) before timing; "
            "a disagreement is marked **MISMATCH**."
        )
        out.append("")
        header = ["workload"] + [labels[t] for t in tools]
        body = [[r["label"]] + [_cell(r["tools"].get(t, {}), t, r.get("reference")) for t in tools] for r in rows]
        out += [_table(header, body), ""]
        out += ["### gradgen against the forward pass and the hand-written gradient", "",
                "`grad/fwd`: gradient time over the forward pass alone. `/hand`: over the hand-written "
                "gradient, from the medians (goal: ≤ 1.10×) and from the fastest round of each "
                "(`best`, the least disturbed by other processes).", ""]
        header = ["workload", "gradgen grad/fwd", "gradgen / hand", "(best)", "≤ 1.1×?",
                  "shapes grad/fwd", "shapes / hand", "(best)", "≤ 1.1×?"]
        body = []
        for r in rows:
            cells = [r["label"]]
            for t in ("gradgen", "gradgen+shapes"):
                ratios = _baseline_ratios(r, t)
                gh = ratios["over_hand"]
                cells += [fmt_ratio(ratios["over_forward"]), fmt_ratio(gh), fmt_ratio(ratios["over_hand_best"]),
                          "—" if gh is None else ("yes" if gh <= 1.1 else "**no**")]
            body.append(cells)
        out += [_table(header, body), ""]
        loads = [x for r in rows for x in (r.get("loadavg_1min") or []) if x is not None]
        if loads:
            out += [f"1-minute load average while timing: {min(loads):.1f} to {max(loads):.1f} on "
                    f"{m['cores']} cores" + (" (other processes were running: large, memory-bound "
                    "workloads are the most affected; interleaved rounds keep the ratios fairer than "
                    "the absolute times)" if max(loads) > 1.2 else "") + ".", ""]
        bad = [
            (r["label"], t, r["tools"][t].get("mismatch"), r.get("reference"))
            for r in rows
            for t in tools
            if r["tools"].get(t, {}).get("agrees") is False
        ]
        if bad:
            out += ["**GRADIENTS THAT DISAGREE:**", ""]
            out += [f"- **{labels[t]} on {w}: {msg} (against {ref})**" for w, t, msg, ref in bad]
            out.append("")
        else:
            checked = sum(1 for r in rows for t in tools if r["tools"].get(t, {}).get("agrees") is True)
            refs = sorted({peers.LABELS[r["reference"]] for r in rows if r.get("reference")})
            worst = max(
                [r["tools"][t].get("max_rel_err") or 0 for r in rows for t in tools if r["tools"].get(t, {}).get("agrees")]
                or [0]
            )
            out += [f"All {checked} gradients checked agree with the reference ({' / '.join(refs) or 'none'}; "
                    f"largest relative error {worst:.1e}).", ""]
        if any(r.get("reference") not in (None, "gradgen") for r in rows):
            out += ["**gradgen did not run on every workload; where it did not, the peers were checked "
                    "against the hand-written gradient instead.**", ""]
        out += ["Sizes and what is differentiated:", ""]
        out += [f"- {r['label']}: `{r['function']}`, {r['size']}" + (f"; {r['notes']}" if r["notes"] else "") for r in rows]
        out.append("")
        jit = [(r["label"], r["tools"]["jax.jit"].get("setup_s")) for r in rows if r["tools"].get("jax.jit", {}).get("setup_s")]
        gen = [(r["label"], r["tools"]["gradgen"].get("setup_s")) for r in rows if r["tools"].get("gradgen", {}).get("setup_s")]
        costs = []
        if gen:
            costs.append("gradgen generate + compile " + ", ".join(f"{fmt_time(s)} ({w})" for w, s in gen))
        if jit:
            costs.append("jax.jit compile " + ", ".join(f"{fmt_time(s)} ({w})" for w, s in jit))
        if costs:
            out += ["One-time costs, not in the times above: " + "; ".join(costs) + ".", ""]
        summ = res.get("runtime_summary") or []
        if summ:
            out += ["### Summary against gradgen", "",
                    "Ratio = tool time / gradgen time over the workloads above (> 1: gradgen faster).", ""]
            srows = []
            for s in summ:
                if s["status"] != "ok":
                    srows.append([labels[s["tool"]], s["status"], "", "", "", ""])
                    continue
                srows.append([
                    labels[s["tool"]],
                    fmt_ratio(s["geomean_ratio"]),
                    f"{fmt_ratio(s['min_ratio'])} ({s['min_at']})",
                    f"{fmt_ratio(s['max_ratio'])} ({s['max_at']})",
                    f"{s['gradgen_faster_in']} of {s['workloads']}",
                    str(s["mismatches"]),
                ])
            out += [_table(["tool", "geometric mean", "lowest", "highest", "gradgen faster in", "mismatches"], srows), ""]

    # --- generation
    gen = res.get("generation")
    if gen is not None:
        out += ["## Generation time", "",
                "`gradgen.source(func, wrt)` end to end (parse, transform, simplify, emit, black), "
                "in one process: the first call (which pays one-time loading) and the median of warm calls.", ""]
        grows = []
        for g in gen:
            if g.get("status") != "ok":
                grows.append([g["function"], ", ".join(map(str, g.get("wrt", []))), short(g["status"]), "", ""])
            else:
                grows.append([g["function"], ", ".join(map(str, g["wrt"])), fmt_time(g["first_s"]), fmt_time(g["median_s"]), str(g["output_lines"])])
        out += [_table(["function", "wrt", "first call", "median", "output lines"], grows), ""]
    sc = res.get("scaling")
    if sc is not None:
        out += ["### Scaling with function size", "",
                "Straight-line functions of N elementwise statements such as `v7 = np.sin(v6) * v3 + v1` "
                "(each reads the previous one; `python -m bench.gen_scaling N --show` prints one), "
                "gradient w.r.t. three arguments, timed with `gradgen.source_from_text` in a fresh "
                "process after a warm-up generation.", ""]
        srows = []
        for r in sc["rows"]:
            if r.get("status") != "ok":
                srows.append([str(r["statements"]), short(r["status"]), "", ""])
            else:
                srows.append([str(r["statements"]), fmt_time(r["median_s"]), fmt_time(r["per_statement_s"]), str(r["output_lines"])])
        out += [_table(["statements", "median", "per statement", "output lines"], srows), ""]
        out += [f"Fitted growth on log-log axes: time ∝ N^k with **k = "
                f"{'n/a' if sc['exponent'] is None else format(sc['exponent'], '.2f')}**: {sc['growth']}.", ""]

    # --- import
    imp = res.get("import")
    if imp is not None:
        out += ["## Import-time decorator", ""]
        if imp.get("status") != "ok":
            out += [f"{imp['status']}", ""]
        else:
            out += render_import(imp["result"]) + [""]

    # --- memory
    mem = res.get("memory")
    if mem is not None:
        out += ["## Peak memory", "",
                "Traced peak (`tracemalloc`; NumPy reports its buffers) above what was allocated "
                "before the call: temporaries plus the result. Inputs are not counted.", ""]
        mrows = []
        for r in mem:
            cells = [r["label"], fmt_bytes(r["input_bytes"])]
            for t in memory.TOOLS:
                e = r.get(t, {})
                cells.append(fmt_bytes(e["peak_bytes"]) if "peak_bytes" in e else short(e.get("status", "—")))
            for t in memory.TOOLS[1:]:
                cells.append(fmt_ratio(r.get(t, {}).get("ratio_to_forward")))
            mrows.append(cells)
        out += [_table(["workload", "inputs"] + [labels[t] for t in memory.TOOLS]
                       + [f"{labels[t]} / fwd" for t in memory.TOOLS[1:]], mrows), ""]
        out += ["The loop example (a gradient through a 10,000-step Python `for` loop, "
                "`examples/recurrent.py::rnn_loss`) has no hand-written gradient to compare with: "
                "`python bench/loop_memory.py` measures its tape.", ""]

    # --- machine
    out += ["## Machine", ""]
    pv = m["peers"]
    mrows = [
        ["CPU", m["cpu"]],
        ["cores", str(m["cores"])],
        ["memory", str(m["memory"])],
        ["OS", m["os"]],
        ["Python", m["python"]],
        ["NumPy", f"{m['numpy']} ({m['blas']})" if m.get("blas") else m["numpy"]],
        ["gradgen", f"{m['gradgen']} (commit {m['commit']})"],
    ] + [[k, v or "not installed"] for k, v in pv.items()]
    th = res.get("threads") or {}
    setting = res.get("threads_setting", 0)
    mrows.append(["threads in the timings",
                  (f"{setting} (OMP/OpenBLAS/MKL_NUM_THREADS, XLA_FLAGS)" if setting else "library defaults")
                  + (f"; torch.get_num_threads() = {th['torch']}" if "torch" in th else "")])
    mrows.append(["isolation", res.get("isolation", "")])
    out += [_table(["", ""], mrows), ""]

    out += ["## Method", "",
            "- float64 everywhere (JAX with `jax_enable_x64`). Inputs are made once per workload with a "
            "fixed seed; peers get them converted once, outside the timed call "
            "(`torch.from_numpy`, `jax.device_put`).",
            "- The peers run the example's own source: its module globals are copied with `np` "
            "rebound to `autograd.numpy`, `jax.numpy` or a thin NumPy-named shim over `torch`. "
            "PyTorch runs eager on the CPU (forward, then `torch.autograd.grad`); JAX eager is "
            "`jax.grad` without `jit`; `jax.jit` is compiled by a first call that is not timed. "
            "JAX results are waited for with `block_until_ready`.",
            "- Timing: for each tool a `timeit`-style loop whose count grows until one loop takes "
            f"{res['timing']['min_time']} s; then up to {res['timing']['repeats']} rounds (at least 5), "
            "each running every tool's loop once, interleaved, with garbage collection off, so that "
            "background load on the machine hits every tool alike; the median per-call time is reported.",
            "- gradgen's time is its generated gradient, compiled from the module text as a user "
            "would paste it (`gradgen.grad`); generation is not in it.",
            "- Threads: each run-time worker pins NumPy's BLAS, PyTorch and XLA to "
            f"{res.get('threads_setting') or 'their default number of'} thread(s) "
            "(`--threads`). On this shared 2-core machine two-thread PyTorch ran up to 30× "
            "slower on small inputs whenever another process held a core (its OpenMP threads "
            "wait for each other), so one thread gives numbers that repeat; NumPy's "
            "elementwise operations are single-threaded either way.",
            "- Each full-run workload is timed in a fresh worker process, so nothing a large "
            "workload leaves behind (allocator state, thread pools) slows a small one.",
            "- Large workloads (n = 1e7, 3200x3200) are memory-bound: every array over 32 MiB is a "
            "fresh `mmap` from glibc, so each temporary pays its page faults (and huge-page "
            "compaction) again on every call. Code that allocates more temporaries is hit harder "
            "and more erratically there, which is why gradgen's spread on those rows is wide.",
            ""]
    errors = collect_errors(res)
    if errors:
        out += ["## Errors", "", "Full text of every error shortened in the tables above:", ""]
        out += [f"- {where}: `{' '.join(msg.split())}`" for where, msg in errors]
        out.append("")
    if res.get("plot_note"):
        out += [f"Chart: {res['plot_note']}.", ""]
    return "\n".join(out)


def _baseline_ratios(row: dict, tool: str) -> dict:
    """``tool``'s time over the forward pass and over the hand-written gradient (median and best)."""
    t = row["tools"].get(tool, {})
    f = row["tools"].get("forward", {})
    h = row["tools"].get("handwritten", {})

    def div(a, b):
        return a / b if a and b else None

    return {
        "over_forward": div(t.get("median_s"), f.get("median_s")),
        "over_hand": div(t.get("median_s"), h.get("median_s")),
        "over_hand_best": div(t.get("min_s"), h.get("min_s")),
    }


def collect_errors(res: dict) -> list[tuple[str, str]]:
    """(where, message) of every error status in the results, deduplicated by message."""
    found, seen = [], set()

    def add(where, status):
        if isinstance(status, str) and "error" in status and status not in seen:
            seen.add(status)
            found.append((where, status))

    for r in res.get("runtime") or []:
        for t, e in r["tools"].items():
            add(f"run time, {peers.LABELS[t]}, {r['label']}", e.get("status"))
    for g in res.get("generation") or []:
        add(f"generation, {g['function']}", g.get("status"))
    for r in (res.get("scaling") or {}).get("rows", []):
        add(f"scaling, {r['statements']} statements", r.get("status"))
    add("import", (res.get("import") or {}).get("status"))
    for r in res.get("memory") or []:
        for t in memory.TOOLS:
            add(f"memory, {t}, {r['label']}", r.get(t, {}).get("status"))
    return found


def render_import(result: dict) -> list[str]:
    """A table for bench_import's dict (its known keys), else rows of dicts, else JSON."""
    known = ("gradgen_import_s", "cold_total_s", "cold_per_function_s", "warm_total_s",
             "warm_per_function_s", "warm_marginal_per_function_s")
    if all(isinstance(result.get(k), (int, float)) for k in known):
        r = result
        n = r.get("functions", "?")
        lines = [
            f"`python bench/bench_import.py`: a module of {n} `@differentiable` functions imported in "
            f"fresh processes, minus the same module undecorated (which takes "
            f"{fmt_time(r.get('baseline_import_s'))}); medians of {r.get('runs')} warm and "
            f"{r.get('cold_runs')} cold runs.",
            "",
            _table(
                ["", "total", "per function"],
                [
                    ["import gradgen only", fmt_time(r["gradgen_import_s"]), ""],
                    ["cold (empty cache: generates)", fmt_time(r["cold_total_s"]), fmt_time(r["cold_per_function_s"])],
                    ["warm (cache filled)", fmt_time(r["warm_total_s"]), fmt_time(r["warm_per_function_s"])],
                    ["warm, less the gradgen import", "", fmt_time(r["warm_marginal_per_function_s"])],
                ],
            ),
        ]
        if "goal_warm_per_function_s" in r:
            lines += ["", f"Goal: warm import under {fmt_time(r['goal_warm_per_function_s'])} per function: "
                      + ("**met**." if r.get("goal_met") else "**not met**.")]
        if r.get("warm_imports_heavy"):
            lines += ["", "**Warning: a warm import loaded " + ", ".join(r["warm_imports_heavy"]) + ".**"]
        if r.get("cache_entries_after_cold") not in (None, n):
            lines += ["", f"**Warning: {r['cache_entries_after_cold']} cache entries after a cold import, expected {n}.**"]
        return lines
    rows = None
    for key in ("rows", "functions", "results"):
        if isinstance(result.get(key), list) and result[key] and isinstance(result[key][0], dict):
            rows = result[key]
            break
    lines = []
    if rows:
        keys = list(dict.fromkeys(k for r in rows for k in r))
        body = []
        for r in rows:
            cells = []
            for k in keys:
                v = r.get(k)
                if isinstance(v, float) and (k.endswith("_s") or "time" in k):
                    cells.append(fmt_time(v))
                elif isinstance(v, float):
                    cells.append(f"{v:.3g}")
                else:
                    cells.append("" if v is None else str(v))
            body.append(cells)
        lines += [_table(keys, body)]
        rest = {k: v for k, v in result.items() if v is not rows}
        if rest:
            lines += ["", "```json", json.dumps(rest, indent=2, default=str), "```"]
    else:
        lines += ["```json", json.dumps(result, indent=2, default=str), "```"]
    return lines


def _clean(obj):
    """JSON-safe: non-finite floats to None, tuples to lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return _clean(obj.item())
    return obj


# -- driver -----------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats (< 1 min)")
    mode.add_argument("--tiny", action="store_true", help="smallest sizes, for the smoke test")
    p.add_argument("--out", type=Path, default=None,
                   help="output directory (default: bench/ for a full run, a new temp dir otherwise)")
    p.add_argument("--only", default="", help="comma-separated substrings of workload keys to run")
    p.add_argument("--peers", default="all",
                   help="'all', 'none', or a comma-separated list of: " + ", ".join(peers.PEERS))
    p.add_argument("--skip", default="", help="comma-separated steps to skip: " + ", ".join(STEPS))
    p.add_argument("--threads", type=int, default=1,
                   help="threads for NumPy's BLAS, PyTorch and XLA in the run-time workers "
                        "(default 1; 0 keeps each library's default)")
    p.add_argument("--in-process", action="store_true",
                   help="time the workloads in this process instead of worker subprocesses "
                        "(no thread pinning of BLAS; for tests)")
    p.add_argument("--render", type=Path, default=None, metavar="RESULTS_JSON",
                   help="only rewrite results.md (and results.png) next to RESULTS_JSON from it")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # KEY,KEY: run those, write JSON
    p.add_argument("--worker-out", type=Path, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def thread_env(threads: int) -> dict:
    """The environment of a run-time worker: every library pinned to ``threads`` threads."""
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "0"
    if threads > 0:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
        xla = "true" if threads > 1 else "false"
        env["XLA_FLAGS"] = (
            env.get("XLA_FLAGS", "")
            + f" --xla_cpu_multi_thread_eigen={xla} intra_op_parallelism_threads={threads}"
        ).strip()
    return env


def _pin_in_process(threads: int) -> None:
    """Pin what can still be pinned after NumPy is loaded (PyTorch; XLA before jax loads)."""
    if threads <= 0:
        return
    if "jax" not in sys.modules:
        os.environ.update({k: v for k, v in thread_env(threads).items() if k == "XLA_FLAGS"})
    if peers.version("torch"):
        try:
            import torch

            torch.set_num_threads(threads)
        except Exception:  # noqa: BLE001
            pass


def _threads_info() -> dict:
    info = {}
    try:
        import torch

        info["torch"] = torch.get_num_threads()
    except Exception:  # noqa: BLE001
        pass
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "XLA_FLAGS"):
        if os.environ.get(var):
            info[var] = os.environ[var]
    return info


def run_worker(args, mode: str, tools: list[str]) -> None:
    """Worker subprocess: time the workloads named in ``--worker``, write their rows as JSON."""
    keys = args.worker.split(",")
    by_key = {w.key: w for w in workloads.workloads(mode)}
    _pin_in_process(args.threads)
    rows = [run_workload(by_key[k], tools, TIMING[mode]) for k in keys]
    payload = {"rows": rows, "threads": _threads_info()}
    args.worker_out.write_text(json.dumps(_clean(payload)))


def run_runtime(selected, tools, mode: str, args) -> tuple[list[dict], dict]:
    """Rows of the run-time table, and the thread settings the timings ran under.

    Full runs time each workload in a fresh worker process (no state carried from
    a large workload to a small one); quick and tiny runs use one worker for all.
    """
    timing = TIMING[mode]
    if args.in_process:
        _pin_in_process(args.threads)
        return [run_workload(w, tools, timing) for w in selected], _threads_info()
    groups = [[w] for w in selected] if mode == "full" else [selected]
    rows, threads = [], {}
    for group in groups:
        keys = ",".join(w.key for w in group)
        with tempfile.TemporaryDirectory(prefix="gradgen-bench-worker-") as tmp:
            out = Path(tmp) / "rows.json"
            cmd = [sys.executable, "-m", "bench.run", "--worker", keys, "--worker-out", str(out),
                   "--threads", str(args.threads), "--peers", ",".join(t for t in tools if t in peers.PEERS) or "none"]
            if mode != "full":
                cmd.append(f"--{mode}")
            try:
                proc = subprocess.run(cmd, cwd=ROOT, env=thread_env(args.threads), timeout=900)
                code = proc.returncode
            except subprocess.TimeoutExpired:
                code = "timeout (900 s)"
            if code == 0 and out.exists():
                payload = json.loads(out.read_text())
                rows += payload["rows"]
                threads = payload["threads"]
                continue
        for w in group:  # the worker died: record it, go on
            log(f"    worker for {w.key} failed ({code})")
            rows.append({
                "key": w.key, "label": w.label, "function": f"{w.module.split('.')[-1]}.{w.function}",
                "size": w.size, "wrt": list(w.wrt), "notes": w.notes, "reference": None,
                "tools": {t: {"status": f"error: worker process failed ({code})"} for t in tools},
            })
    return rows, threads


def main(argv=None) -> dict:
    args = parse_args(argv)
    mode = "quick" if args.quick else "tiny" if args.tiny else "full"
    if args.peers == "all":
        chosen_peers = list(peers.PEERS)
    elif args.peers == "none":
        chosen_peers = []
    else:
        chosen_peers = [s.strip() for s in args.peers.split(",") if s.strip()]
        bad = set(chosen_peers) - set(peers.PEERS)
        if bad:
            raise SystemExit(f"unknown peer(s): {', '.join(sorted(bad))}")
    tools = list(peers.OURS) + [t for t in peers.PEERS if t in chosen_peers]
    if args.worker:
        run_worker(args, mode, tools)
        return {}
    if args.render:
        res = json.loads(args.render.read_text())
        out_dir = args.render.parent
        if res.get("runtime"):
            from bench import plot as plot_mod

            note = plot_mod.plot(
                res["runtime"], res["tools"], peers.LABELS, out_dir / "results.png",
                f"gradgen gradient run time vs peers ({res['mode']} run; {res['machine']['cpu']}, "
                f"{res['machine']['cores']} cores)",
            )
            res["plot_note"] = note.replace(str(out_dir / "results.png"), "`results.png`")
        (out_dir / "results.md").write_text(render_markdown(res))
        log(f"rendered {out_dir / 'results.md'} from {args.render}")
        return res

    started = time.perf_counter()
    if args.out is None:
        out_dir = HERE if mode == "full" else Path(tempfile.mkdtemp(prefix=f"gradgen-bench-{mode}-"))
    else:
        out_dir = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = skip - set(STEPS)
    if unknown:
        raise SystemExit(f"unknown step(s) in --skip: {', '.join(sorted(unknown))}")
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    selected = [w for w in workloads.workloads(mode) if not only or any(s in w.key for s in only)]
    timing = TIMING[mode]

    command = "python -m bench.run" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    log(f"gradgen benchmark, mode {mode}, output to {out_dir}")
    res = {
        "mode": mode,
        "command": command.strip(),
        "tools": tools,
        "timing": timing,
        "threads_setting": args.threads,
        "isolation": "in-process" if args.in_process else
                     ("one worker process per workload" if mode == "full" else "one worker process"),
        "machine": machine_info(),
    }

    res["step_s"] = steps = {}
    mark = time.perf_counter()

    def done(step):
        nonlocal mark
        now = time.perf_counter()
        steps[step] = now - mark
        mark = now

    if "runtime" not in skip:
        res["runtime"], res["threads"] = run_runtime(selected, tools, mode, args)
        res["runtime_summary"] = runtime_summary(res["runtime"], tools)
        done("runtime")
    if "generation" not in skip:
        log("[generation] seed functions")
        fns = workloads.SEED_FUNCTIONS
        if only:
            fns = [f for f in fns if any(s.split("-")[0] in f[1] for s in only)] or fns[:1]
        res["generation"] = gen_scaling.seed_functions(fns, repeats=5 if mode == "full" else 2, log=log)
        done("generation")
    if "scaling" not in skip:
        log("[scaling] straight-line functions")
        res["scaling"] = gen_scaling.scaling(
            SCALING_SIZES[mode], timeout_s=SCALING_TIMEOUT[mode],
            repeats={"full": 5, "quick": 1, "tiny": 1}[mode], log=log,
        )
        done("scaling")
    if "import" not in skip:
        log("[import] bench/bench_import.py")
        res["import"] = run_import_bench(mode)
        log(f"    {res['import']['status']}")
        done("import")
    if "memory" not in skip:
        log("[memory] tracemalloc peaks")
        mws = workloads.memory_workloads(mode)
        res["memory"] = [memory.measure(w, log=log) for w in mws]
        done("memory")

    res["wall_s"] = time.perf_counter() - started
    if "plot" not in skip and res.get("runtime"):
        res["plot_note"] = __import__("bench.plot", fromlist=["plot"]).plot(
            res["runtime"], tools, peers.LABELS, out_dir / "results.png",
            f"gradgen gradient run time vs peers ({mode} run; {res['machine']['cpu']}, {res['machine']['cores']} cores)",
        )
        log(f"[plot] {res['plot_note']}")
        res["plot_note"] = res["plot_note"].replace(str(out_dir / "results.png"), "`results.png`")
    res["wall_s"] = time.perf_counter() - started
    (out_dir / "results.json").write_text(json.dumps(_clean(res), indent=1, allow_nan=False) + "\n")
    (out_dir / "results.md").write_text(render_markdown(res))
    log(f"done in {res['wall_s']:.0f} s: {out_dir / 'results.md'}")
    res["out_dir"] = str(out_dir)
    return res


if __name__ == "__main__":
    main()
    sys.exit(0)
