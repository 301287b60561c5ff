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
from infra.local.simulate.demo import (
    DEMO_CONTROL_SHARE,
    day_line,
    demo_window,
    intro_text,
    trainings_text,
    where_text,
    wrap,
)
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


def test_a_decision_says_how_many_readers_its_offline_metrics_rest_on() -> None:
    """The product's report gives the metrics, not how many readers GetSolutionMetrics' protocol scored (10 % of
    those with 10+ interactions): 4 readers made the demo's first version score NDCG@10 0.96."""
    readers = {"scored": 4, "eligible": 38, "readers": 221, "rows": 1171}
    first = {"name": "storyrec-20261101", "decision": "promote", "candidate": "arn:x/v1", "metrics_readers": readers}
    second = {**first, "name": "storyrec-20261201", "candidate": "arn:x/v2", "serving": "arn:x/v1"}
    text = " ".join(trainings_text([first, second], {}).split())
    assert text.count("Offline metrics on 4 readers (10% of the 38 with 10+ interactions)") == 2, text
    assert text.count("The serving version's metrics are those of its own training") == 1
    assert all(len(line) <= 80 for line in trainings_text([first, second], {}).splitlines())
    failed = {"name": "n", "failed": {"main": "x"}, "decision": None, "metrics_readers": readers}
    assert "Offline metrics" not in trainings_text([failed], {})  # no version scored: nothing rests on them


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

    def fake(config: run.SimConfig, log: Any = print, progress: Any = None) -> run.SimResult:
        seen["config"] = config
        progress({"day": 0, "date": "2026-10-20", "stages": {"day": {"readers": 210, "clicks": 95}}, "violations": 0})
        facts = {
            "trainings": [{"name": "t1", "decision": "keep", "candidate": "arn:x/v2"}],
            "decision_reports": {"storyrec training: keep v2": REPORT},
            "lift": {},
            "report": str(tmp_path / "report.html"),
        }
        return run.SimResult(config.days, 0, 0, tmp_path / "ledger.jsonl", facts)

    monkeypatch.setattr(run, "run_simulation", fake)
    result = CliRunner().invoke(app, ["simulate", "--demo", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert (config.start, config.days, config.readers) == (*demo_window(datetime.now(UTC).date()), 300)
    assert load_plan(config.faults) == []  # no scheduled faults (the steady hostile writes only)
    assert config.control_share == DEMO_CONTROL_SHARE  # a readable control arm at 300 readers
    assert result.output.startswith("storyrec demo: ")  # what the run is, first
    assert "day  0/" in result.output and "210 readers   95 clicks; first feeds popular" in result.output
    assert "Training 1: t1" in result.output and "is not 1.0 % above the serving" in result.output
    assert "How to read the lift table" in result.output and "lift table: no data" in result.output
    assert "HTML report: " in result.output and "report.html" in result.output and "ledger.jsonl" in result.output
    assert all(len(line) <= 80 for line in result.output.splitlines()), result.output
    again = CliRunner().invoke(app, ["simulate", "--demo", "--control-share", "0.05", "--state-dir", str(tmp_path)])
    assert again.exit_code == 0 and seen["config"].control_share == 0.05


def test_the_intro_says_what_the_run_is_at_80_columns() -> None:
    text = intro_text(date(2026, 10, 20), 42, 300, 0.2)
    assert all(len(line) <= 80 for line in text.splitlines()), text
    flat = " ".join(text.split())
    assert "42 simulated days (2026-10-20 to 2026-12-01)" in flat and "300 simulated readers" in flat
    assert "On 2026-11-01 the monthly training" in flat and "20 % of the readers" in flat
    assert "on 2026-12-01 a second one is judged against the serving one" in flat
    assert "The monthly training runs on the 1sts (none here)." in " ".join(
        intro_text(date(2026, 10, 20), 3, 20, 0.2).split()
    )


def test_a_day_is_one_short_line_and_a_training_day_adds_its_decision() -> None:
    feeds = {"personalized": 0, "popular": 231, "stale": 0, "no_campaign": True}
    quiet = {"day": 5, "date": "2026-10-25", "stages": {"day": {"readers": 231, "clicks": 140}, "feeds": feeds}}
    assert day_line({**quiet, "violations": 0}, 42) == (
        "day  5/42 Oct 25: 231 readers  140 clicks; feeds   0 personalized 231 popular"
    )
    served = {"personalized": 250, "popular": 41, "stale": 3}
    training = {"name": "storyrec-20261101", "decision": "promote", "candidate": "arn:x/solution/s/926c762a"}
    checks = [{"name": "no alert without a fault", "status": "violated"}, {"name": "x", "status": "ok"}]
    busy = {"day": 12, "date": "2026-11-01", "violations": 1, "checks": checks}
    busy["stages"] = {"day": {"readers": 291, "clicks": 1234}, "feeds": served, "training": training}
    assert day_line(busy, 42).splitlines() == [
        "day 12/42 Nov 01: 291 readers 1234 clicks; feeds 250 personalized  41 popular",
        "  training storyrec-20261101: promote 926c762a; 3 feeds kept, marked stale; 1",
        "      invariant(s) violated: no alert without a fault",
    ]
    big = {"day": 999, "date": "2029-01-01", "stages": {"day": {"readers": 100000, "clicks": 99999}, "feeds": served}}
    assert all(len(line) <= 80 for line in day_line(big, 1000).splitlines())
    final = day_line({"day": 42, "date": "2026-12-01", "stages": {"feeds": served}, "violations": 0}, 42)
    assert final.startswith("day 42/42 Dec 01: the final night; feeds 250 personalized")
    assert day_line({"day": 0, "date": "2026-10-20", "stages": {}}, 42).endswith("; first feeds popular")


def test_where_names_the_report_and_the_ledger_relative_to_the_working_directory(tmp_path: Path) -> None:
    run_dir = tmp_path / "state" / "run"
    text = where_text(str(run_dir / "report.html"), run_dir / "ledger.jsonl", cwd=tmp_path)
    assert "HTML report: state/run/report.html" in text and "ledger:      state/run/ledger.jsonl" in text
    assert "lift table:  state/run/lift.json" in text
    elsewhere = where_text(None, run_dir / "ledger.jsonl", cwd=tmp_path / "other")
    assert str(run_dir / "ledger.jsonl") in elsewhere and "HTML report" not in elsewhere
    deep = tmp_path / ("d" * 70) / "run"
    assert where_text(str(deep / "report.html"), deep / "ledger.jsonl", cwd=tmp_path / "other").splitlines()[:2] == [
        "HTML report: (open it in a browser)",
        f"  {deep / 'report.html'}",
    ]
