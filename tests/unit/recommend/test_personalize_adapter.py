"""What feeds ask of the Personalize adapter, over botocore Stubbers: requests and responses checked against the
real models; errors through the adapter's one translation table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from shared.adapters.personalize import PersonalizeGateway
from shared.errors import NotFound, StoryrecError
from shared.personalize.model import (
    BatchInferenceRequest,
    LimitExceeded,
    PersonalizeError,
    ResourceAlreadyExists,
    ResourceInUse,
    Status,
    Throttled,
    Unavailable,
)
from shared.recommend.campaign import ensure_feed_filter, serving_campaign
from shared.retry import is_retryable

pytestmark = pytest.mark.unit
ACCOUNT = "arn:aws:personalize:us-east-1:000000000000"
CAMPAIGN = f"{ACCOUNT}:campaign/feed"
GROUP = f"{ACCOUNT}:dataset-group/storyrec"
FILTER = f"{ACCOUNT}:filter/f-1"


@pytest.fixture
def clients() -> Iterator[tuple[Any, Any, Stubber, Stubber]]:
    control = boto3.client("personalize", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    runtime = boto3.client(
        "personalize-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(control) as c, Stubber(runtime) as r:
        yield control, runtime, c, r
        c.assert_no_pending_responses()
        r.assert_no_pending_responses()


def adapter(control: Any, runtime: Any) -> PersonalizeGateway:
    return PersonalizeGateway(control, runtime)


def test_recommend_keeps_the_recommendation_id(clients: Any) -> None:
    control, runtime, _, r = clients
    r.add_response(
        "get_recommendations",
        {"itemList": [{"itemId": "s1", "score": 0.9}, {"itemId": "s2"}], "recommendationId": "rid-1"},
        {
            "campaignArn": CAMPAIGN,
            "userId": "u1",
            "numResults": 50,
            "filterArn": FILTER,
            "filterValues": {"MIN_CREATED": "100"},
        },
    )
    ranked = adapter(control, runtime).get_recommendations(CAMPAIGN, "u1", 50, FILTER, {"MIN_CREATED": "100"})
    assert ranked.item_ids == ("s1", "s2") and ranked.scores == (0.9, None) and ranked.recommendation_id == "rid-1"


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        ("ThrottlingException", 400, True),
        ("InternalServerError", 500, True),
        ("InvalidInputException", 400, False),
        ("ResourceNotFoundException", 404, False),
    ],
)
def test_errors_say_whether_to_retry(clients: Any, code: str, status: int, retryable: bool) -> None:
    control, runtime, _, r = clients
    r.add_client_error("get_recommendations", service_error_code=code, http_status_code=status)
    with pytest.raises(PersonalizeError) as err:
        adapter(control, runtime).get_recommendations(CAMPAIGN, "u1", 10, None, {})
    assert err.value.retryable is retryable and err.value.code == code


def test_an_unreachable_service_is_retryable(clients: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    control, runtime, _, _ = clients

    def down(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    monkeypatch.setattr(runtime, "get_recommendations", down)
    with pytest.raises(StoryrecError) as err:
        adapter(control, runtime).get_recommendations(CAMPAIGN, "u1", 10, None, {})
    assert err.value.retryable


def test_campaign_reports_the_version_it_serves(clients: Any) -> None:
    control, runtime, c, _ = clients
    version = f"{ACCOUNT}:solution/s/v1"
    c.add_response(
        "describe_campaign",
        {"campaign": {"campaignArn": CAMPAIGN, "status": "ACTIVE", "solutionVersionArn": version}},
        {"campaignArn": CAMPAIGN},
    )
    info = serving_campaign(adapter(control, runtime), CAMPAIGN)
    assert (info.campaign_arn, info.solution_version_arn) == (CAMPAIGN, version)


def test_filter_is_created_once_and_awaited(clients: Any) -> None:
    control, runtime, c, _ = clients
    c.add_response("list_dataset_groups", {"datasetGroups": [{"name": "storyrec", "datasetGroupArn": GROUP}]}, {})
    c.add_response("list_filters", {"Filters": []}, {"datasetGroupArn": GROUP})
    c.add_response(
        "create_filter",
        {"filterArn": FILTER},
        {"name": "f-1", "datasetGroupArn": GROUP, "filterExpression": "EXCLUDE ItemID WHERE x"},
    )
    c.add_response(
        "describe_filter", {"filter": {"filterArn": FILTER, "status": "CREATE PENDING"}}, {"filterArn": FILTER}
    )
    c.add_response("describe_filter", {"filter": {"filterArn": FILTER, "status": "ACTIVE"}}, {"filterArn": FILTER})
    gateway = adapter(control, runtime)
    assert ensure_feed_filter(gateway, "f-1", "storyrec", "EXCLUDE ItemID WHERE x", sleep=lambda _: None) == FILTER


def test_a_filter_name_taken_by_another_group_is_a_clear_error(clients: Any) -> None:
    control, runtime, c, _ = clients
    c.add_response("list_dataset_groups", {"datasetGroups": [{"name": "storyrec", "datasetGroupArn": GROUP}]}, {})
    c.add_response("list_filters", {"Filters": []}, {"datasetGroupArn": GROUP})
    c.add_client_error("create_filter", service_error_code="ResourceAlreadyExistsException")
    c.add_response("list_filters", {"Filters": []}, {"datasetGroupArn": GROUP})
    with pytest.raises(ResourceAlreadyExists, match="STORYREC_PERSONALIZE_FILTER") as err:
        ensure_feed_filter(adapter(control, runtime), "f-1", "storyrec", "EXCLUDE ItemID WHERE x")
    assert not err.value.retryable


def test_batch_inference_is_describe_or_create_and_reports_a_typed_status(clients: Any) -> None:
    control, runtime, c, _ = clients
    version, job = f"{ACCOUNT}:solution/s/v1", f"{ACCOUNT}:batch-inference-job/feeds-1"
    request = BatchInferenceRequest("feeds-1", version, "s3://b/in.jsonl", "s3://b/out/", 50, None, FILTER)
    c.add_response("list_batch_inference_jobs", {"batchInferenceJobs": []}, {"solutionVersionArn": version})
    c.add_response(
        "create_batch_inference_job",
        {"batchInferenceJobArn": job},
        {
            "jobName": "feeds-1",
            "solutionVersionArn": version,
            "numResults": 50,
            "jobInput": {"s3DataSource": {"path": "s3://b/in.jsonl"}},
            "jobOutput": {"s3DataDestination": {"path": "s3://b/out/"}},
            "roleArn": "",
            "filterArn": FILTER,
        },
    )
    c.add_response(
        "list_batch_inference_jobs",
        {"batchInferenceJobs": [{"jobName": "feeds-1", "batchInferenceJobArn": job}]},
        {"solutionVersionArn": version},
    )
    c.add_response(
        "describe_batch_inference_job",
        {"batchInferenceJob": {"batchInferenceJobArn": job, "status": "CREATE FAILED", "failureReason": "no role"}},
        {"batchInferenceJobArn": job},
    )
    gateway = adapter(control, runtime)
    assert gateway.start_batch_inference(request) == job
    assert gateway.start_batch_inference(request) == job  # a retried run finds the job its first attempt started
    found = gateway.describe_batch_inference_job(job)
    assert (found.status, found.failure_reason) == (Status.CREATE_FAILED, "no role")


def test_a_batch_job_carries_its_item_exploration(clients: Any) -> None:
    control, runtime, c, _ = clients
    explore = {"explorationWeight": "0.3", "explorationItemAgeCutOff": "30"}
    request = BatchInferenceRequest("feeds-2", "v", "s3://b/in.jsonl", "s3://b/out/", 25, "r", None, explore)
    sent: list[dict[str, Any]] = []
    control.meta.events.register(
        "provide-client-params.personalize.CreateBatchInferenceJob", lambda params, **_: sent.append(dict(params))
    )
    c.add_response("list_batch_inference_jobs", {"batchInferenceJobs": []})
    c.add_response("create_batch_inference_job", {"batchInferenceJobArn": f"{ACCOUNT}:batch-inference-job/feeds-2"})
    adapter(control, runtime).start_batch_inference(request)
    assert sent[0]["batchInferenceJobConfig"] == {"itemExplorationConfig": explore}
    assert "filterArn" not in sent[0]


@pytest.mark.parametrize(
    ("code", "status", "error", "retryable"),
    [
        ("LimitExceededException", 400, LimitExceeded, True),
        ("TooManyRequestsException", 400, Throttled, True),
        ("SomethingNew", 503, Unavailable, True),
        ("ResourceInUseException", 400, ResourceInUse, False),
        ("ResourceNotFoundException", 404, NotFound, False),
    ],
)
def test_one_table_gives_every_error_its_class(
    clients: Any, code: str, status: int, error: type[Exception], retryable: bool
) -> None:
    control, runtime, c, _ = clients
    c.add_client_error("describe_campaign", service_error_code=code, http_status_code=status)
    with pytest.raises(error) as err:
        adapter(control, runtime).describe_campaign(CAMPAIGN)
    assert is_retryable(err.value) is retryable
