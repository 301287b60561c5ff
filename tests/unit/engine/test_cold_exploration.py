"""Exploration of a trained version's cold items: stories in the Items dataset that no interaction in the training
data touched. A campaign explores them by its ``campaignConfig``, a batch job by its ``batchInferenceJobConfig``
(Personalize's ``itemExplorationConfig``), as the automatic updates explore the items they add."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from infra.local.personalize.autoupdate import Exploration, exploration_bonus
from infra.local.personalize.data import DAY, TrainingConfig
from infra.local.personalize.errors import InvalidInputException
from infra.local.personalize.jobs import Worker, batch_line
from infra.local.personalize.recipes import fit
from infra.local.personalize.runtime import Runtime
from infra.local.personalize.service import ControlPlane
from infra.local.personalize.store import Store
from tests.unit.engine.test_autoupdate import CAMPAIGN, GROUP, T0, VERSION, at, clusters, recommend, world

pytestmark = pytest.mark.unit

FRESH_COLD = "cold-c0"  # published after the last click the training saw, never read
OLD_COLD = "stale-cold-c0"  # never read, published 60 days before the newest interaction: past the age cut-off


def cold_items() -> tuple[pd.DataFrame, pd.DataFrame]:
    interactions, items = clusters()
    newest = int(interactions["TIMESTAMP"].max())
    cold = pd.DataFrame(
        {
            "ITEM_ID": [FRESH_COLD, OLD_COLD],
            "CREATION_TIMESTAMP": [newest - 600, newest - 60 * int(DAY)],
            "CATEGORY": ["c0", "c0"],
        }
    )
    return interactions, pd.concat([items, cold], ignore_index=True)


def cold_world(root: Path, recipe: str = "aws-user-personalization") -> Store:
    store = world(root, recipe)
    interactions, items = cold_items()
    store.set_frame(f"{GROUP}/Items", items)
    store.set_model(VERSION, fit(interactions, items, TrainingConfig(recipe=recipe)))
    return store


def config(weight: str, cutoff: str = "30") -> dict[str, dict[str, str]]:
    return {"itemExplorationConfig": {"explorationWeight": weight, "explorationItemAgeCutOff": cutoff}}


def rank(items: list[str], item: str) -> int:
    return items.index(item) if item in items else len(items)


def test_a_trained_version_knows_which_items_it_learned_nothing_about() -> None:
    interactions, items = cold_items()
    model = fit(interactions, items, TrainingConfig(recipe="aws-user-personalization"))
    assert model.item_interactions is not None and model.item_created is not None
    counts = dict(zip(model.item_ids.tolist(), model.item_interactions.tolist(), strict=True))
    assert counts[FRESH_COLD] == counts[OLD_COLD] == 0
    assert all(n > 0 for item, n in counts.items() if item not in (FRESH_COLD, OLD_COLD))


def test_a_campaign_explores_the_cold_items_of_its_trained_version(tmp_path: Path) -> None:
    store = cold_world(tmp_path)
    at(store, 60)  # before the first automatic update: the version as trained
    runtime = Runtime(store)

    def ranks(weight: str) -> tuple[int, int]:
        store.update("campaigns", CAMPAIGN, campaignConfig=config(weight))
        items = recommend(runtime, "u000", numResults=100)
        return rank(items, FRESH_COLD), rank(items, OLD_COLD)

    explored, unexplored = ranks("1.0"), ranks("0.0")
    assert explored[0] < unexplored[0]
    assert explored[1] == unexplored[1]  # past the age cut-off: not explored


def test_an_automatic_update_keeps_exploring_them_less_as_they_get_read(tmp_path: Path) -> None:
    store = cold_world(tmp_path)
    at(store, 60)
    runtime = Runtime(store)
    store.update("campaigns", CAMPAIGN, campaignConfig=config("0.3"))
    before = runtime.updates.model(VERSION, config("0.3"))
    interactions = store.frame(f"{GROUP}/Interactions")
    assert interactions is not None
    newest = int(interactions["TIMESTAMP"].max())
    reads = pd.DataFrame(
        [(f"u{u:03d}", FRESH_COLD, newest + 60 + u, "read") for u in range(0, 40, 4)],
        columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"],
    )
    store.set_frame(f"{GROUP}/Interactions", pd.concat([interactions, reads], ignore_index=True))
    import_story = pd.DataFrame({"ITEM_ID": ["n-c1"], "CREATION_TIMESTAMP": [T0 + 9000], "CATEGORY": ["c1"]})
    items = store.frame(f"{GROUP}/Items")
    assert items is not None
    store.set_frame(f"{GROUP}/Items", pd.concat([items, import_story], ignore_index=True))
    at(store, 2 * 3600 + 1)
    after = runtime.updates.model(VERSION, config("0.3"))
    k = before.item_index[FRESH_COLD]
    assert before.exploration_bonus is not None and before.exploration_bonus[k] == pytest.approx(0.3)
    updated_base = after.base  # type: ignore[attr-defined]
    assert updated_base.exploration_bonus[k] == pytest.approx(0.3 / 11)  # 10 reads since training


def test_other_recipes_do_not_explore(tmp_path: Path) -> None:
    store = cold_world(tmp_path, "aws-popularity-count")
    at(store, 60)
    runtime = Runtime(store)
    store.update("campaigns", CAMPAIGN, campaignConfig=config("1.0"))
    assert runtime.updates.model(VERSION, config("1.0")).exploration_bonus is None


def test_a_batch_job_explores_as_its_config_says(tmp_path: Path) -> None:
    store = cold_world(tmp_path)
    worker = Worker(store)

    def ranked(job_config: dict[str, object] | None) -> list[str]:
        job = {"solutionVersionArn": VERSION, **({"batchInferenceJobConfig": job_config} if job_config else {})}
        line = batch_line(worker.batch_model(job), '{"userId": "u000"}', 100)
        return list(json.loads(line)["output"]["recommendedItems"])

    assert rank(ranked(config("1.0")), FRESH_COLD) < rank(ranked(config("0.0")), FRESH_COLD)
    assert rank(ranked(None), FRESH_COLD) == rank(ranked(config("0.3")), FRESH_COLD)  # Personalize's defaults


def test_a_batch_job_with_bad_exploration_settings_is_refused(tmp_path: Path) -> None:
    store = cold_world(tmp_path)
    control = ControlPlane(store, Worker(store))
    job = {
        "jobName": "bad-exploration",
        "solutionVersionArn": VERSION,
        "jobInput": {"s3DataSource": {"path": "s3://b/in.json"}},
        "jobOutput": {"s3DataDestination": {"path": "s3://b/out/"}},
        "roleArn": "arn:aws:iam::000000000000:role/p",
        "batchInferenceJobConfig": config("1.5"),
    }
    with pytest.raises(InvalidInputException, match="explorationWeight"):
        control.op_CreateBatchInferenceJob(job)


@given(
    counts=arrays(np.float64, 12, elements=st.floats(0, 1e6) | st.just(np.nan) | st.floats(-1e6, -1e-9)),
    ages=arrays(np.float64, 12, elements=st.floats(0, 1e4) | st.just(np.inf) | st.just(np.nan)),
    weight=st.floats(0, 1),
    cutoff=st.floats(1e-3, 1e4),
)
def test_the_bonus_is_bounded_fades_with_reads_and_stops_at_the_cutoff(
    counts: np.ndarray, ages: np.ndarray, weight: float, cutoff: float
) -> None:
    explore = Exploration(weight, cutoff)
    bonus = exploration_bonus(counts, ages, explore)
    assert np.all(np.isfinite(bonus)) and np.all((bonus >= 0) & (bonus <= weight))
    assert np.all(bonus[ages > cutoff] == 0) and np.all(bonus[np.isnan(ages)] == 0)
    assert np.all(bonus[~(counts >= 0)] == 0)  # NaN or negative counts: no bonus, never an unbounded one
    valid = counts >= 0
    more = exploration_bonus(np.where(valid, counts + 1, counts), ages, explore)
    assert np.all(more <= bonus)
