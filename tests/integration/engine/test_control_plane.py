"""Control-plane conformance through a real boto3 ``personalize`` client."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from tests.integration.engine.conftest import (
    INTERACTIONS_SCHEMA,
    ITEMS_SCHEMA,
    RECIPE,
    import_and_wait,
    make_interactions,
    make_items,
    new_group,
    put_csv,
    train_solution,
    unique,
    wait_for,
)

pytestmark = pytest.mark.integration


def error_code(exc: pytest.ExceptionInfo[Any]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_schema_lifecycle(personalize: Any, assert_shape: Any) -> None:
    name = unique("schema")
    arn = personalize.create_schema(name=name, schema=INTERACTIONS_SCHEMA)["schemaArn"]
    described = personalize.describe_schema(schemaArn=arn)
    assert_shape(personalize, "DescribeSchema", described)
    assert described["schema"]["name"] == name
    listed = personalize.list_schemas()
    assert_shape(personalize, "ListSchemas", listed)
    assert arn in [s["schemaArn"] for s in listed["schemas"]]
    with pytest.raises(ClientError) as exc:
        personalize.create_schema(name=name, schema=INTERACTIONS_SCHEMA)
    assert error_code(exc) == "ResourceAlreadyExistsException"
    personalize.delete_schema(schemaArn=arn)
    with pytest.raises(ClientError) as exc:
        personalize.describe_schema(schemaArn=arn)
    assert error_code(exc) == "ResourceNotFoundException"


@pytest.mark.parametrize("bad", ["{not json", '{"type": "record"}', '{"type": "record", "fields": [{"name": "X"}]}'])
def test_malformed_schema_is_invalid_input(personalize: Any, bad: str) -> None:
    with pytest.raises(ClientError) as exc:
        personalize.create_schema(name=unique("bad"), schema=bad)
    assert error_code(exc) == "InvalidInputException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_unknown_arns_are_not_found(personalize: Any) -> None:
    missing = "arn:aws:personalize:us-east-1:000000000000:"
    calls: list[Callable[[], Any]] = [
        lambda: personalize.describe_dataset_group(datasetGroupArn=missing + "dataset-group/nope"),
        lambda: personalize.describe_dataset(datasetArn=missing + "dataset/nope/INTERACTIONS"),
        lambda: personalize.describe_solution(solutionArn=missing + "solution/nope"),
        lambda: personalize.describe_solution_version(solutionVersionArn=missing + "solution/nope/1"),
        lambda: personalize.describe_campaign(campaignArn=missing + "campaign/nope"),
        lambda: personalize.describe_filter(filterArn=missing + "filter/nope"),
        lambda: personalize.get_solution_metrics(solutionVersionArn=missing + "solution/nope/1"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert error_code(exc) == "ResourceNotFoundException"


def test_dataset_group_and_datasets(personalize: Any, assert_shape: Any) -> None:
    group, interactions, items = new_group(personalize)
    assert_shape(personalize, "DescribeDatasetGroup", personalize.describe_dataset_group(datasetGroupArn=group))
    described = personalize.describe_dataset(datasetArn=interactions)
    assert_shape(personalize, "DescribeDataset", described)
    assert described["dataset"]["datasetType"] == "Interactions"
    listed = personalize.list_datasets(datasetGroupArn=group)
    assert_shape(personalize, "ListDatasets", listed)
    assert {d["datasetArn"] for d in listed["datasets"]} == {interactions, items}
    assert_shape(personalize, "ListDatasetGroups", personalize.list_dataset_groups())
    with pytest.raises(ClientError) as exc:
        personalize.delete_dataset_group(datasetGroupArn=group)
    assert error_code(exc) == "ResourceInUseException"
    schema = personalize.describe_dataset(datasetArn=items)["dataset"]["schemaArn"]
    with pytest.raises(ClientError) as exc:
        personalize.delete_schema(schemaArn=schema)
    assert error_code(exc) == "ResourceInUseException"
    personalize.delete_dataset(datasetArn=interactions)
    personalize.delete_dataset(datasetArn=items)
    personalize.delete_dataset_group(datasetGroupArn=group)


def test_items_schema_cannot_back_interactions(personalize: Any) -> None:
    group = personalize.create_dataset_group(name=unique("dsg"))["datasetGroupArn"]
    schema = personalize.create_schema(name=unique("itm"), schema=ITEMS_SCHEMA)["schemaArn"]
    with pytest.raises(ClientError) as exc:
        personalize.create_dataset(
            name=unique("ds"), schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
        )
    assert error_code(exc) == "InvalidInputException"


def test_update_dataset_replaces_an_items_schema_never_an_interactions_one(personalize: Any, assert_shape: Any) -> None:
    """As Personalize: UpdateDataset takes a new Items/Users schema; an Interactions schema is fixed."""
    _group, interactions, items = new_group(personalize)
    wider = ITEMS_SCHEMA.replace(
        '"categorical": true}]', '"categorical": true}, {"name": "GENRE", "type": ["null", "string"]}]'
    )
    new_items = personalize.create_schema(name=unique("itm2"), schema=wider)["schemaArn"]
    updated = personalize.update_dataset(datasetArn=items, schemaArn=new_items)
    assert_shape(personalize, "UpdateDataset", updated)
    assert personalize.describe_dataset(datasetArn=items)["dataset"]["schemaArn"] == new_items
    before = personalize.describe_dataset(datasetArn=interactions)["dataset"]["schemaArn"]
    wider_interactions = INTERACTIONS_SCHEMA.replace(
        '"type": ["null", "float"]}]', '"type": ["null", "float"]}, {"name": "IMPRESSION", "type": ["null", "string"]}]'
    )
    new_interactions = personalize.create_schema(name=unique("int2"), schema=wider_interactions)["schemaArn"]
    with pytest.raises(ClientError) as exc:
        personalize.update_dataset(datasetArn=interactions, schemaArn=new_interactions)
    assert error_code(exc) == "InvalidInputException"
    assert personalize.describe_dataset(datasetArn=interactions)["dataset"]["schemaArn"] == before


BAD_CSVS = {
    "missing required column": "USER_ID,ITEM_ID,EVENT_TYPE\nu1,i1,read\n",
    "non-numeric timestamp": "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nu1,i1,yesterday,read\n",
    "unknown column": "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,COLOUR\nu1,i1,1700000000,read,red\n",
    "empty required value": "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n,i1,1700000000,read\n",
}


@pytest.mark.parametrize("case", sorted(BAD_CSVS))
def test_bad_csv_fails_the_import_job(personalize: Any, s3: Any, bucket: str, assert_shape: Any, case: str) -> None:
    _, interactions, _ = new_group(personalize)
    job = import_and_wait(personalize, interactions, put_csv(s3, bucket, f"bad/{unique('x')}.csv", BAD_CSVS[case]))
    assert job["status"] == "CREATE FAILED"
    assert job["failureReason"]
    assert_shape(personalize, "DescribeDatasetImportJob", {"datasetImportJob": job})


def test_import_modes_and_dedup(personalize: Any, s3: Any, bucket: str, engine_env: Any, assert_shape: Any) -> None:
    _, interactions, items = new_group(personalize)
    store = engine_env.engine.engine.store
    prefix = f"prefix-{unique('p')}/"
    events = make_interactions(n_users=4, per_user=5)
    put_csv(s3, bucket, prefix + "a.csv", events.iloc[:10])
    put_csv(s3, bucket, prefix + "b.csv", events.iloc[5:])  # overlaps a.csv: identical events kept once
    assert import_and_wait(personalize, interactions, f"s3://{bucket}/{prefix}")["status"] == "ACTIVE"
    assert len(store.frame(interactions)) == len(events.drop_duplicates())
    more = make_interactions(n_users=2, per_user=3, seed=9).assign(USER_ID=lambda d: "new-" + d["USER_ID"])
    job = import_and_wait(personalize, interactions, put_csv(s3, bucket, f"{unique('inc')}.csv", more), "INCREMENTAL")
    assert job["status"] == "ACTIVE" and job["importMode"] == "INCREMENTAL"
    assert len(store.frame(interactions)) == len(events.drop_duplicates()) + len(more)
    import_and_wait(personalize, interactions, put_csv(s3, bucket, f"{unique('full')}.csv", more), "FULL")
    assert len(store.frame(interactions)) == len(more)
    catalogue = make_items(6)
    renamed = catalogue.iloc[:2].assign(CATEGORY="changed")
    import_and_wait(personalize, items, put_csv(s3, bucket, f"{unique('it')}.csv", catalogue))
    import_and_wait(personalize, items, put_csv(s3, bucket, f"{unique('it')}.csv", renamed), "INCREMENTAL")
    frame = store.frame(items)
    assert len(frame) == 6
    assert (frame.set_index("ITEM_ID").loc[["i0", "i1"], "CATEGORY"] == "changed").all()
    listed = personalize.list_dataset_import_jobs(datasetArn=interactions)
    assert_shape(personalize, "ListDatasetImportJobs", listed)
    assert len(listed["datasetImportJobs"]) == 3


def test_import_job_names_and_limits(personalize: Any, s3: Any, bucket: str, engine_env: Any) -> None:
    _, interactions, _ = new_group(personalize)
    location = put_csv(s3, bucket, f"{unique('lim')}.csv", make_interactions(n_users=2, per_user=2))
    source = {"dataLocation": location}
    with pytest.raises((ClientError, ParamValidationError)) as bad_name:
        personalize.create_dataset_import_job(jobName="-starts-with-dash", datasetArn=interactions, dataSource=source)
    if bad_name.type is ClientError:
        assert error_code(bad_name) == "InvalidInputException"
    gate = threading.Event()
    engine_env.engine.engine.worker.submit(gate.wait, 30)  # hold the worker so jobs stay pending
    try:
        names = [unique("pending") for _ in range(5)]
        for name in names:
            personalize.create_dataset_import_job(jobName=name, datasetArn=interactions, dataSource=source)
        with pytest.raises(ClientError) as exc:
            personalize.create_dataset_import_job(jobName=unique("sixth"), datasetArn=interactions, dataSource=source)
        assert error_code(exc) == "LimitExceededException"
        with pytest.raises(ClientError) as exc:
            personalize.create_dataset_import_job(jobName=names[0], datasetArn=interactions, dataSource=source)
        assert error_code(exc) == "ResourceAlreadyExistsException"
    finally:
        gate.set()


def test_too_little_data_fails_the_solution_version(personalize: Any, s3: Any, bucket: str) -> None:
    group, interactions, _ = new_group(personalize)
    small = make_interactions(n_users=10, per_user=5)
    import_and_wait(personalize, interactions, put_csv(s3, bucket, f"{unique('small')}.csv", small))
    _, found = train_solution(personalize, group, "aws-user-personalization")
    assert found["status"] == "CREATE FAILED"
    assert "1000" in found["failureReason"].replace(",", "")


def test_solution_lifecycle_and_metrics(personalize: Any, trained: Any, assert_shape: Any) -> None:
    solution = personalize.describe_solution(solutionArn=trained.solution_arn)
    assert_shape(personalize, "DescribeSolution", solution)
    assert solution["solution"]["latestSolutionVersion"]["status"] == "ACTIVE"
    assert solution["solution"]["performAutoTraining"] is False
    version = personalize.describe_solution_version(solutionVersionArn=trained.version_arn)
    assert_shape(personalize, "DescribeSolutionVersion", version)
    assert version["solutionVersion"]["trainingMode"] == "FULL"
    listed = personalize.list_solution_versions(solutionArn=trained.solution_arn)
    assert_shape(personalize, "ListSolutionVersions", listed)
    assert_shape(personalize, "ListSolutions", personalize.list_solutions(datasetGroupArn=trained.group_arn))
    metrics = personalize.get_solution_metrics(solutionVersionArn=trained.version_arn)
    assert_shape(personalize, "GetSolutionMetrics", metrics)
    expected = {
        "coverage",
        "mean_reciprocal_rank_at_25",
        "normalized_discounted_cumulative_gain_at_5",
        "normalized_discounted_cumulative_gain_at_10",
        "normalized_discounted_cumulative_gain_at_25",
        "precision_at_5",
        "precision_at_10",
        "precision_at_25",
    }
    assert set(metrics["metrics"]) == expected
    assert all(0.0 <= v <= 1.0 for v in metrics["metrics"].values())


def test_solution_validation(personalize: Any, trained: Any) -> None:
    with pytest.raises(ClientError) as exc:
        personalize.create_solution(
            name=unique("s"), datasetGroupArn=trained.group_arn, recipeArn=RECIPE + "aws-no-such-recipe"
        )
    assert error_code(exc) == "InvalidInputException"
    sims = personalize.create_solution(
        name=unique("sims"), datasetGroupArn=trained.group_arn, recipeArn=RECIPE + "aws-sims"
    )["solutionArn"]
    with pytest.raises(ClientError) as exc:
        personalize.create_solution_version(solutionArn=sims, trainingMode="UPDATE")
    assert error_code(exc) == "InvalidInputException"
    personalize.delete_solution(solutionArn=sims)
    with pytest.raises(ClientError) as exc:
        personalize.delete_solution(solutionArn=trained.solution_arn)
    assert error_code(exc) == "ResourceInUseException"


def test_campaign_update(personalize: Any, trained: Any, assert_shape: Any) -> None:
    version = personalize.create_solution_version(solutionArn=trained.solution_arn, trainingMode="UPDATE")[
        "solutionVersionArn"
    ]
    found = wait_for(lambda: personalize.describe_solution_version(solutionVersionArn=version)["solutionVersion"])
    assert found["status"] == "ACTIVE" and found["trainingMode"] == "UPDATE"
    campaign = personalize.create_campaign(name=unique("c"), solutionVersionArn=trained.version_arn)["campaignArn"]
    wait_for(lambda: personalize.describe_campaign(campaignArn=campaign)["campaign"])
    personalize.update_campaign(campaignArn=campaign, solutionVersionArn=version, minProvisionedTPS=2)

    def latest() -> Any:
        return personalize.describe_campaign(campaignArn=campaign)["campaign"]["latestCampaignUpdate"]

    assert wait_for(latest)["status"] == "ACTIVE"
    described = personalize.describe_campaign(campaignArn=campaign)
    assert_shape(personalize, "DescribeCampaign", described)
    assert described["campaign"]["solutionVersionArn"] == version
    assert described["campaign"]["minProvisionedTPS"] == 2
    listed = personalize.list_campaigns(solutionArn=trained.solution_arn)
    assert_shape(personalize, "ListCampaigns", listed)
    assert campaign in [c["campaignArn"] for c in listed["campaigns"]]
    personalize.delete_campaign(campaignArn=campaign)
    with pytest.raises(ClientError) as exc:
        personalize.describe_campaign(campaignArn=campaign)
    assert error_code(exc) == "ResourceNotFoundException"


def test_filters(personalize: Any, trained: Any, assert_shape: Any) -> None:
    arn = personalize.create_filter(
        name=unique("f"),
        datasetGroupArn=trained.group_arn,
        filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")',
    )["filterArn"]
    assert_shape(personalize, "DescribeFilter", personalize.describe_filter(filterArn=arn))
    listed = personalize.list_filters(datasetGroupArn=trained.group_arn)
    assert_shape(personalize, "ListFilters", listed)
    assert arn in [f["filterArn"] for f in listed["Filters"]]
    for bad in [
        "EXCLUDE WHERE nothing",
        'INCLUDE ItemID WHERE Items.CATEGORY IN ("a"',
        "SELECT * FROM items",
    ]:
        with pytest.raises(ClientError) as exc:
            personalize.create_filter(name=unique("bad"), datasetGroupArn=trained.group_arn, filterExpression=bad)
        assert error_code(exc) == "InvalidInputException"
    personalize.delete_filter(filterArn=arn)


def test_batch_inference(personalize: Any, s3: Any, bucket: str, trained: Any, assert_shape: Any) -> None:
    key = f"batch/{unique('in')}.json"
    s3.put_object(Bucket=bucket, Key=key, Body=b'{"userId": "u1"}\n{"userId": "u2"}\n')
    job = personalize.create_batch_inference_job(
        jobName=unique("batch"),
        solutionVersionArn=trained.version_arn,
        numResults=5,
        jobInput={"s3DataSource": {"path": f"s3://{bucket}/{key}"}},
        jobOutput={"s3DataDestination": {"path": f"s3://{bucket}/batch-out/"}},
        roleArn="arn:aws:iam::000000000000:role/p",
    )["batchInferenceJobArn"]
    found = wait_for(lambda: personalize.describe_batch_inference_job(batchInferenceJobArn=job)["batchInferenceJob"])
    assert found["status"] == "ACTIVE", found
    assert_shape(personalize, "DescribeBatchInferenceJob", {"batchInferenceJob": found})
    assert_shape(personalize, "ListBatchInferenceJobs", personalize.list_batch_inference_jobs())
    body = s3.get_object(Bucket=bucket, Key="batch-out/" + key.rsplit("/", 1)[-1] + ".out")["Body"].read()
    import json

    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert [line["input"]["userId"] for line in lines] == ["u1", "u2"]
    assert all(len(line["output"]["recommendedItems"]) == 5 for line in lines)


def test_batch_inference_takes_an_item_exploration_config_and_refuses_a_bad_one(
    personalize: Any, s3: Any, bucket: str, trained: Any, assert_shape: Any
) -> None:
    key = f"batch/{unique('explore')}.json"
    s3.put_object(Bucket=bucket, Key=key, Body=b'{"userId": "u1"}\n')
    job = {
        "solutionVersionArn": trained.version_arn,
        "numResults": 5,
        "jobInput": {"s3DataSource": {"path": f"s3://{bucket}/{key}"}},
        "jobOutput": {"s3DataDestination": {"path": f"s3://{bucket}/batch-explore/"}},
        "roleArn": "arn:aws:iam::000000000000:role/p",
    }
    with pytest.raises(ClientError) as exc:
        personalize.create_batch_inference_job(
            jobName=unique("batch-bad"),
            batchInferenceJobConfig={"itemExplorationConfig": {"explorationWeight": "1.5"}},
            **job,
        )
    assert error_code(exc) == "InvalidInputException" and "explorationWeight" in str(exc.value)
    explore = {"explorationWeight": "0.5", "explorationItemAgeCutOff": "10"}
    arn = personalize.create_batch_inference_job(
        jobName=unique("batch-x"), batchInferenceJobConfig={"itemExplorationConfig": explore}, **job
    )["batchInferenceJobArn"]
    found = wait_for(lambda: personalize.describe_batch_inference_job(batchInferenceJobArn=arn)["batchInferenceJob"])
    assert found["status"] == "ACTIVE", found
    assert found["batchInferenceJobConfig"] == {"itemExplorationConfig": explore}
    assert_shape(personalize, "DescribeBatchInferenceJob", {"batchInferenceJob": found})


def test_batch_inference_applies_the_filter(
    personalize: Any, s3: Any, bucket: str, trained: Any, engine_env: Any
) -> None:
    unread = personalize.create_filter(
        name=unique("batch-unread"),
        datasetGroupArn=trained.group_arn,
        filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")',
    )["filterArn"]
    key = f"batch/{unique('filtered')}.json"
    s3.put_object(Bucket=bucket, Key=key, Body=b'{"userId": "u1"}\n')
    job = personalize.create_batch_inference_job(
        jobName=unique("batch-f"),
        solutionVersionArn=trained.version_arn,
        filterArn=unread,
        numResults=50,
        jobInput={"s3DataSource": {"path": f"s3://{bucket}/{key}"}},
        jobOutput={"s3DataDestination": {"path": f"s3://{bucket}/batch-filtered/"}},
        roleArn="arn:aws:iam::000000000000:role/p",
    )["batchInferenceJobArn"]
    found = wait_for(lambda: personalize.describe_batch_inference_job(batchInferenceJobArn=job)["batchInferenceJob"])
    assert found["status"] == "ACTIVE", found
    body = s3.get_object(Bucket=bucket, Key="batch-filtered/" + key.rsplit("/", 1)[-1] + ".out")["Body"].read()
    import json

    recommended = set(json.loads(body)["output"]["recommendedItems"])
    model = engine_env.engine.engine.store.model(trained.version_arn)
    seen = {str(model.item_ids[i]) for i in model.history.of(model.user_index["u1"])[0]}
    assert recommended and not recommended & seen
