"""Smoke test of the benchmark harness (bench/): it runs and writes well-formed files.

No timing is asserted: the numbers depend on the machine. Peers are not used.
"""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:  # bench/ and examples/ live at the repository root
    sys.path.insert(0, ROOT)

from bench import gen_scaling, run, workloads  # noqa: E402


def test_tiny_run_writes_results(tmp_path):
    res = run.main(
        [
            "--tiny",
            "--in-process",
            "--only",
            "L2_norm",
            "--peers",
            "none",
            "--skip",
            "scaling,import",
            "--out",
            str(tmp_path),
        ]
    )
    assert res["mode"] == "tiny"
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["tools"] == ["forward", "handwritten", "gradgen", "gradgen+shapes"]
    [row] = data["runtime"]
    assert row["key"].startswith("L2_norm")
    for tool in ("forward", "handwritten"):
        entry = row["tools"][tool]
        assert entry["status"] == "ok"
        assert entry["median_s"] > 0 and entry["repeats"] >= 5
    # gradgen may fail while it is being built; its status is then recorded, not raised.
    assert row["tools"]["gradgen"]["status"]
    assert data["machine"]["cores"] >= 1 and data["machine"]["numpy"] == np.__version__
    assert len(data["memory"]) == 2 and data["generation"]
    md = (tmp_path / "results.md").read_text()
    for heading in ("## Gradient run time", "## Generation time", "## Peak memory", "## Machine"):
        assert heading in md
    assert "| workload |" in md
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # --render rebuilds the report from the JSON alone.
    (tmp_path / "results.md").unlink()
    run.main(["--render", str(tmp_path / "results.json")])
    assert (tmp_path / "results.md").read_text().startswith("# gradgen benchmark results")


def test_missing_peer_is_skipped_not_failed(tmp_path, monkeypatch):
    from bench import peers

    def not_installed(name):
        raise peers.Skipped("skipped (not installed)")

    monkeypatch.setattr(peers, "_import", not_installed)
    res = run.main(
        ["--tiny", "--in-process", "--only", "sin_plus_xy", "--peers", "autograd,torch", "--skip",
         "generation,scaling,import,memory,plot", "--out", str(tmp_path)]
    )
    tools = res["runtime"][0]["tools"]
    assert tools["autograd"]["status"] == "skipped (not installed)"
    assert tools["torch"]["status"] == "skipped (not installed)"
    assert "skipped (not installed)" in (tmp_path / "results.md").read_text()


def test_straight_line_source_is_deterministic_and_valid():
    text = gen_scaling.straight_line_source(10)
    assert text == gen_scaling.straight_line_source(10)
    assert text.count(" = ") == 10
    namespace = {}
    exec(compile(text, "<bench>", "exec"), namespace)
    x = np.linspace(0.1, 1.0, 4)
    assert np.isfinite(namespace["f"](x, x + 1, x - 1))


def test_fit_exponent():
    assert abs(gen_scaling.fit_exponent([(10, 1.0), (100, 10.0), (1000, 100.0)]) - 1.0) < 1e-12
    assert abs(gen_scaling.fit_exponent([(10, 1.0), (100, 100.0)]) - 2.0) < 1e-12
    assert gen_scaling.fit_exponent([(10, 1.0)]) is None


def test_workload_inputs_are_deterministic():
    for w in workloads.workloads("tiny"):
        a, b = w.make_inputs(), w.make_inputs()
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
