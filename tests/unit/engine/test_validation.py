"""The blend search's floor (plain models as candidates) and its validation splits (no network)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.local.personalize import synthetic, training
from infra.local.personalize.data import TrainingConfig
from infra.local.personalize.metrics import coarse_timestamps, split_in_time
from infra.local.personalize.recipes import COMPONENTS, fit
from infra.local.personalize.training import PLAIN_MODELS, Pool, Search, choose, validation_split

pytestmark = pytest.mark.unit

DAY = 86_400
MONTH = 30 * DAY


def _rows(n_users: int = 200, per_user: int = 20, step: int = 5 * DAY, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        start = int(rng.integers(0, 100 * DAY))
        for k in range(per_user):
            rows.append((f"u{u}", f"i{int(rng.integers(0, 300))}", start + k * step + u, "read"))
    return pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"])


def test_split_in_time_trains_on_the_past_and_scores_returning_users_on_the_future() -> None:
    df = _rows()
    split = split_in_time(df, seed=0)
    cutoff = df["TIMESTAMP"].sort_values().iloc[int(len(df) * 0.9)]
    assert split.train["TIMESTAMP"].max() < cutoff
    assert len(split.train) == int((df["TIMESTAMP"] < cutoff).sum())
    later = df[df["TIMESTAMP"] >= cutoff]
    for user, items in split.truth.items():
        assert user in set(split.train["USER_ID"])  # returning: known before the cut-off
        assert items == set(later.loc[later["USER_ID"] == user, "ITEM_ID"])
    half = split_in_time(df, seed=1, user_fraction=0.5).truth
    assert 0 < len(half) < len(split.truth) and set(half) <= set(split.truth)


def test_coarse_timestamps_are_detected() -> None:
    fine = _rows()
    assert not coarse_timestamps(fine)
    monthly = fine.assign(TIMESTAMP=fine["TIMESTAMP"] // MONTH * MONTH)
    assert coarse_timestamps(monthly)
    music, _ = synthetic.music(n_users=200, seed=0)
    assert coarse_timestamps(music)
    for name in ("catalogue", "news", "shop"):
        assert not coarse_timestamps(synthetic.GENERATORS[name](n_users=200, seed=0)[0]), name


def test_validation_uses_both_protocols_and_falls_back_when_the_last_period_is_too_large(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    df = _rows()
    both = validation_split(df)
    assert both.kind == "time+users" and set(both.truths) == {"time", "users"}
    # Each protocol on its own rows: the users split holds out only its users' newest rows (of all the
    # rows, as GetSolutionMetrics does), the time split everything from the cut-off on.
    held = sum(len(items) for items in both.truths["users"].values())
    assert len(both.trains["users"]) == len(df) - held
    cutoff = df["TIMESTAMP"].sort_values().iloc[len(df) - len(df) // 10]
    assert both.trains["time"]["TIMESTAMP"].max() < cutoff <= df["TIMESTAMP"].max()
    # Large data (the time split holds out a negligible share): one fit serves both, users disjoint.
    monkeypatch.setattr(training, "WARM_START_MAX_HELD_OUT", 0.5)
    shared = validation_split(df)
    assert shared.trains["time"] is shared.trains["users"]
    assert shared.train["TIMESTAMP"].max() < cutoff
    assert not set(shared.truths["time"]) & set(shared.truths["users"])
    monkeypatch.undo()
    # Two months of month-granular data: the last month is half the rows, no usable time split.
    two_months = df.assign(TIMESTAMP=np.where(df.index % 2 == 0, 0, MONTH))
    fallback = validation_split(two_months)
    assert fallback.kind == "users-coarse" and set(fallback.truths) == {"users"}


def test_the_search_never_chooses_below_a_plain_model() -> None:
    df = _rows(n_users=300, per_user=25)
    split = validation_split(df)
    config = TrainingConfig(recipe="aws-user-personalization")
    models = {name: fit(split.trains[name], None, config, plain=True) for name in split.truths}
    assert all(m.plain_user_factors is not None and m.knn is not None for m in models.values())
    pools = [Pool.build(models[name], truth) for name, truth in split.truths.items()]
    search = Search(pools, "normalized_discounted_cumulative_gain_at_25", True, {}, {})
    _, score = search.run({c: 0.0 for c in COMPONENTS})
    assert set(PLAIN_MODELS) <= set(search.simple_scores)
    assert score >= max(search.simple_scores[name] for name in PLAIN_MODELS)
    for name, plain in PLAIN_MODELS.items():
        assert search.name_of({c: plain.get(c, 0.0) for c in COMPONENTS}) == name


def test_the_choice_reports_its_candidate_and_margin_and_plain_parts_are_fitted_only_when_weighed() -> None:
    df = _rows(n_users=300, per_user=25)
    choice = choose(df, None, TrainingConfig(recipe="aws-user-personalization"))
    reported = choice.reported
    assert reported["validation_split"] == "time+users"
    assert reported["validation_best_plain"] in PLAIN_MODELS
    assert float(reported["validation_margin"]) >= 0
    for name in PLAIN_MODELS:
        assert float(reported["validation_score"]) >= float(reported[f"validation_score_{name}"])
    config = TrainingConfig(recipe="aws-user-personalization")
    assert fit(df, None, config, {c: 0.0 for c in COMPONENTS} | {"taste": 1.0}).plain_user_factors is None
    plain_als = fit(df, None, config, {c: 0.0 for c in COMPONENTS} | {"plain_taste": 1.0, "repeat": -1.0})
    assert plain_als.plain_user_factors is not None
    user = plain_als.user_index["u0"]
    seen = plain_als.history.of(user)[0]
    assert (plain_als.score_user("u0")[seen] < -100).all()


def test_plain_als_started_from_the_taste_factors_leaves_them_untouched() -> None:
    df = _rows()
    config = TrainingConfig(recipe="aws-user-personalization")
    model = fit(df, None, config, plain=True, plain_from_taste=True)
    assert model.user_factors is not None and model.plain_user_factors is not None
    assert not np.shares_memory(model.user_factors, model.plain_user_factors)
    assert not np.shares_memory(model.item_factors, model.plain_item_factors)
    assert not np.allclose(model.item_factors, model.plain_item_factors)


def _search_over(entries: list[tuple[float, float]], splits: int = 2) -> Search:
    """A search whose tried blends are ``entries`` (objective on every split, coverage); the plain
    models score 0, so every blend is admissible and at least as good as them on every split."""
    search = Search([], "normalized_discounted_cumulative_gain_at_25", True, {}, {})
    for name, plain in PLAIN_MODELS.items():
        key = tuple(float(plain.get(c, 0.0)) for c in COMPONENTS)
        search.tried[key] = (0.0, 0.0, (0.0,) * splits)
        search.starts[name] = key
        search.simple_scores[name] = 0.0
    for k, (objective, coverage) in enumerate(entries):
        key = tuple(float(k + 1) if c == "taste" else 0.0 for c in COMPONENTS)
        search.tried[key] = (objective, coverage, (objective,) * splits)
    return search


def _chosen(entries: list[tuple[float, float]]) -> float:
    search = _search_over(entries)
    weights, _ = search._widest({c: 0.0 for c in COMPONENTS}, 0.0)
    return weights["taste"]


@given(
    st.lists(st.tuples(st.floats(0.01, 1.0), st.floats(0.01, 1.0)), min_size=2, max_size=12, unique_by=lambda e: e[0]),
    st.floats(0.05, 20.0),
    st.floats(0.05, 3.0),
)
@settings(max_examples=200, deadline=None)
def test_the_coverage_preference_does_not_depend_on_the_scale_of_the_objective_or_coverage(
    entries: list[tuple[float, float]], objective_scale: float, coverage_scale: float
) -> None:
    """The same blends win whether the objective is NDCG@25 (about 0.4) or precision@25 (0.04), and
    whatever the coverage's scale (catalogue size, validation users)."""
    chosen = _chosen(entries)
    assert _chosen([(o * objective_scale, c) for o, c in entries]) == chosen
    assert _chosen([(o, c * coverage_scale) for o, c in entries]) == chosen


def test_the_coverage_preference_trades_in_relative_terms() -> None:
    # 10% less objective for 30% more coverage: 0.9 x 1.3 ** 0.5 = 1.026 > 1, taken at any scale
    for scale in (0.04, 0.4):
        assert _chosen([(1.0 * scale, 0.2), (0.9 * scale, 0.26)]) == 2.0
        # 10% less for 20% more: 0.9 x 1.2 ** 0.5 = 0.986 < 1, refused
        assert _chosen([(1.0 * scale, 0.2), (0.9 * scale, 0.24)]) == 1.0
    # beyond the tolerance (15%) no coverage buys it
    assert _chosen([(1.0, 0.1), (0.8, 1.0)]) == 1.0


@pytest.mark.parametrize("objective, coverage", [(float("nan"), 0.3), (0.4, float("nan")), (float("inf"), 0.3)])
def test_a_blend_with_an_unmeasured_figure_is_never_preferred(objective: float, coverage: float) -> None:
    assert training.preference(objective, coverage) < training.preference(1e-9, 1e-9)


def _choices(entries: list[tuple[float, float, bool]]) -> list[training.Choice]:
    """One choice per search: (objective on validation, coverage, at least the best plain model everywhere)."""
    config = TrainingConfig(recipe="aws-user-personalization")
    out = []
    for k, (score, coverage, everywhere) in enumerate(entries):
        choice = training.Choice(config, {"taste": float(k)}, "ndcg", score, coverage=coverage)
        choice.everywhere = everywhere
        out.append(choice)
    return out


def test_across_searches_the_coverage_preference_applies_as_within_one() -> None:
    # a Deskdrop seed's searches (validation NDCG@25, coverage): the best objective alone took the 4th
    searches = [(0.2137, 0.554, True), (0.2195, 0.467, True), (0.2259, 0.373, True), (0.2406, 0.342, True)]
    assert training.preferred(_choices(searches), maximize=True).weights["taste"] == 0.0
    # beyond the tolerance no coverage buys it; a blend below a plain model somewhere loses to one that is not
    assert training.preferred(_choices([(0.20, 0.9, True), (0.2406, 0.342, True)]), True).weights["taste"] == 1.0
    assert training.preferred(_choices([(0.30, 0.5, False), (0.2406, 0.342, True)]), True).weights["taste"] == 1.0
    # none good everywhere, or a minimised objective: the best objective, as before
    assert training.preferred(_choices([(0.2137, 0.554, False), (0.2406, 0.342, False)]), True).weights["taste"] == 1.0
    assert training.preferred(_choices([(0.2137, 0.554, True), (0.2406, 0.342, True)]), False).weights["taste"] == 0.0


@given(
    st.lists(
        st.tuples(st.floats(0.01, 1.0), st.one_of(st.floats(0.0, 1.0), st.just(float("nan"))), st.booleans()),
        min_size=1,
        max_size=8,
    ),
    st.floats(0.05, 20.0),
    st.floats(0.05, 3.0),
)
@settings(max_examples=300, deadline=None)
def test_the_choice_across_searches_is_total_close_to_the_best_and_scale_free(
    entries: list[tuple[float, float, bool]], objective_scale: float, coverage_scale: float
) -> None:
    chosen = training.preferred(_choices(entries), maximize=True)
    pool = [e for e in entries if e[2]] or entries
    top = max(e[0] for e in pool)
    assert chosen.everywhere == any(e[2] for e in entries)
    assert float(chosen.score or 0.0) >= top * (1 - training.COVERAGE_TOLERANCE) - 1e-12
    if any(e[2] for e in entries) and any(
        np.isfinite(e[1]) and e[0] >= top * (1 - training.COVERAGE_TOLERANCE) for e in pool
    ):
        assert np.isfinite(chosen.coverage)  # an unmeasured coverage never wins over a measured one
    scaled = [(o * objective_scale, c * coverage_scale, e) for o, c, e in entries]
    assert training.preferred(_choices(scaled), maximize=True).weights == chosen.weights


def test_a_search_without_a_measured_objective_never_wins() -> None:
    choices = _choices([(0.2, 0.3, True), (0.3, 0.3, True)])
    choices[1].score = float("nan")
    assert training.preferred(choices, maximize=True).weights["taste"] == 0.0
    choices[0].score = None
    assert training.preferred(choices, maximize=True) is choices[0]  # nothing measured: the first
