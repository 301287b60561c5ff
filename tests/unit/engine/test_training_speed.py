"""The shortcuts that keep large trainings fast compute what the plain path computes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from infra.local.personalize import jobs, metrics, training
from infra.local.personalize.data import (
    EventRule,
    Prepared,
    TrainingConfig,
    aligned,
    encode_ids,
    prepare,
    user_time_order,
)
from infra.local.personalize.metrics import split_holdout
from infra.local.personalize.recipes import Model

pytestmark = pytest.mark.unit


def interactions(n: int = 3000, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "USER_ID": [f"u{k}" for k in rng.integers(0, 150, n)],
            "ITEM_ID": [f"i{k}" for k in rng.zipf(1.5, n) % 400],
            "TIMESTAMP": rng.integers(1_700_000_000, 1_700_900_000, n),
            "EVENT_TYPE": rng.choice(["read", "like", "save"], n),
            "EVENT_VALUE": rng.random(n),
        }
    )


def assert_same(a: Prepared, b: Prepared) -> None:
    for name in ("user_ids", "item_ids", "users", "items", "ts", "weights", "event_codes"):
        left, right = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        assert left.dtype == right.dtype and np.array_equal(left, right), name
    assert a.event_types == b.event_types


@pytest.mark.parametrize(
    "config",
    [
        TrainingConfig(recipe="aws-user-personalization"),
        TrainingConfig(recipe="aws-user-personalization", event_type="like"),
        TrainingConfig(recipe="aws-sims", event_rules={"read": EventRule(0.5, 0.3), "save": EventRule(1.0)}),
    ],
)
def test_encoded_ids_prepare_like_strings(config: TrainingConfig) -> None:
    df = interactions()
    items = pd.DataFrame({"ITEM_ID": ["i3", "new-item", "i7"], "CREATION_TIMESTAMP": [1, 2, 3]})
    plain = prepare(df, items, config)
    assert_same(plain, prepare(encode_ids(df), items, config))
    # a categorical with unsorted and unused categories encodes like the strings too
    odd = pd.Categorical(df["USER_ID"], categories=[*sorted(set(df["USER_ID"]), reverse=True), "unused"])
    assert_same(plain, prepare(df.assign(USER_ID=odd), items, config))


def test_encoded_ids_split_like_strings() -> None:
    df = interactions()
    plain, encoded = split_holdout(df, 5), split_holdout(encode_ids(df), 5)
    assert plain.truth == encoded.truth and plain.truth
    as_text = {c: str for c in ("USER_ID", "ITEM_ID", "EVENT_TYPE")}
    pd.testing.assert_frame_equal(plain.train, encoded.train.astype(as_text))


def test_aligned_factors_follow_ids() -> None:
    factors = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]], dtype=np.float32)
    out = aligned(factors, np.array(["a", "b", "c"], dtype=object), np.array(["c", "new", "a"], dtype=object))
    assert out.tolist() == [[3.0, 3.0], [0.0, 0.0], [1.0, 1.0]]


def test_final_fit_starts_from_the_validation_model_only_when_it_saw_nearly_every_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    df = interactions(6000)
    config = TrainingConfig(recipe="aws-user-personalization", params={"als_iterations": 3})
    assert training.choose(df, None, config).warm_start is None  # 25% of users' newest rows held out
    monkeypatch.setattr(training, "MAX_VALIDATION_USERS", 2)
    choice = training.choose(df, None, config)
    assert choice.warm_start is not None and choice.warm_start.user_factors is not None
    # only what the warm start reads is kept: the validation model's history and parts are freed
    assert choice.warm_start.neighbours is None and choice.warm_start.transitions is None
    assert choice.warm_start.knn is None and not len(choice.warm_start.history.items)
    model = training.train(df, None, config)
    assert model.user_factors is not None and np.isfinite(model.user_factors).all()


def test_final_model_reuses_the_evaluated_blend_on_large_data(monkeypatch: pytest.MonkeyPatch) -> None:
    df = interactions(6000)
    config = TrainingConfig(recipe="aws-user-personalization", params={"als_iterations": 3})
    trainings: list[int] = []
    real_train = training.train

    def counted_train(d: pd.DataFrame, *rest: Any) -> Model:
        trainings.append(len(d))
        return real_train(d, *rest)

    monkeypatch.setattr(jobs, "train", counted_train)
    small = jobs.Evaluated(None, config)
    metrics.evaluate(df, small.train, seed=1)
    small.final_model(df)
    assert trainings == [trainings[0], len(df)]  # small data: the final model is trained anew
    monkeypatch.setattr(jobs, "REUSE_MIN_ROWS", 0)
    monkeypatch.setattr(jobs, "WARM_START_MAX_HELD_OUT", 0.02)  # this small split holds out 1.2% of the rows
    trainings.clear()
    large = jobs.Evaluated(None, config)
    metrics.evaluate(df, large.train, seed=1)
    assert large.model is not None
    final = large.final_model(df)
    assert trainings == [trainings[0]] and len(df) - trainings[0] < 0.02 * len(df)
    assert final.weights == large.model.weights and final.tuned_params == large.model.tuned_params
    assert final.user_factors is not None and len(final.user_ids) >= len(large.model.user_ids)
    assert large.model.neighbours is None and large.model.transitions is None  # freed before the final fit


def test_user_time_order_is_lexsort() -> None:
    rng = np.random.default_rng(0)
    users = rng.integers(0, 50, 2000).astype(np.int32)
    ts = rng.integers(-5, 40, 2000)  # many ties: the order among them must be the rows' order
    assert np.array_equal(user_time_order(users, ts), np.lexsort((ts, users)))
    huge = np.array([0, 2**40, 5, 2**40 - 1], dtype=np.int64)  # a key that would overflow: lexsort itself
    many = np.array([5_000_000, 1, 5_000_000, 1])
    assert np.array_equal(user_time_order(many, huge), np.lexsort((huge, many)))
    assert len(user_time_order(np.zeros(0, np.int32), np.zeros(0, np.int64))) == 0
