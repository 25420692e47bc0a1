"""The program fuzzer (issue 10): a fixed-seed batch, the regressions, and the
fuzzer's own machinery (generator, oracles, shrinker, runner).

``test_fixed_seed_batch`` and ``test_hypothesis_programs`` fail on any
``wrong``, ``crash`` or ``timeout``: they are real checks of gradgen, not
smoke tests.  ``make fuzz`` runs the same checks on many more programs.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings

from tests.fuzz import shrink as shrink_module
from tests.fuzz.case import Case, program_case, read_case, write_case
from tests.fuzz.grammar import CONSTRUCTS
from tests.fuzz.oracles import FAILURES, Result, evaluate
from tests.fuzz.runner import run
from tests.fuzz.strategies import programs

REGRESSIONS = sorted((Path(__file__).parent / "fuzz" / "regressions").glob("*.py"))
BATCH = int(os.environ.get("FUZZ_SUITE_N", "24"))
SEED = int(os.environ.get("FUZZ_SUITE_SEED", "0"))


def _report(findings) -> str:
    parts = []
    for f in findings:
        case = Case.from_dict(f["case"])
        parts.append(f"--- {f['kind']} ({case.origin})\n{f['result']['message']}\n"
                     f"wrt={case.wrt} args={case.args}\n{case.source}")
    return "\n".join(parts)


# ------------------------------------------------------------------ gradgen


def test_fixed_seed_batch():
    """BATCH generated programs (seed SEED) through every mode and oracle."""
    summary = run(n=BATCH, seed=SEED, jobs=min(os.cpu_count() or 1, 4), timeout=20.0,
                  out=None, shrink=False, shrink_per_kind=1, quiet=True)
    statuses = summary["statuses"]
    assert statuses["invalid"] == 0, summary["errors"]
    assert statuses["pass"] + statuses["refused"] + statuses["undecided"] >= 1
    bad = {k: v for k, v in statuses.items() if k in FAILURES and v}
    assert not bad, (f"fuzz batch (seed {SEED}, {BATCH} programs): {bad}; one program per "
                     f"failure kind:\n" + _report(summary["findings"]))


@settings(max_examples=int(os.environ.get("FUZZ_SUITE_HYPOTHESIS", "6")), deadline=None,
          database=None, derandomize=True, phases=(Phase.explicit, Phase.generate),
          suppress_health_check=list(HealthCheck))
@given(programs())
def test_hypothesis_programs(case):
    """The same oracles on hypothesis-drawn programs (derandomized; no shrinking
    in the suite: `make fuzz` shrinks)."""
    result = evaluate(case, timeout=20)
    assert result.status not in FAILURES, (
        f"{result.kind}\n{result.message}\nwrt={case.wrt} args={case.args}\n{case.source}")


@pytest.mark.parametrize("path", REGRESSIONS, ids=[p.stem for p in REGRESSIONS])
def test_regression(path):
    """Each file of tests/fuzz/regressions/ (a shrunk finding) passes every oracle
    (a refusal with a located error is also fine: it is not silent)."""
    case, namespace = read_case(path)
    result = evaluate(case, timeout=60)
    assert result.status in ("pass", "refused"), (
        f"{path.name} (found as {namespace.get('STATUS')} {namespace.get('CHECK')}): "
        f"{result.kind}\n{result.message}\n"
        + "\n".join(f"  {m}: {r.status} {r.check}" for m, r in result.modes.items()))


# ------------------------------------------------------------------ the fuzzer itself


def test_generated_programs_are_valid_and_use_every_construct():
    used = Counter()
    for index in range(400):
        case = program_case(12345, index)
        used.update(case.constructs)
        result = evaluate(case, modes=())  # the program alone: runs, finite, no aliasing
        assert result.status == "pass", f"program {index}: {result.message}\n{case.source}"
    unused = [c.name for c in CONSTRUCTS if c.kind != "flag" and not used[c.name]]
    assert not unused, f"constructs never generated: {unused}"


def test_the_oracle_passes_a_right_gradient_and_is_undecided_at_a_kink():
    text = "import numpy as np\n\n\ndef f(x, y):\n    return np.sum(np.sin(x) * y), x * y\n"
    rng = np.random.default_rng(0)
    good = Case(text, {"x": rng.standard_normal(3), "y": rng.standard_normal(3)}, ("x", "y"))
    result = evaluate(good)
    assert result.status == "pass", result.message
    assert {m for m, r in result.modes.items() if r.status == "pass"} >= {
        "reverse", "raw", "preserve", "forward", "callback", "hvp"}
    kink = Case("import numpy as np\n\n\ndef f(x):\n    return np.sum(np.abs(x))\n",
                {"x": np.array([3e-6, 0.5])}, ("x",))
    result = evaluate(kink, modes=("reverse",))
    assert result.modes["reverse"].status == "undecided", result.modes["reverse"]


def test_programs_whose_meaning_depends_on_aliasing_are_invalid():
    text = "import numpy as np\n\n\ndef f(u):\n    z = u\n    z -= 1.0\n    return u\n"
    result = evaluate(Case(text, {"u": np.ones(3)}, ("u",)))
    assert result.status == "invalid" and "aliasing" in result.message


def test_case_files_round_trip(tmp_path):
    case = program_case(7, 3)
    path = tmp_path / "wrong_x.py"
    write_case(path, case, "wrong", "reverse/fd", "wrong:reverse/fd | x", "a '''quoted''' message")
    again, namespace = read_case(path)
    assert again.source == case.source and again.wrt == case.wrt
    assert again.oracle_seed == case.oracle_seed and namespace["STATUS"] == "wrong"
    for name, value in case.args.items():
        assert np.array_equal(again.args[name], value) and type(again.args[name]) is type(value)


def test_the_shrinker_keeps_the_failure_and_removes_the_rest(monkeypatch):
    """With a fake oracle that 'crashes' on np.cosh, shrinking a big program that
    uses np.cosh leaves a program of a few lines that still uses it."""
    case = next(c for c in (program_case(5, i) for i in range(300))
                if "np.cosh" in c.source and c.size() > 12)

    def fake(candidate, modes=(), timeout=None):
        from tests.fuzz.oracles import Invalid, ModeResult, _Program

        try:
            _Program(candidate)
        except Invalid as exc:
            return Result("invalid", {}, "program/invalid", str(exc))
        status = "crash" if "np.cosh" in candidate.source else "pass"
        return Result(status, {"reverse": ModeResult(status, "reverse/run", "Boom: x")},
                      "reverse/run", "Boom: x")

    monkeypatch.setattr(shrink_module, "evaluate", fake)
    small, result, evals = shrink_module.shrink(case, fake(case), budget_s=30)
    assert "np.cosh" in small.source and result.status == "crash"
    assert small.size() <= 5 < case.size(), small.source


def test_the_runner_survives_hangs_and_dying_workers():
    def program(body):
        return Case("import numpy as np\nimport os\nimport signal\n\n\ndef f(x):\n" + body,
                    {"x": np.array([0.5, 1.5])}, ("x",))

    cases = [
        program("    return np.sum(x * x)\n"),
        program("    while True:\n        x = x + 1.0\n    return np.sum(x)\n"),  # the alarm
        program("    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])\n"
                "    while True:\n        x = x + 1.0\n    return np.sum(x)\n"),  # the hard kill
        program("    os._exit(3)\n    return np.sum(x)\n"),  # the worker dies
        program("    return np.sum(x * x)\n"),
    ]
    summary = run(cases=cases, jobs=2, timeout=1.0, grace=1.0, out=None, shrink=False,
                  quiet=True)
    assert summary["statuses"]["pass"] == 2, summary["statuses"]
    assert summary["statuses"]["timeout"] == 2, summary["statuses"]
    assert summary["statuses"]["crash"] == 1, summary["statuses"]
