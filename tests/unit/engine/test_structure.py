"""The engine's registries, persisted formats and the blend search (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from infra.local.personalize import kinds, service, synthetic
from infra.local.personalize.data import TrainingConfig
from infra.local.personalize.hpo import HpoConfigError, HpoPlan, parse_hpo_config
from infra.local.personalize.metrics import split_holdout
from infra.local.personalize.recipes import COMPONENTS, RECIPES, fit
from infra.local.personalize.store import StateFormatError, Store
from infra.local.personalize.training import (
    PLAIN_MODELS,
    SEQUENCE_SHAPES,
    SIMPLE_MODELS,
    Pool,
    Search,
    choose,
    train,
)

pytestmark = pytest.mark.unit


def taste_clusters(n_users: int = 300, n_items: int = 200, per_user: int = 25, seed: int = 0) -> pd.DataFrame:
    """Each user reads unseen items of one of four clusters (no repeats)."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        pool = np.arange(u % 4, n_items, 4)
        for k, item in enumerate(rng.choice(pool, size=per_user, replace=False)):
            rows.append((f"u{u}", f"i{item}", 1_000_000 + 3600 * k + u, "read"))
    return pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"])


def test_every_recipe_is_one_registry_entry() -> None:
    assert set(RECIPES) == {
        "aws-popularity-count",
        "aws-trending-now",
        "aws-user-personalization",
        "aws-user-personalization-v2",
        "aws-sims",
        "aws-personalized-ranking",
    }
    updatable = {name for name, r in RECIPES.items() if r.supports_update}
    assert updatable == {"aws-user-personalization", "aws-user-personalization-v2"}
    assert RECIPES["aws-sims"].answers == "ITEM" and RECIPES["aws-personalized-ranking"].answers == "RANKING"


def test_resource_kinds_drive_describe_list_and_resume() -> None:
    ops = service.ControlPlane.operations()
    for kind in kinds.KINDS.values():
        assert kind.describe is None or kind.describe in ops
        assert kind.list is None or kind.list in ops
        assert kind.resume is None or callable(getattr(service.ControlPlane, kind.resume))
    assert {k.name for k in kinds.KINDS.values() if k.resume} == {
        "datasetImportJobs",
        "solutionVersions",
        "batchInferenceJobs",
        "campaigns",
    }


def test_old_state_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text(json.dumps({"schemas": {}, "solutionVersions": {}}))
    with pytest.raises(StateFormatError, match="format 1"):
        Store(tmp_path)


def test_model_of_another_format_is_refused_before_unpickling(tmp_path: Path) -> None:
    store = Store(tmp_path)
    model = fit(taste_clusters(), None, TrainingConfig(recipe="aws-popularity-count"))
    store.set_model("arn:v1", model)
    assert Store(tmp_path).model("arn:v1").recipe == "aws-popularity-count"
    path = next((tmp_path / "models").iterdir())
    path.write_bytes(b"\x80\x05garbage that must never reach pickle.load")
    with pytest.raises(StateFormatError, match="another format"):
        Store(tmp_path).model("arn:v1")


def test_search_is_never_worse_than_the_simple_models() -> None:
    df = taste_clusters()
    split = split_holdout(df, seed=1, user_fraction=0.3, max_users=1000)
    config = TrainingConfig(recipe="aws-user-personalization")
    model = fit(split.train, None, config)
    search = Search([Pool.build(model, split.truth)], "normalized_discounted_cumulative_gain_at_25", True, {}, {})
    weights, score = search.run({c: config.param("blend_" + c) for c in COMPONENTS})
    assert set(search.simple_scores) == set(SIMPLE_MODELS)
    assert score >= max(search.simple_scores.values())
    # Nobody reads an item twice here: the blend must not recommend what the user already has.
    assert weights["repeat"] <= 0


def test_chosen_weights_are_reported_and_explicit_weights_kept() -> None:
    df = taste_clusters()
    model = train(df, None, TrainingConfig(recipe="aws-user-personalization", params={"blend_freshness": 0.0}))
    reported = {"validation_split", "validation_candidate", "validation_best_plain", "validation_margin"}
    reported |= {"validation_score"} | {f"validation_score_{name}" for name in PLAIN_MODELS}
    assert (
        set(model.tuned_params)
        == {"blend_" + c for c in COMPONENTS} | {"popularity_half_life_days"} | set(SEQUENCE_SHAPES) | reported
    )
    assert model.tuned_params["blend_freshness"] == 0.0
    for name, value in model.tuned_params.items():
        if name in SEQUENCE_SHAPES:
            assert value in SEQUENCE_SHAPES[name]
            assert model.config.param(name) == value  # the final model is fitted with the chosen shape
    pinned = {"blend_" + c: 0.0 for c in COMPONENTS} | {"blend_taste": 1.0, "blend_repeat": -1.0}
    als = choose(df, None, TrainingConfig(recipe="aws-user-personalization", params=pinned))
    assert als.weights == {c: pinned["blend_" + c] for c in COMPONENTS}


def test_a_sequence_setting_the_solution_gives_is_kept_not_searched() -> None:
    df = taste_clusters()
    given = {"sequence_window": 3.0, "recent_rank_decay": 0.7}
    choice = choose(df, None, TrainingConfig(recipe="aws-user-personalization", params=given))
    assert {name: choice.config.param(name) for name in given} == given


@pytest.mark.parametrize("params", [{"sequence_window": 1e6}, {"sequence_window": 0}, {"recent_rank_decay": 2.0}])
def test_out_of_bounds_sequence_settings_fail_clearly(params: dict[str, float]) -> None:
    with pytest.raises(HpoConfigError, match=next(iter(params))):
        train(taste_clusters(), None, TrainingConfig(recipe="aws-user-personalization", params=params))
    ranges = {"integerHyperParameterRanges": [{"name": "sequence_window", "minValue": 1, "maxValue": 1000}]}
    with pytest.raises(HpoConfigError, match="sequence_window must be between 1 and 50"):
        parse_hpo_config({"algorithmHyperParameterRanges": ranges})


def test_sequence_shape_comes_from_validation() -> None:
    """Users walk a chain of items with a random item between every two links: the next item says
    nothing, the one after it is the chain's next link. A one-step window cannot see the chain; the
    search must pick a longer one."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(400):
        start = int(rng.integers(0, 300))
        walk = [x for k in range(15) for x in (f"c{start + k}", f"n{rng.integers(3000)}")]
        rows += [(f"u{u}", item, 1_000_000 + 600 * k, "read") for k, item in enumerate(walk)]
    df = pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"])
    choice = choose(df, None, TrainingConfig(recipe="aws-user-personalization"))
    assert choice.config.param("sequence_window") > 1, choice


def test_hpo_config_is_validated_and_drives_trials() -> None:
    with pytest.raises(HpoConfigError, match="metricName"):
        parse_hpo_config({"hpoObjective": {"type": "Maximize", "metricName": "accuracy"}})
    with pytest.raises(HpoConfigError, match="between 1 and 40"):
        parse_hpo_config({"hpoResourceConfig": {"maxNumberOfTrainingJobs": "41"}})
    with pytest.raises(HpoConfigError, match="unknown hyperparameter"):
        parse_hpo_config(
            {
                "algorithmHyperParameterRanges": {
                    "integerHyperParameterRanges": [{"name": "bogus", "minValue": 1, "maxValue": 2}]
                }
            }
        )
    hpo = {
        "hpoObjective": {"type": "Maximize", "metricName": "precision_at_10"},
        "hpoResourceConfig": {"maxNumberOfTrainingJobs": "3"},
        "algorithmHyperParameterRanges": {
            "integerHyperParameterRanges": [{"name": "hidden_dimension", "minValue": 8, "maxValue": 32}],
            "continuousHyperParameterRanges": [{"name": "blend_taste", "minValue": 0.5, "maxValue": 2.0}],
        },
    }
    config = TrainingConfig(recipe="aws-user-personalization", perform_hpo=True, hpo_config=hpo)
    plan = HpoPlan.from_config(config)
    trials = plan.configs(config)
    assert plan.objective == "precision_at_10" and len(trials) == 3
    assert all(8 <= t.param("hidden_dimension") <= 32 for t in trials)
    assert plan.grids["taste"][0] == 0.5 and plan.grids["taste"][-1] == 2.0
    model = train(taste_clusters(), None, config)
    assert 8 <= model.tuned_params["hidden_dimension"] <= 32
    assert 0.5 <= model.tuned_params["blend_taste"] <= 2.0


def test_generated_catalogue_has_time_structure_and_no_repeats() -> None:
    interactions, items = synthetic.catalogue(n_users=300, seed=1)
    assert not interactions.duplicated(["USER_ID", "ITEM_ID"]).any()  # nobody consumes an item twice
    created = items.set_index("ITEM_ID")["CREATION_TIMESTAMP"]
    assert (interactions["TIMESTAMP"].to_numpy() >= created[interactions["ITEM_ID"]].to_numpy()).all()
    assert (created > interactions["TIMESTAMP"].min()).mean() > 0.3  # released while the data runs
    gaps = interactions.sort_values(["USER_ID", "TIMESTAMP"]).groupby("USER_ID")["TIMESTAMP"].diff().dropna()
    assert (gaps < 3 * 3600).mean() > 0.5 and (gaps > 86_400).mean() > 0.1  # bursts, days apart
    category = items.set_index("ITEM_ID")["CATEGORY"]
    one_user = interactions[interactions["USER_ID"] == "u0"].sort_values("TIMESTAMP")
    same_cluster = category[one_user["ITEM_ID"]].to_numpy()[1:] == category[one_user["ITEM_ID"]].to_numpy()[:-1]
    assert same_cluster.mean() > 0.5  # a session stays with one taste
