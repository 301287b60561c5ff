"""Speed and memory of the traffic generator (run from the repo root).

Each size runs in its own subprocess, so the peak RSS is that run's alone. Two measurements per size:
``generate`` (the interaction arrays only, chunk by chunk) and ``csv`` (the same plus the Personalize
CSVs written to a temporary folder, as ``python -m infra.local.traffic`` does).

    .venv/bin/python benchmarks/bench_traffic.py                       # 1M and 10M interactions
    .venv/bin/python benchmarks/bench_traffic.py --sizes 10000000 --users 1000000 --stories 100000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _child(mode: str, size: int, users: int, stories: int, days: int) -> dict[str, object]:
    from infra.local.traffic import TrafficConfig, build_catalogue, interaction_chunks, write_personalize_csvs

    config = TrafficConfig(seed=1, users=users, stories=stories, interactions=size, days=days)
    began, cpu = time.perf_counter(), time.process_time()
    out: dict[str, object] = {"mode": mode, "interactions": size, "users": users, "stories": stories, "days": days}
    if mode == "generate":
        catalogue = build_catalogue(config)
        out["rows"] = sum(len(c) for c in interaction_chunks(config, catalogue))
    else:
        with tempfile.TemporaryDirectory(prefix="bench-traffic-") as tmp:
            out["rows"] = write_personalize_csvs(config, Path(tmp))
            out["csv_mb"] = round((Path(tmp) / "interactions.csv").stat().st_size / 1e6, 1)
    wall = time.perf_counter() - began
    out.update(
        seconds=round(wall, 2),
        cpu_seconds=round(time.process_time() - cpu, 2),
        rows_per_s=round(size / wall),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        load_avg_1m=round(os.getloadavg()[0], 2),
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--stories", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--modes", nargs="+", default=["generate", "csv"], choices=["generate", "csv"])
    parser.add_argument("--child", nargs=2, metavar=("MODE", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, size = args.child[0], int(args.child[1])
        print(json.dumps(_child(mode, size, args.users, args.stories, args.days)))
        return 0
    for size in args.sizes:
        for mode in args.modes:
            cmd = [
                sys.executable,
                __file__,
                "--child",
                mode,
                str(size),
                "--users",
                str(args.users),
                "--stories",
                str(args.stories),
                "--days",
                str(args.days),
            ]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO)
            print(done.stdout.strip(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
