"""IMPRESSION through the engine's API: imported, used by training when it helps, reported in tunedHPOParams."""

from __future__ import annotations

from typing import Any

import pytest

from infra.local.personalize.synthetic_feeds import feeds
from tests.integration.engine.conftest import ITEMS_SCHEMA, RECIPE, import_and_wait, put_csv, unique, wait_for
from tests.integration.engine.test_metric_attribution import ATTRIBUTION_SCHEMA

pytestmark = pytest.mark.integration


def test_informative_impressions_are_used_and_reported(personalize: Any, s3: Any, bucket: str) -> None:
    interactions, items = feeds(n_users=500, n_items=300, seed=4)
    group = personalize.create_dataset_group(name=unique("imp"))["datasetGroupArn"]
    schema = personalize.create_schema(name=unique("imp-int"), schema=ATTRIBUTION_SCHEMA)["schemaArn"]
    dataset = personalize.create_dataset(
        name=unique("interactions"), schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
    )["datasetArn"]
    items_schema = personalize.create_schema(name=unique("imp-itm"), schema=ITEMS_SCHEMA)["schemaArn"]
    items_arn = personalize.create_dataset(
        name=unique("items"), schemaArn=items_schema, datasetGroupArn=group, datasetType="Items"
    )["datasetArn"]
    assert import_and_wait(personalize, dataset, put_csv(s3, bucket, f"{unique('imp')}.csv", interactions))[
        "status"
    ] == ("ACTIVE")
    assert import_and_wait(personalize, items_arn, put_csv(s3, bucket, f"{unique('imp')}.csv", items))["status"] == (
        "ACTIVE"
    )
    solution = personalize.create_solution(
        name=unique("sol"), datasetGroupArn=group, recipeArn=RECIPE + "aws-user-personalization"
    )["solutionArn"]
    arn = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    version = wait_for(  # a blend search with one more part: minutes on a loaded machine
        lambda: personalize.describe_solution_version(solutionVersionArn=arn)["solutionVersion"], timeout=900
    )
    assert version["status"] == "ACTIVE", version
    tuned = version["tunedHPOParams"]["algorithmHyperParameters"]
    assert float(tuned["blend_impressed"]) > 0, tuned
    metrics = personalize.get_solution_metrics(solutionVersionArn=version["solutionVersionArn"])["metrics"]
    assert metrics["normalized_discounted_cumulative_gain_at_25"] > 0
