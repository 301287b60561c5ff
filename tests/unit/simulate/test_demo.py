"""``storyrec-dev simulate --demo``: its window (two monthly trainings, the run in the past), its printout."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from infra.local.cli import app
from infra.local.simulate import run
from infra.local.simulate.demo import demo_window, trainings_text, wrap
from infra.local.simulate.faults import load_plan

pytestmark = pytest.mark.unit


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)), st.integers(1, 20))
def test_the_window_holds_two_monthly_trainings_the_first_after_lead_days_and_ends_before_today(
    today: date, lead: int
) -> None:
    start, days = demo_window(today, lead)
    # the nights are start+1 .. start+days (the last is the final night); a training runs on a 1st's night
    nights = [start + timedelta(days=k) for k in range(1, days + 1)]
    firsts = [k for k, night in enumerate(nights, 1) if night.day == 1]
    assert len(firsts) == 2
    assert firsts[0] == lead  # `lead` days of clicks (days 0..lead-1) before the first training
    assert firsts[1] == days  # the run ends on the second training's night: nothing simulated for nothing
    assert start + timedelta(days=days) < today  # every simulated time is in the engine's past
    assert (today - (start + timedelta(days=days))).days <= 31  # the latest such pair of 1sts
    assert lead + 28 <= days <= lead + 31


def test_the_window_for_a_known_day() -> None:
    assert demo_window(date(2026, 12, 6)) == (date(2026, 10, 20), 42)
    assert demo_window(date(2026, 12, 1)) == (date(2026, 9, 19), 43)  # yesterday was Nov 30: Oct 1 and Nov 1
    assert demo_window(date(2026, 12, 2)) == (date(2026, 10, 20), 42)
    with pytest.raises(ValueError):
        demo_window(date(2026, 12, 6), 0)


REPORT = (
    "Decision: keep (the serving version stays)\n"
    "- NDCG@10 0.3470 is not 1.0 % above the serving 0.5291 (needs ≥ 0.5344)\n\n"
    "Serving:   arn:aws:personalize:us-east-1:000000000000:solution/storyrec-main/" + "a" * 40 + "\n"
)


def test_each_training_is_told_with_the_product_report_wrapped_at_80_columns() -> None:
    trainings = [
        {"name": "storyrec-2026-11-01", "failed": {"baseline": "too few interactions"}, "decision": None},
        {"name": "storyrec-2026-12-01", "decision": "keep", "candidate": "arn:x/solution/main/v2", "reasons": ["r"]},
        {"name": "storyrec-2027-01-01", "decision": "promote", "candidate": "arn:x/v3", "reasons": ["beats it"]},
        {"name": "storyrec-2027-02-01", "deferred": "a training is already running"},
    ]
    text = trainings_text(trainings, {"storyrec training: keep v2": REPORT})
    assert all(len(line) <= 80 for line in text.splitlines()), text
    assert "Training 1: storyrec-2026-11-01" in text and "baseline version failed: too few" in text
    assert "no decision" in text
    assert "storyrec training: keep v2" in text and "is not 1.0 % above the serving 0.5291" in text
    assert "Decision: promote\n- beats it" in text  # no report read back: the record's reasons
    assert "no training: a training is already running" in text
    assert "a" * 40 in text.replace("\n", "").replace(" ", "")  # a long ARN is broken, not lost
    assert trainings_text([], {}) == "no training ran"


def test_wrap_keeps_short_lines_and_indents_a_list_items_continuation() -> None:
    assert wrap("short\n\n- x") == "short\n\n- x"
    lines = wrap("- " + "word " * 30).splitlines()
    assert len(lines) > 1 and all(line.startswith("  ") for line in lines[1:])


def test_demo_refuses_days_or_start() -> None:
    for extra in (["--days", "3"], ["--start", "2026-01-01"]):
        result = CliRunner().invoke(app, ["simulate", "--demo", *extra])
        assert result.exit_code == 2 and "--demo chooses" in result.output


def test_demo_runs_its_window_and_prints_decisions_and_the_narrow_lift_table(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: dict[str, Any] = {}

    def fake(config: run.SimConfig, log: Any = print) -> run.SimResult:
        seen["config"] = config
        facts = {
            "trainings": [{"name": "t1", "decision": "keep", "candidate": "arn:x/v2"}],
            "decision_reports": {"storyrec training: keep v2": REPORT},
            "lift": {},
        }
        return run.SimResult(config.days, 0, 0, tmp_path / "ledger.jsonl", facts)

    monkeypatch.setattr(run, "run_simulation", fake)
    result = CliRunner().invoke(app, ["simulate", "--demo", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert (config.start, config.days, config.readers) == (*demo_window(datetime.now(UTC).date()), 300)
    assert load_plan(config.faults) == []  # no scheduled faults (the steady hostile writes only)
    assert "Training 1: t1" in result.output and "is not 1.0 % above the serving" in result.output
    assert "lift table: no data" in result.output
