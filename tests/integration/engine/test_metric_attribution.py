"""Metric attributions on the local engine through a real boto3 ``personalize`` client, and the report
a bulk interactions import writes to S3 (sources resolved from EVENT_ATTRIBUTION_SOURCE / RECOMMENDATION_ID)."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import pytest
from botocore.exceptions import ClientError

from tests.integration.engine.conftest import ITEMS_SCHEMA, import_and_wait, put_csv, unique, wait_for

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::000000000000:role/storyrec-personalize"
# The interactions schema with Personalize's reserved attribution columns (contract23 ships it in storyrec's Avro).
ATTRIBUTION_SCHEMA = """{"type": "record", "name": "Interactions", "namespace": "com.amazonaws.personalize.schema",
 "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
            {"name": "TIMESTAMP", "type": "long"}, {"name": "EVENT_TYPE", "type": "string"},
            {"name": "EVENT_VALUE", "type": ["null", "float"]},
            {"name": "IMPRESSION", "type": ["null", "string"]},
            {"name": "RECOMMENDATION_ID", "type": ["null", "string"]},
            {"name": "EVENT_ATTRIBUTION_SOURCE", "type": ["null", "string"]}], "version": "1.0"}"""
METRICS = [
    {"eventType": "click", "metricName": "CLICKS", "expression": "SAMPLECOUNT()"},
    {"eventType": "read", "metricName": "READS", "expression": "SAMPLECOUNT()"},
    {"eventType": "read", "metricName": "READ_SECONDS", "expression": "SUM(DatasetType.INTERACTIONS.EVENT_VALUE)"},
]


def code(exc: pytest.ExceptionInfo[Any]) -> str:
    return str(exc.value.response["Error"]["Code"])


def attribution_group(personalize: Any, with_items: bool = True) -> tuple[str, str]:
    group = personalize.create_dataset_group(name=unique("attr"))["datasetGroupArn"]
    schema = personalize.create_schema(name=unique("attr-int"), schema=ATTRIBUTION_SCHEMA)["schemaArn"]
    interactions = personalize.create_dataset(
        name=unique("interactions"), schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
    )["datasetArn"]
    if with_items:
        items_schema = personalize.create_schema(name=unique("attr-itm"), schema=ITEMS_SCHEMA)["schemaArn"]
        personalize.create_dataset(
            name=unique("items"), schemaArn=items_schema, datasetGroupArn=group, datasetType="Items"
        )
    return group, interactions


def output(bucket: str, prefix: str) -> dict[str, Any]:
    return {"s3DataDestination": {"path": f"s3://{bucket}/{prefix}"}, "roleArn": ROLE}


def describe(personalize: Any, arn: str) -> dict[str, Any]:
    return personalize.describe_metric_attribution(metricAttributionArn=arn)["metricAttribution"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"metrics": []}, "InvalidInputException"),
        ({"metrics": [{**METRICS[0], "metricName": f"M{k}"} for k in range(11)]}, "InvalidInputException"),
        ({"metrics": [METRICS[0], METRICS[0]]}, "InvalidInputException"),
        ({"metrics": [{**METRICS[0], "expression": "AVG(Interactions.EVENT_VALUE)"}]}, "InvalidInputException"),
        ({"metrics": [{**METRICS[0], "expression": "SUM(Interactions.USER_ID)"}]}, "InvalidInputException"),
        ({"metrics": [{**METRICS[0], "expression": "SUM(Interactions.NO_SUCH)"}]}, "InvalidInputException"),
        ({"metrics": [{**METRICS[0], "expression": "SUM(Users.AGE)"}]}, "InvalidInputException"),
        ({"metrics": [{**METRICS[0], "eventType": " "}]}, "InvalidInputException"),
        ({"name": "-bad name"}, "InvalidInputException"),
        ({"metricsOutputConfig": {"roleArn": "not-a-role"}}, "InvalidInputException"),
        ({"metricsOutputConfig": {"roleArn": ROLE, "s3DataDestination": {"path": "/tmp/x"}}}, "InvalidInputException"),
        ({"datasetGroupArn": "arn:aws:personalize:us-east-1:000000000000:dataset-group/none"}, "ResourceNotFound"),
    ],
)
def test_create_refuses_what_personalize_refuses(
    personalize: Any, bucket: str, change: dict[str, Any], expected: str
) -> None:
    group, _ = attribution_group(personalize, with_items=False)
    request = {
        "name": unique("ma"),
        "datasetGroupArn": group,
        "metrics": METRICS,
        "metricsOutputConfig": output(bucket, "attr/"),
        **change,
    }
    with pytest.raises(ClientError) as exc:
        personalize.create_metric_attribution(**request)
    assert code(exc).startswith(expected), exc.value


def test_a_group_without_interactions_gets_none(personalize: Any, bucket: str) -> None:
    group = personalize.create_dataset_group(name=unique("empty"))["datasetGroupArn"]
    with pytest.raises(ClientError) as exc:
        personalize.create_metric_attribution(
            name=unique("ma"), datasetGroupArn=group, metrics=METRICS, metricsOutputConfig=output(bucket, "x/")
        )
    assert code(exc) == "InvalidInputException"


def test_lifecycle_one_per_group_update_and_delete(personalize: Any, bucket: str, assert_shape: Any) -> None:
    group, _ = attribution_group(personalize)
    name = unique("ma")
    arn = personalize.create_metric_attribution(
        name=name, datasetGroupArn=group, metrics=METRICS, metricsOutputConfig=output(bucket, "attr/")
    )["metricAttributionArn"]
    first = personalize.describe_metric_attribution(metricAttributionArn=arn)
    assert_shape(personalize, "DescribeMetricAttribution", first)
    assert first["metricAttribution"]["status"] in ("CREATE PENDING", "ACTIVE")
    settled = wait_for(lambda: describe(personalize, arn))
    assert settled["status"] == "ACTIVE" and settled["name"] == name and settled["datasetGroupArn"] == group
    assert settled["metricsOutputConfig"] == output(bucket, "attr/")

    with pytest.raises(ClientError) as second:
        personalize.create_metric_attribution(
            name=unique("ma"), datasetGroupArn=group, metrics=METRICS, metricsOutputConfig=output(bucket, "y/")
        )
    assert code(second) == "ResourceAlreadyExistsException"

    listed = personalize.list_metric_attributions(datasetGroupArn=group)
    assert_shape(personalize, "ListMetricAttributions", listed)
    assert [m["metricAttributionArn"] for m in listed["metricAttributions"]] == [arn]
    metrics = personalize.list_metric_attribution_metrics(metricAttributionArn=arn)
    assert_shape(personalize, "ListMetricAttributionMetrics", metrics)
    assert [m["metricName"] for m in metrics["metrics"]] == ["CLICKS", "READS", "READ_SECONDS"]
    page = personalize.list_metric_attribution_metrics(metricAttributionArn=arn, maxResults=2)
    assert len(page["metrics"]) == 2 and page["nextToken"]

    with pytest.raises(ClientError) as unknown:
        personalize.update_metric_attribution(metricAttributionArn=arn, removeMetrics=["NOPE"])
    assert code(unknown) == "InvalidInputException"
    with pytest.raises(ClientError) as dup:
        personalize.update_metric_attribution(metricAttributionArn=arn, addMetrics=[METRICS[0]])
    assert code(dup) == "ResourceAlreadyExistsException"
    personalize.update_metric_attribution(
        metricAttributionArn=arn,
        removeMetrics=["READ_SECONDS"],
        addMetrics=[{"eventType": "like", "metricName": "LIKES", "expression": "SAMPLECOUNT()"}],
        metricsOutputConfig=output(bucket, "moved/"),
    )
    assert describe(personalize, arn)["status"] in ("UPDATE PENDING", "ACTIVE")
    assert wait_for(lambda: describe(personalize, arn))["metricsOutputConfig"] == output(bucket, "moved/")
    names = [m["metricName"] for m in personalize.list_metric_attribution_metrics(metricAttributionArn=arn)["metrics"]]
    assert names == ["CLICKS", "READS", "LIKES"]

    with pytest.raises(ClientError) as in_use:
        personalize.delete_dataset_group(datasetGroupArn=group)
    assert code(in_use) == "ResourceInUseException"
    personalize.delete_metric_attribution(metricAttributionArn=arn)
    assert personalize.list_metric_attributions(datasetGroupArn=group)["metricAttributions"] == []
    with pytest.raises(ClientError) as gone:
        personalize.describe_metric_attribution(metricAttributionArn=arn)
    assert code(gone) == "ResourceNotFoundException"


def reports(s3: Any, bucket: str, prefix: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return sorted(o["Key"] for o in listed)


def test_bulk_import_writes_the_per_source_report(
    personalize: Any, runtime: Any, s3: Any, bucket: str, trained: Any
) -> None:
    """Sources: EVENT_ATTRIBUTION_SOURCE wins, else the campaign of the RECOMMENDATION_ID, else undefined."""
    rid = runtime.get_recommendations(campaignArn=trained.campaign_arn, userId="u1", numResults=5)["recommendationId"]
    group, interactions = attribution_group(personalize)
    prefix = f"attribution/{unique('r')}/"
    arn = personalize.create_metric_attribution(
        name=unique("ma"), datasetGroupArn=group, metrics=METRICS, metricsOutputConfig=output(bucket, prefix)
    )["metricAttributionArn"]
    wait_for(lambda: describe(personalize, arn))
    t0 = 1_764_000_000 - 1_764_000_000 % 900  # a window boundary
    rows = [
        # user, item, ts, type, value, impression, recommendation id, source
        ("a", "i1", t0 + 10, "click", None, "i1|i2|i3", rid, None),
        ("a", "i1", t0 + 20, "read", 30.0, None, rid, None),
        ("b", "i2", t0 + 30, "click", None, "i2|i4", rid, "storyrec-control"),  # the source wins
        ("b", "i2", t0 + 40, "read", 12.5, None, None, "storyrec-control"),
        ("c", "i3", t0 + 50, "click", None, None, None, None),  # neither: undefined
        ("c", "i3", t0 + 60, "click", None, None, "RID-0000000000-x-1", None),  # unknown id: undefined
        ("a", "i4", t0 + 900 + 5, "click", None, None, rid, None),  # the next window
        ("a", "i5", t0 + 70, "like", None, None, rid, None),  # no metric for likes
    ]
    columns = [
        "USER_ID",
        "ITEM_ID",
        "TIMESTAMP",
        "EVENT_TYPE",
        "EVENT_VALUE",
        "IMPRESSION",
        "RECOMMENDATION_ID",
        "EVENT_ATTRIBUTION_SOURCE",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    before = reports(s3, bucket, prefix)
    location = put_csv(s3, bucket, f"inputs/{unique('attr')}.csv", frame)
    assert import_and_wait(personalize, interactions, location)["status"] == "ACTIVE"
    assert reports(s3, bucket, prefix) == before, "no report unless the import asks for it"

    job = personalize.create_dataset_import_job(
        jobName=unique("job"),
        datasetArn=interactions,
        dataSource={"dataLocation": location},
        roleArn=ROLE,
        importMode="INCREMENTAL",
        publishAttributionMetricsToS3=True,
    )["datasetImportJobArn"]
    done = wait_for(lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"])
    assert done["status"] == "ACTIVE" and done["publishAttributionMetricsToS3"] is True
    written = reports(s3, bucket, prefix)
    assert len(written) == 1 and written[0].rsplit("/", 1)[-1].startswith("AggregatedAttributionMetrics-INCREMENTAL-")
    body = s3.get_object(Bucket=bucket, Key=written[0])["Body"].read().decode()
    assert body.splitlines()[0] == "METRIC_NAME,EVENT_TYPE,VALUE,MATH_FUNCTION,EVENT_ATTRIBUTION_SOURCE,TIMESTAMP"
    report = pd.read_csv(io.StringIO(body))
    got = {
        (r.METRIC_NAME, r.EVENT_ATTRIBUTION_SOURCE, int(r.TIMESTAMP)): (r.VALUE, r.MATH_FUNCTION)
        for r in report.itertuples()
    }
    campaign = trained.campaign_arn
    assert got == {
        ("CLICKS", campaign, t0): (1.0, "samplecount"),
        ("CLICKS", campaign, t0 + 900): (1.0, "samplecount"),
        ("CLICKS", "storyrec-control", t0): (1.0, "samplecount"),
        ("CLICKS", "SOURCE_NAME_UNDEFINED", t0): (2.0, "samplecount"),
        ("READS", campaign, t0): (1.0, "samplecount"),
        ("READS", "storyrec-control", t0): (1.0, "samplecount"),
        ("READ_SECONDS", campaign, t0): (30.0, "sum"),
        ("READ_SECONDS", "storyrec-control", t0): (12.5, "sum"),
    }


def test_recommendation_ids_name_their_campaign_across_requests(runtime: Any, trained: Any) -> None:
    first = runtime.get_recommendations(campaignArn=trained.campaign_arn, userId="u1")["recommendationId"]
    ranking = runtime.get_personalized_ranking(campaignArn=trained.campaign_arn, userId="u1", inputList=["i1", "i2"])
    assert first != ranking["recommendationId"]
    assert first.split("-")[1] == ranking["recommendationId"].split("-")[1]
