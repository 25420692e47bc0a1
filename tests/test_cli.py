"""The ``gradgen`` command line, driven for real: ``python -m gradgen`` in a subprocess.

Every test builds a small project in ``tmp_path`` (a real ``pyproject.toml``
with a ``[tool.gradgen]`` table and a real source file), runs the CLI there,
and looks at exit codes, stdout/stderr and the files it leaves.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the in-process tests import gradgen from the checkout
    sys.path.insert(0, str(ROOT))

SOURCE = """\
import numpy as np


def f(x, y):
    return np.sin(x) * y


def g(x, y):
    s = np.sum(x * y)
    return s
"""

PYPROJECT = """\
[project]
name = "demo"
version = "0"

[tool.gradgen]
output = "gen"
targets = [
    "src/model.py::f",
    { target = "src/model.py::g", wrt = ["x", "y"] },
]
"""


def run(
    *args: str, cwd: Path, check_rc: int | None = None
) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    env.setdefault("GRADGEN_CACHE_DIR", str(cwd / ".gradgen-cache"))
    proc = subprocess.run(
        [sys.executable, "-m", "gradgen", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check_rc is not None:
        assert proc.returncode == check_rc, (
            f"gradgen {' '.join(args)} exited {proc.returncode}, expected {check_rc}\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def load(path: Path) -> dict:
    namespace: dict = {"__name__": "generated"}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
    return namespace


def fix_command(stderr: str) -> list[str]:
    """The command `check` says fixes things, as an argv for this interpreter."""
    lines = stderr.splitlines()
    index = next(i for i, line in enumerate(lines) if "to fix, run:" in line)
    words = shlex.split(lines[index + 1])
    assert words[0] == "gradgen", lines[index + 1]
    return words[1:]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "model.py").write_text(SOURCE, encoding="utf-8")
    return tmp_path


# --------------------------------------------------------------------------
# generate


def test_generate_from_config_writes_one_module_per_source(project: Path):
    proc = run("generate", cwd=project, check_rc=0)
    out = project / "gen" / "model_grad.py"
    assert out.is_file()
    assert "wrote gen/model_grad.py (2 functions)" in proc.stderr
    text = out.read_text(encoding="utf-8")
    assert text.index("def grad_f") < text.index("def grad_g")  # the order given
    assert str(project) not in text  # no absolute paths: same bytes everywhere
    assert "gradgen generate" in text  # the header quotes the regenerate command

    ns = load(out)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(4), rng.standard_normal(4)
    np.testing.assert_allclose(ns["grad_f"](x, y, np.ones_like(x)), np.cos(x) * y, rtol=1e-12)
    gx, gy = ns["grad_g"](x, y)  # per-target wrt = ["x", "y"]
    np.testing.assert_allclose(gx, y, rtol=1e-12)
    np.testing.assert_allclose(gy, x, rtol=1e-12)


def test_generate_leaves_no_temporary_files_and_skips_unchanged(project: Path):
    run("generate", cwd=project, check_rc=0)
    out = project / "gen" / "model_grad.py"
    assert sorted(p.name for p in out.parent.iterdir()) == ["model_grad.py"]
    os.utime(out, ns=(1_000_000_000, 1_000_000_000))
    proc = run("generate", cwd=project, check_rc=0)
    assert "wrote" not in proc.stderr
    assert "unchanged" in proc.stderr
    assert out.stat().st_mtime_ns == 1_000_000_000  # not rewritten
    assert sorted(p.name for p in out.parent.iterdir()) == ["model_grad.py"]
    proc = run("generate", "--quiet", cwd=project, check_rc=0)
    assert proc.stderr == ""


@pytest.mark.slow  # subprocesses; test_output_properties checks the same bytes in make test
def test_generate_is_deterministic_across_hash_seeds(project: Path, monkeypatch):
    out = project / "gen" / "model_grad.py"
    texts = set()
    for seed in ("0", "1", "12345"):
        monkeypatch.setenv("PYTHONHASHSEED", seed)
        out.unlink(missing_ok=True)
        run("generate", "-q", cwd=project, check_rc=0)
        texts.add(out.read_bytes())
    assert len(texts) == 1


def test_generate_command_line_targets_and_wrt_override(project: Path):
    proc = run(
        "generate",
        "src/model.py::f",
        "--wrt",
        "1",
        "-o",
        "out",
        cwd=project,
        check_rc=0,
    )
    out = project / "out" / "model_grad.py"
    assert "wrote out/model_grad.py (1 function)" in proc.stderr
    text = out.read_text(encoding="utf-8")
    assert "gradgen generate src/model.py::f --wrt 1 -o out" in text
    assert "def grad_g" not in text
    x, y = np.array([0.3, -1.2]), np.array([2.0, 0.5])
    np.testing.assert_allclose(load(out)["grad_f"](x, y, np.ones_like(x)), np.sin(x), rtol=1e-12)
    # The flag overrides the per-target wrt of the table too.
    run("generate", "--wrt", "y", cwd=project, check_rc=0)
    ns = load(project / "gen" / "model_grad.py")
    np.testing.assert_allclose(ns["grad_g"](x, y), x, rtol=1e-12)
    assert "gradgen generate --wrt y" in (project / "gen" / "model_grad.py").read_text()


def test_paths_in_headers_are_relative_to_the_project_root(project: Path):
    sub = project / "src"
    run("generate", "model.py::f", cwd=sub, check_rc=0)
    text = (project / "gen" / "model_grad.py").read_text(encoding="utf-8")
    assert "gradgen generate src/model.py::f" in text
    assert str(project) not in text
    # The same request from the root gives the same bytes.
    before = (project / "gen" / "model_grad.py").read_bytes()
    run("check", "src/model.py::f", cwd=project, check_rc=0)
    (project / "gen" / "model_grad.py").unlink()
    run("generate", "src/model.py::f", "-o", "gen", cwd=project, check_rc=0)
    assert (project / "gen" / "model_grad.py").read_bytes() == before


def test_show_prints_what_generate_writes(project: Path):
    proc = run("show", "src/model.py::f", "--wrt", "x,y", cwd=project, check_rc=0)
    run("generate", "src/model.py::f", "--wrt", "x,y", cwd=project, check_rc=0)
    assert proc.stdout == (project / "gen" / "model_grad.py").read_text(
        encoding="utf-8"
    )
    assert "def grad_f" in proc.stdout
    proc = run("show", "src/model.py::f", "--no-simplify", cwd=project, check_rc=0)
    assert "def grad_f" in proc.stdout


# --------------------------------------------------------------------------
# check and diff


def test_check_passes_when_fresh(project: Path):
    run("generate", cwd=project, check_rc=0)
    proc = run("check", cwd=project, check_rc=0)
    assert proc.stderr.strip() == "gradgen: 1 generated module is up to date"
    assert proc.stdout == ""
    assert run("check", "-q", cwd=project, check_rc=0).stderr == ""


def test_check_fails_after_hand_edit_and_fix_command_repairs(project: Path):
    run("generate", cwd=project, check_rc=0)
    out = project / "gen" / "model_grad.py"
    out.write_text(
        out.read_text(encoding="utf-8") + "# my local tweak\n", encoding="utf-8"
    )
    proc = run("check", cwd=project, check_rc=1)
    assert "--- a/gen/model_grad.py" in proc.stdout
    assert "+++ b/gen/model_grad.py" in proc.stdout
    assert "-# my local tweak" in proc.stdout
    assert "gen/model_grad.py is stale" in proc.stderr
    fix = fix_command(proc.stderr)
    assert fix == ["generate"]
    run(*fix, cwd=project, check_rc=0)
    run("check", cwd=project, check_rc=0)


def test_check_fails_after_source_change(project: Path):
    run("generate", cwd=project, check_rc=0)
    src = project / "src" / "model.py"
    src.write_text(SOURCE.replace("np.sin(x) * y", "np.exp(x) * y"), encoding="utf-8")
    proc = run("check", cwd=project, check_rc=1)
    assert re.search(r"^[-+].*exp", proc.stdout, re.M), proc.stdout
    run(*fix_command(proc.stderr), cwd=project, check_rc=0)
    run("check", cwd=project, check_rc=0)
    x, y = np.array([0.1, 0.7]), np.array([1.5, -2.0])
    ns = load(project / "gen" / "model_grad.py")
    np.testing.assert_allclose(ns["grad_f"](x, y, np.ones_like(x)), np.exp(x) * y, rtol=1e-12)


def test_check_reports_missing_module_and_command_line_fix(project: Path):
    proc = run("check", "src/model.py::f", "--wrt", "y", cwd=project, check_rc=1)
    assert "is missing" in proc.stderr
    assert "--- /dev/null" in proc.stdout
    fix = fix_command(proc.stderr)
    assert fix == ["generate", "src/model.py::f", "--wrt", "y"]
    run(*fix, cwd=project, check_rc=0)
    run("check", "src/model.py::f", "--wrt", "y", cwd=project, check_rc=0)
    # A different request for the same file is stale against it.
    run("check", "src/model.py::f", cwd=project, check_rc=1)


def test_check_from_a_subdirectory_prints_a_runnable_fix(project: Path):
    run("generate", cwd=project, check_rc=0)
    (project / "gen" / "model_grad.py").write_text("# emptied\n", encoding="utf-8")
    sub = project / "src"
    proc = run("check", cwd=sub, check_rc=1)
    line = proc.stderr.splitlines()[-1].strip()
    assert line == "cd .. && gradgen generate", proc.stderr
    run("generate", cwd=sub, check_rc=0)
    run("check", cwd=project, check_rc=0)


def test_left_over_module_of_a_removed_target(project: Path):
    (project / "src" / "other.py").write_text(
        "import numpy as np\n\n\ndef h(x):\n    return np.sum(x * x)\n",
        encoding="utf-8",
    )
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        PYPROJECT.replace("},\n]\n", '},\n    "src/other.py::h",\n]\n'),
        encoding="utf-8",
    )
    run("generate", cwd=project, check_rc=0)
    left_over = project / "gen" / "other_grad.py"
    assert left_over.is_file()
    # Files the table's command did not make are never touched.
    mine = project / "gen" / "mine_grad.py"
    mine.write_text("# my own\n", encoding="utf-8")
    run(
        "generate",
        "src/other.py::h",
        "-o",
        "gen",
        "--wrt",
        "x",
        cwd=project,
        check_rc=0,
    )
    other_command = project / "gen" / "other_grad.py"
    cli_made = other_command.read_text(encoding="utf-8")
    run("generate", cwd=project, check_rc=0)  # back to the table's version

    pyproject.write_text(PYPROJECT, encoding="utf-8")  # h is no longer a target
    proc = run("check", cwd=project, check_rc=1)
    assert "--- a/gen/other_grad.py" in proc.stdout and "+++ /dev/null" in proc.stdout
    assert "gen/other_grad.py is left over" in proc.stderr
    assert "gen/model_grad.py" not in proc.stderr
    proc = run(*fix_command(proc.stderr), cwd=project, check_rc=0)
    assert "removed gen/other_grad.py" in proc.stderr
    assert not left_over.exists()
    run("check", cwd=project, check_rc=0)
    assert mine.read_text(encoding="utf-8") == "# my own\n"

    other_command.write_text(cli_made, encoding="utf-8")  # made by another command
    run("check", cwd=project, check_rc=0)
    run("generate", cwd=project, check_rc=0)
    assert other_command.read_text(encoding="utf-8") == cli_made


def test_diff_prints_changes_and_exits_zero(project: Path):
    run("generate", cwd=project, check_rc=0)
    out = project / "gen" / "model_grad.py"
    edited = out.read_text(encoding="utf-8").replace("def grad_f", "def grad_f_renamed")
    out.write_text(edited, encoding="utf-8")
    proc = run("diff", cwd=project, check_rc=0)
    assert "-def grad_f_renamed" in proc.stdout
    assert "+def grad_f(" in proc.stdout
    assert out.read_text(encoding="utf-8") == edited  # diff changes nothing
    run("generate", cwd=project, check_rc=0)
    assert run("diff", cwd=project, check_rc=0).stdout == ""


def test_check_ignores_line_end_style(project: Path):
    run("generate", cwd=project, check_rc=0)
    out = project / "gen" / "model_grad.py"
    out.write_bytes(out.read_bytes().replace(b"\n", b"\r\n"))
    run("check", cwd=project, check_rc=0)


# --------------------------------------------------------------------------
# Bad input: a located message on stderr, exit 2, never a traceback.


def test_missing_source_file(project: Path):
    proc = run("generate", "src/nope.py::f", cwd=project, check_rc=2)
    assert "src/nope.py" in proc.stderr and "no such file" in proc.stderr
    assert not (project / "gen").exists()


def test_target_without_function(project: Path):
    proc = run("generate", "src/model.py", cwd=project, check_rc=2)
    assert "SRC.py::FUNC" in proc.stderr


def test_unknown_function(project: Path):
    proc = run("generate", "src/model.py::nope", cwd=project, check_rc=2)
    assert "nope" in proc.stderr
    assert "src/model.py" in proc.stderr
    proc = run("generate", "model.py::ff", cwd=project / "src", check_rc=2)
    assert "model.py has no top-level function 'ff'" in proc.stderr
    assert "did you mean 'f'?" in proc.stderr


def test_unknown_function_in_the_table_points_at_the_table(project: Path):
    pyproject = project / "pyproject.toml"
    pyproject.write_text(PYPROJECT.replace("src/model.py::f", "src/model.py::nope"))
    proc = run("check", cwd=project, check_rc=2)
    assert re.search(
        r"^pyproject\.toml:8:5: src/model\.py has no top-level function 'nope'",
        proc.stderr,
        re.M,
    ), proc.stderr
    pyproject.write_text(PYPROJECT.replace("src/model.py::f", "src/gone.py::f"))
    proc = run("check", cwd=project, check_rc=2)
    assert re.search(
        r"^pyproject\.toml:8:5: src/gone\.py: no such file", proc.stderr, re.M
    ), proc.stderr


def test_syntax_error_in_source(project: Path):
    (project / "src" / "bad.py").write_text(
        "import numpy as np\n\ndef f(x):\n    return np.sin(x\n", encoding="utf-8"
    )
    proc = run("generate", "src/bad.py::f", cwd=project, check_rc=2)
    assert re.search(r"^src/bad\.py:\d+:\d+: ", proc.stderr, re.M), proc.stderr


def test_unsupported_construct_is_located(project: Path):
    (project / "src" / "odd.py").write_text(
        textwrap.dedent("""\
            import numpy as np


            def f(x):
                y = x
                try:
                    y = y / 2.0
                except ZeroDivisionError:
                    pass
                return np.sum(y)
            """),
        encoding="utf-8",
    )
    proc = run("generate", "src/odd.py::f", cwd=project, check_rc=2)
    assert re.search(r"^src/odd\.py:6:5: ", proc.stderr, re.M), proc.stderr
    assert not (project / "gen").exists()


def test_core_error_from_a_subdirectory_names_the_file_as_seen_from_there(
    project: Path,
):
    (project / "src" / "odd.py").write_text(
        "import numpy as np\n\n\ndef f(x):\n    return np.frobnicate(x)\n",
        encoding="utf-8",
    )
    proc = run("generate", "odd.py::f", cwd=project / "src", check_rc=2)
    assert re.search(r"^odd\.py:5:12: .*frobnicate", proc.stderr, re.M), proc.stderr


def test_one_bad_target_writes_nothing(project: Path):
    (project / "src" / "other.py").write_text(
        "import numpy as np\n\ndef h(x):\n    return np.sin(x\n", encoding="utf-8"
    )
    proc = run(
        "generate", "src/model.py::f", "src/other.py::h", cwd=project, check_rc=2
    )
    assert "src/other.py:" in proc.stderr
    assert not (project / "gen").exists()


def test_same_stem_in_two_folders_is_an_error(project: Path):
    (project / "lib").mkdir()
    (project / "lib" / "model.py").write_text(SOURCE, encoding="utf-8")
    proc = run(
        "generate", "src/model.py::f", "lib/model.py::f", cwd=project, check_rc=2
    )
    assert "gen/model_grad.py" in proc.stderr


def test_bad_wrt_flag_is_a_usage_error(project: Path):
    proc = run("generate", "src/model.py::f", "--wrt", "1x", cwd=project, check_rc=2)
    assert "--wrt" in proc.stderr


# --------------------------------------------------------------------------
# Configuration errors.


@pytest.mark.parametrize(
    "table, message, line",
    [
        (
            'output = "gen"\ntargets = ["src/model.py::f"]\noutptu = "x"\n',
            "unknown key 'outptu'",
            8,
        ),
        ('targets = ["src/model.py"]\n', "names no function", 6),
        (
            'simplify = "yes"\ntargets = ["src/model.py::f"]\n',
            "simplify must be true or false",
            6,
        ),
        (
            'targets = [{ target = "src/model.py::f", wrtt = [0] }]\n',
            "unknown key 'wrtt'",
            6,
        ),
        ('targets = ["src/model.py::f"\n', "invalid TOML", None),
    ],
)
def test_config_errors_exit_2_with_a_location(project: Path, table, message, line):
    head = '[project]\nname = "demo"\nversion = "0"\n\n[tool.gradgen]\n'
    (project / "pyproject.toml").write_text(head + table, encoding="utf-8")
    proc = run("generate", cwd=project, check_rc=2)
    assert message in proc.stderr
    match = re.search(r"^pyproject\.toml:(\d+):(\d+): ", proc.stderr, re.M)
    assert match, proc.stderr
    if line is not None:
        assert int(match.group(1)) == line
    assert not (project / "gen").exists()


def test_no_targets_anywhere(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n', encoding="utf-8"
    )
    proc = run("check", cwd=tmp_path, check_rc=2)
    assert "no targets" in proc.stderr


def test_explicit_config_file(project: Path):
    other = project / "gradgen.toml"
    other.write_text('[tool.gradgen]\noutput = "alt"\ntargets = ["src/model.py::f"]\n')
    run("generate", "--config", "gradgen.toml", cwd=project, check_rc=0)
    text = (project / "alt" / "model_grad.py").read_text(encoding="utf-8")
    assert "gradgen generate --config gradgen.toml" in text
    run("check", "--config", "gradgen.toml", cwd=project, check_rc=0)


# --------------------------------------------------------------------------
# verify


MINE = """\
import numpy as np


def good_f(x, y):
    return np.cos(x) * y


def bad_f(x, y):
    return np.cos(x)


def good_f_with_seed(x, y, seed):
    return seed * np.cos(x) * y


def good_g(x, y):
    return y, x


def broken(x, y):
    raise ValueError("oops")


def nothing(x, y):
    return None
"""


@pytest.fixture
def mine(project: Path) -> Path:
    path = project / "mine.py"
    path.write_text(MINE, encoding="utf-8")
    return path


def test_verify_accepts_a_correct_gradient(project: Path, mine: Path):
    proc = run(
        "verify",
        "src/model.py::f",
        "--against",
        "mine.py::good_f",
        cwd=project,
        check_rc=0,
    )
    assert "max abs error" in proc.stdout and "ok" in proc.stdout
    run(
        "verify",
        "src/model.py::f",
        "--against",
        "mine.py::good_f_with_seed",
        "--shape",
        "x=2,3",
        "--shape",
        "y=2,3",
        "--seed",
        "7",
        cwd=project,
        check_rc=0,
    )
    run(
        "verify",
        "src/model.py::g",
        "--against",
        "mine.py::good_g",
        "--wrt",
        "x,y",
        cwd=project,
        check_rc=0,
    )
    run(
        "verify",
        "src/model.py::f",
        "--against",
        "mine.py::good_f",
        "--shape",
        "x=",
        "--shape",
        "y=",
        cwd=project,
        check_rc=0,
    )


def test_verify_rejects_a_wrong_gradient(project: Path, mine: Path):
    proc = run(
        "verify",
        "src/model.py::f",
        "--against",
        "mine.py::bad_f",
        cwd=project,
        check_rc=1,
    )
    assert "MISMATCH" in proc.stdout
    assert re.search(r"max abs error [0-9.e+-]+ at \[\d\]", proc.stdout), proc.stdout
    # Only one gradient where two are asked for.
    run(
        "verify",
        "src/model.py::g",
        "--against",
        "mine.py::good_f",
        "--wrt",
        "x,y",
        cwd=project,
        check_rc=1,
    )
    proc = run(
        "verify",
        "src/model.py::f",
        "--against",
        "mine.py::nothing",
        cwd=project,
        check_rc=1,
    )
    assert "not an array of reals" in proc.stdout


def test_verify_quiet(project: Path, mine: Path):
    proc = run(
        "verify",
        "-q",
        "src/model.py::f",
        "--against",
        "mine.py::good_f",
        cwd=project,
        check_rc=0,
    )
    assert proc.stdout == proc.stderr == ""
    proc = run(
        "verify",
        "-q",
        "src/model.py::f",
        "--against",
        "mine.py::bad_f",
        cwd=project,
        check_rc=1,
    )
    assert "MISMATCH" in proc.stdout


def test_verify_bad_inputs(project: Path, mine: Path):
    proc = run(
        "verify",
        "src/model.py::f",
        "--against",
        "mine.py::nope",
        cwd=project,
        check_rc=2,
    )
    assert "nope" in proc.stderr
    proc = run(
        "verify",
        "src/model.py::f",
        "--against",
        "mine.py::broken",
        cwd=project,
        check_rc=2,
    )
    assert re.search(
        r"^mine\.py:\d+:\d+: .*ValueError: oops", proc.stderr, re.M
    ), proc.stderr
    proc = run(
        "verify",
        "src/model.py::f",
        "--against",
        "mine.py::good_f",
        "--shape",
        "z=3",
        cwd=project,
        check_rc=2,
    )
    assert "'z'" in proc.stderr
    proc = run(
        "verify",
        "src/model.py::f",
        "--against",
        "mine.py::good_f",
        "--shape",
        "x=3",
        "--shape",
        "y=4",
        cwd=project,
        check_rc=2,
    )
    assert "--shape" in proc.stderr  # the hint
    run("verify", "src/model.py::f", cwd=project, check_rc=2)  # --against is required


# --------------------------------------------------------------------------
# help, version, cache


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["generate"],
        ["check"],
        ["diff"],
        ["show"],
        ["verify"],
        ["cache"],
        ["cache", "clear"],
    ],
)
def test_help(tmp_path: Path, command):
    proc = run(*command, "--help", cwd=tmp_path, check_rc=0)
    assert proc.stdout.startswith("usage: gradgen")


def test_version(tmp_path: Path):
    import gradgen

    proc = run("--version", cwd=tmp_path, check_rc=0)
    assert proc.stdout.strip() == f"gradgen {gradgen.__version__}"


def test_no_command_is_a_usage_error(tmp_path: Path):
    run(cwd=tmp_path, check_rc=2)


def test_cache_clear(tmp_path: Path, monkeypatch):
    pytest.importorskip("gradgen.cache")
    cache = tmp_path / "cache"
    cache.mkdir()
    for name in ("a" * 64, "b" * 64):
        (cache / f"{name}.gradgen").write_text("# gradgen-cache v1\n", encoding="utf-8")
    (cache / "unrelated.txt").write_text("keep me", encoding="utf-8")
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(cache))
    proc = run("cache", "clear", cwd=tmp_path, check_rc=0)
    assert proc.stdout.strip() == f"removed 2 cached gradient modules from {cache}"
    assert sorted(p.name for p in cache.iterdir()) == ["unrelated.txt"]


# --------------------------------------------------------------------------
# fileio, in process


def test_write_atomic_failure_leaves_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch
):
    from gradgen import fileio

    target = tmp_path / "out" / "m_grad.py"
    assert fileio.write_if_changed(target, "old\n") is True
    assert fileio.write_if_changed(target, "old\n") is False

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        fileio.write_atomic(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in target.parent.iterdir()] == ["m_grad.py"]


def test_write_atomic_keeps_permissions_and_writes_lf(tmp_path: Path):
    from gradgen import fileio

    target = tmp_path / "m_grad.py"
    fileio.write_atomic(target, "a\nb\n")
    assert target.read_bytes() == b"a\nb\n"
    if os.name == "posix":
        os.chmod(target, 0o640)
        fileio.write_atomic(target, "c\n")
        assert target.stat().st_mode & 0o777 == 0o640


def test_pre_commit_hooks_name_real_commands():
    yaml = pytest.importorskip("yaml")
    hooks = yaml.safe_load(
        (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    )
    by_id = {hook["id"]: hook for hook in hooks}
    assert by_id["gradgen-check"]["entry"] == "gradgen check"
    for hook in hooks:
        assert hook["language"] == "python"
        assert hook["pass_filenames"] is False
        program, command = hook["entry"].split()
        assert program == "gradgen"
        assert re.search(hook["files"], "pkg/pyproject.toml")
        assert re.search(hook["files"], "src/model.py")
        assert not re.search(hook["files"], "README.md")
        # The command exists and accepts no arguments (it reads [tool.gradgen]).
        from gradgen.cli import build_parser

        assert build_parser().parse_args([command]).handler.__name__ == f"cmd_{command}"


def test_show_stages_prints_each_stage_and_the_rewrites(tmp_path):
    import subprocess
    import sys

    (tmp_path / "m.py").write_text(
        "import numpy as np\n\n\ndef f(X):\n    XX = X * X\n    return np.sqrt(np.sum(XX))\n")
    out = subprocess.run([sys.executable, "-m", "gradgen", "show", "--stages", "m.py::f"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for stage in ("after normalize", "after transform", "after simplify", "rewrites applied"):
        assert f"# ---- {stage}" in text
    assert "unbroadcast(d_XX * X, X)" in text.split("after simplify")[0]  # raw adjoint
    assert "# rule_unbroadcast: unbroadcast(d_XX * X, X) -> d_XX * X" in text
