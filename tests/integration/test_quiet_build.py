"""Building the package prints no warning from its build backend (a fresh `make demo` printed ~224 lines
of setuptools deprecation boxes before any output). pip's own notes about a machine's unreachable local
index mirrors are not the project's and are left out."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_builds_without_backend_warnings(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for package in ("shared", "infra", "functions_aws"):  # the metadata is what warns; the code is not needed
        (src / package).mkdir()
        (src / package / "__init__.py").write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path / "wheel"), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    said = [line for line in (done.stdout + done.stderr).splitlines() if "WARNING: Location" not in line]
    warnings = [line for line in said if "warning" in line.lower() or "deprecat" in line.lower()]
    assert warnings == [], "\n".join(said)
