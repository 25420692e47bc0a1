"""An installed wheel must carry the rule files (templates/ ships as gradgen.templates)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_carries_the_rules(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("gradgen-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for rule_file in ("numpy_rules.py", "helpers.py", "forward_rules.py", "helper_rules.py",
                      "contract.py", "README.md"):
        assert f"gradgen/templates/{rule_file}" in names, sorted(names)
    assert "gradgen/driver.py" in names
