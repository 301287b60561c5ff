"""Automatic updates (autoupdate.py): items imported after training join the latest user-personalization
version every two hours of the engine's clock, never other recipes; filters apply; same input, same answer."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from infra.local.personalize import clock
from infra.local.personalize.autoupdate import UPDATE_EVERY, AutoUpdates, UpdatedModel, check_exploration, exploration
from infra.local.personalize.data import RECIPE_PREFIX, TrainingConfig
from infra.local.personalize.errors import InvalidInputException
from infra.local.personalize.jobs import Worker
from infra.local.personalize.recipes import Model, fit
from infra.local.personalize.runtime import Runtime
from infra.local.personalize.service import ControlPlane
from infra.local.personalize.store import Store

pytestmark = pytest.mark.unit

GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/news"
SOLUTION = "arn:aws:personalize:us-east-1:000000000000:solution/main"
VERSION = SOLUTION + "/v1"
CAMPAIGN = "arn:aws:personalize:us-east-1:000000000000:campaign/feed"
ITEMS_SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "Items",
        "fields": [
            {"name": "ITEM_ID", "type": "string"},
            {"name": "CREATION_TIMESTAMP", "type": "long"},
            {"name": "CATEGORY", "type": ["null", "string"], "categorical": True},
        ],
    }
)
T0 = 1_000_000
TRAINED = 2_000_000.0  # the engine's clock when the version became ACTIVE
N_ITEMS = 80


def clusters() -> tuple[pd.DataFrame, pd.DataFrame]:
    """120 users, each reading 12 items of one of four categories (c0..c3)."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(120):
        pool = np.arange(u % 4, N_ITEMS, 4)
        for k, item in enumerate(rng.choice(pool, size=12, replace=False)):
            rows.append((f"u{u:03d}", f"i{item:03d}", T0 + 600 * k + u, "read"))
    interactions = pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"])
    items = pd.DataFrame(
        {
            "ITEM_ID": [f"i{i:03d}" for i in range(N_ITEMS)],
            "CREATION_TIMESTAMP": [T0 - 3600] * N_ITEMS,
            "CATEGORY": [f"c{i % 4}" for i in range(N_ITEMS)],
        }
    )
    return interactions, items


@cache
def trained(recipe: str) -> Model:
    interactions, items = clusters()
    return fit(interactions, items, TrainingConfig(recipe=recipe))


def world(root: Path, recipe: str = "aws-user-personalization", mode: str = "FULL") -> Store:
    """A store with a dataset group, its datasets, a trained version of ``recipe`` and a campaign serving it."""
    store = Store(root)
    interactions, items = clusters()
    store.put("datasetGroups", GROUP, {"datasetGroupArn": GROUP, "name": "news", "status": "ACTIVE"})
    for kind, schema in (("Interactions", "{}"), ("Items", ITEMS_SCHEMA)):
        schema_arn = f"arn:aws:personalize:us-east-1:000000000000:schema/{kind}"
        store.put("schemas", schema_arn, {"schemaArn": schema_arn, "schema": schema})
        arn = f"{GROUP}/{kind}"
        store.put(
            "datasets",
            arn,
            {"datasetArn": arn, "datasetGroupArn": GROUP, "datasetType": kind, "schemaArn": schema_arn},
        )
    store.set_frame(f"{GROUP}/Interactions", interactions)
    store.set_frame(f"{GROUP}/Items", items)
    store.set_model(VERSION, trained(recipe))
    store.put(
        "solutionVersions",
        VERSION,
        {
            "solutionVersionArn": VERSION,
            "solutionArn": SOLUTION,
            "datasetGroupArn": GROUP,
            "recipeArn": RECIPE_PREFIX + recipe,
            "status": "ACTIVE",
            "trainingMode": mode,
            "creationDateTime": 1.0,
            "_trainedAt": TRAINED,
        },
    )
    store.put("campaigns", CAMPAIGN, {"campaignArn": CAMPAIGN, "solutionVersionArn": VERSION, "status": "ACTIVE"})
    return store


def import_story(store: Store, item: str = "n-c0", category: str = "c0", readers: tuple[str, ...] = ()) -> None:
    """An Items row (and clicks by ``readers``) imported after training, as an incremental import merges them."""
    items = store.frame(f"{GROUP}/Items")
    assert items is not None
    row = pd.DataFrame({"ITEM_ID": [item], "CREATION_TIMESTAMP": [T0 + 9000], "CATEGORY": [category]})
    store.set_frame(f"{GROUP}/Items", pd.concat([items, row], ignore_index=True))
    if readers:
        interactions = store.frame(f"{GROUP}/Interactions")
        assert interactions is not None
        clicks = pd.DataFrame(
            [(u, item, T0 + 9100 + k, "read") for k, u in enumerate(readers)],
            columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"],
        )
        store.set_frame(f"{GROUP}/Interactions", pd.concat([interactions, clicks], ignore_index=True))


def recommend(runtime: Runtime, user: str, **extra: Any) -> list[str]:
    body = {"campaignArn": CAMPAIGN, "userId": user, "numResults": 25, **extra}
    return [r["itemId"] for r in runtime.get_recommendations(body)["itemList"]]


def at(store: Store, seconds_after_training: float) -> None:
    clock.set_now(store.root, TRAINED + seconds_after_training)


def test_a_new_item_joins_after_the_update_interval_not_before(tmp_path: Path) -> None:
    store = world(tmp_path)
    runtime = Runtime(store)
    at(store, 60)
    import_story(store, readers=("u004", "u008", "u012"))
    at(store, UPDATE_EVERY - 1)
    assert "n-c0" not in recommend(runtime, "u000")
    at(store, UPDATE_EVERY + 1)
    assert "n-c0" in recommend(runtime, "u000")
    # the same version ARN serves it: the campaign was not touched
    assert store.get("campaigns", CAMPAIGN)["solutionVersionArn"] == VERSION


def test_metadata_ranks_a_new_item_for_the_readers_of_its_category(tmp_path: Path) -> None:
    store = world(tmp_path)
    runtime = Runtime(store)
    import_story(store, "n-c0", "c0")
    at(store, UPDATE_EVERY)
    near, far = recommend(runtime, "u000"), recommend(runtime, "u001")  # u000 reads c0, u001 reads c1
    assert "n-c0" in near
    assert "n-c0" not in far or near.index("n-c0") < far.index("n-c0")


def test_an_import_after_the_update_waits_for_the_next_one(tmp_path: Path) -> None:
    store = world(tmp_path)
    updates = AutoUpdates(store)
    runtime = Runtime(store, updates)
    at(store, UPDATE_EVERY + 1800)
    updates.catch_up(GROUP)  # what the worker does before an import changes a dataset
    import_story(store)
    at(store, 2 * UPDATE_EVERY - 1)
    assert "n-c0" not in recommend(runtime, "u000")
    at(store, 2 * UPDATE_EVERY)
    assert "n-c0" in recommend(runtime, "u000")


@pytest.mark.parametrize("recipe", ["aws-sims", "aws-popularity-count", "aws-personalized-ranking"])
def test_other_recipes_wait_for_the_next_training(tmp_path: Path, recipe: str) -> None:
    store = world(tmp_path, recipe)
    import_story(store, readers=("u004", "u008"))
    at(store, 10 * UPDATE_EVERY)
    model = AutoUpdates(store).model(VERSION)
    assert "n-c0" not in model.item_index


def test_a_version_trained_with_update_mode_or_not_the_latest_is_not_updated(tmp_path: Path) -> None:
    store = world(tmp_path, mode="UPDATE")
    import_story(store)
    at(store, 10 * UPDATE_EVERY)
    assert "n-c0" not in AutoUpdates(store).model(VERSION).item_index

    store = world(tmp_path / "two")
    import_story(store)
    later = SOLUTION + "/v2"
    store.set_model(later, store.model(VERSION))
    store.put(
        "solutionVersions",
        later,
        {**store.get("solutionVersions", VERSION), "solutionVersionArn": later, "creationDateTime": 2.0},
    )
    at(store, 10 * UPDATE_EVERY)
    assert "n-c0" not in AutoUpdates(store).model(VERSION).item_index
    assert "n-c0" in AutoUpdates(store).model(later).item_index


def test_the_order_is_the_same_for_the_same_input(tmp_path: Path) -> None:
    answers = []
    for run in ("a", "b"):
        store = world(tmp_path / run)
        for k in range(6):
            import_story(store, f"n-{k}", f"c{k % 4}", readers=tuple(f"u{4 * j + k % 4:03d}" for j in range(k)))
        at(store, 3 * UPDATE_EVERY)
        runtime = Runtime(store)
        answers.append(
            [
                runtime.get_recommendations({"campaignArn": CAMPAIGN, "userId": u, "numResults": 40})
                for u in ("u000", "u001", "u002", "u003", "u999")
            ]
        )
    for got in answers:
        for answer in got:
            answer.pop("recommendationId")
    assert answers[0] == answers[1]
    assert any(item["itemId"].startswith("n-") for item in answers[0][0]["itemList"])


def test_filters_apply_to_new_items(tmp_path: Path) -> None:
    store = world(tmp_path)
    runtime = Runtime(store)
    import_story(store, "n-c0", "c0", readers=("u000",))
    import_story(store, "n2-c0", "c0")
    at(store, UPDATE_EVERY)
    for name, expression in (
        ("by-category", 'EXCLUDE ItemID WHERE Items.CATEGORY IN ("c0")'),
        ("read", 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")'),
    ):
        arn = f"arn:aws:personalize:us-east-1:000000000000:filter/{name}"
        store.put("filters", arn, {"filterArn": arn, "filterExpression": expression, "datasetGroupArn": GROUP})
    plain = recommend(runtime, "u000")
    assert "n2-c0" in plain
    assert not {"n-c0", "n2-c0"} & set(
        recommend(runtime, "u000", filterArn="arn:aws:personalize:us-east-1:000000000000:filter/by-category")
    )
    unread = recommend(runtime, "u000", filterArn="arn:aws:personalize:us-east-1:000000000000:filter/read")
    assert "n-c0" not in unread and "n2-c0" in unread


def test_exploration_weight_raises_items_with_little_data(tmp_path: Path) -> None:
    store = world(tmp_path)
    import_story(store, "n-c2", "c2")
    at(store, UPDATE_EVERY)
    runtime = Runtime(store)

    def rank(weight: str) -> int:
        config = {"itemExplorationConfig": {"explorationWeight": weight, "explorationItemAgeCutOff": "30"}}
        store.update("campaigns", CAMPAIGN, campaignConfig=config)
        items = recommend(runtime, "u000", numResults=100)
        return items.index("n-c2") if "n-c2" in items else 100

    assert rank("1.0") < rank("0.0")


def test_exploration_settings_are_checked() -> None:
    assert exploration(None).weight == 0.3
    assert exploration({"itemExplorationConfig": {"explorationWeight": "0.8"}}).weight == 0.8
    assert exploration({"itemExplorationConfig": {"explorationWeight": "nan"}}).weight == 0.3
    assert check_exploration({"itemExplorationConfig": {"explorationWeight": "2"}}) is not None
    assert check_exploration({"itemExplorationConfig": {"explorationItemAgeCutOff": "-1"}}) is not None
    assert check_exploration({"itemExplorationConfig": {"explorationWeight": "0.1"}}) is None


def test_a_campaign_with_bad_exploration_settings_is_refused(tmp_path: Path) -> None:
    store = world(tmp_path)
    control = ControlPlane(store, Worker(store))
    bad = {"itemExplorationConfig": {"explorationWeight": "1.5"}}
    with pytest.raises(InvalidInputException, match="explorationWeight"):
        control.op_CreateCampaign({"name": "other", "solutionVersionArn": VERSION, "campaignConfig": bad})
    with pytest.raises(InvalidInputException, match="explorationWeight"):
        control.op_UpdateCampaign({"campaignArn": CAMPAIGN, "campaignConfig": bad})


def test_the_clock_file_is_read_and_a_bad_one_falls_back_to_real_time(tmp_path: Path) -> None:
    engine_clock = clock.EngineClock(tmp_path)
    clock.set_now(tmp_path, 123.0)
    assert engine_clock.now() == 123.0
    clock.set_now(tmp_path, 456.0)
    assert engine_clock.now() == 456.0
    (tmp_path / clock.FILE).write_text("not json")
    assert engine_clock.now() > 1_700_000_000


def test_the_sparse_and_dense_metadata_paths_agree(tmp_path: Path) -> None:
    store = world(tmp_path)
    for k in range(4):
        import_story(store, f"n-{k}", f"c{k}", readers=("u000", "u005"))
    at(store, UPDATE_EVERY)
    model = AutoUpdates(store).model(VERSION)
    assert isinstance(model, UpdatedModel) and model.cold is not None
    assert model.cold.dense_tokens is not None
    sparse = replace(model.cold, dense_tokens=None)
    for uidx in range(len(model.user_ids)):
        dense_scores = model.cold.scores(uidx, model.weights, model.exploration)
        assert np.allclose(dense_scores, sparse.scores(uidx, model.weights, model.exploration))


def test_a_version_no_longer_the_latest_keeps_its_last_update_and_takes_no_more(tmp_path: Path) -> None:
    """Personalize updates the latest version only: once a newer version of the solution is ACTIVE (a monthly
    training whose version was kept out), the serving one stops taking new items but keeps those it took."""
    store = world(tmp_path)
    updates = AutoUpdates(store)
    import_story(store, "n-c0", "c0", readers=("u004", "u008"))
    superseded = TRAINED + 5 * UPDATE_EVERY + 60
    later = SOLUTION + "/v2"
    store.set_model(later, store.model(VERSION))
    store.put(
        "solutionVersions",
        later,
        {
            **store.get("solutionVersions", VERSION),
            "solutionVersionArn": later,
            "creationDateTime": 2.0,
            "_trainedAt": superseded,
        },
    )
    at(store, 6 * UPDATE_EVERY)
    updates.catch_up(GROUP)  # the worker, before the next import changes a dataset
    import_story(store, "n-c1", "c1", readers=("u005", "u009"))
    at(store, 10 * UPDATE_EVERY)
    kept = updates.model(VERSION).item_index
    assert "n-c0" in kept and "n-c1" not in kept
    assert "n-c1" in updates.model(later).item_index
