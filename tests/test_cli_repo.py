"""The CLI in a real repository (issue #15): left-over modules, and progress.

* ``check`` fails on a module in the output folder that no target produces
  any more, with the fix command, also when the last target was removed.
* Progress on many targets: one line per module generated or checked when
  stderr is not a terminal, a bar rewritten in place (and erased) on a
  terminal; ``--quiet`` is silent, and one module needs no progress line.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli import ROOT, fix_command, run

SOURCE = "import numpy as np\n\n\ndef f(x):\n    return np.sum(np.sin(x) * x * {k}.0)\n"


def project_with(tmp_path: Path, n: int) -> Path:
    for k in range(1, n + 1):
        (tmp_path / f"m{k}.py").write_text(SOURCE.format(k=k), encoding="utf-8")
    write_table(tmp_path, [f"m{k}.py::f" for k in range(1, n + 1)])
    return tmp_path


def write_table(root: Path, targets: list[str]) -> None:
    listed = ", ".join(f'"{t}"' for t in targets)
    (root / "pyproject.toml").write_text(
        f'[tool.gradgen]\noutput = "gen"\ntargets = [{listed}]\n', encoding="utf-8"
    )


# -- left-over modules ------------------------------------------------------------


def test_check_fails_on_a_module_of_a_removed_target_with_the_fix(tmp_path):
    root = project_with(tmp_path, 3)
    run("generate", cwd=root, check_rc=0)
    write_table(root, ["m1.py::f", "m3.py::f"])
    proc = run("check", cwd=root, check_rc=1)
    assert "gen/m2_grad.py is left over" in proc.stderr
    assert "+++ /dev/null" in proc.stdout
    run(*fix_command(proc.stderr), cwd=root, check_rc=0)
    assert not (root / "gen" / "m2_grad.py").exists()
    run("check", cwd=root, check_rc=0)


def test_check_fails_when_the_last_target_was_removed(tmp_path):
    root = project_with(tmp_path, 2)
    run("generate", cwd=root, check_rc=0)
    write_table(root, [])
    proc = run("check", cwd=root, check_rc=1)
    for k in (1, 2):
        assert f"gen/m{k}_grad.py is left over" in proc.stderr, proc.stderr
    assert fix_command(proc.stderr) == ["generate"]
    run("diff", cwd=root, check_rc=0)
    proc = run("generate", cwd=root, check_rc=0)
    assert "removed gen/m1_grad.py" in proc.stderr
    assert not any((root / "gen").iterdir())
    # Then there is nothing left to check: the empty table is an error again.
    proc = run("check", cwd=root, check_rc=2)
    assert "no targets" in proc.stderr


def test_left_over_modules_of_another_mode_are_found(tmp_path):
    root = project_with(tmp_path, 1)
    (root / "pyproject.toml").write_text(
        '[tool.gradgen]\noutput = "gen"\ntargets = ["m1.py::f", '
        '{ target = "m1.py::f", mode = "forward" }]\n', encoding="utf-8")
    run("generate", cwd=root, check_rc=0)
    assert (root / "gen" / "m1_jvp.py").is_file()
    write_table(root, ["m1.py::f"])
    proc = run("check", cwd=root, check_rc=1)
    assert "gen/m1_jvp.py is left over" in proc.stderr


# -- progress -----------------------------------------------------------------------


def test_one_line_per_module_when_not_a_terminal(tmp_path):
    root = project_with(tmp_path, 3)
    proc = run("generate", cwd=root, check_rc=0)
    lines = proc.stderr.splitlines()
    assert lines[:3] == [
        f"gradgen: [{k}/3] gen/m{k}_grad.py: generated (1 function)" for k in (1, 2, 3)
    ], proc.stderr
    assert "wrote gen/m3_grad.py (1 function)" in lines
    (root / "gen" / "m2_grad.py").write_text("# edited\n", encoding="utf-8")
    proc = run("check", cwd=root, check_rc=1)
    assert proc.stderr.splitlines()[:3] == [
        "gradgen: [1/3] gen/m1_grad.py: up to date",
        "gradgen: [2/3] gen/m2_grad.py: stale",
        "gradgen: [3/3] gen/m3_grad.py: up to date",
    ], proc.stderr
    (root / "gen" / "m3_grad.py").unlink()
    proc = run("check", cwd=root, check_rc=1)
    assert "gradgen: [3/3] gen/m3_grad.py: missing" in proc.stderr


def test_quiet_and_single_modules_print_no_progress(tmp_path):
    root = project_with(tmp_path, 3)
    assert run("generate", "-q", cwd=root, check_rc=0).stderr == ""
    assert run("check", "-q", cwd=root, check_rc=0).stderr == ""
    write_table(root, ["m1.py::f"])
    run("generate", "-q", cwd=root, check_rc=0)
    proc = run("check", cwd=root, check_rc=0)
    assert proc.stderr == "gradgen: 1 generated module is up to date\n"


def test_a_progress_bar_on_a_terminal(tmp_path):
    root = project_with(tmp_path, 3)
    master, slave = pty.openpty()
    env = dict(os.environ, PYTHONPATH=str(ROOT), TERM="xterm",
               GRADGEN_CACHE_DIR=str(tmp_path / "cache"))
    try:
        proc = subprocess.run([sys.executable, "-m", "gradgen", "generate"], cwd=root,
                              env=env, stdout=subprocess.PIPE, stderr=slave, timeout=300)
        os.close(slave)
        slave = -1
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        if slave != -1:
            os.close(slave)
    assert proc.returncode == 0
    err = b"".join(chunks).decode()
    assert "\r\x1b[Kgradgen: [" in err and "] 1/3 m1.py" in err and "] 3/3 m3.py" in err
    assert "gradgen: [1/3]" not in err  # no per-module lines on a terminal
    # The bar is erased before the results, which stay.
    assert err.rindex("\r\x1b[K") < err.index("wrote gen/m1_grad.py")


@pytest.mark.parametrize("quiet", [False, True])
def test_progress_in_process(quiet, capsys):
    from gradgen.progress import Progress

    class Terminal:
        def __init__(self):
            self.text = ""

        def isatty(self):
            return True

        def write(self, text):
            self.text += text

        def flush(self):
            pass

    stream = Terminal()
    with Progress(4, quiet=quiet, stream=stream) as progress:
        for k in range(4):
            progress.start(f"m{k}.py")
            progress.step(f"gen/m{k}_grad.py", "up to date")
    if quiet:
        assert stream.text == ""
    else:
        assert "[#####...............] 2/4 m1.py" in stream.text
        assert stream.text.endswith("\r\x1b[K")
