"""Does reading IMPRESSION (shown, not clicked) improve user-personalization? Measured, not assumed.

Two generated feeds (``infra.local.personalize.synthetic_feeds``): ``informative`` (impressions are what
the reader was shown: a story shown and not clicked is one they like less) and ``noise`` (impressions
are random stories). For each, and each seed, user-personalization is trained and scored on
GetSolutionMetrics' protocol (``metrics.evaluate``: random users' newest 10% held out) twice: with the
IMPRESSION column, and with it dropped (an older schema). The seed draws the data and the split.
Prints a markdown table (mean and per-seed NDCG@25) and the chosen ``blend_impressed`` weight.

Run from the repo root: ``.venv/bin/python -m benchmarks.bench_impressions [--seeds 0,1,2]``.
"""

from __future__ import annotations

import argparse
import logging
import time
from functools import partial

import numpy as np

from infra.local.personalize.data import TrainingConfig
from infra.local.personalize.metrics import evaluate
from infra.local.personalize.recipes import Model
from infra.local.personalize.synthetic_feeds import feeds
from infra.local.personalize.training import train

METRICS = ("normalized_discounted_cumulative_gain_at_25", "precision_at_25", "mean_reciprocal_rank_at_25")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--users", type=int, default=1500)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    seeds = [int(s) for s in args.seeds.split(",")]
    config = TrainingConfig(recipe="aws-user-personalization")
    print("| data | impressions | " + " | ".join(METRICS) + " | NDCG@25 per seed | blend_impressed |")
    print("|---|---|" + "---|" * len(METRICS) + "---|---|")
    for name, informative in (("informative", True), ("noise", False)):
        runs: dict[str, list[dict[str, float]]] = {"with": [], "without": []}
        weights: list[float] = []
        for seed in seeds:
            interactions, items = feeds(n_users=args.users, seed=seed, informative=informative)
            for label, frame in (("with", interactions), ("without", interactions.drop(columns="IMPRESSION"))):
                chosen: list[Model] = []

                def fit(rows: object, frame_items: object = items, keep: list[Model] = chosen) -> Model:
                    model = partial(train, items=frame_items, config=config)(rows)
                    keep.append(model)
                    return model

                started = time.perf_counter()
                runs[label].append(evaluate(frame, fit, seed=seed))
                if label == "with":
                    weights.append(float(chosen[-1].weights.get("impressed", 0.0)))
                print(f"# {name} seed {seed} {label}: {time.perf_counter() - started:.0f}s", flush=True)
        for label in ("with", "without"):
            mean = {m: float(np.mean([r[m] for r in runs[label]])) for m in METRICS}
            per_seed = ", ".join(f"{r[METRICS[0]]:.4f}" for r in runs[label])
            shown = ", ".join(f"{w:g}" for w in weights) if label == "with" else "-"
            cells = " | ".join(f"{mean[m]:.4f}" for m in METRICS)
            print(f"| {name} | {label} | {cells} | {per_seed} | {shown} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
