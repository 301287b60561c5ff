"""The Personalize gateway against the local engine, through the stack's real boto3 endpoints."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from shared import wiring
from shared.config import Settings
from shared.errors import NotFound
from shared.personalize.model import ImportRequest
from shared.schema import DATASET_TYPES, load_schema

pytestmark = pytest.mark.integration


def _wait(gateway: Any, kind: str, arn: str, timeout: float = 60.0) -> dict[str, Any]:
    control = gateway._control
    key = "".join(w.capitalize() if i else w for i, w in enumerate(kind.split("_")))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resource = getattr(control, f"describe_{kind}")(**{f"{key}Arn": arn})[key]
        if resource["status"] in {"ACTIVE", "CREATE FAILED"}:
            return resource  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"{kind} {arn} did not settle")


def _interactions_csv(users: int = 40, items: int = 30) -> bytes:
    rows = ["USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE,DEVICE"]
    t = 1_764_000_000
    for u in range(users):
        for k in range(30):
            item = (u * 7 + k * k) % items
            rows.append(f"user-{u},story-{item},{t + u * 100 + k},{'read' if k % 3 else 'like'},,ios")
    return ("\n".join(rows) + "\n").encode()


def test_describe_or_create_is_idempotent_and_recommends(settings: Settings, s3_store: Any) -> None:
    gateway = wiring.personalize(settings)
    suffix = uuid.uuid4().hex[:8]
    group = gateway.ensure_dataset_group(f"storyrec-{suffix}")
    assert gateway.ensure_dataset_group(f"storyrec-{suffix}") == group
    datasets = {}
    for dataset_type in DATASET_TYPES:
        schema = load_schema(dataset_type)
        schema_arn = gateway.ensure_schema(f"storyrec-{dataset_type}-{suffix}", schema.as_json())
        assert gateway.ensure_schema(f"storyrec-{dataset_type}-{suffix}", schema.as_json()) == schema_arn
        datasets[dataset_type] = gateway.ensure_dataset(group, dataset_type, schema_arn, f"{dataset_type}-{suffix}")
    assert _wait(gateway, "dataset", datasets["interactions"])["status"] == "ACTIVE"

    s3_store.put_bytes("interactions/dt=2026-11-29/part-00000.csv", _interactions_csv(), content_type="text/csv")
    uri = f"s3://{s3_store.bucket}/interactions/dt=2026-11-29/part-00000.csv"
    request = ImportRequest(f"interactions-2026-11-29-{suffix}", datasets["interactions"], uri, "FULL")
    job = gateway.start_import(request)
    again = gateway.start_import(request)
    assert again == job
    assert _wait(gateway, "dataset_import_job", job)["status"] == "ACTIVE"

    control = wiring.aws_client("personalize", settings)
    solution = control.create_solution(
        name=f"pop-{suffix}", datasetGroupArn=group, recipeArn="arn:aws:personalize:::recipe/aws-popularity-count"
    )["solutionArn"]
    version = control.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    assert _wait(gateway, "solution_version", version, timeout=120)["status"] == "ACTIVE"
    campaign = control.create_campaign(name=f"feed-{suffix}", solutionVersionArn=version)["campaignArn"]
    assert _wait(gateway, "campaign", campaign)["status"] == "ACTIVE"

    recs = gateway.get_recommendations(campaign, "user-3", num_results=5)
    assert len(recs) == 5 and len({r.item_id for r in recs}) == 5
    assert all(r.item_id.startswith("story-") for r in recs)


def test_unknown_resources_are_not_found(settings: Settings) -> None:
    gateway = wiring.personalize(settings)
    missing = "arn:aws:personalize:us-east-1:000000000000:campaign/nope"
    with pytest.raises(NotFound):
        gateway.get_recommendations(missing, "user-1")
    with pytest.raises(NotFound):
        gateway.describe_campaign(missing)
    assert gateway.find_arn("dataset_group", f"absent-{uuid.uuid4().hex[:6]}") is None
