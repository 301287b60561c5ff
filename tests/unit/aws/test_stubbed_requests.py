"""Every Personalize request the use cases make, checked against botocore's model with Stubber.

Stubber validates each request's parameters against the service model (names, types, lengths,
required members) and compares them with the expected ones; the responses it returns are validated
against the output shapes. Enum values are checked here too (Stubber does not).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from shared.adapters.memory import InMemoryObjectStore, RecordingMetrics, RecordingNotifier
from shared.adapters.personalize import PersonalizeGateway
from shared.config import Settings
from shared.limits import VALID_RESOURCE_NAME as VALID_NAME
from shared.personalize.imports import import_manifest
from shared.personalize.stage import StageDeps
from shared.personalize.training import train
from shared.schema import DATASET_TYPES, load_schema

pytestmark = pytest.mark.unit

ACCOUNT = "arn:aws:personalize:us-east-1:123456789012"
GROUP = f"{ACCOUNT}:dataset-group/storyrec"
NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
ENUMS = {
    "importMode": {"FULL", "INCREMENTAL"},
    "trainingMode": {"FULL", "UPDATE", "AUTOTRAIN"},
    "datasetType": {"INTERACTIONS", "ITEMS", "USERS", "ACTIONS", "ACTION_INTERACTIONS"},
}


class Checked:
    """A Stubber on a real client that also records each request and checks enum values and names."""

    def __init__(self, service: str) -> None:
        self.client = boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        self.stub = Stubber(self.client)
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.client.meta.events.register("before-parameter-build.*.*", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.requests.append((model.name, dict(params)))
        for key, allowed in ENUMS.items():
            if key in params:
                assert params[key] in allowed, (model.name, key, params[key])
        for key in ("name", "jobName"):
            if key in params:
                assert VALID_NAME.match(params[key]), (model.name, params[key])

    def expect(self, method: str, response: dict[str, Any], params: dict[str, Any] | None = None) -> None:
        self.stub.add_response(method, response, params)


def _settings() -> Settings:
    return Settings.from_env(
        {
            "STORYREC_GCP_PROJECT": "p",
            "STORYREC_PERSONALIZE_ROLE_ARN": "arn:aws:iam::123456789012:role/personalize",
            "STORYREC_MIN_INCREMENTAL_ROWS": "1",
        }
    )


def _deps(control: Checked, bucket: InMemoryObjectStore) -> StageDeps:
    gateway = PersonalizeGateway(control.client, Checked("personalize-runtime").client)
    return StageDeps(
        gateway,
        bucket,
        RecordingNotifier(),
        RecordingMetrics(),
        lambda: NOW,
        _settings(),
        settle_timeout=0.1,
        poll_interval=0.01,
    )


def _expect_datasets(control: Checked) -> None:
    control.expect("list_dataset_groups", {"datasetGroups": [{"name": "storyrec", "datasetGroupArn": GROUP}]})
    for t in DATASET_TYPES:
        schema = load_schema(t)
        control.expect(
            "list_schemas",
            {"schemas": [{"name": schema.resource_name, "schemaArn": f"{ACCOUNT}:schema/{schema.resource_name}"}]},
        )
        control.expect(
            "list_datasets", {"datasets": [{"name": f"storyrec-{t}", "datasetArn": _ds(t)}]}, {"datasetGroupArn": GROUP}
        )
        control.expect(
            "describe_dataset", {"dataset": {"datasetArn": _ds(t), "status": "ACTIVE"}}, {"datasetArn": _ds(t)}
        )


def _ds(t: str) -> str:
    return f"{ACCOUNT}:dataset/storyrec/{t.upper()}"


def _manifest(bucket: InMemoryObjectStore) -> str:
    datasets = {}
    for t, mode in (("interactions", "INCREMENTAL"), ("items", "FULL"), ("users", "FULL")):
        key = f"{t}/dt=2026-11-28/part-00000.csv"
        bucket.put_bytes(key, b"H\nrow\n")
        datasets[t] = {
            "import_mode": mode,
            "schema_version": "1.0",
            "columns": ["H"],
            "rows": 1,
            "rejected": {},
            "files": [{"key": key, "rows": 1, "bytes": 6, "sha256": hashlib.sha256(b"H\nrow\n").hexdigest()}],
        }
    body = {
        "format_version": "1",
        "run_id": "export-20261128-3673c51820",
        "date": "2026-11-28",
        "time_zone": "UTC",
        "window": {},
        "datasets": datasets,
    }
    bucket.put_bytes("manifests/dt=2026-11-28/manifest.json", json.dumps(body).encode())
    return "manifests/dt=2026-11-28/manifest.json"


def test_import_requests_match_the_model() -> None:
    control, bucket = Checked("personalize"), InMemoryObjectStore("import-bucket")
    key = _manifest(bucket)
    _expect_datasets(control)
    for t in DATASET_TYPES:
        control.expect("list_dataset_import_jobs", {"datasetImportJobs": []}, {"datasetArn": _ds(t)})
    for t, location, mode in (
        ("interactions", "interactions/dt=2026-11-28/part-00000.csv", "INCREMENTAL"),
        ("items", "items/dt=2026-11-28/", "FULL"),
        ("users", "users/dt=2026-11-28/", "FULL"),
    ):
        control.expect("list_dataset_import_jobs", {"datasetImportJobs": []}, {"datasetArn": _ds(t)})
        control.expect(
            "create_dataset_import_job",
            {"datasetImportJobArn": f"{ACCOUNT}:dataset-import-job/{t}"},
            {
                "jobName": ANY,
                "datasetArn": _ds(t),
                "dataSource": {"dataLocation": f"s3://import-bucket/{location}"},
                "roleArn": "arn:aws:iam::123456789012:role/personalize",
                "importMode": mode,
                # interactions imports publish the metric attribution's report (docs/operate.md)
                **({"publishAttributionMetricsToS3": True} if t == "interactions" else {}),
            },
        )
    with control.stub:
        outcome = import_manifest(key, _deps(control, bucket))
        control.stub.assert_no_pending_responses()
    assert len(outcome.started) == 3 and outcome.parked is None
    created = [p["jobName"] for op, p in control.requests if op == "CreateDatasetImportJob"]
    assert created == outcome.started and all(n.endswith(("-000",)) for n in created)


@pytest.mark.parametrize("code", ["LimitExceededException", "ThrottlingException"])
def test_a_full_quota_or_throttling_parks_the_manifest_instead_of_dropping_it(code: str) -> None:
    control, bucket = Checked("personalize"), InMemoryObjectStore("import-bucket")
    key = _manifest(bucket)
    deps = _deps(control, bucket)
    _expect_datasets(control)
    for t in DATASET_TYPES:
        control.expect("list_dataset_import_jobs", {"datasetImportJobs": []}, {"datasetArn": _ds(t)})
    control.expect("list_dataset_import_jobs", {"datasetImportJobs": []}, {"datasetArn": _ds("interactions")})
    control.stub.add_client_error("create_dataset_import_job", code, "slow down", 400 if code[0] == "L" else 429)
    with control.stub:
        outcome = import_manifest(key, deps)
    assert outcome.started == [] and code in str(outcome.parked)
    assert deps.state.parked_imports() == [key]
    assert isinstance(deps.metrics, RecordingMetrics) and deps.metrics.total("ImportsParked") == 1


def test_training_requests_match_the_model() -> None:
    control, bucket = Checked("personalize"), InMemoryObjectStore("import-bucket")
    _expect_datasets(control)
    sol, pop = f"{ACCOUNT}:solution/storyrec-user-personalization", f"{ACCOUNT}:solution/storyrec-popularity-baseline"
    sol_b = f"{sol}-b"
    control.expect("list_solutions", {"solutions": []}, {"datasetGroupArn": GROUP})
    control.expect(
        "create_solution",
        {"solutionArn": sol},
        {
            "name": "storyrec-user-personalization",
            "datasetGroupArn": GROUP,
            "recipeArn": "arn:aws:personalize:::recipe/aws-user-personalization",
            "performAutoTraining": False,
        },
    )
    control.expect("list_solutions", {"solutions": []}, {"datasetGroupArn": GROUP})
    control.expect(
        "create_solution",
        {"solutionArn": sol_b},
        {
            "name": "storyrec-user-personalization-b",  # the second slot: same recipe and configuration
            "datasetGroupArn": GROUP,
            "recipeArn": "arn:aws:personalize:::recipe/aws-user-personalization",
            "performAutoTraining": False,
        },
    )
    control.expect("list_solutions", {"solutions": []}, {"datasetGroupArn": GROUP})
    control.expect(
        "create_solution",
        {"solutionArn": pop},
        {
            "name": "storyrec-popularity-baseline",
            "datasetGroupArn": GROUP,
            "recipeArn": "arn:aws:personalize:::recipe/aws-popularity-count",
            "performAutoTraining": False,
        },
    )
    for t in DATASET_TYPES:
        control.expect(
            "list_dataset_import_jobs",
            {
                "datasetImportJobs": [
                    {"datasetImportJobArn": f"{ACCOUNT}:dataset-import-job/{t}", "jobName": t, "status": "ACTIVE"}
                ]
            },
            {"datasetArn": _ds(t)},
        )
    control.expect("list_campaigns", {"campaigns": []})  # nothing serves: the candidate goes to the first slot
    for arn in (sol, pop):
        control.expect("list_solution_versions", {"solutionVersions": []}, {"solutionArn": arn})
        control.expect(
            "create_solution_version",
            {"solutionVersionArn": f"{arn}/v1"},
            {"solutionArn": arn, "name": "storyrec-20261201", "trainingMode": "FULL"},
        )
    with control.stub:
        outcome = train(_deps(control, bucket), "storyrec-20261201")
        control.stub.assert_no_pending_responses()
    assert outcome.versions == {"main": f"{sol}/v1", "baseline": f"{pop}/v1"} and outcome.deferred is None


def test_serving_requests_match_the_model() -> None:
    control, runtime = Checked("personalize"), Checked("personalize-runtime")
    gateway = PersonalizeGateway(control.client, runtime.client)
    campaign, version = f"{ACCOUNT}:campaign/storyrec-feed", f"{ACCOUNT}:solution/s/abc"
    control.expect(
        "get_solution_metrics",
        {"solutionVersionArn": version, "metrics": {"coverage": 0.5}},
        {"solutionVersionArn": version},
    )
    control.expect(
        "describe_campaign",
        {
            "campaign": {
                "campaignArn": campaign,
                "name": "storyrec-feed",
                "status": "ACTIVE",
                "solutionVersionArn": version,
                "latestCampaignUpdate": {
                    "solutionVersionArn": version,
                    "status": "UPDATE FAILED",
                    "failureReason": "x",
                },
            }
        },
        {"campaignArn": campaign},
    )
    control.expect(
        "update_campaign", {"campaignArn": campaign}, {"campaignArn": campaign, "solutionVersionArn": version}
    )
    control.expect("list_campaigns", {"campaigns": []})
    control.expect(
        "create_campaign",
        {"campaignArn": campaign},
        {"name": "storyrec-feed", "solutionVersionArn": version, "minProvisionedTPS": 1},
    )
    control.expect("list_filters", {"Filters": []}, {"datasetGroupArn": GROUP})
    control.expect(
        "create_filter",
        {"filterArn": f"{ACCOUNT}:filter/f"},
        {
            "name": "storyrec-exclude-seen",
            "datasetGroupArn": GROUP,
            "filterExpression": 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")',
        },
    )
    runtime.expect(
        "get_recommendations",
        {"itemList": [{"itemId": "story-1", "score": 0.5}]},
        {
            "campaignArn": campaign,
            "userId": "u1",
            "numResults": 10,
            "filterArn": f"{ACCOUNT}:filter/f",
            "filterValues": {"X": '"a"'},
        },
    )
    with control.stub, runtime.stub:
        assert gateway.solution_metrics(version) == {"coverage": 0.5}
        described = gateway.describe_campaign(campaign)
        assert described.latest_update and described.latest_update.status.failed
        gateway.update_campaign(campaign, version)
        assert gateway.ensure_campaign("storyrec-feed", version, 1) == campaign
        flt = gateway.ensure_filter(
            GROUP, "storyrec-exclude-seen", 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")'
        )
        recs = gateway.get_recommendations(campaign, "u1", 10, flt, {"X": '"a"'})
        control.stub.assert_no_pending_responses()
        runtime.stub.assert_no_pending_responses()
    assert [r.item_id for r in recs] == ["story-1"]


def test_job_names_are_valid_and_deterministic() -> None:
    from shared.personalize.names import import_job_day, import_job_name, safe_name

    long_run = "export-" + "x" * 300 + "-ü/é"
    name = import_job_name("interactions", date(2026, 11, 28), long_run, _ds("interactions"), 7)
    assert VALID_NAME.match(name) and len(name) <= 63
    assert name == import_job_name("interactions", date(2026, 11, 28), long_run, _ds("interactions"), 7)
    assert import_job_day(name) == date(2026, 11, 28)
    for hostile in ("", "-", "_a", "a" * 200, "é", "a b/c", "\n\x00"):
        assert VALID_NAME.match(safe_name(hostile)), hostile
    assert safe_name("a" * 70) != safe_name("a" * 71)


def test_a_monitor_pass_that_promotes_makes_only_model_valid_requests() -> None:
    from shared.personalize.monitor import monitor

    control, bucket = Checked("personalize"), InMemoryObjectStore("import-bucket")
    sol, pop = f"{ACCOUNT}:solution/storyrec-user-personalization", f"{ACCOUNT}:solution/storyrec-popularity-baseline"
    sol_b, campaign = f"{sol}-b", f"{ACCOUNT}:campaign/storyrec-feed"
    old, new, base = f"{sol}/old", f"{sol_b}/new", f"{pop}/b1"
    _expect_datasets(control)
    for t in DATASET_TYPES:
        control.expect("list_dataset_import_jobs", {"datasetImportJobs": []}, {"datasetArn": _ds(t)})
    solutions = [
        {"name": "storyrec-user-personalization", "solutionArn": sol},
        {"name": "storyrec-user-personalization-b", "solutionArn": sol_b},
        {"name": "storyrec-popularity-baseline", "solutionArn": pop},
    ]
    for _ in range(3):  # the two slots, then the baseline: each found by name
        control.expect("list_solutions", {"solutions": solutions}, {"datasetGroupArn": GROUP})
    control.expect(
        "list_solution_versions",
        {
            "solutionVersions": [
                {"solutionVersionArn": old, "status": "ACTIVE", "creationDateTime": datetime(2026, 11, 1, tzinfo=UTC)},
            ]
        },
        {"solutionArn": sol},
    )
    control.expect(  # the candidate, trained on the slot that does not serve
        "list_solution_versions",
        {"solutionVersions": [{"solutionVersionArn": new, "status": "ACTIVE", "creationDateTime": NOW}]},
        {"solutionArn": sol_b},
    )
    control.expect(
        "list_solution_versions",
        {"solutionVersions": [{"solutionVersionArn": base, "status": "ACTIVE", "creationDateTime": NOW}]},
        {"solutionArn": pop},
    )
    control.expect("list_campaigns", {"campaigns": [{"name": "storyrec-feed", "campaignArn": campaign}]})
    control.expect(
        "describe_campaign",
        {"campaign": {"campaignArn": campaign, "name": "storyrec-feed", "status": "ACTIVE", "solutionVersionArn": old}},
        {"campaignArn": campaign},
    )
    ndcg = "normalized_discounted_cumulative_gain_at_10"
    guards = {"coverage": 0.4, "mean_reciprocal_rank_at_25": 0.2, "precision_at_10": 0.05}
    for arn, value in ((new, 0.4), (base, 0.1)):  # the serving version's metrics are the recorded ones
        control.expect(
            "get_solution_metrics",
            {"solutionVersionArn": arn, "metrics": {ndcg: value, **guards}},
            {"solutionVersionArn": arn},
        )
    control.expect("update_campaign", {"campaignArn": campaign}, {"campaignArn": campaign, "solutionVersionArn": new})
    deps = _deps(control, bucket)
    deps.state.record_decision(old, {"action": "promote", "metrics": {"candidate": {ndcg: 0.3, **guards}}})
    with control.stub:
        report = monitor(deps)
        control.stub.assert_no_pending_responses()
    assert report.decision and report.decision["action"] == "promote"


def test_an_unreachable_personalize_is_service_unavailable_not_a_raw_sdk_error() -> None:
    from botocore.config import Config

    from shared.errors import ServiceUnavailable

    config = Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1})
    client = boto3.client(
        "personalize",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=config,
    )
    gateway = PersonalizeGateway(client, client)
    with pytest.raises(ServiceUnavailable):
        gateway.list_import_jobs(_ds("interactions"))
    with pytest.raises(ServiceUnavailable):
        gateway.describe_campaign(f"{ACCOUNT}:campaign/storyrec-feed")
