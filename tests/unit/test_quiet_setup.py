"""The demo's tooling setup is quiet but never silent: one line per step with its elapsed time; and the
package's own build config raises no deprecation warning (the ~224 lines a fresh `make demo` printed)."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest

from infra.local.firebase import emulators

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]


def _script(tmp_path: Path, body: str) -> None:
    script = tmp_path / "setup.sh"
    script.write_text("#!/usr/bin/env bash\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_each_setup_step_is_one_line_with_its_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _script(
        tmp_path,
        'echo "== firebase-tools" >&2\necho "npm chatter" >&2\nsleep 0.2\necho "== functions_gcp/venv" >&2\n'
        "echo export FIREBASE_TOOLS=/x/firebase\n",
    )
    monkeypatch.setattr(emulators, "HERE", tmp_path)
    lines: list[str] = []
    assert emulators.setup(log=lines.append) == {"FIREBASE_TOOLS": "/x/firebase"}
    assert [line.split(" (")[0] for line in lines] == [
        "setup: firebase-tools ...",
        "setup: firebase-tools ready",
        "setup: functions_gcp/venv ...",
        "setup: functions_gcp/venv ready",
    ]
    assert float(lines[1].split("(")[1].split(" s)")[0]) >= 0.2
    assert not any("npm chatter" in line for line in lines)


def test_a_failing_setup_names_its_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _script(tmp_path, 'echo "== firebase-tools" >&2\necho "npm ERR! 404" >&2\nexit 3\n')
    monkeypatch.setattr(emulators, "HERE", tmp_path)
    with pytest.raises(emulators.EmulatorError, match=r"setup.sh failed \(3\)[\s\S]*npm ERR! 404"):
        emulators.setup(log=lambda _: None)


def test_the_build_config_uses_no_deprecated_license_table() -> None:
    """setuptools >= 77 warns (a 15-line box, at every build step) about ``license = {text = ...}``."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert isinstance(config["project"]["license"], str)  # an SPDX expression
    assert "setuptools>=77" in config["build-system"]["requires"]
