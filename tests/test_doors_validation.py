"""Options are validated at the doors, and deep code is no RecursionError (issue #15).

* ``wrt=1.5``, ``wrt=None``, ``shapes={"x": 3}``, shapes naming no
  parameter, malformed shape strings: a :class:`UsageError` from every door
  (API, decorator, ``[tool.gradgen]`` with its location in the file).
* Code that Python compiles is differentiated however deep it nests (sums of
  1,000 terms, 150 nested calls), or refused with a located
  ``UnsupportedSyntaxError``; never a ``RecursionError``.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np
import pytest

import gradgen
from gradgen import runner
from gradgen.decorator import differentiable
from gradgen.errors import GradgenError, UnsupportedSyntaxError, UsageError
from tests.test_cli import run


def f(x, c=0.0):
    return np.sum(np.sin(x) * x) + c


TEXT = "import numpy as np\n\n\ndef f(x, c=0.0):\n    return np.sum(np.sin(x) * x) + c\n"

BAD_OPTIONS = [
    ({"wrt": 1.5}, "wrt=1.5"),
    ({"wrt": None}, "wrt=None"),
    ({"wrt": True}, "wrt=True"),
    ({"wrt": ["x", 1.0]}, "1.0"),
    ({"wrt": ()}, "empty"),
    ({"wrt": "z"}, "'z' is not a parameter"),
    ({"wrt": 7}, "out of range"),
    ({"shapes": {"x": 3}}, "shapes['x']: 3 is not a string"),
    ({"shapes": {"z": "n"}}, "'z', which is not a parameter"),
    ({"shapes": {"x": "n,,("}}, "empty dimension"),
    ({"shapes": {"x": "n ("}}, "'(' is not a size"),
    ({"shapes": {"x": "n+1"}}, "'n+1' is not a size"),
    ({"shapes": ["x"]}, "not a dict"),
    ({"shapes": {1: "n"}}, "1 is not a parameter name"),
    ({"preserve_result": "yes"}, "preserve_result='yes'"),
    ({"simplify": None}, "simplify=None"),
]


@pytest.mark.parametrize("options, message", BAD_OPTIONS, ids=[m for _, m in BAD_OPTIONS])
@pytest.mark.parametrize("door", ["source", "source_from_text", "grad", "decorator"])
def test_bad_options_are_usage_errors(door, options, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace("[", r"\[")
                       .replace("+", r"\+")):
        if door == "source":
            gradgen.source(f, **options)
        elif door == "source_from_text":
            gradgen.source_from_text(TEXT, "f", **options)
        elif door == "grad":
            gradgen.grad(f, **options)
        else:
            differentiable(**options)(f)


@pytest.mark.parametrize("shape", ["", "n", "n d", "n, d", "3 d", "n,", "_ n", "? *"])
def test_good_shape_strings_are_accepted(shape):
    gradgen.source_from_text(TEXT, "f", shapes={"x": shape})


@pytest.mark.parametrize("wrt", [0, "x", (0,), ["x"], (0, "c"), -2])
def test_good_wrt_values_are_accepted(wrt):
    gradgen.source_from_text(TEXT, "f", wrt=wrt)


@pytest.mark.parametrize(
    "table, line, message",
    [
        ('wrt = ["z"]\ntargets = ["m.py::f"]\n', 3, "wrt='z' is not a parameter of f()"),
        ('wrt = 9\ntargets = ["m.py::f"]\n', 3, "wrt=9 is out of range"),
        ('targets = [\n  { target = "m.py::f", wrt = ["z"] },\n]\n', 4,
         "wrt='z' is not a parameter"),
        ('targets = [\n  { target = "m.py::f", shapes = { z = "n" } },\n]\n', 4,
         "shapes names 'z'"),
        ('targets = [\n  { target = "m.py::f", shapes = { x = "n,,(" } },\n]\n', 4,
         "empty dimension"),
        ('wrt = 1.5\ntargets = ["m.py::f"]\n', 3, "invalid wrt entry 1.5"),
    ],
)
def test_bad_options_in_the_table_are_located(tmp_path, table, line, message):
    (tmp_path / "m.py").write_text(TEXT, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.gradgen]\noutput = "gen"\n' + table, encoding="utf-8"
    )
    for command in ("generate", "check"):
        proc = run(command, cwd=tmp_path, check_rc=2)
        first = proc.stderr.splitlines()[0]
        assert first.startswith(f"pyproject.toml:{line}:"), proc.stderr
        assert message in first, proc.stderr
    assert not (tmp_path / "gen").exists()


def test_a_wrt_flag_naming_no_parameter_is_not_blamed_on_the_table(tmp_path):
    (tmp_path / "m.py").write_text(TEXT, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.gradgen]\nwrt = ["x"]\ntargets = ["m.py::f"]\n', encoding="utf-8"
    )
    proc = run("generate", "--wrt", "z", cwd=tmp_path, check_rc=2)
    assert not proc.stderr.startswith("pyproject.toml"), proc.stderr
    assert "wrt='z'" in proc.stderr


# -- deep code -------------------------------------------------------------------

def _sum_of(n: int) -> str:
    return "import numpy as np\n\n\ndef f(x):\n    return " + " + ".join(
        f"x * {i}.0" for i in range(n)) + "\n"


def _nested(n: int) -> str:
    return ("import numpy as np\n\n\ndef f(x):\n    return np.sum("
            + "np.sin(" * n + "x" + ")" * n + ")\n")


def _run_generated(module: str, name: str = "grad_f"):
    namespace: dict = {}
    exec(compile(module, "<generated>", "exec"), namespace)
    return namespace[name]


def test_a_sum_of_1000_terms_is_differentiated():
    text = _sum_of(1000)
    compile(text, "<deep>", "exec")  # Python compiles it
    grad = _run_generated(gradgen.source_from_text(text, "f"))
    x = np.array([0.5, -1.0])
    np.testing.assert_allclose(grad(x, np.ones(2)), np.full(2, sum(range(1000))), rtol=1e-12)
    assert sys.getrecursionlimit() < runner.RECURSION_LIMIT  # restored


def test_150_nested_calls_are_differentiated():
    text = _nested(150)
    compile(text, "<deep>", "exec")
    grad = _run_generated(gradgen.source_from_text(text, "f"))
    x = np.array([0.3])
    value, expected = x.copy(), np.ones(1)
    for _ in range(150):
        expected = expected * np.cos(value)
        value = np.sin(value)
    np.testing.assert_allclose(grad(x), expected, rtol=1e-10)


def test_a_chain_of_5000_terms_is_refused_cleanly_and_quickly():
    """Python itself does not compile it at the default recursion limit (nor
    could it import its gradient): a located refusal, in about a second."""
    text = "import numpy as np\n\n\ndef f(x, y):\n    return " + " * ".join(
        ["x", "y"] * 2500) + "\n"
    with pytest.raises(RecursionError):
        compile(text, "<deep>", "exec")
    start = time.perf_counter()
    with pytest.raises(UnsupportedSyntaxError) as info:
        gradgen.source_from_text(text, "f", filename="chain.py")
    assert time.perf_counter() - start < 30
    assert "Python itself cannot compile it" in info.value.message
    assert info.value.location.line == 5


@pytest.mark.long
def test_a_chain_of_5000_terms_is_differentiated_where_python_compiles_it(monkeypatch):
    """With a recursion limit at which Python compiles it, it is differentiated
    (~2.5 min on 2 cores: the core's normalize.is_static is quadratic in the
    depth); run with --long."""
    text = "import numpy as np\n\n\ndef f(x, y):\n    return " + " + ".join(
        ["x", "y"] * 2500) + "\n"
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(4000)
    try:
        compile(text, "<deep>", "exec")
        grad = _run_generated(gradgen.source_from_text(text, "f"))
    finally:
        sys.setrecursionlimit(old)
    assert grad(1.0, 2.0) == pytest.approx(2500.0)


@pytest.mark.slow  # deep code through two more doors (subprocess); make test-all
def test_deep_code_through_the_decorator_and_the_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "deep.py").write_text(_sum_of(1000), encoding="utf-8")
    proc = run("show", "deep.py::f", cwd=tmp_path, check_rc=0)
    assert "def grad_f" in proc.stdout


def test_a_recursion_error_that_still_happens_is_a_located_refusal(monkeypatch):
    """Deeper than even the worker allows (simulated with a low limit):
    an UnsupportedSyntaxError at the deepest statement, no RecursionError."""
    monkeypatch.setattr(runner, "RECURSION_LIMIT", 300)
    monkeypatch.setattr(runner, "DEEP", 10**9)  # first attempt in this thread, too
    text = ("import numpy as np\n\n\ndef f(x):\n    y = np.sin(x)\n    return "
            + " + ".join(f"y * {i}.0" for i in range(400)) + "\n")
    with pytest.raises(UnsupportedSyntaxError) as info:
        gradgen.source_from_text(text, "f", filename="deep.py")
    err = info.value
    assert "too deeply nested" in err.message
    assert err.location is not None
    assert (err.location.filename, err.location.line) == ("deep.py", 6)
    assert err.__context__ is None and err.__cause__ is None
    assert "deep.py:6:5: expression too deeply nested" in err.format()


def test_a_recursion_error_in_the_cli_is_exit_2(tmp_path, monkeypatch, capsys):
    from gradgen import cli

    monkeypatch.setattr(runner, "RECURSION_LIMIT", 300)
    monkeypatch.setattr(runner, "DEEP", 10**9)
    (tmp_path / "deep.py").write_text(_sum_of(400), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["show", "deep.py::f"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("deep.py:5:5: expression too deeply nested"), err
    assert "Traceback" not in err


def test_the_worker_is_only_used_for_deep_code(monkeypatch):
    used = []
    real = runner.in_worker

    def spy(thunk):
        used.append(True)
        return real(thunk)

    monkeypatch.setattr(runner, "in_worker", spy)
    gradgen.source_from_text(TEXT, "f")
    assert used == []
    gradgen.source_from_text(_nested(120), "f")
    assert used == [True]


def test_worker_results_errors_and_reentrancy():
    assert runner.in_worker(lambda: threading.current_thread().name) == "gradgen-generate"
    assert runner.in_worker(lambda: runner.in_worker(lambda: 7)) == 7
    with pytest.raises(GradgenError, match="boom"):
        runner.in_worker(lambda: (_ for _ in ()).throw(GradgenError("boom")))
    limit = sys.getrecursionlimit()
    assert runner.in_worker(sys.getrecursionlimit) == runner.RECURSION_LIMIT
    assert sys.getrecursionlimit() == limit


def test_the_fast_path_costs_next_to_nothing():
    """Ordinary code is generated in the calling thread; the only added cost is
    the depth check (an ast walk), well under a millisecond."""
    text = open(os.path.join(os.path.dirname(gradgen.__file__), os.pardir, "examples",
                             "recurrent.py"), encoding="utf-8").read()
    runner._looks_deep(text)
    start = time.perf_counter()
    for _ in range(20):
        assert not runner._looks_deep(text)
    per_call = (time.perf_counter() - start) / 20
    assert per_call < 0.005, per_call
