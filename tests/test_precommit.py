"""The README's pre-commit snippet works as written, with the real pre-commit
(issue #15): in a throwaway git repository, the hook passes on fresh modules
and fails, with the fix command, on a stale one.  Skipped where pre-commit or
git is missing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SOURCE = "import numpy as np\n\n\ndef loss(x):\n    return np.sum(np.sin(x) * x)\n"
PYPROJECT = '[tool.gradgen]\noutput = "generated"\ntargets = ["model.py::loss"]\n'


def readme_snippet() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```yaml\n(# \.pre-commit-config\.yaml\n.*?)```", text, re.S)
    assert match, "the README has no .pre-commit-config.yaml snippet"
    return match.group(1)


def test_the_snippet_is_a_local_hook_running_gradgen_check():
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load(readme_snippet())
    (repo,) = config["repos"]
    assert repo["repo"] == "local"
    (hook,) = repo["hooks"]
    assert hook["entry"] == "gradgen check" and hook["pass_filenames"] is False
    assert hook["language"] in ("system", "python")


@pytest.mark.slow
def test_the_readme_hook_with_the_real_pre_commit(tmp_path: Path):
    pytest.importorskip("pre_commit")
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    bindir = Path(sys.executable).parent
    if not (bindir / "gradgen").exists():
        pytest.skip("the gradgen command is not installed next to this Python")
    repo = tmp_path / "project"
    repo.mkdir()
    (repo / "model.py").write_text(SOURCE, encoding="utf-8")
    (repo / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (repo / ".pre-commit-config.yaml").write_text(readme_snippet(), encoding="utf-8")
    env = dict(
        os.environ,
        PATH=os.pathsep.join([str(bindir), os.environ.get("PATH", "")]),
        PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"),
        GRADGEN_CACHE_DIR=str(tmp_path / "cache"),
        HOME=str(tmp_path),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid",
        GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid",
    )
    env.pop("PYTHONPATH", None)

    def sh(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True,
                              timeout=300)

    assert sh(git, "init", "-q").returncode == 0
    assert sh("gradgen", "generate").returncode == 0
    sh(git, "add", "-A")
    pre_commit = [sys.executable, "-m", "pre_commit"]
    fresh = sh(*pre_commit, "run", "--all-files")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "gradgen check" in fresh.stdout and "Passed" in fresh.stdout

    # A hand edit of the generated module: the hook fails and says how to fix it.
    with open(repo / "generated" / "model_grad.py", "a", encoding="utf-8") as handle:
        handle.write("EDITED = 1\n")
    sh(git, "add", "-A")
    stale = sh(*pre_commit, "run", "--all-files")
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert "Failed" in stale.stdout and "gradgen generate" in stale.stdout

    # And as a real git hook, on commit.
    assert sh(*pre_commit, "install").returncode == 0
    commit = sh(git, "commit", "-q", "-m", "stale")
    assert commit.returncode != 0, commit.stdout + commit.stderr
    sh("gradgen", "generate")
    sh(git, "add", "-A")
    commit = sh(git, "commit", "-q", "-m", "fresh")
    assert commit.returncode == 0, commit.stdout + commit.stderr
