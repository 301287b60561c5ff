"""Speed of ``storyrec-dev simulate``: simulated days per wall-clock minute, where the time goes, and how it
grows with the readers and the days (run from the repo root; issue #24, docs/BENCHMARKS.md "Simulation").

Each size is one whole simulation (default fault plan, stable readers, seed 0, the run ending yesterday) in
its own subprocess, on a fresh local stack in a temporary state directory; the stack's start is not timed.
Figures per run: the wall seconds and days per minute, the ledger's seconds per stage summed over the run
(where the time goes), and the mean seconds of a simulated day over the run's first and last thirds (growth
with the days: a run that re-read everything every day would show its last third much slower).

    .venv/bin/python benchmarks/bench_simulation.py --runs 7x100,7x300,7x1000
    .venv/bin/python benchmarks/bench_simulation.py --runs 35x300 --json     # one JSON line last (the harness)

``--tables MODEL:SEED=STATE_DIR ...`` prints, from finished runs' ledgers (``storyrec-dev simulate --state-dir``),
the Markdown tables docs/BENCHMARKS.md records: each run's outcome and expected clicks per look of the feed,
the latest list and the oracle, then every holdout test's arms (personalized vs control, beside the oracle).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.harness import growth  # noqa: E402  (one fit for every benchmark)
from infra.local.simulate.lift import interval_text, lift_text, value_text  # noqa: E402


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _child(days: int, readers: int, seed: int, state_dir: Path) -> dict[str, Any]:
    from infra.local.simulate.run import SimConfig, run_simulation

    before = _load()
    result = run_simulation(SimConfig(days=days, readers=readers, seed=seed, state_dir=state_dir), log=lambda _: None)
    records = [json.loads(line) for line in result.ledger.read_text().splitlines() if line]
    stages: dict[str, float] = {}
    per_day = []
    for record in records:
        seconds = record.get("seconds", {})
        for stage, value in seconds.items():
            stages[stage] = stages.get(stage, 0.0) + value
        per_day.append(sum(seconds.values()))
    inner = per_day[1:-1] or per_day  # day 0 (the first joins) and the final night are not typical days
    third = max(1, len(inner) // 3)
    wall = float(result.facts["wall_seconds"])
    return {
        "days": days,
        "readers": readers,
        "seed": seed,
        "wall_s": wall,
        "days_per_minute": round(days / (wall / 60), 2),
        "violations": result.violations,
        "not_checked": result.not_checked,
        "clicks": sum(r["stages"].get("day", {}).get("clicks", 0) for r in records),
        "stage_s": {k: round(v, 1) for k, v in sorted(stages.items(), key=lambda kv: -kv[1])},
        "day0_s": round(per_day[0], 1),
        "first_third_day_s": round(sum(inner[:third]) / third, 2),
        "last_third_day_s": round(sum(inner[-third:]) / third, 2),
        "load_before": before,
        "load_after": _load(),
    }


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Days per minute at the most readers, growth with the readers (seconds per typical day, same days)
    and with the days (last third of the longest run against its first third)."""
    top = max(rows, key=lambda r: (r["readers"], r["days"]))
    by_days: dict[int, set[int]] = {}
    for r in rows:
        by_days.setdefault(r["days"], set()).add(r["readers"])
    days = max(by_days, key=lambda d: (len(by_days[d]), d))  # the length run at the most reader counts
    same_days = [r for r in rows if r["days"] == days]
    longest = max(rows, key=lambda r: (r["days"], r["readers"]))
    exponent = growth([(r["readers"], (r["first_third_day_s"] + r["last_third_day_s"]) / 2) for r in same_days])
    return {
        "largest": {k: top[k] for k in ("days", "readers", "wall_s", "days_per_minute")},
        "growth_exponent_readers": exponent,
        "ten_times_readers_costs": None if exponent is None else round(10**exponent, 2),
        "days_growth": {
            "days": longest["days"],
            "readers": longest["readers"],
            "first_third_day_s": longest["first_third_day_s"],
            "last_third_day_s": longest["last_third_day_s"],
        },
        "violations": sum(r["violations"] for r in rows),
    }


def _totals(state_dir: Path) -> dict[str, Any]:
    lines = (state_dir / "run" / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    last = json.loads(lines[-1]) if lines else {}
    if "totals" not in last:
        raise SystemExit(f"{state_dir}: the run has not finished (its ledger has no final record)")
    return {"days": len(lines), **last["totals"]}


def _training_text(training: dict[str, Any]) -> str:
    day = str(training.get("name", "")).rsplit("-", 1)[-1]
    outcome = training.get("decision") or ("deferred" if training.get("deferred") else None)
    return f"{day[4:6]}-{day[6:]} {outcome or ('failed' if training.get('failed') else '?')}"


def tables(runs: list[tuple[str, Path]]) -> str:
    """Markdown: one row per run (outcome, expected clicks per look), then each holdout test's arms."""
    head = [
        "| readers model | seed | days | wall s | violations | not checked | trainings (MM-DD decision) "
        "| expected clicks per look: feed | latest | oracle |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    arms = [
        "| readers model | seed | test (served version) | arm | readers | impressions | clicks "
        "| clicks per reader [95 %] | lift per reader vs control [95 %] | expected clicks per look: served | oracle |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, state_dir in runs:
        model, _, seed = label.partition(":")
        t = _totals(state_dir)
        q = t.get("quality") or {}

        def look(name: str, q: dict[str, Any] = q) -> str:
            row = q.get(name) or {}
            spread = f" ± {row['ci95']:.3f}" if row.get("ci95") is not None else ""
            return f"{value_text(row.get('mean'))}{spread}"

        trainings = ", ".join(_training_text(x) for x in t.get("trainings") or []) or "none"
        head.append(
            f"| {model} | {seed} | {t['days'] - 1} | {t.get('wall_seconds')} | {t.get('violations')} "
            f"| {t.get('not_checked')} | {trainings} | {look('feed')} | {look('latest')} | {look('oracle')} |"
        )
        for test in (t.get("lift") or {}).get("tests") or []:
            if test["test"] == "no test":
                continue
            lifts = {x["arm"]: x for x in test.get("lifts") or [] if x.get("metric") == "clicks_per_reader"}
            for arm in test.get("arms") or []:
                exp = arm.get("expected_clicks_per_look") or {}
                lifted = "-" if arm["arm"] not in lifts else lift_text(lifts[arm["arm"]])
                arms.append(
                    f"| {model} | {seed} | {test['test']} | {arm['arm']} | {arm['readers']} | {arm['impressions']} "
                    f"| {arm['clicks']} | {interval_text(arm['clicks_per_reader'], 2)} | {lifted} "
                    f"| {value_text(exp.get('served'))} | {value_text(exp.get('oracle'))} |"
                )
    return "\n".join([*head, "", *arms])


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--runs", default="7x100,7x300", help="comma-separated DAYSxREADERS (default 7x100,7x300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON line with every run and the summary")
    parser.add_argument("--tables", nargs="+", metavar="MODEL:SEED=STATE_DIR", help="Markdown tables of finished runs")
    parser.add_argument("--child", nargs=3, type=int, metavar=("DAYS", "READERS", "SEED"), help=argparse.SUPPRESS)
    parser.add_argument("--state-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tables:
        print(tables([(spec.split("=", 1)[0], Path(spec.split("=", 1)[1])) for spec in args.tables]))
        return 0
    if args.child:
        days, readers, seed = args.child
        print(json.dumps(_child(days, readers, seed, args.state_dir)))
        return 0
    rows = []
    for spec in args.runs.split(","):
        days, readers = (int(x) for x in spec.lower().split("x"))
        with tempfile.TemporaryDirectory(prefix="bench-simulate-") as state:
            command = [sys.executable, __file__, "--child", str(days), str(readers), str(args.seed)]
            began = time.perf_counter()
            done = subprocess.run(
                [*command, "--state-dir", state], capture_output=True, text=True, cwd=REPO, check=False
            )
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or [""])[-1]
                raise SystemExit(f"simulate {spec} exited {done.returncode}: {last[:400]}")
            row = json.loads(done.stdout.strip().splitlines()[-1])
            row["process_s"] = round(time.perf_counter() - began, 1)  # with the stack's start and stop
        rows.append(row)
        if not args.json:
            print(json.dumps(row), flush=True)
    out = {"runs": rows, **summary(rows)}
    print(json.dumps(out) if args.json else json.dumps(summary(rows), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
