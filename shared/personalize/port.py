"""The Personalize port: what storyrec asks of Amazon Personalize, with no SDK type in it.

``shared.adapters.personalize.PersonalizeGateway`` implements it over boto3; every ``ensure_*``,
``create_*`` and ``start_*`` is describe-or-create on the resource's name, so a retried call returns what
the first made. Errors are :class:`~shared.personalize.model.PersonalizeError` and its subclasses
(``ResourceNotFound``, ``ResourceAlreadyExists``, ``LimitExceeded``, ``Throttled``, ``Unavailable``,
``ResourceInUse``), each saying whether a retry may help (``retryable``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from shared.personalize.model import (
    BatchInferenceJob,
    BatchInferenceRequest,
    Campaign,
    ImportJob,
    ImportRequest,
    MetricAttributionSpec,
    Recommendations,
    SolutionSpec,
    SolutionVersion,
    Status,
    TrainingMode,
)


@runtime_checkable
class PersonalizePort(Protocol):
    # set-up (describe-or-create by name)
    def ensure_dataset_group(self, name: str) -> str: ...

    def ensure_schema(self, name: str, schema_json: str) -> str: ...

    def ensure_dataset(self, group_arn: str, dataset_type: str, schema_arn: str, name: str) -> str: ...

    def dataset_status(self, dataset_arn: str) -> Status: ...

    def dataset_columns(self, dataset_arn: str) -> tuple[str, ...]:
        """The field names of the schema a dataset was created with (DescribeDataset, DescribeSchema)."""
        ...

    def filter_status(self, filter_arn: str) -> Status: ...

    def ensure_solution(self, spec: SolutionSpec) -> str: ...

    def ensure_campaign(self, name: str, solution_version_arn: str, min_tps: int) -> str: ...

    def ensure_filter(self, group_arn: str, name: str, expression: str) -> str: ...

    def ensure_metric_attribution(self, spec: MetricAttributionSpec) -> str:
        """The dataset group's metric attribution named ``spec.name``, created if missing (one per group)."""
        ...

    def find_arn(self, kind: str, name: str, parent_arn: str | None = None) -> str | None:
        """The ARN of the resource of ``kind`` named ``name`` (under ``parent_arn``), or None."""
        ...

    def list_arns(self, kind: str, parent_arn: str | None = None) -> list[str]:
        """The ARNs of every resource of ``kind`` (under ``parent_arn``)."""
        ...

    def delete(self, kind: str, arn: str) -> None:
        """Delete* of the resource of ``kind``; an already deleted one is not an error."""
        ...

    # imports
    def start_import(self, request: ImportRequest) -> str:
        """CreateDatasetImportJob, or the ARN of the job already started under this name."""
        ...

    def list_import_jobs(self, dataset_arn: str) -> list[ImportJob]: ...

    def describe_import_job(self, arn: str) -> ImportJob: ...

    # training
    def create_solution_version(self, solution_arn: str, name: str, mode: TrainingMode = "FULL") -> str:
        """CreateSolutionVersion, or the ARN of the version already created under this name."""
        ...

    def list_solution_versions(self, solution_arn: str) -> list[SolutionVersion]:
        """Newest first; summaries carry no name."""
        ...

    def describe_solution_version(self, arn: str) -> SolutionVersion: ...

    def solution_metrics(self, solution_version_arn: str) -> dict[str, float]: ...

    # serving
    def describe_campaign(self, arn: str) -> Campaign: ...

    def update_campaign(self, campaign_arn: str, solution_version_arn: str) -> None: ...

    def get_recommendations(
        self,
        campaign_arn: str,
        user_id: str,
        num_results: int = 25,
        filter_arn: str | None = None,
        filter_values: Mapping[str, str] | None = None,
    ) -> Recommendations:
        """GetRecommendations for one user: items best first, with the answer's ``recommendationId``."""
        ...

    def start_batch_inference(self, request: BatchInferenceRequest) -> str:
        """CreateBatchInferenceJob, or the ARN of the job already started under this name."""
        ...

    def describe_batch_inference_job(self, arn: str) -> BatchInferenceJob: ...
