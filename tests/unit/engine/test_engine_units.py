"""Pure tests of the engine's parts: schemas, filters, recipes and metrics (no network)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from infra.local.personalize import filters, metrics, schema
from infra.local.personalize.data import (
    EventRule,
    TrainingConfig,
    build_history,
    config_from_solution,
    fit_transitions,
    prepare,
    select_events,
    top_n,
)
from infra.local.personalize.errors import InvalidInputException
from infra.local.personalize.jobs import TrainingFailed, check_minimums
from infra.local.personalize.training import train

pytestmark = pytest.mark.unit

SCHEMA = (
    '{"type": "record", "name": "Interactions", "fields": [{"name": "USER_ID", "type": "string"},'
    '{"name": "ITEM_ID", "type": "string"}, {"name": "TIMESTAMP", "type": "long"},'
    '{"name": "EVENT_VALUE", "type": ["null", "float"]}]}'
)


def events(rows: list[tuple[str, str, int, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"])


def synthetic(n_users: int = 40, n_items: int = 60, per_user: int = 20, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        pool = [i for i in range(n_items) if i % 2 == u % 2]
        for k in range(per_user):
            rows.append((f"u{u}", f"i{rng.choice(pool)}", 1_000_000 + 100 * k + u, "read"))
    return events(rows)


def test_parse_schema_and_types() -> None:
    fields = schema.parse_schema(SCHEMA)
    assert [(f.name, f.type, f.nullable) for f in fields][-1] == ("EVENT_VALUE", "float", True)
    schema.check_dataset_type(fields, "Interactions")
    items_only = schema.parse_schema('{"type": "record", "fields": [{"name": "ITEM_ID", "type": "string"}]}')
    schema.check_dataset_type(items_only, "Items")
    for dataset_type in ("Interactions", "Users", "Bogus"):
        with pytest.raises(InvalidInputException):
            schema.check_dataset_type(items_only, dataset_type)


@pytest.mark.parametrize("bad", ["", "[]", '{"type": "record", "fields": [{"name": "A", "type": "map"}]}'])
def test_parse_schema_rejects(bad: str) -> None:
    with pytest.raises(InvalidInputException):
        schema.parse_schema(bad)


def test_read_csv_types_and_nulls() -> None:
    fields = schema.parse_schema(SCHEMA)
    df = schema.read_csv(b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_VALUE\nu1,i1,10,\nu2,i2,11,2.5\n", fields)
    assert df["TIMESTAMP"].tolist() == [10, 11]
    assert df["EVENT_VALUE"].isna().tolist() == [True, False]


@pytest.mark.parametrize(
    "payload",
    [
        b"USER_ID,ITEM_ID\nu1,i1\n",
        b"USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1.5\n",
        b"USER_ID,ITEM_ID,TIMESTAMP,X\nu,i,1,x\n",
    ],
)
def test_read_csv_rejects(payload: bytes) -> None:
    with pytest.raises(schema.ImportFailed):
        schema.read_csv(payload, schema.parse_schema(SCHEMA))


def test_merge_replaces_ids_and_keeps_identical_events_once() -> None:
    old = pd.DataFrame({"ITEM_ID": ["a", "b"], "CATEGORY": ["x", "y"]})
    new = pd.DataFrame({"ITEM_ID": ["b", "c"], "CATEGORY": ["z", "w"]})
    merged = schema.merge(old, new, "Items", full=False)
    assert dict(zip(merged["ITEM_ID"], merged["CATEGORY"], strict=True)) == {"a": "x", "b": "z", "c": "w"}
    assert schema.merge(old, new, "Items", full=True)["ITEM_ID"].tolist() == ["b", "c"]
    ev = events([("u", "i", 1, "read")])
    assert len(schema.merge(ev, pd.concat([ev, ev]), "Interactions", full=False)) == 1


@pytest.mark.parametrize(
    "expression",
    [
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")',
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("open", "read")',
        "INCLUDE ItemID WHERE Items.CATEGORY IN ($CATS) AND Items.LANGUAGE = $LANG",
        'INCLUDE ItemID WHERE Items.CATEGORY = "a|b" | EXCLUDE ItemID WHERE Items.CREATION_TIMESTAMP < 100',
    ],
)
def test_filter_expressions_parse(expression: str) -> None:
    assert filters.parse(expression)


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "EXCLUDE ItemID",
        "INCLUDE ItemID WHERE Items.CATEGORY IN (",
        "DROP TABLE",
        "EXCLUDE ItemID WHERE Users.X = 1",
    ],
)
def test_filter_expressions_rejected(expression: str) -> None:
    with pytest.raises(InvalidInputException):
        filters.parse(expression)


def test_filter_values_format() -> None:
    assert filters.parse_filter_values({"CATS": '"a","b c"', "N": "3"}) == {"CATS": ["a", "b c"], "N": ["3"]}


def test_filters_apply_to_model() -> None:
    interactions = events([("u1", "i1", 1, "read"), ("u1", "i2", 2, "like"), ("u2", "i3", 3, "read")])
    items = pd.DataFrame({"ITEM_ID": ["i1", "i2", "i3", "i4"], "CATEGORY": ["a", "b|c", "c", None]})
    model = train(interactions, items, TrainingConfig(recipe="aws-popularity-count"))

    def allowed(expr: str, user: str, values: dict[str, list[str]] | None = None) -> set[str]:
        mask = filters.allowed_items(filters.parse(expr), model, user, values or {})
        return {str(i) for i in model.item_ids[mask]}

    assert allowed('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")', "u1") == {"i3", "i4"}
    assert allowed('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("like")', "u1") == {"i1", "i3", "i4"}
    assert allowed("INCLUDE ItemID WHERE Items.CATEGORY IN ($C)", "u1", {"C": ["c"]}) == {"i2", "i3"}
    assert allowed("EXCLUDE ItemID WHERE Items.CATEGORY IN ($C)", "u1") == {"i1", "i2", "i3", "i4"}
    with pytest.raises(InvalidInputException):
        allowed("INCLUDE ItemID WHERE Items.CATEGORY IN ($C)", "u1")


def test_event_weights_and_thresholds() -> None:
    df = events([("u", "a", 1, "read"), ("u", "b", 2, "like"), ("u", "c", 3, "share")])
    df["EVENT_VALUE"] = [0.2, 0.9, 1.0]
    config = TrainingConfig(
        recipe="aws-user-personalization", event_rules={"read": EventRule(0.5, 0.5), "like": EventRule(1.0)}
    )
    kept = select_events(df, config)
    assert kept["ITEM_ID"].tolist() == ["b"]
    solution = {
        "recipeArn": "arn:aws:personalize:::recipe/aws-sims",
        "solutionConfig": {"eventsConfig": {"eventParametersList": [{"eventType": "read", "weight": 0.3}]}},
    }
    parsed = config_from_solution(solution)
    assert parsed.recipe == "aws-sims" and parsed.event_rules["read"].weight == pytest.approx(0.3)


def test_popularity_counts_and_top_n() -> None:
    df = events([("u1", "a", 1, "read"), ("u2", "a", 2, "read"), ("u1", "b", 3, "read")])
    model = train(df, None, TrainingConfig(recipe="aws-popularity-count"))
    best = top_n(model.score_user("anyone"), 2)
    assert [str(model.item_ids[i]) for i in best] == ["a", "b"]
    assert list(top_n(np.array([1.0, -np.inf, 3.0]), 5)) == [2, 0]


def test_history_keeps_newest_per_user() -> None:
    df = events([("u", f"i{k}", 100 - k, "read") for k in range(5)])
    data = prepare(df, None, TrainingConfig(recipe="aws-sims"))
    hist = build_history(data, keep=2)
    items, ts, _ = hist.of(0)
    assert ts.tolist() == [99, 100]
    assert [str(data.item_ids[i]) for i in items] == ["i1", "i0"]


def test_user_personalization_follows_taste_and_sims_neighbours() -> None:
    df = synthetic()
    model = train(df, None, TrainingConfig(recipe="aws-user-personalization"))
    recs = [str(model.item_ids[i]) for i in top_n(model.score_user("u2"), 10)]
    assert sum(int(r[1:]) % 2 == 0 for r in recs) >= 8
    sims = train(df, None, TrainingConfig(recipe="aws-sims"))
    scores = sims.score_item("i4")
    assert scores is not None
    similar = [str(sims.item_ids[i]) for i in top_n(scores, 5)]
    assert "i4" not in similar and sum(int(r[1:]) % 2 == 0 for r in similar) >= 4
    assert sims.score_item("nope") is None


def test_transitions_reach_window_steps_ahead_weighted_by_distance() -> None:
    day = 86_400
    df = events([("u", "a", 0, "read"), ("u", "b", 60, "read"), ("u", "c", 120, "read"), ("u", "d", 2 * day, "read")])
    data = prepare(df, None, TrainingConfig(recipe="aws-sims"))
    code = {str(item): k for k, item in enumerate(data.item_ids)}
    one_step = fit_transitions(data).toarray()
    assert one_step[code["a"], code["b"]] == 1.0 and one_step[code["a"], code["c"]] == 0.0
    assert one_step[code["c"], code["d"]] == 0.0  # more than a day later: another visit
    three_steps = fit_transitions(data, window=3).toarray()
    assert three_steps[code["a"], code["b"]] == 1.0 and three_steps[code["a"], code["c"]] == 0.5
    assert np.isclose(three_steps[code["a"], code["d"]], 1 / 3)  # sequential rules: order, not time


def test_ranking_metrics_match_personalize_definitions() -> None:
    out = metrics.ranking_metrics([["a", "b", "c", "d", "e"]], [{"b", "z"}], n_items=10)
    assert out["precision_at_5"] == pytest.approx(1 / 5)
    assert out["mean_reciprocal_rank_at_25"] == pytest.approx(1 / 2)
    # Ideal DCG is the same top K sorted by relevance: one hit at rank 2 -> (1/log2 3) / 1.
    assert out["normalized_discounted_cumulative_gain_at_5"] == pytest.approx(1 / np.log2(3))
    assert out["coverage"] == pytest.approx(0.5)


def test_split_holdout_takes_newest_tenth_of_sampled_users() -> None:
    df = synthetic(n_users=100, per_user=20)
    split = metrics.split_holdout(df, seed=3)
    assert len(split.truth) == 10
    assert len(split.train) == len(df) - 10 * 2
    again = metrics.split_holdout(df, seed=3)
    assert again.truth == split.truth
    user = next(iter(split.truth))
    newest = df[df["USER_ID"] == user].nlargest(2, "TIMESTAMP")["ITEM_ID"]
    assert set(newest) == split.truth[user]


def test_training_minimums() -> None:
    with pytest.raises(TrainingFailed, match="1000"):
        check_minimums(synthetic(n_users=10, per_user=10))
    few_users = events([(f"u{k % 20}", "i", k, "read") for k in range(1000)])
    with pytest.raises(TrainingFailed, match="25"):
        check_minimums(few_users)
    check_minimums(synthetic(n_users=50, per_user=20))


def test_fresh_items_without_reads_still_score_for_known_users() -> None:
    df = synthetic()
    newest = int(df["TIMESTAMP"].max())
    items = pd.DataFrame({"ITEM_ID": ["fresh", "stale"], "CREATION_TIMESTAMP": [newest, newest - 365 * 86_400]})
    model = train(df, items, TrainingConfig(recipe="aws-user-personalization"))
    scores = model.score_user("u1")
    assert scores[model.item_index["fresh"]] > scores[model.item_index["stale"]]
