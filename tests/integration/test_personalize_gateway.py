"""The Personalize gateway against the local engine, through the stack's real boto3 endpoints."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from shared import wiring
from shared.config import Settings
from shared.errors import NotFound
from shared.personalize.model import ImportRequest, MetricAttributionSpec, MetricSpec
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


def test_metric_attribution_describe_or_create_and_the_import_report(settings: Settings, s3_store: Any) -> None:
    """The gateway makes the group's metric attribution once; an interactions import asking for it gets the
    per-source report (a click's RECOMMENDATION_ID resolves to the campaign that issued it)."""
    from tests.integration.engine.test_metric_attribution import ATTRIBUTION_SCHEMA

    gateway = wiring.personalize(settings)
    suffix = uuid.uuid4().hex[:8]
    group = gateway.ensure_dataset_group(f"attr-{suffix}")
    schema = gateway.ensure_schema(f"attr-{suffix}", ATTRIBUTION_SCHEMA)
    dataset = gateway.ensure_dataset(group, "interactions", schema, f"interactions-{suffix}")
    spec = MetricAttributionSpec(
        f"attr-{suffix}",
        group,
        (MetricSpec("CLICKS", "open", "SAMPLECOUNT()"), MetricSpec("READS", "read", "SAMPLECOUNT()")),
        f"s3://{s3_store.bucket}/attribution-{suffix}/",
        "arn:aws:iam::000000000000:role/personalize",
    )
    arn = gateway.ensure_metric_attribution(spec)
    assert gateway.ensure_metric_attribution(spec) == arn  # describe-or-create
    assert gateway.find_arn("metric_attribution", spec.name, group) == arn
    assert _wait(gateway, "metric_attribution", arn)["metricsOutputConfig"]["s3DataDestination"]["path"] == (
        spec.output_path
    )

    header = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE,IMPRESSION,RECOMMENDATION_ID,EVENT_ATTRIBUTION_SOURCE"
    history = _interactions_csv().decode().splitlines()[1:]
    rows = [",".join(line.split(",")[:4]) + ",,,," for line in history]
    s3_store.put_bytes(f"a-{suffix}/base.csv", ("\n".join([header, *rows]) + "\n").encode(), content_type="text/csv")
    base = ImportRequest(f"base-{suffix}", dataset, f"s3://{s3_store.bucket}/a-{suffix}/base.csv", "INCREMENTAL")
    assert _wait(gateway, "dataset_import_job", gateway.start_import(base))["status"] == "ACTIVE"
    control = wiring.aws_client("personalize", settings)
    solution = control.create_solution(
        name=f"pop-{suffix}", datasetGroupArn=group, recipeArn="arn:aws:personalize:::recipe/aws-popularity-count"
    )["solutionArn"]
    version = control.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    assert _wait(gateway, "solution_version", version, timeout=120)["status"] == "ACTIVE"
    campaign = control.create_campaign(name=f"attr-{suffix}", solutionVersionArn=version)["campaignArn"]
    assert _wait(gateway, "campaign", campaign)["status"] == "ACTIVE"
    rid = gateway.get_recommendations(campaign, "user-1", num_results=3).recommendation_id
    assert rid

    t = 1_764_000_000 - 1_764_000_000 % 900
    clicks = [
        f"user-1,story-1,{t + 1},open,,story-1|story-2,{rid},",
        f"user-1,story-1,{t + 2},read,,,{rid},",
        f"user-2,story-2,{t + 3},open,,story-2,{rid},storyrec-control",
        f"user-3,story-3,{t + 4},open,,,,",
    ]
    s3_store.put_bytes(f"a-{suffix}/day.csv", ("\n".join([header, *clicks]) + "\n").encode(), content_type="text/csv")
    day = ImportRequest(
        f"day-{suffix}",
        dataset,
        f"s3://{s3_store.bucket}/a-{suffix}/day.csv",
        "INCREMENTAL",
        "arn:aws:iam::000000000000:role/personalize",
        publish_attribution_metrics=True,
    )
    assert _wait(gateway, "dataset_import_job", gateway.start_import(day))["status"] == "ACTIVE"
    reports = [o.key for o in s3_store.list(f"attribution-{suffix}/")]
    assert len(reports) == 1, reports
    lines = s3_store.get_bytes(reports[0]).decode().splitlines()
    assert lines[0] == "METRIC_NAME,EVENT_TYPE,VALUE,MATH_FUNCTION,EVENT_ATTRIBUTION_SOURCE,TIMESTAMP"
    assert sorted(lines[1:]) == sorted(
        [
            f"CLICKS,open,1.0,samplecount,{campaign},{t}",
            f"CLICKS,open,1.0,samplecount,storyrec-control,{t}",
            f"CLICKS,open,1.0,samplecount,SOURCE_NAME_UNDEFINED,{t}",
            f"READS,read,1.0,samplecount,{campaign},{t}",
        ]
    )
    gateway.delete("metric_attribution", arn)
    gateway.delete("metric_attribution", arn)  # deleted already: not an error
    assert gateway.find_arn("metric_attribution", spec.name, group) is None
