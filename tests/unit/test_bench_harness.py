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
    assert "| 1,000 | 500 | 400 | 0.80 | - | 0.8 | **no** | - | - | 0.5 | 0.3 |" in text  # load 2: a quiet machine
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


VERSION = "arn:aws:personalize:us-east-1:000000000000:solution/scale/546e0d29"


def _log(msg: str, logger: str = "infra.local.personalize.jobs", **fields: Any) -> str:
    """One line as ``bench_engine.py scale`` prints it (the engine's JsonFormatter)."""
    return json.dumps({"ts": "2026-12-07T10:11:19", "level": "INFO", "logger": logger, "msg": msg, **fields})


def _phase(name: str, wall: Any, cpu: Any) -> str:
    return _log("training phase", version=VERSION, phase=name, wall_s=wall, cpu_s=cpu)


SCALE = (
    "scale events=1000000 users=100000 items=100000 status=ACTIVE solution_version_s=136.2 cpu_s=211.0 "
    "peak_rss_gb=0.98 ndcg10=0.0700 load1=1.8 tuned={'blend_taste': '0.1', 'validation_split': 'time+users'}"
)


def test_the_phase_lines_of_the_scale_output_become_a_mapping_and_a_bad_line_only_drops_its_phase() -> None:
    out = "\n".join(
        [
            "step=generate wall_s=0.0 cpu_s=0.0",
            _phase("training data", 12.1, 10.7),
            _phase("metrics", 242.1, 156.2),
            '{"msg": "training phase", "phase": "final model", "wall_s": 50.6, "cpu_s"',  # cut off mid-line
            _phase("final model", "fast", 25.5),  # seconds that are not a number
            _phase("final model", 50.6, None),
            _phase("final model", 50.6, float("nan")),
            _log("training phase", phase=None, wall_s=1.0, cpu_s=1.0),  # no phase name
            _log("training phase", phase="bad", wall_s=True, cpu_s=1.0),  # a boolean is not seconds
            _log("training phase", wall_s=1.0, cpu_s=1.0),
            _log("import done", phase="import", wall_s=1.0, cpu_s=1.0),  # another message
            "[1, 2, 3]",
            '{"phase": "persist model", "wall_s": 0.8, "cpu_s": 0.4}',  # no msg: not a log line
            _phase("persist model", "0.8", 0.4),  # the number as text still counts
            "{not json at all",
            SCALE,
        ]
    )
    phases = harness.training_phases(harness.log_records(out))
    assert phases == {
        "training data": {"wall_s": 12.1, "cpu_s": 10.7},
        "metrics": {"wall_s": 242.1, "cpu_s": 156.2},
        "persist model": {"wall_s": 0.8, "cpu_s": 0.4},
    }


def test_no_phase_lines_give_no_phases_and_no_path() -> None:
    records = harness.log_records(f"step=generate wall_s=0.0 cpu_s=0.0\n{SCALE}\n")
    assert records == []
    assert harness.training_phases(records) == {} and harness.training_path(records) == {}


def test_a_phase_logged_twice_adds_up() -> None:
    out = "\n".join([_phase("metrics", 1.25, 1.0), _phase("metrics", 2.5, 2.25)])
    assert harness.training_phases(harness.log_records(out)) == {"metrics": {"wall_s": 3.75, "cpu_s": 3.25}}


def _path_lines(reused: bool) -> list[str]:
    searches = 1 if reused else 2
    lines = [_log("blend chosen", "infra.local.personalize.training", weights={"taste": 0.1})] * searches
    lines += [
        _log(
            "validation split", "infra.local.personalize.training", kind="time+users", fits=1, rows=10, held_out_rows=1
        )
    ] * searches
    lines += [
        _log("als fit", "infra.local.personalize.data", warm=False, cpu_s=40.0),
        _log("als fit", "infra.local.personalize.data", warm=True, cpu_s=5.5),
        _log("als fit", "infra.local.personalize.data", warm=True, cpu_s=4.5),
        _log("als fit", "infra.local.personalize.data", cpu_s=99.0),  # whether it was warm is not said: not counted
        _log("validation split", "infra.local.personalize.training", kind="users", fits="two"),  # not a count: left out
        _phase("final model", 50.6, 25.5),
    ]
    if reused:
        lines.append(_log("final model reuses the evaluated blend", held_out_rows=6512, weights={"taste": 0.1}))
    return lines


def test_the_path_the_size_chose_is_summed_up_from_the_other_log_lines() -> None:
    reused = harness.training_path(harness.log_records("\n".join(_path_lines(reused=True))))
    assert reused == {
        "blend_searches": 1,
        "final_model": "reused",
        "final_model_held_out_rows": 6512,
        "validation": [{"kind": "time+users", "fits": 1}],
        "als_fits": {"cold": 1, "cold_cpu_s": 40.0, "warm": 2, "warm_cpu_s": 10.0},
    }
    anew = harness.training_path(harness.log_records("\n".join(_path_lines(reused=False))))
    assert anew["blend_searches"] == 2 and anew["final_model"] == "trained anew" and len(anew["validation"]) == 2


def test_bench_training_keeps_each_sizes_phases_and_a_run_without_them_still_gives_its_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    outputs = iter(
        [
            "\n".join([_phase("metrics", 100.0, 90.0), *_path_lines(reused=True), SCALE]),
            "\n".join(["{broken", SCALE]),
        ]
    )
    commands: list[list[str]] = []

    def fake_run(command: list[str], timeout: float) -> tuple[str, float, float, float]:
        commands.append(command)
        return next(outputs), 140.0, 1.0, 1.5

    monkeypatch.setattr(harness, "run", fake_run)
    sizes = harness.replace(harness.QUICK, training=((1_000_000, 100_000, 100_000), (3_000_000, 300_000, 100_000)))
    rows = harness.bench_training(sizes)["sizes"]
    expected = "benchmarks/bench_engine.py scale --events 1000000 --users 100000 --items 100000"
    assert " ".join(commands[0][1:]) == expected
    metrics, final = {"wall_s": 100.0, "cpu_s": 90.0}, {"wall_s": 50.6, "cpu_s": 25.5}
    assert rows[0]["phases"] == {"metrics": metrics, "final model": final}
    assert rows[0]["path"]["final_model"] == "reused" and rows[0]["cpu_s"] == 211.0
    assert rows[1]["phases"] == {} and rows[1]["path"] == {} and rows[1]["status"] == "ACTIVE"


def _training(cpu: list[float], phases: list[dict[str, float]] | None, paths: bool = False) -> dict[str, Any]:
    """RESULTS with a training benchmark at 1M, 3M, 10M events: total CPU ``cpu``; ``phases``: each size's CPU
    seconds per phase (None: rows as an older harness wrote them, without phases)."""
    results = json.loads(json.dumps(RESULTS))
    rows = []
    for k, (n, total) in enumerate(zip((1_000_000, 3_000_000, 10_000_000), cpu, strict=True)):
        row: dict[str, Any] = {
            "events": n,
            "users": n // 10,
            "items": 100_000,
            "status": "ACTIVE",
            "solution_version_s": total,
            "cpu_s": total,
            "peak_rss_gb": 1.0,
            "load_before": 1.0,
            "load_after": 1.0,
            "command": "x",
        }
        if phases is not None:
            row["phases"] = {name: {"wall_s": s * 1.5, "cpu_s": s} for name, s in phases[k].items()}
            row["path"] = harness.training_path(harness.log_records("\n".join(_path_lines(k == 2)))) if paths else {}
        rows.append(row)
    results["benchmarks"]["training"] = {"sizes": rows, **harness.training_growth(rows)}
    return results


def _rows_of(text: str, title: str) -> list[str]:
    """The body rows of the table under ``title``."""
    lines = text.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith(title))
    table = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        table.append(line)
    return table[2:]


def test_training_rows_without_phases_render_as_before() -> None:
    text = harness.render(_training([211.0, 383.9, 307.5], None))
    assert "CPU seconds by phase" not in text and "By phase" not in text
    assert "**No growth law**" in text and "which one cost what here is not in these figures" in text
    assert len(_rows_of(text, "**Engine training**")) == 3


@pytest.mark.parametrize("flat", ["metrics", "final model"])
def test_the_phase_table_shows_each_size_and_the_sentence_names_the_phase_that_does_not_grow(flat: str) -> None:
    rising = {"training data": [10.0, 30.0, 40.0], "persist model": [0.1, 0.3, 1.0]}
    other = "final model" if flat == "metrics" else "metrics"
    by_name = {**rising, flat: [150.0, 300.0, 180.0], other: [50.9, 53.6, 86.5]}
    phases = [{name: values[k] for name, values in by_name.items()} for k in range(3)]
    text = harness.render(_training([211.0, 383.9, 307.5], phases, paths=True))
    rows = _rows_of(text, "**CPU seconds by phase**")
    header = next(line for line in text.splitlines() if line.startswith("| events | training data"))
    names = "training data | metrics | final model | persist model | outside the phases | engine path"
    assert header == f"| events | {names} |"
    assert rows[0].startswith(f"| 1,000,000 | 10.0 | {by_name['metrics'][0]} | {by_name['final model'][0]} | 0.1 |")
    assert rows[1].startswith("| 3,000,000 | 30.0 |") and "| 0.0 |" in rows[1]  # the phases add up to the total
    assert "final model: trained anew" in rows[0] and "final model: evaluated blend reused" in rows[2]
    assert "ALS fits 1 from scratch (40.0 CPU s), 2 warm (10.0 CPU s)" in rows[2]
    assert "**No growth law**" in text and "which one cost what" not in text
    figures = ", ".join(map(str, by_name[flat]))
    assert f"what does not rise with the events: **{flat}** ({figures} s); rising:" in text
    assert f"**{other}**" not in text and "**training data**" not in text


def test_phases_that_all_rise_say_so_and_keep_the_growth_line() -> None:
    phases = [{"metrics": 100.0, "final model": 50.0}, {"metrics": 200.0, "final model": 60.0}]
    phases.append({"metrics": 300.0, "final model": 70.0})
    text = harness.render(_training([151.0, 262.0, 372.0], phases))
    assert "ten times the events take about" in text and "No growth law" not in text
    assert "every phase logged rises with the events: metrics (100.0, 200.0, 300.0 s)" in text
    assert "outside the phases: 1.0, 2.0, 2.0 s." in text
    assert "engine path" not in text  # no row has a path


def test_an_older_row_without_phases_stays_out_of_the_phase_table() -> None:
    phases = [{"metrics": 150.0}, {"metrics": 300.0}, {"metrics": 180.0}]
    results = _training([211.0, 383.9, 307.5], phases)
    del results["benchmarks"]["training"]["sizes"][0]["phases"]
    results["benchmarks"]["training"]["sizes"][1]["phases"] = {}  # a run that logged none: dashes
    text = harness.render(results)
    rows = _rows_of(text, "**CPU seconds by phase**")
    assert [r.split(" | ")[0] for r in rows] == ["| 3,000,000", "| 10,000,000"]
    assert rows[0] == "| 3,000,000 | - | - |"
    assert len(_rows_of(text, "**Engine training**")) == 3
    assert "which one cost what here is not in these figures" in text  # one size with phases: no comparison


def test_a_fill_is_judged_against_the_raw_runs_on_both_sides_and_the_calls_share_of_the_cpu() -> None:
    # raw 1000, fill 850, raw 800, fill 760, closing raw 800: the machine slowed between the first two raw runs
    row = harness.feed_row(20_000, [1000.0, 800.0, 800.0], [850.0, 760.0], [0.95, 0.94, 0.95], [0.86, 0.85])
    assert row["ratios"] == [0.85, 0.95]  # each fill over the raw run just before it
    assert row["bracketed_ratios"] == [0.94, 0.95]  # over the mean of the raw runs around it
    assert row["median_ratio"] == round((0.94 + 0.95) / 2, 2)  # the bracketed ones decide, not 0.9
    assert row["raw_drift"] == [0.8, 1.0]
    assert row["call_share_ratios"] == [0.905, 0.904]


def test_an_older_bench_without_a_closing_raw_run_keeps_the_adjacent_ratios() -> None:
    row = harness.feed_row(1_000, [500.0, 600.0], [400.0, 540.0], [float("nan")] * 2, [float("nan")] * 2)
    assert row["ratios"] == [0.8, 0.9] and row["median_ratio"] == 0.85
    assert row["bracketed_ratios"] == [] and row["call_share_ratios"] == [None, None]
