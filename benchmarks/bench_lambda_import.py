"""Cold-start import time of each Lambda handler module (`python -X importtime`, fresh interpreter per run).

Usage: python benchmarks/bench_lambda_import.py [--runs 15]
Prints min and median of the module's cumulative import time; the budget is 300 ms per handler.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HANDLERS = ("functions_aws.import_manifest", "functions_aws.train", "functions_aws.monitor")


def cumulative_ms(module: str) -> float:
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], cwd=REPO,
                         capture_output=True, text=True, check=True).stderr
    line = next(x for x in out.splitlines() if x.rstrip().endswith(f"| {module}"))
    return int(line.split("|")[1]) / 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    for module in HANDLERS:
        times = sorted(cumulative_ms(module) for _ in range(args.runs))
        print(f"{module:36} min {times[0]:7.1f} ms   median {statistics.median(times):7.1f} ms   (n={args.runs})")


if __name__ == "__main__":
    main()
