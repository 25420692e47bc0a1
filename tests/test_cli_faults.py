"""CLI faults end with a message and exit status 2, never a traceback (issue #15).

Bad output locations (the folder is a file, its parent is a file, the target
path is a folder), a full disk (ENOSPC), a file too large (EFBIG) and an input
too large for memory (``verify --shape x=100000000000``).  The old module
stays intact in every case.  The disk errors are simulated by replacing the
write of :mod:`gradgen.fileio`, in process.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from gradgen import cli, fileio
from tests.test_cli import PYPROJECT, SOURCE, run


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "model.py").write_text(SOURCE, encoding="utf-8")
    return tmp_path


def test_output_folder_is_a_file(project: Path):
    (project / "gen").write_text("not a folder\n", encoding="utf-8")
    proc = run("generate", cwd=project, check_rc=2)
    assert "gen" in proc.stderr and "is a file" in proc.stderr, proc.stderr
    assert (project / "gen").read_text(encoding="utf-8") == "not a folder\n"


def test_parent_of_the_output_folder_is_a_file(project: Path):
    (project / "blocker").write_text("x\n", encoding="utf-8")
    proc = run("generate", "-o", "blocker/gen", cwd=project, check_rc=2)
    assert "blocker" in proc.stderr and "is a file" in proc.stderr, proc.stderr
    assert (project / "blocker").read_text(encoding="utf-8") == "x\n"


def test_target_path_is_a_folder(project: Path):
    (project / "gen" / "model_grad.py").mkdir(parents=True)
    for command in ("generate", "check", "diff"):
        proc = run(command, cwd=project, check_rc=2)
        assert "gen/model_grad.py" in proc.stderr, proc.stderr
        assert "is a folder" in proc.stderr, proc.stderr
    assert (project / "gen" / "model_grad.py").is_dir()


@pytest.mark.parametrize(
    "code, words",
    [
        (errno.ENOSPC, "No space left on device"),
        (errno.EFBIG, "File too large"),
        (errno.EACCES, "Permission denied"),
        (errno.EROFS, "Read-only file system"),
    ],
)
def test_write_errors_exit_2_and_keep_the_old_module(
    code, words, project: Path, monkeypatch, capsys
):
    monkeypatch.chdir(project)
    assert cli.main(["generate", "-q"]) == 0
    out = project / "gen" / "model_grad.py"
    old = out.read_bytes()
    (project / "src" / "model.py").write_text(
        SOURCE.replace("np.sin(x)", "np.cos(x)"), encoding="utf-8"
    )
    real_fdopen = os.fdopen

    class Failing:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()
            return False

        def write(self, data):
            raise OSError(code, os.strerror(code))

        def flush(self):
            pass

        def fileno(self):
            return self.handle.fileno()

    monkeypatch.setattr(fileio.os, "fdopen", lambda fd, *a, **k: Failing(real_fdopen(fd, *a, **k)))
    capsys.readouterr()
    assert cli.main(["generate"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err
    assert "gen/model_grad.py" in err and words in err, err
    assert "unchanged" in err  # says the old module is intact
    assert out.read_bytes() == old
    assert sorted(p.name for p in out.parent.iterdir()) == ["model_grad.py"]


def test_write_error_when_removing_a_left_over_module(project: Path, monkeypatch, capsys):
    monkeypatch.chdir(project)
    assert cli.main(["generate", "-q"]) == 0
    orphan = project / "gen" / "old_grad.py"
    orphan.write_text("# Regenerate with: gradgen generate\n", encoding="utf-8")

    def refuse(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "unlink", refuse)
    assert cli.main(["generate", "-q"]) == 2
    err = capsys.readouterr().err
    assert "gen/old_grad.py" in err and "Permission denied" in err
    assert "Traceback" not in err


def test_verify_with_an_input_too_large_for_memory(project: Path):
    (project / "mine.py").write_text(
        "import numpy as np\n\n\ndef good_f(x, y):\n    return np.cos(x) * y\n",
        encoding="utf-8",
    )
    proc = run(
        "verify", "src/model.py::f", "--against", "mine.py::good_f",
        "--shape", "x=100000000000", "--shape", "y=100000000000",
        cwd=project, check_rc=2,
    )
    assert "--shape x=100000000000" in proc.stderr, proc.stderr
    assert "memory" in proc.stderr


def test_out_of_memory_anywhere_is_exit_2(project: Path, monkeypatch, capsys):
    monkeypatch.chdir(project)

    def boom(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(cli, "generate_all", boom)
    assert cli.main(["generate"]) == 2
    err = capsys.readouterr().err
    assert "out of memory" in err and "Traceback" not in err
