"""The checkers never misjudge (issue #15).

* ``check_grads`` passes the output seed so that it cannot land in one of the
  function's own parameters (``def f(w, c=0.0)``).
* ``check_grads`` does not reject a correct gradient of
  ``np.sum(np.sin(x) * x)`` at ``|x| ~ 1e3`` (Richardson extrapolation where
  the plain central difference is in doubt), and still rejects wrong ones.
* ``gradgen verify`` uses parameter defaults (no random ``(3,)`` array for a
  scalar ``l2=0.0``), accepts keyword-only parameters, and a checked function
  that calls ``sys.exit(0)`` does not read as a pass.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gradgen.testing import GradientCheckError, check_dot_product, check_grads
from tests.test_cli import run


def f_with_default(w, c=0.0):
    return np.sum(np.sin(w) * w) + c * np.sum(w)


def df_seed(w, c=0.0, seed=1.0):
    return seed * (np.cos(w) * w + np.sin(w) + c)


def df_named(w, c=0.0, d_out=1.0):
    return d_out * (np.cos(w) * w + np.sin(w) + c)


def df_keyword_only(w, c=0.0, *, seed=1.0):
    return seed * (np.cos(w) * w + np.sin(w) + c)


def df_varargs(*args):
    w, c, seed = args
    return seed * (np.cos(w) * w + np.sin(w) + c)


W = np.array([0.3, -1.2, 2.5, 0.7])


@pytest.mark.parametrize("grad", [None, df_seed, df_named, df_keyword_only, df_varargs],
                         ids=["generated", "seed", "d_out", "keyword-only", "varargs"])
@pytest.mark.parametrize("args", [(W,), (W, 0.5)], ids=["default-c", "given-c"])
def test_the_seed_never_lands_in_a_parameter_with_a_default(grad, args):
    check_grads(f_with_default, args, grad=grad)
    check_dot_product(f_with_default, args, grad=grad)


def test_a_wrong_gradient_with_a_default_parameter_still_fails():
    def wrong(w, c=0.0, seed=1.0):
        return seed * (np.cos(w) * w + c)  # forgot sin(w)

    with pytest.raises(GradientCheckError):
        check_grads(f_with_default, (W,), grad=wrong)


def sin_x(x):
    return np.sum(np.sin(x) * x)


def dsin_x(x, seed=1.0):
    return seed * (np.cos(x) * x + np.sin(x))


def test_correct_gradients_at_large_x_are_never_rejected():
    rng = np.random.default_rng(0)
    for trial in range(150):
        x = rng.uniform(-1e3, 1e3, size=20)
        check_grads(sin_x, (x,), grad=dsin_x, random_state=trial)


def test_the_generated_gradient_at_large_x_passes():
    rng = np.random.default_rng(1)
    for trial in range(5):
        check_grads(sin_x, (rng.uniform(-1e3, 1e3, size=30),), random_state=trial)


@pytest.mark.parametrize("relative", [1e-4, 1e-3])
def test_wrong_gradients_at_large_x_are_still_rejected(relative):
    rng = np.random.default_rng(2)

    def slightly_wrong(x, seed=1.0):
        return dsin_x(x, seed) * (1.0 + relative)

    for trial in range(20):
        x = rng.uniform(-1e3, 1e3, size=20)
        with pytest.raises(GradientCheckError):
            check_grads(sin_x, (x,), grad=slightly_wrong, random_state=trial)


def test_refinement_costs_nothing_when_the_plain_check_passes():
    calls = []

    def counted(x):
        calls.append(1)
        return np.sum(np.sin(x) * x)

    x = np.linspace(-2.0, 2.0, 10)
    check_grads(counted, (x,), grad=dsin_x)
    # one call for the output's shape, two per entry, two for the dot product
    assert len(calls) == 1 + 2 * x.size + 2


# -- gradgen verify -----------------------------------------------------------------

MODEL = """\
import numpy as np


def loss(w, X, y, l2=0.0):
    r = X @ w - y
    return np.sum(r * r) + l2 * np.sum(w * w)


def kwloss(w, X, *, l2=0.0):
    return np.sum((X @ w) ** 2) + l2 * np.sum(w * w)


def bias(w, b=1.5):
    return np.sum(w * b)
"""

MINE = """\
import sys

import numpy as np


def dloss(w, X, y, l2=0.0):
    return 2.0 * X.T @ (X @ w - y) + 2.0 * l2 * w


def dloss_seed(w, X, y, l2=0.0, seed=1.0):
    return seed * (2.0 * X.T @ (X @ w - y) + 2.0 * l2 * w)


def dkwloss(w, X, *, l2=0.0):
    return 2.0 * X.T @ (X @ w) + 2.0 * l2 * w


def dbias(w, b=1.5):
    return np.sum(w) + 0.0 * b


def dbias_w(w, b=1.5):
    return b * np.ones_like(w)


def leaves(w, X, y, l2=0.0):
    sys.exit(0)


def leaves_with_1(w, X, y, l2=0.0):
    sys.exit(1)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "model.py").write_text(MODEL, encoding="utf-8")
    (tmp_path / "mine.py").write_text(MINE, encoding="utf-8")
    return tmp_path


SHAPES = ["--shape", "w=3", "--shape", "X=5,3", "--shape", "y=5"]


@pytest.mark.parametrize("against", ["mine.py::dloss", "mine.py::dloss_seed"])
def test_verify_uses_the_default_of_a_scalar_hyperparameter(project, against):
    proc = run("verify", "model.py::loss", "--against", against, *SHAPES,
               cwd=project, check_rc=0)
    assert "MISMATCH" not in proc.stdout
    assert "l2" in proc.stdout and "default" in proc.stdout  # says what it did


def test_verify_with_a_shape_for_the_hyperparameter_draws_it(project):
    run("verify", "model.py::loss", "--against", "mine.py::dloss", *SHAPES,
        "--shape", "l2=", cwd=project, check_rc=0)


def test_verify_accepts_keyword_only_parameters(project):
    run("verify", "model.py::kwloss", "--against", "mine.py::dkwloss",
        "--shape", "w=3", "--shape", "X=5,3", cwd=project, check_rc=0)


def test_verify_differentiates_a_parameter_with_a_default(project):
    # wrt b: a scalar default gives a scalar input
    run("verify", "model.py::bias", "--against", "mine.py::dbias", "--wrt", "b",
        cwd=project, check_rc=0)
    run("verify", "model.py::bias", "--against", "mine.py::dbias_w",
        cwd=project, check_rc=0)


@pytest.mark.parametrize("against, code", [("mine.py::leaves", "0"),
                                           ("mine.py::leaves_with_1", "1")])
def test_a_checked_function_that_exits_does_not_pass(project, against, code):
    proc = run("verify", "model.py::loss", "--against", against, *SHAPES,
               cwd=project, check_rc=2)
    assert f"sys.exit({code})" in proc.stderr, proc.stderr
    assert proc.stderr.startswith("mine.py:"), proc.stderr  # located in the file


def test_a_module_that_exits_on_import_does_not_pass(project):
    (project / "quits.py").write_text("import sys\nsys.exit(0)\n", encoding="utf-8")
    proc = run("verify", "model.py::loss", "--against", "quits.py::dloss", *SHAPES,
               cwd=project, check_rc=2)
    assert "sys.exit(0)" in proc.stderr
