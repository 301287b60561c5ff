"""Two simulations of one seed on fresh stacks tell the same story (issue 20: `make demo` is a simulation, and two
demo runs must print the same metrics): every day's ledger record (timings aside), the decisions and the lift table.

The window crosses the monthly training with a 20 % control arm, where run-to-run differences used to start: the
online test's holdout is salted by the serving version's id, which the engine drew at random."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from infra.local.simulate.demo import DEMO_FAULTS
from infra.local.simulate.run import SimConfig, run_simulation

pytestmark = pytest.mark.integration

FIRST = (date.today() - timedelta(days=3)).replace(day=1)
"""A monthly training day in the engine's past (its real clock dates the versions), two mornings before the end."""
START = FIRST - timedelta(days=12)
"""Twelve days of 300 readers' clicks before the training, as `make demo` has: enough to pass Personalize's minimums."""


TIMINGS = {"seconds", "wall_seconds", "days_per_minute", "monitor_passes"}
"""What the machine's speed decides: wall time, and how many monitor passes ran while a version trained."""
DP_NOISE = re.compile(r'"item_counts\.csv": "[0-9a-f]{64}"')
"""The release's differentially private counts: their noise comes from system entropy by design (docs/release.md)."""


def timeless(value: Any, run_dir: str) -> Any:
    """``value`` without what the machine's speed or fresh DP noise decide, the run's own folder named alike."""
    if isinstance(value, dict):
        return {k: timeless(v, run_dir) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [timeless(v, run_dir) for v in value]
    if isinstance(value, str):
        return DP_NOISE.sub('"item_counts.csv": <noise>', value.replace(run_dir, "<run>"))
    return value


@pytest.mark.timeout(1800)  # two runs of 14 simulated days at 300 readers (about 2 minutes each on a quiet machine)
def test_two_runs_of_one_seed_write_the_same_ledger_decisions_and_lift(tmp_path: Path) -> None:
    runs = []
    for name in ("first", "second"):
        state = tmp_path / name
        config = SimConfig(
            days=14, readers=300, seed=0, state_dir=state, faults=DEMO_FAULTS, control_share=0.2, start=START
        )
        result = run_simulation(config, log=lambda _: None)
        assert result.violations == 0
        records = [json.loads(line) for line in result.ledger.read_text().splitlines()]
        lift = json.loads((state / "run" / "lift.json").read_text())
        runs.append(timeless({"ledger": records, "lift": lift}, str(state)))
    first, second = runs
    trained = [r["stages"]["training"] for r in first["ledger"] if "training" in r["stages"]]
    assert trained and trained[0].get("decision") == "promote", trained  # the window crosses a promotion
    assert any(t["test"] != "no test" for t in first["lift"]["tests"])  # and the control arm's test
    for one, two in zip(first["ledger"], second["ledger"], strict=True):
        assert one == two, one["date"]
    assert first["lift"] == second["lift"]
