"""``storyrec-dev simulate`` refuses a bad plan or reader model before it starts anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra.local.cli import app

pytestmark = pytest.mark.unit


def test_a_bad_fault_plan_exits_2_naming_it_and_starts_nothing(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text('{"faults": [{"day": 1, "kind": "meteor"}]}')
    result = CliRunner().invoke(app, ["simulate", "--faults", str(plan), "--state-dir", str(tmp_path / "state")])
    assert result.exit_code == 2, result.output
    assert "bad fault plan" in result.output and "kind must be one of" in result.output
    assert not (tmp_path / "state").exists()


def test_an_unknown_reader_model_exits_2() -> None:
    result = CliRunner().invoke(app, ["simulate", "--readers-model", "chaotic"])
    assert result.exit_code == 2 and "drifting" in result.output and "stable" in result.output
