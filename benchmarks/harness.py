"""Every benchmark in one run, at stated sizes: ``benchmarks/results.json`` and the tables of docs/BENCHMARKS.md.

Usage (from the repo root; ``make bench`` / ``make bench-quick``)::

    .venv/bin/python benchmarks/harness.py            # full sizes, about an hour on 2 cores
    .venv/bin/python benchmarks/harness.py --quick    # small sizes, under 10 minutes
    .venv/bin/python benchmarks/harness.py --only export,training   # some benchmarks; the others keep their figures
    .venv/bin/python benchmarks/harness.py --only simulation --simulation-runs 7x300,7x1000   # other sizes
    .venv/bin/python benchmarks/harness.py --render   # only regenerate the docs tables from the results file

Each benchmark runs in its own process, the same command an operator can run alone (recorded beside its
figures). Every comparison is a ratio of two rates measured alternately in the same process, so both see
the same load; the 1-minute load average is recorded beside every figure. For the export and the engine's
training the harness fits the growth exponent b of ``seconds = a * size ** b`` (least squares on log-log):
a day ten times larger costs about ``10 ** b`` times as long. For the training it also keeps the seconds of
each phase the engine logs (``training phase`` lines) and what its log lines say the size chose (blend
searches, a reused final blend, validation fits, ALS fits from scratch or warm-started).
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import math
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PY = ".venv/bin/python"
DOC = REPO / "docs" / "BENCHMARKS.md"
TARGET_RATIO = 0.9


@dataclass(frozen=True)
class Sizes:
    export: tuple[int, ...]
    export_repeats: int
    feeds: tuple[int, ...]
    feeds_repeats: int
    training: tuple[tuple[int, int, int], ...]  # events, users, items
    latency_requests: int
    import_runs: int
    simulation: str  # DAYSxREADERS runs of benchmarks/bench_simulation.py


FULL = Sizes(
    export=(20_000, 100_000, 1_000_000),
    export_repeats=2,
    feeds=(1_000, 10_000, 20_000, 100_000),
    feeds_repeats=3,  # each fill bracketed by raw runs; three give a median of the drift-cancelled ratios
    training=((1_000_000, 100_000, 100_000), (3_000_000, 300_000, 100_000), (10_000_000, 1_000_000, 100_000)),
    latency_requests=500,
    import_runs=15,
    simulation="14x300,14x1000,35x1000",
)
QUICK = Sizes(
    export=(5_000, 10_000, 20_000),
    export_repeats=2,
    feeds=(1_000, 2_000),
    feeds_repeats=2,
    training=((50_000, 5_000, 5_000), (150_000, 15_000, 15_000), (500_000, 50_000, 50_000)),
    latency_requests=100,
    import_runs=5,
    simulation="5x100,5x300",
)


def load() -> float:
    return round(os.getloadavg()[0], 2)


def run(command: list[str], timeout: float) -> tuple[str, float, float, float]:
    """stdout of ``command`` (from the repo root), its seconds, the load average before and after."""
    before, start = load(), time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [""])[-1]
        raise RuntimeError(f"{shlex.join(command)} exited {done.returncode}: {last[:400]}")
    return done.stdout, time.perf_counter() - start, before, load()


def pairs(line: str) -> dict[str, str]:
    """``key=value`` tokens of one output line."""
    return dict(token.split("=", 1) for token in line.split() if "=" in token)


def growth(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(seconds) on log(size): the exponent b of seconds = a * size ** b."""
    pts = [(math.log(x), math.log(y)) for x, y in points if x > 0 and y > 0]
    if len(pts) < 2:
        return None
    mx, my = sum(x for x, _ in pts) / len(pts), sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return round(sum((x - mx) * (y - my) for x, y in pts) / sxx, 3) if sxx else None


# ---- one function per benchmark: runs it and returns its figures --------------------------------------


def bench_export(sizes: Sizes) -> dict[str, Any]:
    rows = []
    for docs in sizes.export:
        command = [PY, "benchmarks/bench_export.py", "emulator", "--docs", str(docs), "--repeats",
                   str(sizes.export_repeats)]
        out, seconds, before, after = run(command, timeout=4 * 3600)
        result = json.loads(out.strip().splitlines()[-1])
        result.update(command=shlex.join(command), bench_s=round(seconds, 1), load_before=before, load_after=after)
        result["median_ratio_meets_target"] = result["median_ratio"] >= TARGET_RATIO
        rows.append(result)
    fit = growth([(r["docs"], min(r["export_s"])) for r in rows])
    largest = rows[-1]
    best_s = min(largest["export_s"])
    return {
        "sizes": rows,
        "growth_exponent_seconds": fit,
        "ten_times_costs": None if fit is None else round(10**fit, 2),
        "largest": {
            "docs": largest["docs"],
            "export_s_measured": best_s,
            "rows_in_540s": (
                {"rows": largest["docs"], "how": f"measured: all {largest['docs']} rows in {best_s} s"}
                if best_s <= 540
                else {"rows": None, "how": "the largest size did not finish in 540 s"}
            ),
            "rows_in_540s_computed": round(540 * largest["docs"] / best_s),
        },
    }


def feed_row(
    users: int, raw: list[float], fill: list[float], raw_share: list[float], fill_share: list[float]
) -> dict[str, Any]:
    """The ratios of one size's runs: raw, fill, raw, fill, ..., and (newer benches) a closing raw run.

    ``ratios``: each fill over the raw run just before it. ``bracketed_ratios``: over the mean of the raw runs
    before and after it, which cancels a steady drift of the machine's speed; the median of these (else of
    ``ratios``) is the size's figure. ``raw_drift``: each raw run over the one before (1.0 on a steady machine).
    ``call_share_ratios``: the calls' share of the client's CPU in the fill over that share in the raw run before
    it: the fill's own client work against the same calls, read within each run, whatever the machine's speed.
    """
    ratios = [round(f / r, 2) for f, r in zip(fill, raw, strict=False)]
    bracketed = [round(f / ((a + b) / 2), 2) for f, a, b in zip(fill, raw, raw[1:], strict=False)]
    shares = [
        round(f / r, 3) if math.isfinite(f) and math.isfinite(r) and r > 0 else None
        for f, r in zip(fill_share, raw_share, strict=False)
    ]
    headline = bracketed if len(bracketed) == len(fill) and fill else ratios
    return {
        "users": users, "raw_users_per_s": raw, "fill_users_per_s": fill, "ratios": ratios,
        "bracketed_ratios": bracketed if len(bracketed) == len(fill) else [],
        "raw_drift": [round(b / a, 2) for a, b in itertools.pairwise(raw)],
        "call_share_ratios": shares,
        "median_ratio": round(statistics.median(headline), 2) if headline else None,
        "best_ratio": round(max(fill) / max(raw), 2) if raw and fill else None,
    }


def bench_feeds(sizes: Sizes) -> dict[str, Any]:
    rows = []
    for users in sizes.feeds:
        command = [PY, "benchmarks/bench_feeds.py", "--users", str(users), "--repeats", str(sizes.feeds_repeats),
                   "--no-batch"]
        out, seconds, before, after = run(command, timeout=3 * 3600)
        raw, fill, fixed, loads = [], [], [], []
        raw_busy, fill_cpu = [], []  # the whole machine's: share of its cores during raw, CPU s of a fill
        raw_ms, fill_ms = [], []  # the bench process's own CPU per user (one Python process: the GIL's core)
        raw_share, fill_share = [], []  # the share of that CPU inside the GetRecommendations calls
        for line in out.splitlines():
            kv = pairs(line)
            if line.startswith("raw repeat="):
                raw.append(float(kv["users_per_s"]))
                raw_busy.append(float(kv.get("machine_busy_share", "nan")))
                raw_ms.append(float(kv.get("bench_cpu_ms_per_user", "nan")))
                raw_share.append(float(kv.get("call_share", "nan")))
            elif line.startswith("fill repeat="):
                fill.append(float(kv["users_per_s"]))
                fill_cpu.append(float(kv.get("machine_cpu_s", "nan")))
                fill_ms.append(float(kv.get("bench_cpu_ms_per_user", "nan")))
                fill_share.append(float(kv.get("call_share", "nan")))
                loads.append(float(kv["load"].split("/")[0]))
            elif line.startswith("fixed repeat="):
                fixed.append(float(kv["seconds"]))
        cores = os.cpu_count() or 1
        rows.append(feed_row(users, raw, fill, raw_share, fill_share) | {
            "fixed_run_s": fixed, "load_avg_1m_each": loads,
            # what the fill costs over the raw calls, per run: its fixed cost once overlapped (seconds)
            "extra_s": [round(users / f - users / r, 2) for f, r in zip(fill, raw, strict=False)],
            # the machine's cores were this busy during the raw calls; a fill needing C CPU seconds of the whole
            # machine cannot take less than C / cores, so fill ÷ raw cannot exceed raw s x cores / C
            "raw_machine_busy_share": raw_busy, "fill_machine_cpu_s": fill_cpu,
            # one Python process runs the calls and the fill on one core at a time (the GIL): at the same share of
            # that core, fill ÷ raw cannot exceed raw CPU per user / fill CPU per user
            "raw_cpu_ms_per_user": raw_ms, "fill_cpu_ms_per_user": fill_ms,
            "client_bound": [round(r / f, 2) if f > 0 else None for r, f in zip(raw_ms, fill_ms, strict=False)],
            "ratio_bound": [round(users / r * cores / c, 2) if c > 0 else None for r, c in zip(raw, fill_cpu,
                                                                                              strict=False)],
            "load_before": before, "load_after": after,
            "command": shlex.join(command), "bench_s": round(seconds, 1),
        })
    return {"sizes": rows}


def bench_training(sizes: Sizes) -> dict[str, Any]:
    rows = []
    for events, users, items in sizes.training:
        command = [PY, "benchmarks/bench_engine.py", "scale", "--events", str(events), "--users", str(users)]
        command += ["--items", str(items)]
        out, seconds, before, after = run(command, timeout=3 * 3600)
        line = next(x for x in out.splitlines() if x.startswith("scale "))
        kv = pairs(line)
        records = log_records(out)
        rows.append(
            {
                "events": events,
                "users": users,
                "items": items,
                "status": kv.get("status"),
                "solution_version_s": float(kv["solution_version_s"]),
                "cpu_s": float(kv["cpu_s"]),
                "peak_rss_gb": float(kv["peak_rss_gb"]),
                "load_before": before,
                "load_after": after,
                "command": shlex.join(command),
                "bench_s": round(seconds, 1),
                # where the seconds went (the engine's phase lines) and the path the size chose (other log lines)
                "phases": training_phases(records),
                "path": training_path(records),
            }
        )
    return {"sizes": rows, **training_growth(rows)}


PHASES = ("training data", "metrics", "final model", "persist model")
"""The phases ``run_training`` logs (infra/local/personalize/jobs.py, ``phase``), in the order it runs them."""


def log_records(out: str) -> list[dict[str, Any]]:
    """The JSON log lines of a bench's output (the engine's ``JsonFormatter``); any other line is skipped."""
    records = []
    for line in out.splitlines():
        text = line.strip()
        if not text.startswith("{"):
            continue
        try:
            record = json.loads(text)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("msg"), str):
            records.append(record)
    return records


def _figure(value: Any) -> float | None:
    """A finite, non-negative number (seconds, rows) of a log line, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def training_phases(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """{phase: {"wall_s", "cpu_s"}} of the engine's ``training phase`` lines; a line without a phase name or
    with seconds that are not numbers is left out (fewer phases, never an error); a phase logged twice adds up."""
    phases: dict[str, dict[str, float]] = {}
    for record in records:
        name = record.get("phase")
        wall, cpu = _figure(record.get("wall_s")), _figure(record.get("cpu_s"))
        if record.get("msg") != "training phase" or not isinstance(name, str) or wall is None or cpu is None:
            continue
        seen = phases.setdefault(name, {"wall_s": 0.0, "cpu_s": 0.0})
        seen["wall_s"], seen["cpu_s"] = round(seen["wall_s"] + wall, 2), round(seen["cpu_s"] + cpu, 2)
    return phases


def training_path(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What the logs say about the path the data's size chose: how many blend searches ran (``blend chosen``,
    training.py; one per ``choose``), whether the final model reused the evaluated blend and warm-started
    (jobs.py ``Evaluated.final_model``) or was trained anew, each validation split (training.py: kind,
    validation fits) and the ALS fits (data.py ``fit_als``), from scratch or warm,
    with their CPU seconds. Only what was logged is stated: an empty mapping when nothing was."""
    path: dict[str, Any] = {}
    searches = sum(1 for r in records if r.get("msg") == "blend chosen")
    if searches:
        path["blend_searches"] = searches
    reused = next((r for r in records if r.get("msg") == "final model reuses the evaluated blend"), None)
    if reused is not None:
        path["final_model"] = "reused"
        held_out = _figure(reused.get("held_out_rows"))
        if held_out is not None:
            path["final_model_held_out_rows"] = int(held_out)
    elif any(r.get("msg") == "training phase" and r.get("phase") == "final model" for r in records):
        path["final_model"] = "trained anew"
    splits = [
        {"kind": str(r.get("kind")), "fits": r["fits"]}
        for r in records
        if r.get("msg") == "validation split" and isinstance(r.get("fits"), int) and not isinstance(r["fits"], bool)
    ]
    if splits:
        path["validation"] = splits
    als: dict[str, Any] = {}
    for record in records:
        if record.get("msg") != "als fit" or not isinstance(record.get("warm"), bool):
            continue
        how = "warm" if record["warm"] else "cold"
        als[how] = als.get(how, 0) + 1
        cpu = _figure(record.get("cpu_s"))
        if cpu is not None:
            als[f"{how}_cpu_s"] = round(als.get(f"{how}_cpu_s", 0.0) + cpu, 2)
    if als:
        path["als_fits"] = als
    return path


def training_growth(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Growth of the training's CPU seconds (what the machine's load does not inflate) and of its wall seconds."""
    cpu = growth([(r["events"], r["cpu_s"]) for r in rows])
    wall = growth([(r["events"], r["solution_version_s"]) for r in rows])
    return {"growth_exponent_cpu_s": cpu, "ten_times_costs_cpu": None if cpu is None else round(10**cpu, 2),
            "growth_exponent_wall_s": wall}


def bench_latency(sizes: Sizes) -> dict[str, Any]:
    command = [PY, "benchmarks/bench_engine.py", "latency", "--clients", "16", "--requests",
               str(sizes.latency_requests), "--rates", "0,1000"]
    out, _, before, after = run(command, timeout=3600)
    rows = []
    for line in out.splitlines():
        if line.startswith("get_recommendations "):
            kv = pairs(line)
            rows.append({k: kv[k] for k in ("client", "clients", "offered_rps", "requests", "p50_ms", "p99_ms",
                                            "max_ms", "throughput_rps") if k in kv})
    return {"runs": rows, "command": shlex.join(command), "load_before": before, "load_after": after}


def bench_imports(sizes: Sizes) -> dict[str, Any]:
    command = [PY, "benchmarks/bench_lambda_import.py", "--runs", str(sizes.import_runs)]
    out, _, before, after = run(command, timeout=1800)
    rows = []
    for line in out.splitlines():
        match = re.match(r"(\S+)\s+min\s+([\d.]+) ms\s+median\s+([\d.]+) ms", line)
        if match:
            rows.append({"module": match[1], "min_ms": float(match[2]), "median_ms": float(match[3])})
    return {"handlers": rows, "command": shlex.join(command), "load_before": before, "load_after": after}


def bench_simulation(sizes: Sizes) -> dict[str, Any]:
    """``storyrec-dev simulate``: days per minute, where the time goes, growth with readers and days (#24)."""
    command = [PY, "benchmarks/bench_simulation.py", "--runs", sizes.simulation, "--json"]
    out, _, before, after = run(command, timeout=3 * 3600)
    return {**json.loads(out.strip().splitlines()[-1]), "command": shlex.join(command), "load_before": before,
            "load_after": after}


BENCHES: dict[str, Callable[[Sizes], dict[str, Any]]] = {
    "export": bench_export,
    "feeds": bench_feeds,
    "training": bench_training,
    "latency": bench_latency,
    "imports": bench_imports,
    "simulation": bench_simulation,
}


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "commit": commit.strip()}


# ---- the docs tables ------------------------------------------------------------------------------------


QUIET = 4.0
"""A 1-minute load average above this (2 cores) makes a ratio a direction, not a claim."""


def _verdict(ratio: float | None, loads: Sequence[float]) -> str:
    if ratio is None:
        return "-"
    met = "yes" if ratio >= TARGET_RATIO else "**no**"
    return met if loads and max(loads) <= QUIET else f"{met} (noisy: load {max(loads or [0]):.0f})"


def _earlier(figures: dict[str, Any], started: str | None) -> bool:
    """Whether a benchmark's figures were measured before the run that wrote the file (kept from an older run)."""
    return bool(started and figures.get("measured") and str(figures["measured"]) < started)


def _loads(node: Any, key: str = "") -> list[float]:
    """Every load average recorded anywhere in a results tree (keys starting with ``load``)."""
    if isinstance(node, dict):
        return [x for k, v in node.items() for x in _loads(v, k)]
    if isinstance(node, list):
        return [x for v in node for x in _loads(v, key)]
    return [float(node)] if key.startswith("load") and isinstance(node, int | float) else []


def _machine_sentence(results: dict[str, Any]) -> str:
    """Whether the run had the machine to itself, from the highest load average it recorded (benchmarks kept
    from an earlier run are not this run's)."""
    started = results.get("started")
    mine = {k: v for k, v in results.get("benchmarks", {}).items() if not _earlier(v, started)}
    highest = max(_loads({**results, "benchmarks": mine}), default=None)
    if highest is not None and highest <= QUIET:
        return (f"The highest load average recorded was {highest:.2f} on {results['machine']['cores']} cores: "
                "a quiet machine, so the rates are this machine's, not another session's noise.")
    shown = "" if highest is None else f" (up to {highest:.1f} on {results['machine']['cores']} cores)"
    return f"Other work ran on the machine{shown}: compare only ratios measured side by side."


def _optional_cells(values: Sequence[float | None] | None) -> str:
    """Figures an older bench did not record show as a dash."""
    shown = [f"{v:.2f}" for v in values or [] if v is not None and math.isfinite(v)]
    return ", ".join(shown) or "-"


def _ratio_cell(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def render(results: dict[str, Any]) -> str:
    """The markdown of one results file (one mode)."""
    mode, m = results["mode"], results["machine"]
    failed = {k: v for k, v in results["benchmarks"].items() if "status" in v and k != "simulation"}
    b = {k: v for k, v in results["benchmarks"].items() if k not in failed}
    out = [
        f"Last run {results.get('finished', results.get('started'))} ({mode} sizes, "
        f"`{results.get('command')}`), commit {m['commit']}: {m['cores']} x {m['cpu']}, {m['memory_gib']} GiB, "
        f"Python {m['python']}; 1-minute load average {results.get('load_before')} at its start, "
        f"{results.get('load_after', '(interrupted)')} at its end, and beside each figure below (each benchmark "
        f"records when it was measured in the results file). {_machine_sentence(results)}",
        "",
    ]
    kept = {k: v["measured"] for k, v in results["benchmarks"].items() if _earlier(v, results.get("started"))}
    if kept:
        out += ["*Not rerun in this run, kept from an earlier one:* "
                + ", ".join(f"{name} (measured {when})" for name, when in kept.items()) + ".", ""]
    for name, figures in failed.items():
        out += [f"**{name}**: {' '.join(figures['status'].split())} (at {figures.get('measured')})", ""]
    if "export" in b:
        e = b["export"]
        out += [
            "**Export vs the raw Firestore read** (private emulator, the same query: `Query.stream()` alone, then"
            " the export's read, capture's checks and CSV, alternately):",
            "",
            "| docs | raw docs/s | export docs/s | export ÷ raw (each pair) | median | ≥ 0.9 | export s "
            "| RSS growth MB | load (1 min) | command |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in e["sizes"]:
            out.append(
                f"| {r['docs']:,} | {', '.join(f'{x:,}' for x in r['raw_docs_per_s'])} "
                f"| {', '.join(f'{x:,}' for x in r['export_docs_per_s'])} | {_ratio_cell(r['ratios'])} "
                f"| {r['median_ratio']:.2f} | {_verdict(r['median_ratio'], r['load_avg_1m_each'])} "
                f"| {', '.join(str(x) for x in r['export_s'])} "
                f"| {', '.join(str(x) for x in r['export_rss_growth_mb'])} "
                f"| {', '.join(str(x) for x in r['load_avg_1m_each'])} | `{r['command']}` |"
            )
        lg = e["largest"]
        out += [
            "",
            f"Growth of the export's seconds with the documents: exponent **{e['growth_exponent_seconds']}** "
            f"(fitted on the {len(e['sizes'])} sizes; 1 is linear): a day ten times larger takes about "
            f"**{e['ten_times_costs']}x** as long. Largest size: {lg['docs']:,} rows exported in "
            f"{lg['export_s_measured']} s (measured); {lg['rows_in_540s']['how']}. At that size's rate one 540-s "
            f"run would export about {lg['rows_in_540s_computed']:,} rows (*computed* from the measured rate, "
            "not a 540-s run).",
            "",
        ]
    if "feeds" in b:
        out += [
            "**Feed fill (realtime) vs raw GetRecommendations** (private emulator, moto and engine; 8 threads "
            "each, alternately). *fill s - raw s*: what a run costs over the raw calls for the same users (its "
            "fixed cost as it remains, overlapped); *a fill of no user*: the catalogue read and set-up with "
            "nothing to overlap them; *cores busy in raw*: the share of the machine's cores in use (all processes) "
            "during the raw calls; *bound*: the highest fill ÷ raw this machine allows for the CPU seconds the "
            "fill's work took on it (engine, emulator and client together), raw s x cores / fill's CPU s; "
            "*client bound*: raw ÷ fill CPU per user of the one Python process that makes the calls and the fill "
            "(its threads share one core at a time). The runs go raw, fill, raw, fill, raw: *fill ÷ raw before* "
            "compares each fill with the raw run just before it, *fill ÷ raw around* with the mean of the raw runs "
            "before and after it (a steady drift of the machine's speed cancels; its median is the size's figure), "
            "*raw after ÷ before* shows that drift (1.00 on a steady machine), and *calls' share, fill ÷ raw* is the "
            "share of the client's CPU spent inside the GetRecommendations calls in the fill over that share in the "
            "raw run: the fill's own client work against the same calls, read within each run, so the machine's "
            "speed cancels:",
            "",
            "| users | raw users/s | fill users/s | fill ÷ raw before | fill ÷ raw around | median | ≥ 0.9 "
            "| raw after ÷ before | calls' share, fill ÷ raw | fill s - raw s "
            "| a fill of no user s | cores busy in raw | bound | client bound | load (1 min) | command |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in b["feeds"]["sizes"]:
            out.append(
                f"| {r['users']:,} | {', '.join(f'{x:,.0f}' for x in r['raw_users_per_s'])} "
                f"| {', '.join(f'{x:,.0f}' for x in r['fill_users_per_s'])} | {_ratio_cell(r['ratios'])} "
                f"| {_optional_cells(r.get('bracketed_ratios'))} "
                f"| {r['median_ratio']} | {_verdict(r['median_ratio'], r['load_avg_1m_each'])} "
                f"| {_optional_cells(r.get('raw_drift'))} | {_optional_cells(r.get('call_share_ratios'))} "
                f"| {', '.join(str(x) for x in r.get('extra_s', []))} "
                f"| {', '.join(str(x) for x in r['fixed_run_s'])} "
                f"| {_optional_cells(r.get('raw_machine_busy_share'))} | {_optional_cells(r.get('ratio_bound'))} "
                f"| {_optional_cells(r.get('client_bound'))} "
                f"| {', '.join(str(x) for x in r['load_avg_1m_each'])} | `{r['command']}` |"
            )
        out.append("")
    if "training" in b:
        t = b["training"]
        out += [
            "**Engine training** (`CreateSolutionVersion` of user-personalization on generated interactions, "
            "the engine bench's `scale`):",
            "",
            "| events | users | items | status | solution version s | CPU s | peak RSS GB | load before/after "
            "| command |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in t["sizes"]:
            out.append(
                f"| {r['events']:,} | {r['users']:,} | {r['items']:,} | {r['status']} | {r['solution_version_s']} "
                f"| {r['cpu_s']} | {r['peak_rss_gb']} | {r['load_before']} / {r['load_after']} | `{r['command']}` |"
            )
        out += _phase_table(t["sizes"])
        cpu = [r["cpu_s"] for r in t["sizes"]]
        by_phase = _phase_growth(t["sizes"])
        if all(a < b for a, b in itertools.pairwise(cpu)):
            growth_line = (
                f"Growth of the training's CPU seconds with the events: exponent **{t['growth_exponent_cpu_s']}**: "
                f"ten times the events take about **{t['ten_times_costs_cpu']}x** the CPU (users and items grow with "
                f"the events here; wall seconds: exponent {t['growth_exponent_wall_s']}, which the load distorts)."
            )
        else:
            unknown = "" if by_phase else "; which one cost what here is not in these figures"
            growth_line = (
                "**No growth law**: the training's CPU seconds do not rise with the events here "
                f"({', '.join(map(str, cpu))} s), so no exponent (the fit would say {t['growth_exponent_cpu_s']}) "
                "tells what ten times the events cost (the engine's path depends on the size: warm starts, a "
                f"reused choice, section Training at scale{unknown})."
            )
        out += ["", " ".join(x for x in (growth_line, by_phase) if x), ""]
    if "latency" in b:
        lat = b["latency"]
        out += [
            f"**GetRecommendations latency** (`{lat['command']}`, load {lat['load_before']} / {lat['load_after']}):",
            "",
            "| client | clients | offered req/s | requests | p50 ms | p99 ms | max ms | throughput req/s |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in lat["runs"]:
            out.append(
                f"| {r.get('client')} | {r.get('clients')} | {r.get('offered_rps')} | {r.get('requests')} "
                f"| {r.get('p50_ms')} | {r.get('p99_ms')} | {r.get('max_ms')} | {r.get('throughput_rps')} |"
            )
        out.append("")
    if "imports" in b:
        imp = b["imports"]
        out += [
            f"**Lambda handler import time** (`{imp['command']}`, load {imp['load_before']} / {imp['load_after']}; "
            "budget 300 ms):",
            "",
            "| handler | min ms | median ms |",
            "|---|---|---|",
        ]
        out += [f"| {r['module']} | {r['min_ms']} | {r['median_ms']} |" for r in imp["handlers"]]
        out.append("")
    if "simulation" in b:
        out += _simulation_table(b["simulation"])
    return "\n".join(out).rstrip() + "\n"


def _phase_names(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The phases any row logged: the engine's in the order it runs them, then any other in order of appearance."""
    seen = dict.fromkeys(name for r in rows for name in r.get("phases") or {})
    return [name for name in PHASES if name in seen] + [name for name in seen if name not in PHASES]


def _path_cell(path: dict[str, Any] | None) -> str:
    """The path the size chose, as the logs stated it (bench_training's ``training_path``)."""
    path = path or {}
    parts = []
    if path.get("blend_searches"):
        parts.append(f"blend searches {path['blend_searches']}")
    if path.get("final_model") == "reused":
        parts.append("final model: evaluated blend reused, ALS warm-started")
    elif path.get("final_model"):
        parts.append(f"final model: {path['final_model']}")
    splits = collections.Counter(
        f"{s.get('kind')}, {s.get('fits')} fit{'' if s.get('fits') == 1 else 's'}" for s in path.get("validation") or []
    )
    if splits:
        parts.append("validation split " + ", ".join(f"{k} ({n} times)" if n > 1 else k for k, n in splits.items()))
    als = path.get("als_fits") or {}
    fits = [
        f"{als[how]} {label}" + (f" ({als[how + '_cpu_s']} CPU s)" if how + "_cpu_s" in als else "")
        for how, label in (("cold", "from scratch"), ("warm", "warm"))
        if als.get(how)
    ]
    if fits:
        parts.append(f"ALS fits {', '.join(fits)}")
    return "; ".join(parts) or "-"


def _outside(row: dict[str, Any]) -> float:
    """The run's CPU seconds outside the phases it logged (the control plane's call around them, rounding)."""
    return round(float(row["cpu_s"]) - sum(float(p["cpu_s"]) for p in row["phases"].values()), 1) + 0.0  # no -0.0


def _phase_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    """CPU seconds of each phase the engine logged, one row per size (rows of an older harness, without
    ``phases``, are not in it; no table when none has them)."""
    logged = [r for r in rows if "phases" in r]
    names = _phase_names(logged)
    if not logged or not names:
        return []
    paths = any(r.get("path") for r in logged)
    out = [
        "",
        "**CPU seconds by phase** (the engine's `training phase` log lines, infra/local/personalize/jobs.py; "
        "*outside the phases*: the run's CPU seconds minus theirs"
        + (
            "; *engine path*: what the size chose, as the engine's log lines state it (training.py's "
            "`validation split` and `blend chosen`, data.py's `als fit`, jobs.py's reused blend)"
            if paths
            else ""
        )
        + "):",
        "",
        "| events | " + " | ".join(names) + " | outside the phases |" + (" engine path |" if paths else ""),
        "|---|" + "---|" * (len(names) + 1 + paths),
    ]
    for r in logged:
        phases = r["phases"]
        cells = [f"{phases[n]['cpu_s']}" if n in phases else "-" for n in names]
        rest = _outside(r) if phases else "-"
        path = f" {_path_cell(r.get('path'))} |" if paths else ""
        out.append(f"| {r['events']:,} | " + " | ".join(cells) + f" | {rest} |{path}")
    return out


def _phase_growth(rows: Sequence[dict[str, Any]]) -> str:
    """Which phases' CPU seconds do not rise with the events (sizes in events order; empty without phases)."""
    logged = sorted((r for r in rows if r.get("phases")), key=lambda r: r["events"])
    if len(logged) < 2:
        return ""
    flat, rising = [], []
    for name in _phase_names(logged):
        values = [r["phases"][name]["cpu_s"] if name in r["phases"] else None for r in logged]
        known = [v for v in values if v is not None]
        if len(known) < 2:
            continue
        figures = ", ".join("-" if v is None else str(v) for v in values)
        if all(a < b for a, b in itertools.pairwise(known)):
            rising.append(f"{name} ({figures} s)")
        else:
            flat.append((max(known), f"**{name}** ({figures} s)"))
    if not flat and not rising:
        return ""
    sizes = ", ".join(f"{r['events']:,}" for r in logged)
    if not flat:
        rest = [_outside(r) for r in logged]
        return (
            f"By phase (CPU seconds at {sizes} events) every phase logged rises with the events: "
            f"{', '.join(rising)}; outside the phases: {', '.join(map(str, rest))} s."
        )
    flat.sort(key=lambda entry: -entry[0])  # the phase costing the most first
    verb = "does" if len(flat) == 1 else "do"
    also = f"; rising: {', '.join(rising)}" if rising else ""
    return (
        f"By phase (CPU seconds at {sizes} events), what {verb} not rise with the events: "
        f"{', '.join(shown for _, shown in flat)}{also}."
    )


def _simulation_table(sim: dict[str, Any]) -> list[str]:
    if "runs" not in sim:
        return [f"**Simulation, days per minute**: {sim.get('status') or sim}", ""]
    out = [
        f"**Simulation** (`{sim['command']}`: whole runs of `storyrec-dev simulate`, default fault plan, stable "
        "readers, seed 0; wall seconds exclude the stack's start; *stage s*: the ledger's seconds per stage over "
        "the run, largest first):",
        "",
        "| days | readers | clicks | wall s | days/min | day 0 s | a day, first third s | a day, last third s "
        "| stage s | violations | load before/after |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sim["runs"]:
        stages = ", ".join(f"{k} {v}" for k, v in r["stage_s"].items())
        out.append(
            f"| {r['days']} | {r['readers']:,} | {r['clicks']:,} | {r['wall_s']} | {r['days_per_minute']} "
            f"| {r['day0_s']} | {r['first_third_day_s']} | {r['last_third_day_s']} | {stages} | {r['violations']} "
            f"| {r['load_before']} / {r['load_after']} |"
        )
    top, days = sim["largest"], sim["days_growth"]
    out += [
        "",
        f"At {top['readers']:,} readers: **{top['days_per_minute']} simulated days per minute** ({top['days']} days "
        f"in {top['wall_s']} s). Growth with the readers (seconds of a typical day, same days): exponent "
        f"**{sim['growth_exponent_readers']}** (ten times the readers cost about {sim['ten_times_readers_costs']}x). "
        f"Growth with the days ({days['days']} days x {days['readers']:,} readers): a day of the first third took "
        f"{days['first_third_day_s']} s, of the last third {days['last_third_day_s']} s (a later third also holds "
        "what the run's trainings changed: once a version serves, the fill calls the engine for every reader).",
        "",
    ]
    return out


def write_docs(results_by_mode: dict[str, dict[str, Any]]) -> None:
    """Replace the harness section of docs/BENCHMARKS.md (between its markers) with the tables of each mode."""
    begin, end = "<!-- harness:begin -->", "<!-- harness:end -->"
    text = DOC.read_text()
    note = "Generated by `benchmarks/harness.py` from `benchmarks/results*.json`: do not edit by hand."
    parts = [begin, "", note, ""]
    for mode in ("full", "quick"):
        if mode in results_by_mode:
            title = "make bench" if mode == "full" else "make bench-quick"
            parts += [f"### `{title}`", "", render(results_by_mode[mode])]
    parts.append(end)
    block = "\n".join(parts)
    if begin in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        anchor = "\n## Export\n"
        text = text.replace(anchor, f"\n## All benchmarks in one run\n\n{block}\n{anchor}", 1)
    DOC.write_text(text)


def save(path: Path, results: dict[str, Any], name: str | None) -> None:
    """Write ``results``, keeping the figures another harness run (``--only`` others) wrote meanwhile."""
    if path.exists():
        stored = json.loads(path.read_text()).get("benchmarks", {})
        mine = {name: results["benchmarks"][name]} if name else {}
        results["benchmarks"] = {**results["benchmarks"], **stored, **mine}
    path.write_text(json.dumps(results, indent=1) + "\n")


def results_path(mode: str) -> Path:
    return REPO / "benchmarks" / ("results.json" if mode == "full" else "results-quick.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (under 10 minutes)")
    parser.add_argument("--only", default=",".join(BENCHES), help=f"comma-separated subset of {', '.join(BENCHES)}")
    parser.add_argument("--render", action="store_true", help="only regenerate docs/BENCHMARKS.md from the results")
    parser.add_argument("--export-docs", help="comma-separated sizes instead of the mode's (e.g. 20000,100000)")
    parser.add_argument("--feeds-users", help="comma-separated sizes instead of the mode's (e.g. 1000,10000)")
    parser.add_argument("--simulation-runs", help="DAYSxREADERS runs instead of the mode's (e.g. 7x300,7x1000)")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    path = results_path(mode)
    if not args.render:
        previous = json.loads(path.read_text()) if path.exists() else {"benchmarks": {}}
        sizes = QUICK if args.quick else FULL
        if args.export_docs:
            sizes = replace(sizes, export=tuple(int(x) for x in args.export_docs.split(",")))
        if args.feeds_users:
            sizes = replace(sizes, feeds=tuple(int(x) for x in args.feeds_users.split(",")))
        if args.simulation_runs:
            sizes = replace(sizes, simulation=args.simulation_runs)
        results: dict[str, Any] = {
            "mode": mode, "machine": machine(), "command": shlex.join(["python", "benchmarks/harness.py", *(argv or
                                                                        sys.argv[1:])]),
            "started": datetime.now(UTC).isoformat(timespec="seconds"), "load_before": load(),
            "benchmarks": dict(previous.get("benchmarks", {})),
        }
        for name in args.only.split(","):
            started = time.perf_counter()
            print(f"harness: {name} ({mode}) load={load()}", flush=True)
            try:
                figures = BENCHES[name](sizes)
            except (RuntimeError, subprocess.TimeoutExpired, StopIteration, KeyError, ValueError) as exc:
                figures = {"status": f"failed: {type(exc).__name__}: {str(exc)[:500]}"}
            figures["measured"] = datetime.now(UTC).isoformat(timespec="seconds")
            figures["seconds"] = round(time.perf_counter() - started, 1)
            results["benchmarks"][name] = figures
            print(json.dumps({name: figures}), flush=True)
            save(path, results, name)  # after each, so a long run keeps what it has
        results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        results["load_after"] = load()
        save(path, results, None)
    by_mode = {m: json.loads(results_path(m).read_text()) for m in ("full", "quick") if results_path(m).exists()}
    for results in by_mode.values():  # figures written by an older harness get the current growth fit
        training = results["benchmarks"].get("training", {})
        if training.get("sizes"):
            training.update(training_growth(training["sizes"]))
    write_docs(by_mode)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
