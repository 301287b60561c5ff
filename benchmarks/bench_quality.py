"""Offline quality of the local Personalize engine on Deskdrop (GetSolutionMetrics, 5-seed mean).

Prints ``recipe metric=value`` lines. Run from the repo root: ``make bench-quality``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from infra.local.personalize.data import TrainingConfig
from infra.local.personalize.metrics import evaluate
from infra.local.personalize.training import train

REPO = Path(__file__).resolve().parents[1]
DESKDROP = REPO.parent / "shared" / "data" / "deskdrop"
# FOLLOW (following an author) has no storyrec click type: it is kept as its own 'follow' event.
EVENT_MAP = {
    "VIEW": "read",
    "LIKE": "like",
    "BOOKMARK": "save",
    "COMMENT CREATED": "comment",
    "FOLLOW": "follow",
}
AMAZON = {
    "coverage": 0.2615,
    "mean_reciprocal_rank_at_25": 0.2259,
    "normalized_discounted_cumulative_gain_at_5": 0.2363,
    "normalized_discounted_cumulative_gain_at_10": 0.2614,
    "normalized_discounted_cumulative_gain_at_25": 0.3117,
    "precision_at_5": 0.0687,
    "precision_at_10": 0.0452,
    "precision_at_25": 0.0304,
}


def load_deskdrop(root: Path = DESKDROP) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deskdrop as Personalize interactions and items datasets."""
    raw = pd.read_csv(root / "users_interactions.csv", dtype={"contentId": str, "personId": str})
    interactions = pd.DataFrame(
        {
            "USER_ID": raw["personId"],
            "ITEM_ID": raw["contentId"],
            "TIMESTAMP": raw["timestamp"].astype("int64"),
            "EVENT_TYPE": raw["eventType"].map(EVENT_MAP),
        }
    ).drop_duplicates()
    art = pd.read_csv(root / "articles.csv", escapechar="\\", doublequote=False, dtype={"item_id": str})
    items = pd.DataFrame(
        {
            "ITEM_ID": art["item_id"],
            "CREATION_TIMESTAMP": art["creation_timestamp"].astype("int64"),
            "CATEGORY": art["article_genre"],
            "LANGUAGE": art["lang"],
        }
    )
    return interactions, items


def run(recipes: list[str], seeds: list[int]) -> dict[str, dict[str, float]]:
    """Mean metrics per recipe over ``seeds``."""
    interactions, items = load_deskdrop()
    results: dict[str, dict[str, float]] = {}
    for recipe in recipes:
        config = TrainingConfig(recipe=recipe)
        fit = partial(train, items=items, config=config)
        runs = [evaluate(interactions, fit, seed=seed) for seed in seeds]
        results[recipe] = {m: float(np.mean([r[m] for r in runs])) for m in runs[0]}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipes", default="aws-user-personalization,aws-popularity-count")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not DESKDROP.exists():
        print(f"Deskdrop not found at {DESKDROP}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    results = run(args.recipes.split(","), [int(s) for s in args.seeds.split(",")])
    for recipe, metrics in results.items():
        for metric, value in metrics.items():
            print(f"{recipe} {metric}={value:.4f}")
    for metric, value in AMAZON.items():
        print(f"amazon-user-personalization {metric}={value:.4f}")
    for recipe in ("aws-user-personalization", "aws-user-personalization-v2"):
        if recipe in results:
            beaten = [m for m, v in AMAZON.items() if results[recipe][m] > v]
            print(f"# {recipe} beats Amazon's figure on {len(beaten)}/{len(AMAZON)} metrics")
    print(f"# seeds={args.seeds} elapsed_s={time.perf_counter() - start:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
