"""The chart: time per workload per tool, grouped bars, log scale.

Needs matplotlib (``pip install .[bench]``); without it :func:`plot` returns a
message instead of a file, and the run goes on.
"""

from __future__ import annotations

from pathlib import Path

COLORS = {
    "forward": "#9e9e9e",
    "handwritten": "#4d4d4d",
    "gradgen": "#d62728",
    "gradgen+shapes": "#f4a6a6",
    "autograd": "#1f77b4",
    "jax": "#2ca02c",
    "jax.jit": "#98df8a",
    "torch": "#ff7f0e",
}


def plot(runtime_rows: list[dict], tools: list[str], labels: dict, path: Path, title: str) -> str:
    """Write the chart to ``path``; return a one-line note of what happened."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "plot skipped: matplotlib not installed (pip install .[bench])"

    names = [r["label"] for r in runtime_rows]
    shown = [t for t in tools if any(r["tools"].get(t, {}).get("median_s") for r in runtime_rows)]
    if not names or not shown:
        return "plot skipped: no timings"
    width = 0.8 / len(shown)
    fig, ax = plt.subplots(figsize=(max(9, 1.5 * len(names)), 5.2), dpi=110)
    for k, tool in enumerate(shown):
        xs, ys, bad = [], [], []
        for i, r in enumerate(runtime_rows):
            t = r["tools"].get(tool, {})
            if t.get("median_s"):
                xs.append(i - 0.4 + width * (k + 0.5))
                ys.append(t["median_s"])
                bad.append(t.get("agrees") is False)
        bars = ax.bar(xs, ys, width, label=labels.get(tool, tool), color=COLORS.get(tool), zorder=3)
        for bar, b in zip(bars, bad):
            if b:
                bar.set_hatch("xx")
                bar.set_edgecolor("black")
    ax.set_yscale("log")
    ax.set_ylabel("time per call (s, log scale; median)")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
    ax.grid(axis="y", which="major", alpha=0.4, zorder=0)
    ax.set_title(title, fontsize=10, pad=28)
    ax.legend(fontsize=8, ncol=len(shown), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    note = ""
    if any(r["tools"].get(t, {}).get("agrees") is False for r in runtime_rows for t in shown):
        note = "hatched bars: gradient DISAGREES with gradgen's"
        ax.text(0.99, 0.98, note, transform=ax.transAxes, ha="right", va="top", fontsize=8, color="red")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return f"plot written to {path}"
