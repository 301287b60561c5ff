"""Offline metrics as GetSolutionMetrics documents them.

10% of eligible users are drawn at random (seeded); for each, the newest 10% of its interactions
(at least one) are held out. A model trained on everything else recommends 25 items from the older
90%; the held-out items are the truth. Users need ``MIN_INTERACTIONS`` interactions to be eligible,
and at most ``MAX_TEST_USERS`` are drawn.

``split_in_time`` is the production-faithful protocol (a model trained on the past is asked about the
next period): everything before a cut-off time is training data, and the users who were active before
it and come back after it are scored on what they consumed after it. Training chooses its blend on it
when the timestamps are fine enough (``coarse_timestamps``); the quality benchmark reports it beside
GetSolutionMetrics' protocol.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from infra.local.personalize.data import top_n
from infra.local.personalize.recipes import Model

K_VALUES = (5, 10, 25)
MIN_INTERACTIONS = 10
TEST_USER_FRACTION = 0.1
HOLDOUT_FRACTION = 0.1
# The time split holds out the newest TIME_HOLDOUT_SHARE of the rows (every row at the cut-off time
# too, so a coarse timestamp's whole period falls on one side).
TIME_HOLDOUT_SHARE = 0.1
# Timestamps are coarse when this share of rows repeats another row's (user, timestamp): the order of
# a user's events within a period is then unknown (month-granular exports, day-granular logs).
COARSE_TIE_SHARE = 0.3
# Or when consecutive distinct timestamps are this far apart (a month) at the median.
COARSE_STEP_SECONDS = 28 * 86_400
# Ties and steps are measured on a sample of users beyond this many rows (cost, not accuracy).
GRAIN_SAMPLE_ROWS = 1_000_000
# Scoring is one full-catalogue pass per test user; beyond this many the metrics barely move but
# training time would grow with the user count (Personalize does not document a cap).
MAX_TEST_USERS = 5000


@dataclass(frozen=True)
class Split:
    """Training rows and, per test user, the held-out item IDs."""

    train: pd.DataFrame
    truth: dict[str, set[str]]


def split_holdout(
    interactions: pd.DataFrame,
    seed: int,
    user_fraction: float = TEST_USER_FRACTION,
    max_users: int = MAX_TEST_USERS,
) -> Split:
    """Hold out the newest 10% of interactions of ``user_fraction`` (10%) of eligible users."""
    counts = interactions.groupby("USER_ID").size()
    eligible = np.sort(counts.index[counts >= MIN_INTERACTIONS].astype(str).to_numpy())
    rng = np.random.default_rng(seed)
    n_test = min(max_users, max(1, round(len(eligible) * user_fraction))) if len(eligible) else 0
    test_users = set(rng.choice(eligible, size=n_test, replace=False)) if n_test else set()
    is_test = interactions["USER_ID"].astype(str).isin(test_users)
    test = interactions.loc[is_test].sort_values(["USER_ID", "TIMESTAMP"], kind="stable")
    size = test.groupby("USER_ID")["TIMESTAMP"].transform("size")
    pos = test.groupby("USER_ID").cumcount()
    n_hold = np.maximum(1, np.ceil(size * HOLDOUT_FRACTION)).astype(int)
    held = pos >= size - n_hold
    truth: dict[str, set[str]] = {}
    for user, item in zip(test.loc[held, "USER_ID"].astype(str), test.loc[held, "ITEM_ID"].astype(str), strict=True):
        truth.setdefault(user, set()).add(item)
    train = pd.concat([interactions.loc[~is_test], test.loc[~held]], ignore_index=True)
    return Split(train=train, truth=truth)


def split_in_time(
    interactions: pd.DataFrame,
    seed: int,
    share: float = TIME_HOLDOUT_SHARE,
    max_rows: int | None = None,
    user_fraction: float = 1.0,
    max_users: int = MAX_TEST_USERS,
) -> Split:
    """Train on the rows before a cut-off; truth: what returning users consumed from the cut-off on.

    The cut-off is the timestamp of the newest ``share`` of the rows (at most ``max_rows``); every row
    at or after it is held out, and the test users are drawn (``user_fraction``, at most ``max_users``,
    seeded) among the users who have rows on both sides. An empty truth when there are none.
    """
    ts = interactions["TIMESTAMP"].to_numpy(dtype=np.int64)
    n_hold = max(1, math.ceil(len(ts) * share))
    if max_rows is not None:
        n_hold = min(n_hold, max_rows)
    if len(ts) < 2:
        return Split(train=interactions, truth={})
    cutoff = np.partition(ts, len(ts) - n_hold)[len(ts) - n_hold]
    after = ts >= cutoff
    codes, _ = pd.factorize(interactions["USER_ID"])
    before_users = np.zeros(int(codes.max()) + 1, dtype=bool)
    before_users[codes[~after]] = True
    returning = np.unique(codes[after][before_users[codes[after]]])
    rng = np.random.default_rng(seed)
    n_test = min(max_users, max(1, round(len(returning) * user_fraction))) if len(returning) else 0
    chosen = np.zeros_like(before_users)
    chosen[rng.choice(returning, size=n_test, replace=False) if n_test else []] = True
    held = interactions.loc[after & chosen[codes]]
    truth: dict[str, set[str]] = {}
    for user, item in zip(held["USER_ID"].astype(str), held["ITEM_ID"].astype(str), strict=True):
        truth.setdefault(user, set()).add(item)
    return Split(train=interactions.loc[~after], truth=truth)


def coarse_timestamps(interactions: pd.DataFrame, seed: int = 0) -> bool:
    """Whether the timestamps are too coarse to order a user's events (many ties, or month steps)."""
    rows = interactions[["USER_ID", "TIMESTAMP"]]
    if len(rows) > GRAIN_SAMPLE_ROWS:  # whole users, so their ties stay together
        codes, _ = pd.factorize(rows["USER_ID"])
        keep = np.random.default_rng(seed).random(int(codes.max()) + 1) < GRAIN_SAMPLE_ROWS / len(rows)
        rows = rows.loc[keep[codes]]
    if not len(rows):
        return False
    ties = float(rows.duplicated().mean())
    steps = np.diff(np.unique(rows["TIMESTAMP"].to_numpy(dtype=np.int64)))
    return ties >= COARSE_TIE_SHARE or (len(steps) > 0 and float(np.median(steps)) >= COARSE_STEP_SECONDS)


def ranking_metrics(recommended: Sequence[Sequence[str]], truths: Sequence[set[str]], n_items: int) -> dict[str, float]:
    """Personalize's metric set over parallel lists of recommendations and truths."""
    out: dict[str, float] = {}
    if not truths:
        return out
    for k in K_VALUES:
        out[f"precision_at_{k}"] = float(
            np.mean([_hits(r[:k], t) / k for r, t in zip(recommended, truths, strict=True)])
        )
        out[f"normalized_discounted_cumulative_gain_at_{k}"] = float(
            np.mean([_ndcg(r[:k], t) for r, t in zip(recommended, truths, strict=True)])
        )
    out["mean_reciprocal_rank_at_25"] = float(
        np.mean([_rr(r[:25], t) for r, t in zip(recommended, truths, strict=True)])
    )
    unique = {item for rec in recommended for item in rec}
    out["coverage"] = len(unique) / max(n_items, 1)
    return dict(sorted(out.items()))


def _hits(rec: Sequence[str], truth: set[str]) -> int:
    return sum(1 for r in rec if r in truth)


def _ndcg(rec: Sequence[str], truth: set[str]) -> float:
    """DCG over the ideal DCG of the same top K sorted by relevance (Personalize's definition)."""
    ranks = [rank for rank, item in enumerate(rec) if item in truth]
    dcg = sum(1.0 / math.log2(rank + 2) for rank in ranks)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(len(ranks)))
    return dcg / ideal if ideal else 0.0


def _rr(rec: Sequence[str], truth: set[str]) -> float:
    for rank, item in enumerate(rec):
        if item in truth:
            return 1.0 / (rank + 1)
    return 0.0


def evaluate(
    interactions: pd.DataFrame,
    fit: Callable[[pd.DataFrame], Model],
    seed: int = 0,
    n_items: int | None = None,
    exclude_seen: bool = False,
) -> dict[str, float]:
    """Train on the split's training rows with ``fit`` and score the held-out users.

    ``n_items`` is the catalogue size coverage is measured against (default: the model's items);
    ``exclude_seen`` drops what each user already interacted with (a baseline's filter, not the metric's).
    """
    split = split_holdout(interactions, seed)
    if not split.truth:
        return {}
    model = fit(split.train)
    catalogue = n_items if n_items is not None else model.n_items
    return score_model(model, split.truth, catalogue, exclude_seen)


def score_model(model: Model, truth: dict[str, set[str]], n_items: int, exclude_seen: bool = False) -> dict[str, float]:
    """The metrics of ``model``'s top 25 for each user of ``truth`` (``exclude_seen``: a baseline's filter)."""
    users = sorted(truth)
    recs = []
    for user in users:
        scores = model.score_user(user)
        if exclude_seen and user in model.user_index:
            scores[model.history.of(model.user_index[user])[0]] = -np.inf
        recs.append([str(model.item_ids[i]) for i in top_n(scores, 25)])
    return ranking_metrics(recs, [truth[u] for u in users], n_items)
