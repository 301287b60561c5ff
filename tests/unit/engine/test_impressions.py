"""IMPRESSION in training: what counts as shown-not-clicked, that it ranks down, and that data without it
trains as before (no network)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.local.personalize import impressions
from infra.local.personalize.data import TrainingConfig
from infra.local.personalize.recipes import COMPONENTS, fit
from infra.local.personalize.synthetic_feeds import feeds
from infra.local.personalize.training import impressions_if_clear, train

pytestmark = pytest.mark.unit
HOUR = 3600


def frame(rows: list[tuple[str, str, int, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "IMPRESSION"])


def test_shown_not_clicked_excludes_clicks_the_latest_session_and_unknown_items() -> None:
    rows = frame(
        [
            ("u", "a", 0, "a|b|c|zz"),  # b and c shown, not clicked; zz unknown to the model
            ("u", "b", 10 * HOUR, None),  # b clicked later: not a negative
            ("u", "d", 20 * HOUR, "d|e"),  # the latest session: e may still be clicked
            ("v", "c", 0, "c|b"),
            ("v", "c", 5 * HOUR, "c|b"),  # shown twice
            ("v", "a", 9 * HOUR, None),
        ]
    )
    users, items = np.array(["u", "v"], dtype=object), np.array(list("abcde"), dtype=object)
    matrix = impressions.shown_not_clicked(rows, users, items)
    assert matrix is not None
    dense = matrix.toarray()
    assert {(users[u], items[i]) for u, i in zip(*np.nonzero(dense), strict=True)} == {("u", "c"), ("v", "b")}
    assert dense[1, 1] == pytest.approx(np.log1p(2)) and dense[0, 2] == pytest.approx(np.log1p(1))
    penalty = impressions.penalty(matrix, 1)
    assert penalty[1] < 0 and np.count_nonzero(penalty) == 1


@pytest.mark.parametrize("column", [None, [None] * 3, [""] * 3])
def test_no_impressions_is_none(column: list[str | None] | None) -> None:
    rows = frame([("u", "a", 0, None), ("u", "b", 5 * HOUR, None), ("u", "c", 9 * HOUR, None)])
    if column is None:
        rows = rows.drop(columns="IMPRESSION")
    else:
        rows["IMPRESSION"] = column
    assert impressions.shown_not_clicked(rows, np.array(["u"], dtype=object), np.array(list("abc"))) is None


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from("uvw"),
            st.sampled_from("abcdef"),
            st.integers(0, 100 * HOUR),
            st.one_of(st.none(), st.lists(st.sampled_from("abcdefg"), min_size=1, max_size=5).map("|".join)),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_never_penalises_a_click(rows: list[tuple[str, str, int, str | None]]) -> None:
    df = frame(rows)
    users, items = np.array(sorted(set(df.USER_ID)), dtype=object), np.array(list("abcdef"), dtype=object)
    matrix = impressions.shown_not_clicked(df, users, items)
    if matrix is None:
        return
    clicked = set(zip(df.USER_ID, df.ITEM_ID, strict=True))
    for u, i in zip(*matrix.nonzero(), strict=True):
        assert (users[u], items[i]) not in clicked
    assert (matrix.data > 0).all()


def test_a_shown_not_clicked_item_is_ranked_down() -> None:
    interactions, items = feeds(n_users=200, n_items=150, seed=3)
    config = TrainingConfig(recipe="aws-user-personalization")
    weights = {c: 0.0 for c in COMPONENTS} | {"popularity": 1.0, "repeat": -1.0}
    model = fit(interactions, items, config, {**weights, "impressed": 3.0})
    assert model.impressions is not None
    user = next(u for u in range(len(model.user_ids)) if model.impressions[u].nnz)
    passed = model.impressions[user].indices
    scores = model.score_user(str(model.user_ids[user]))
    plain = fit(interactions, items, config, weights).score_user(str(model.user_ids[user]))
    assert (scores[passed] < plain[passed]).all()


def test_data_without_the_column_trains_as_before() -> None:
    """No IMPRESSION (an older schema) and an empty one give the same blend, blend_impressed pinned at 0."""
    interactions, items = feeds(n_users=150, n_items=120, seed=1)
    config = TrainingConfig(recipe="aws-user-personalization")
    old = train(interactions.drop(columns="IMPRESSION"), items, config)
    empty = train(interactions.assign(IMPRESSION=None), items, config)
    assert old.impressions is None and empty.impressions is None
    assert old.weights == empty.weights and old.weights["impressed"] == 0.0
    assert old.tuned_params["blend_impressed"] == 0.0
    assert old.tuned_params == empty.tuned_params


def _search(tried: dict[tuple[float, ...], tuple[float, float, tuple[float, ...]]]) -> SimpleNamespace:
    return SimpleNamespace(tried=tried, maximize=True)


def _key(**weights: float) -> tuple[float, ...]:
    return tuple(float(weights.get(c, 0.0)) for c in COMPONENTS)


@pytest.mark.parametrize(
    ("with_each", "kept"),
    [
        ((0.30, 0.40), True),  # clearly better on both splits
        ((0.203, 0.50), False),  # better on the mean, not by MIN_GAIN on one split
        ((0.201, 0.201), False),  # within noise
    ],
)
def test_impressions_are_kept_only_when_clearly_better(with_each: tuple[float, float], kept: bool) -> None:
    base, reading = _key(popularity=1.0), _key(popularity=1.0, impressed=0.3)
    tried = {base: (0.2, 0.0, (0.2, 0.2)), reading: (float(np.mean(with_each)), 0.0, with_each)}
    weights = dict(zip(COMPONENTS, reading, strict=True))
    chosen, _ = impressions_if_clear(_search(tried), weights, tried[reading][0])  # type: ignore[arg-type]
    assert (chosen["impressed"] > 0) is kept
    if not kept:
        assert chosen == dict(zip(COMPONENTS, base, strict=True))
