"""The local engine trains the same model and reports the same metrics whatever order the rows arrive in.

The demo's clicks are stamped by the server at replay time: a session sent in one commit shares one
timestamp, and the export writes rows in capture order, which varies from run to run. Training reads the
rows in one canonical order (user, time, item, event type) and indexes items by id, so two runs on the same
data agree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from infra.local.personalize.data import TrainingConfig, canonical_order, encode_ids, top_n
from infra.local.personalize.jobs import METRICS_SEED, Evaluated, training_rows
from infra.local.personalize.metrics import evaluate

pytestmark = pytest.mark.unit


def sessions(seed: int = 3, users: int = 60, items: int = 80) -> pd.DataFrame:
    """Sessions of 2-5 events each sharing one timestamp (one commit), two tastes among the users."""
    rng = np.random.default_rng(seed)
    rows, t = [], 1_700_000_000
    for _ in range(500):
        user = int(rng.integers(users))
        pool = np.arange(user % 2, items, 2)
        t += int(rng.integers(0, 3))  # several sessions can share a second too
        for _ in range(int(rng.integers(2, 6))):
            rows.append((f"u{user}", f"i{int(rng.choice(pool))}", t, str(rng.choice(["open", "read", "like"]))))
    return pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"])


def outcome(rows: pd.DataFrame) -> tuple[dict[str, float], list[list[str]]]:
    """Metrics and the final model's top 10 for a few users, as the engine's training computes them."""
    evaluated = Evaluated(None, TrainingConfig(recipe="aws-user-personalization"))
    metrics = evaluate(rows, evaluated.train, seed=METRICS_SEED)
    model = evaluated.final_model(rows)
    recs = [[str(model.item_ids[i]) for i in top_n(model.score_user(u), 10)] for u in ("u0", "u1", "u7")]
    return metrics, recs


def test_row_order_does_not_change_metrics_or_recommendations() -> None:
    data = sessions()
    shuffled = data.sample(frac=1.0, random_state=11).reset_index(drop=True)
    reference = outcome(training_rows(data))
    assert reference[0] and all(reference[1])
    assert outcome(training_rows(shuffled)) == reference
    # why the canonical order is needed: the same rows in another file order, read as they come, train differently
    assert outcome(encode_ids(shuffled)) != reference


def test_canonical_order_sorts_by_user_then_time_item_event() -> None:
    rows = pd.DataFrame(
        [("b", "x", 2, "read"), ("a", "y", 2, "open"), ("a", "x", 2, "read"), ("c", "z", 1, "like")],
        columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"],
    )
    ordered = canonical_order(encode_ids(rows))
    assert list(zip(ordered["USER_ID"].astype(str), ordered["ITEM_ID"].astype(str), strict=True)) == [
        ("a", "x"),
        ("a", "y"),
        ("b", "x"),
        ("c", "z"),
    ]
