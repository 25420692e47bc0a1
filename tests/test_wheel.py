"""The package people install (issue #15): the built wheel carries the rule
files (templates/ ships as gradgen.templates), py.typed and the LICENSE; its
metadata names the distribution gradgen-numpy with an SPDX license; the build
emits no setuptools deprecation warning; every install instruction uses the
distribution's name."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTION = "gradgen-numpy"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # (its own "byte-compiling is disabled" notes)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-v",
                           "--disable-pip-version-check", "-w", str(out), str(ROOT)],
                          check=True, capture_output=True, text=True, env=env)
    (wheel,) = out.glob("gradgen_numpy-*.whl")
    return wheel, proc.stdout + proc.stderr


def test_wheel_carries_the_rules(built):
    wheel, _ = built
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = sorted(p.name for p in (ROOT / "templates").iterdir()
                     if p.suffix in (".py", ".md"))
    assert "helpers.py" in shipped and "contract.py" in shipped
    for rule_file in shipped:
        assert f"gradgen/templates/{rule_file}" in names, sorted(names)
    assert "gradgen/driver.py" in names
    assert "gradgen/py.typed" in names


def test_wheel_metadata_and_license(built):
    wheel, _ = built
    archive = zipfile.ZipFile(wheel)
    names = archive.namelist()
    (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    head = archive.read(metadata).decode().split("\n\n")[0]
    assert f"Name: {DISTRIBUTION}" in head.splitlines()
    assert "License-Expression: Apache-2.0" in head.splitlines()
    assert "License-File: LICENSE" in head.splitlines()
    (license_file,) = [n for n in names if n.endswith("/licenses/LICENSE")]
    assert archive.read(license_file) == (ROOT / "LICENSE").read_bytes()
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "gradgen = gradgen.cli:main" in archive.read(entry_points).decode()


def test_the_build_warns_about_nothing(built):
    _, log = built
    assert "SetuptoolsDeprecationWarning" not in log
    assert not re.search(r"(?i)\bwarning\b", "\n".join(
        line for line in log.splitlines() if "Location 'file:" not in line)), log


def test_license_is_the_full_apache_2_text():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert len(text.splitlines()) > 190
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'license = "Apache-2.0"' in pyproject


def test_every_install_instruction_names_the_distribution():
    for path in [ROOT / "README.md", ROOT / ".pre-commit-hooks.yaml",
                 *(ROOT / "gradgen").glob("*.py")]:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"pip install ([\w.\-\[\]'\"]+)", text):
            name = match.group(1)
            end = text[match.end():match.end() + 20]
            if name in ("gradgen",) and "installs that one" in end:
                continue  # the README's warning about the other project
            assert name != "gradgen", f"{path.name}: {match.group(0)!r}"
