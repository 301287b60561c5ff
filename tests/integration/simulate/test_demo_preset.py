"""``make demo``'s code path (``storyrec-dev simulate --demo``) on the real local stack, cheaply: the preset's
window shortened to two days and 20 readers (the real preset, 42 days at 300 readers, takes about 6 minutes:
docs/simulate.md "The demo preset"); everything else is the command's own: the stack, the run, the line per
day from the ledger's records, the decisions, the lift table and where the outputs are, at 80 columns."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra.local.cli import app
from infra.local.simulate import demo
from infra.local.stack import LocalStack

pytestmark = pytest.mark.integration


def test_the_demo_command_prints_its_story_at_80_columns(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    start = date.today() - timedelta(days=10)  # a window without a 1st: no training (the unit tests cover those)
    while any((start + timedelta(days=k)).day == 1 for k in range(3)):
        start -= timedelta(days=3)
    monkeypatch.setattr(demo, "demo_window", lambda today: (start, 2))
    monkeypatch.setattr(demo, "DEMO_READERS", 20)
    result = CliRunner().invoke(app, ["simulate", "--demo", "--state-dir", str(tmp_path)])
    out = result.output
    assert result.exit_code == 0, out
    assert out.startswith("storyrec demo: 2 simulated days") and "20 simulated readers" in out
    lines = out.splitlines()
    days = [line for line in lines if line.startswith("day ")]
    assert [line[:9] for line in days] == ["day  0/2 ", "day  1/2 ", "day  2/2 "], days
    assert days[0].endswith("; first feeds popular") and " 14 readers " in days[0]
    assert "feeds   0 personalized " in days[1] and "the final night; feeds   0 personalized" in days[2]
    assert "no training ran" in out and "How to read the lift table" in out and "test no test" in out
    assert "2 days: 0 invariant violation(s)" in out
    report = tmp_path / "run" / "report.html"
    assert "HTML report: (open it in a browser)" in out and f"  {report}" in lines  # a long path on its own line
    assert report.is_file() and (tmp_path / "run" / "ledger.jsonl").is_file()
    assert all(len(line) <= 80 for line in lines if str(tmp_path) not in line), out
    assert all(state == "down" for state in LocalStack(tmp_path).status().values())
