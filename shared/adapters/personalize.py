"""The Personalize port over injected boto3 ``personalize`` and ``personalize-runtime`` clients.

The one Personalize adapter: set-up, imports, training, serving (GetRecommendations with its
``recommendationId``, batch inference) and metrics. Every create is describe-or-create keyed on the
resource name, so a retried Lambda or a re-run CLI command finds what the first attempt made instead of
failing or duplicating it. Every SDK error goes through one table (:data:`ERRORS`) into the port's errors
(:mod:`shared.personalize.model`), each class carrying ``retryable``; responses become typed values.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import (
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from shared.errors import AlreadyExists, NotFound
from shared.personalize.model import (
    BatchInferenceJob,
    BatchInferenceRequest,
    Campaign,
    CampaignUpdate,
    ImportJob,
    ImportRequest,
    LimitExceeded,
    MetricAttributionSpec,
    PersonalizeError,
    Recommendation,
    Recommendations,
    ResourceAlreadyExists,
    ResourceInUse,
    ResourceNotFound,
    SolutionSpec,
    SolutionVersion,
    Status,
    Throttled,
    TrainingMode,
    Unavailable,
)

__all__ = ["ERRORS", "PersonalizeGateway", "metric_attribution_request", "solution_request", "translate"]

# list operation, result key, ARN key, parent filter argument
_LISTS: dict[str, tuple[str, str, str, str | None]] = {
    "schema": ("list_schemas", "schemas", "schemaArn", None),
    "dataset_group": ("list_dataset_groups", "datasetGroups", "datasetGroupArn", None),
    "dataset": ("list_datasets", "datasets", "datasetArn", "datasetGroupArn"),
    "import_job": ("list_dataset_import_jobs", "datasetImportJobs", "datasetImportJobArn", "datasetArn"),
    "solution": ("list_solutions", "solutions", "solutionArn", "datasetGroupArn"),
    "campaign": ("list_campaigns", "campaigns", "campaignArn", "solutionArn"),
    "filter": ("list_filters", "Filters", "filterArn", "datasetGroupArn"),
    "metric_attribution": (
        "list_metric_attributions",
        "metricAttributions",
        "metricAttributionArn",
        "datasetGroupArn",
    ),
    "batch_inference_job": (
        "list_batch_inference_jobs",
        "batchInferenceJobs",
        "batchInferenceJobArn",
        "solutionVersionArn",
    ),
}
# delete operation, ARN argument
_DELETES: dict[str, tuple[str, str]] = {
    "dataset_group": ("delete_dataset_group", "datasetGroupArn"),
    "dataset": ("delete_dataset", "datasetArn"),
    "solution": ("delete_solution", "solutionArn"),
    "campaign": ("delete_campaign", "campaignArn"),
    "filter": ("delete_filter", "filterArn"),
    "metric_attribution": ("delete_metric_attribution", "metricAttributionArn"),
}
_NAME_KEYS = {"import_job": "jobName", "batch_inference_job": "jobName", "filter": "name"}
_OLDEST = datetime.min.replace(tzinfo=UTC)
_VERSIONS_SEARCHED = 50  # describe-or-create of a named version looks at this many newest versions


ERRORS: dict[str, type[PersonalizeError]] = {
    "ResourceNotFoundException": ResourceNotFound,
    "ResourceAlreadyExistsException": ResourceAlreadyExists,
    "LimitExceededException": LimitExceeded,
    "ResourceInUseException": ResourceInUse,
    "ThrottlingException": Throttled,
    "TooManyRequestsException": Throttled,
    "Throttling": Throttled,
    "RequestLimitExceeded": Throttled,
    "ServiceUnavailable": Unavailable,
    "InternalServerError": Unavailable,
    "InternalFailure": Unavailable,
    "RequestTimeout": Unavailable,
}
"""Personalize's error code → storyrec's error class (and so its ``retryable``); any other code is a
:class:`PersonalizeError`, or :class:`Unavailable` when the HTTP status is a 5xx."""


_UNREACHABLE = (BotoConnectionError, HTTPClientError)  # refused, timed out, closed
_NO_CREDENTIALS = (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)
_TRANSLATED = (ClientError, *_UNREACHABLE, *_NO_CREDENTIALS)
"""What the adapter translates; other SDK errors (invalid parameters, a stub's assertion) are bugs and pass."""


def translate(exc: Exception) -> PersonalizeError:
    """The storyrec error for an SDK error, by :data:`ERRORS`; an unreachable endpoint is Unavailable."""
    if isinstance(exc, _UNREACHABLE):
        return Unavailable(type(exc).__name__, f"Personalize unreachable: {exc}")
    if not isinstance(exc, ClientError):  # no credentials: fix the deployment, repeating will not help
        return PersonalizeError(type(exc).__name__, str(exc))
    error = exc.response.get("Error", {})
    code, message = str(error.get("Code", "Unknown")), str(error.get("Message", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return ERRORS.get(code, Unavailable if status >= 500 else PersonalizeError)(code, message)


def _call(fn: Callable[..., Any], /, **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except _TRANSLATED as exc:
        raise translate(exc) from exc


def _time(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def _import_job(body: Mapping[str, Any]) -> ImportJob:
    return ImportJob(
        arn=str(body["datasetImportJobArn"]),
        name=str(body.get("jobName", "")),
        status=Status.parse(body.get("status")),
        created=_time(body.get("creationDateTime")),
        failure_reason=body.get("failureReason"),
        import_mode=body.get("importMode"),
    )


def _solution_version(body: Mapping[str, Any]) -> SolutionVersion:
    return SolutionVersion(
        arn=str(body["solutionVersionArn"]),
        status=Status.parse(body.get("status")),
        solution_arn=str(body.get("solutionArn", "")),
        name=body.get("name"),
        created=_time(body.get("creationDateTime")),
        failure_reason=body.get("failureReason"),
        training_mode=body.get("trainingMode"),
    )


def _campaign(body: Mapping[str, Any]) -> Campaign:
    update = body.get("latestCampaignUpdate")
    return Campaign(
        arn=str(body["campaignArn"]),
        name=str(body.get("name", "")),
        status=Status.parse(body.get("status")),
        solution_version_arn=str(body.get("solutionVersionArn", "")),
        failure_reason=body.get("failureReason"),
        latest_update=CampaignUpdate(
            solution_version_arn=str(update.get("solutionVersionArn", "")),
            status=Status.parse(update.get("status")),
            failure_reason=update.get("failureReason"),
            created=_time(update.get("creationDateTime")),
        )
        if isinstance(update, Mapping)
        else None,
    )


def solution_request(spec: SolutionSpec) -> dict[str, Any]:
    """The CreateSolution parameters of ``spec`` (also what ``storyrec bootstrap`` validates offline)."""
    kwargs: dict[str, Any] = {
        "name": spec.name,
        "datasetGroupArn": spec.dataset_group_arn,
        "recipeArn": spec.recipe_arn,
        "performAutoTraining": spec.perform_auto_training,
    }
    if spec.event_weights:
        kwargs["solutionConfig"] = {
            "eventsConfig": {
                "eventParametersList": [{"eventType": t, "weight": w} for t, w in sorted(spec.event_weights.items())]
            }
        }
    return kwargs


def metric_attribution_request(spec: MetricAttributionSpec) -> dict[str, Any]:
    """The CreateMetricAttribution parameters of ``spec`` (also what ``storyrec bootstrap`` validates offline)."""
    return {
        "name": spec.name,
        "datasetGroupArn": spec.dataset_group_arn,
        "metrics": [
            {"eventType": m.event_type, "metricName": m.metric_name, "expression": m.expression} for m in spec.metrics
        ],
        "metricsOutputConfig": {"s3DataDestination": {"path": spec.output_path}, "roleArn": spec.role_arn},
    }


class PersonalizeGateway:
    """Implements :class:`shared.personalize.port.PersonalizePort` over boto3 clients."""

    def __init__(self, control: Any, runtime: Any) -> None:
        self._control = control
        self._runtime = runtime

    # --- set-up -------------------------------------------------------------------------------
    def find_arn(self, kind: str, name: str, parent_arn: str | None = None) -> str | None:
        operation, key, arn_key, parent_arg = _LISTS[kind]
        kwargs = {parent_arg: parent_arn} if parent_arg and parent_arn else {}
        name_key = _NAME_KEYS.get(kind, "name")
        for item in self._items(operation, key, **kwargs):
            if item.get(name_key) == name:
                return str(item[arn_key])
        return None

    def list_arns(self, kind: str, parent_arn: str | None = None) -> list[str]:
        operation, key, arn_key, parent_arg = _LISTS[kind]
        kwargs = {parent_arg: parent_arn} if parent_arg and parent_arn else {}
        return [str(item[arn_key]) for item in self._items(operation, key, **kwargs)]

    def delete(self, kind: str, arn: str) -> None:
        operation, arn_arg = _DELETES[kind]
        with contextlib.suppress(NotFound):  # deleted already (a retried cleanup)
            _call(getattr(self._control, operation), **{arn_arg: arn})

    def _items(self, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
        """Every item of a paginated List* call, SDK errors translated."""
        try:
            return [
                item for page in self._control.get_paginator(operation).paginate(**kwargs) for item in page.get(key, [])
            ]
        except _TRANSLATED as exc:
            raise translate(exc) from exc

    def _describe_or_create(
        self, kind: str, resource_name: str, parent_arn: str | None, create: Any, /, **kwargs: Any
    ) -> str:
        existing = self.find_arn(kind, resource_name, parent_arn)
        if existing:
            return existing
        try:
            response = _call(create, **kwargs)
        except AlreadyExists:  # lost a race with another attempt
            found = self.find_arn(kind, resource_name, parent_arn)
            if found:
                return found
            raise
        return str(response[_LISTS[kind][2]])

    def ensure_schema(self, name: str, schema_json: str) -> str:
        return self._describe_or_create(
            "schema", name, None, self._control.create_schema, name=name, schema=schema_json
        )

    def ensure_dataset_group(self, name: str) -> str:
        return self._describe_or_create("dataset_group", name, None, self._control.create_dataset_group, name=name)

    def ensure_dataset(self, group_arn: str, dataset_type: str, schema_arn: str, name: str) -> str:
        return self._describe_or_create(
            "dataset",
            name,
            group_arn,
            self._control.create_dataset,
            name=name,
            datasetGroupArn=group_arn,
            datasetType=dataset_type.upper(),
            schemaArn=schema_arn,
        )

    def dataset_status(self, dataset_arn: str) -> Status:
        body = _call(self._control.describe_dataset, datasetArn=dataset_arn)["dataset"]
        return Status.parse(body.get("status"))

    def dataset_columns(self, dataset_arn: str) -> tuple[str, ...]:
        schema_arn = _call(self._control.describe_dataset, datasetArn=dataset_arn)["dataset"]["schemaArn"]
        text = _call(self._control.describe_schema, schemaArn=schema_arn)["schema"]["schema"]
        return tuple(str(f["name"]) for f in json.loads(text).get("fields", []))

    def filter_status(self, filter_arn: str) -> Status:
        body = _call(self._control.describe_filter, filterArn=filter_arn)["filter"]
        return Status.parse(body.get("status"))

    def ensure_solution(self, spec: SolutionSpec) -> str:
        return self._describe_or_create(
            "solution", spec.name, spec.dataset_group_arn, self._control.create_solution, **solution_request(spec)
        )

    def ensure_campaign(self, name: str, solution_version_arn: str, min_tps: int) -> str:
        return self._describe_or_create(
            "campaign",
            name,
            None,
            self._control.create_campaign,
            name=name,
            solutionVersionArn=solution_version_arn,
            minProvisionedTPS=min_tps,
        )

    def ensure_filter(self, group_arn: str, name: str, expression: str) -> str:
        return self._describe_or_create(
            "filter",
            name,
            group_arn,
            self._control.create_filter,
            name=name,
            datasetGroupArn=group_arn,
            filterExpression=expression,
        )

    def ensure_metric_attribution(self, spec: MetricAttributionSpec) -> str:
        return self._describe_or_create(
            "metric_attribution",
            spec.name,
            spec.dataset_group_arn,
            self._control.create_metric_attribution,
            **metric_attribution_request(spec),
        )

    # --- imports ------------------------------------------------------------------------------
    def start_import(self, request: ImportRequest) -> str:
        kwargs: dict[str, Any] = {
            "jobName": request.job_name,
            "datasetArn": request.dataset_arn,
            "dataSource": {"dataLocation": request.data_location},
            "importMode": request.mode,
        }
        if request.role_arn:
            kwargs["roleArn"] = request.role_arn
        if request.publish_attribution_metrics:
            kwargs["publishAttributionMetricsToS3"] = True
        return self._describe_or_create(
            "import_job", request.job_name, request.dataset_arn, self._control.create_dataset_import_job, **kwargs
        )

    def list_import_jobs(self, dataset_arn: str) -> list[ImportJob]:
        items = self._items("list_dataset_import_jobs", "datasetImportJobs", datasetArn=dataset_arn)
        return [_import_job(j) for j in items]

    def describe_import_job(self, arn: str) -> ImportJob:
        body = _call(self._control.describe_dataset_import_job, datasetImportJobArn=arn)
        return _import_job(body["datasetImportJob"])

    # --- training -----------------------------------------------------------------------------
    def create_solution_version(self, solution_arn: str, name: str, mode: TrainingMode = "FULL") -> str:
        for summary in self.list_solution_versions(solution_arn)[:_VERSIONS_SEARCHED]:
            if self.describe_solution_version(summary.arn).name == name:
                return summary.arn
        try:
            response = _call(
                self._control.create_solution_version, solutionArn=solution_arn, name=name, trainingMode=mode
            )
        except AlreadyExists:
            for summary in self.list_solution_versions(solution_arn)[:_VERSIONS_SEARCHED]:
                if self.describe_solution_version(summary.arn).name == name:
                    return summary.arn
            raise
        return str(response["solutionVersionArn"])

    def list_solution_versions(self, solution_arn: str) -> list[SolutionVersion]:
        items = self._items("list_solution_versions", "solutionVersions", solutionArn=solution_arn)
        versions = [_solution_version({**v, "solutionArn": solution_arn}) for v in items]
        return sorted(versions, key=lambda v: v.created or _OLDEST, reverse=True)

    def describe_solution_version(self, arn: str) -> SolutionVersion:
        return _solution_version(
            _call(self._control.describe_solution_version, solutionVersionArn=arn)["solutionVersion"]
        )

    def solution_metrics(self, solution_version_arn: str) -> dict[str, float]:
        body = _call(self._control.get_solution_metrics, solutionVersionArn=solution_version_arn)
        return {str(k): float(v) for k, v in body.get("metrics", {}).items()}

    # --- serving ------------------------------------------------------------------------------
    def describe_campaign(self, arn: str) -> Campaign:
        return _campaign(_call(self._control.describe_campaign, campaignArn=arn)["campaign"])

    def update_campaign(self, campaign_arn: str, solution_version_arn: str) -> None:
        _call(self._control.update_campaign, campaignArn=campaign_arn, solutionVersionArn=solution_version_arn)

    def get_recommendations(
        self,
        campaign_arn: str,
        user_id: str,
        num_results: int = 25,
        filter_arn: str | None = None,
        filter_values: Mapping[str, str] | None = None,
    ) -> Recommendations:
        """Personalize GetRecommendations for one user, with the answer's ``recommendationId``."""
        kwargs: dict[str, Any] = {"campaignArn": campaign_arn, "userId": user_id, "numResults": num_results}
        if filter_arn:
            kwargs["filterArn"] = filter_arn
            if filter_values:
                kwargs["filterValues"] = dict(filter_values)
        response = _call(self._runtime.get_recommendations, **kwargs)
        items = tuple(Recommendation(str(i["itemId"]), i.get("score")) for i in response.get("itemList", []))
        return Recommendations(items, response.get("recommendationId"))

    def start_batch_inference(self, request: BatchInferenceRequest) -> str:
        kwargs: dict[str, Any] = {
            "jobName": request.job_name,
            "solutionVersionArn": request.solution_version_arn,
            "numResults": request.num_results,
            "jobInput": {"s3DataSource": {"path": request.input_uri}},
            "jobOutput": {"s3DataDestination": {"path": request.output_uri}},
            "roleArn": request.role_arn or "",
        }
        if request.filter_arn:
            kwargs["filterArn"] = request.filter_arn
        if request.item_exploration:
            kwargs["batchInferenceJobConfig"] = {"itemExplorationConfig": dict(request.item_exploration)}
        return self._describe_or_create(
            "batch_inference_job",
            request.job_name,
            request.solution_version_arn,
            self._control.create_batch_inference_job,
            **kwargs,
        )

    def describe_batch_inference_job(self, arn: str) -> BatchInferenceJob:
        body = _call(self._control.describe_batch_inference_job, batchInferenceJobArn=arn)["batchInferenceJob"]
        return BatchInferenceJob(arn, Status.parse(body.get("status")), body.get("failureReason"))
