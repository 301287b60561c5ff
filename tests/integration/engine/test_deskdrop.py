"""Deskdrop through the API: import, train, sane GetSolutionMetrics (full run: make bench-quality)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.engine.conftest import import_and_wait, put_csv, train_solution, unique

pytestmark = pytest.mark.integration


def test_deskdrop_metrics_are_sane(personalize: Any, s3: Any, bucket: str, deskdrop_dir: Path) -> None:
    """On Deskdrop, or on generated data in its format when it is absent (the same floors hold on both)."""
    from benchmarks.bench_quality import load_deskdrop

    interactions, items = load_deskdrop(deskdrop_dir)
    fields = [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
    ]
    item_fields = [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "CREATION_TIMESTAMP", "type": "long"},
        {"name": "CATEGORY", "type": ["null", "string"], "categorical": True},
        {"name": "LANGUAGE", "type": ["null", "string"], "categorical": True},
    ]
    group = personalize.create_dataset_group(name=unique("deskdrop"))["datasetGroupArn"]
    arns = {}
    for kind, schema_fields in (("Interactions", fields), ("Items", item_fields)):
        schema = json.dumps({"type": "record", "name": kind, "fields": schema_fields})
        schema_arn = personalize.create_schema(name=unique(kind.lower()), schema=schema)["schemaArn"]
        arns[kind] = personalize.create_dataset(
            name=unique(kind.lower()), schemaArn=schema_arn, datasetGroupArn=group, datasetType=kind
        )["datasetArn"]
    frames = {"Interactions": interactions, "Items": items}
    for kind, frame in frames.items():
        location = put_csv(s3, bucket, f"deskdrop/{unique(kind)}.csv", frame)
        assert import_and_wait(personalize, arns[kind], location)["status"] == "ACTIVE"
    _, found = train_solution(personalize, group, "aws-user-personalization")
    assert found["status"] == "ACTIVE", found
    metrics = personalize.get_solution_metrics(solutionVersionArn=found["solutionVersionArn"])["metrics"]
    assert metrics["normalized_discounted_cumulative_gain_at_10"] > 0.2
    assert metrics["precision_at_10"] > 0.03
    assert metrics["coverage"] > 0.2
