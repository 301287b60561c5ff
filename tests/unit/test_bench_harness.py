"""The benchmark harness's arithmetic and its docs section (the benchmarks themselves are not run here)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import harness

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("exponent", [0.5, 1.0, 1.3, 2.0])
def test_growth_is_the_log_log_slope(exponent: float) -> None:
    points = [(n, 3.0 * n**exponent) for n in (20_000, 100_000, 1_000_000)]
    assert harness.growth(points) == pytest.approx(exponent, abs=1e-3)


def test_growth_needs_two_sizes() -> None:
    assert harness.growth([(10, 1.0)]) is None


RESULTS: dict[str, Any] = {
    "mode": "quick",
    "finished": "2026-12-06T05:00:00+00:00",
    "command": "python benchmarks/harness.py --quick",
    "load_before": 1.0,
    "load_after": 2.0,
    "machine": {"cpu": "cpu", "cores": 2, "memory_gib": 24.0, "python": "3.11.7", "commit": "abc"},
    "benchmarks": {
        "feeds": {
            "sizes": [
                {
                    "users": 1000,
                    "raw_users_per_s": [500.0],
                    "fill_users_per_s": [400.0],
                    "ratios": [0.8],
                    "median_ratio": 0.8,
                    "fixed_run_s": [0.3],
                    "extra_s": [0.5],
                    "load_avg_1m_each": [2.0],
                    "command": "x",
                }
            ]
        },
        "simulation": {"status": "not built yet (issue #24)"},
    },
}


def test_the_docs_section_is_replaced_between_its_markers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# Benchmarks\n\nintro\n\n## Export\n\nhand-written\n")
    monkeypatch.setattr(harness, "DOC", doc)
    harness.write_docs({"quick": RESULTS})
    harness.write_docs({"quick": RESULTS})  # a second run replaces, never duplicates
    text = doc.read_text()
    assert text.count("<!-- harness:begin -->") == 1 and text.index("harness:end") < text.index("## Export")
    assert "| 1,000 | 500 | 400 | 0.80 | 0.8 | **no** | 0.5 | 0.3 |" in text  # load 2: a quiet machine
    assert "not built yet (issue #24)" in text and "hand-written" in text


def _ledger(tmp_path: Path, final: dict[str, Any] | None) -> Path:
    run = tmp_path / "run"
    run.mkdir(parents=True)
    lines = [{"day": 0}, {"day": 1, **({"totals": final} if final else {})}]
    (run / "ledger.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return tmp_path


def test_simulation_tables_refuse_an_unfinished_run(tmp_path: Path) -> None:
    from benchmarks import bench_simulation

    with pytest.raises(SystemExit, match="has not finished"):
        bench_simulation.tables([("stable:0", _ledger(tmp_path, None))])


def test_simulation_tables_show_each_run_and_each_holdout_arm(tmp_path: Path) -> None:
    from benchmarks import bench_simulation

    arm = {"readers": 9, "impressions": 90, "clicks": 12, "clicks_per_reader": {"value": 1.3, "low": 1.0, "high": 1.6}}
    totals = {
        "wall_seconds": 12.5,
        "violations": 0,
        "not_checked": 1,
        "trainings": [
            {"name": "storyrec-20260701", "decision": "promote"},
            {"name": "storyrec-20260801", "failed": "x"},
        ],
        "quality": {"feed": {"mean": 0.5, "ci95": 0.1}, "latest": {"mean": 0.4, "ci95": None}, "oracle": {}},
        "lift": {
            "tests": [
                {"test": "no test", "arms": [{"arm": "champion", **arm}]},
                {
                    "test": "holdout-v1",
                    "arms": [
                        {"arm": "champion", **arm, "expected_clicks_per_look": {"served": 0.7, "oracle": 2.0}},
                        {"arm": "control", **arm},
                    ],
                    "lifts": [
                        {"arm": "champion", "metric": "clicks_per_reader", "lift": 0.25, "low": -0.1, "high": 0.6}
                    ],
                },
            ]
        },
    }
    text = bench_simulation.tables([("drifting:2", _ledger(tmp_path, totals))])
    assert "| drifting | 2 | 1 | 12.5 | 0 | 1 | 07-01 promote, 08-01 failed | 0.500 ± 0.100 | 0.400 | no data |" in text
    assert "| holdout-v1 | champion | 9 | 90 | 12 | 1.30 [1.00, 1.60] | +25% [-10%, +60%] | 0.700 | 2.000 |" in text
    assert "| holdout-v1 | control |" in text and "no test" not in text


def test_the_machine_sentence_follows_the_highest_load_recorded() -> None:
    quiet = harness.render(RESULTS)
    assert "highest load average recorded was 2.00" in quiet and "shared the machine" not in quiet
    loaded = json.loads(json.dumps(RESULTS))
    loaded["benchmarks"]["feeds"]["sizes"][0]["load_avg_1m_each"] = [2.0, 17.5]
    assert "Other work ran on the machine (up to 17.5 on 2 cores)" in harness.render(loaded)


def test_the_fill_table_shows_the_machine_bound_and_a_dash_where_an_older_bench_had_none() -> None:
    older = harness.render(RESULTS)
    row = next(line for line in older.splitlines() if line.startswith("| 1,000 |"))
    assert "| - | - | - |" in row
    newer = json.loads(json.dumps(RESULTS))
    newer["benchmarks"]["feeds"]["sizes"][0].update(
        raw_machine_busy_share=[0.97], ratio_bound=[0.61], client_bound=[0.78]
    )
    row = next(line for line in harness.render(newer).splitlines() if line.startswith("| 1,000 |"))
    assert "| 0.97 | 0.61 | 0.78 |" in row


def test_training_that_does_not_grow_with_the_size_gets_no_growth_claim_and_old_figures_are_marked() -> None:
    results = json.loads(json.dumps(RESULTS))
    results["started"] = "2026-12-07T03:00:00+00:00"
    rows = [
        {
            "events": n,
            "users": 1,
            "items": 1,
            "status": "ACTIVE",
            "solution_version_s": s,
            "cpu_s": s,
            "peak_rss_gb": 1.0,
            "load_before": 1.0,
            "load_after": 1.0,
            "command": "x",
        }
        for n, s in ((1_000_000, 211.0), (3_000_000, 383.9), (10_000_000, 307.5))
    ]
    results["benchmarks"]["training"] = {"sizes": rows, **harness.training_growth(rows)}
    one = {
        "readers": 1,
        "days": 1,
        "days_per_minute": 1.0,
        "wall_s": 1.0,
        "first_third_day_s": 1.0,
        "last_third_day_s": 1.0,
    }
    results["benchmarks"]["simulation"] = {
        "runs": [],
        "command": "y",
        "measured": "2026-12-06T08:00:00+00:00",
        "largest": one,
        "days_growth": one,
        "growth_exponent_readers": 1.0,
        "ten_times_readers_costs": 10.0,
    }
    text = harness.render(results)
    assert "No growth law" in text and "ten times the events take" not in text
    assert "kept from an earlier one:* simulation (measured 2026-12-06T08:00:00+00:00)." in text
