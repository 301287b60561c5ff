"""Recommender over Amazon Personalize: the shared PersonalizeGateway plus the two calls it lacks.

The gateway finds and describes resources; GetRecommendations goes to the runtime client directly
because feeds keep the ``recommendationId`` the gateway drops, and filter/batch creation are
describe-or-create on their names here. Every SDK error becomes a :class:`RecommenderError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.adapters.personalize import PersonalizeGateway
from shared.errors import AlreadyExists, NotFound, NotReady, StoryrecError
from shared.personalize.model import Status
from shared.recommend.ports import BatchRequest, CampaignInfo, Ranked, RecommenderError
from shared.retry import wait_until

FILTER_TIMEOUT = 600.0
_RETRYABLE = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "LimitExceededException",
        "ServiceUnavailable",
        "InternalServerError",
        "InternalFailure",
        "RequestTimeout",
    }
)


def _error(exc: Exception) -> RecommenderError:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return RecommenderError(
            f"{code}: {error.get('Message', '')}", retryable=code in _RETRYABLE or status >= 500, code=code
        )
    if isinstance(exc, BotoCoreError):  # connection refused, timeouts: the service is out of reach
        return RecommenderError(f"unreachable: {exc}", retryable=True, code=type(exc).__name__)
    return RecommenderError(str(exc), retryable=False, code=type(exc).__name__)


class PersonalizeRecommender:
    """The :class:`~shared.recommend.ports.Recommender` port over Personalize's boto3 clients."""

    def __init__(self, gateway: PersonalizeGateway, control: Any, runtime: Any) -> None:
        self._gateway = gateway
        self._control = control
        self._runtime = runtime

    def _arn(self, kind: str, name_or_arn: str, parent: str | None = None) -> str:
        if name_or_arn.startswith("arn:"):
            return name_or_arn
        try:
            arn = self._gateway.find_arn(kind, name_or_arn, parent)
        except StoryrecError as exc:
            raise RecommenderError(str(exc), retryable=False) from exc
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc) from exc
        if arn is None:
            raise RecommenderError(
                f"no Personalize {kind} named {name_or_arn!r}", retryable=False, code="ResourceNotFoundException"
            )
        return arn

    def campaign(self, name_or_arn: str) -> CampaignInfo:
        arn = self._arn("campaign", name_or_arn)
        try:
            found = self._gateway.describe_campaign(arn)
        except NotFound as exc:
            raise RecommenderError(str(exc), retryable=False, code="ResourceNotFoundException") from exc
        except StoryrecError as exc:
            raise RecommenderError(str(exc), retryable=True) from exc
        # While an update deploys, the campaign still serves the version it had: report that one.
        update = found.latest_update
        version = found.solution_version_arn or (update.solution_version_arn if update else "")
        if found.status is not Status.ACTIVE or not version:
            raise RecommenderError(
                f"campaign {arn} is {found.status.value}", retryable=True, code="ResourceInUseException"
            )
        return CampaignInfo(arn, version)

    def ensure_filter(self, name: str, dataset_group: str, expression: str) -> str:
        if name.startswith("arn:"):
            arn = name
        else:
            group = self._arn("dataset_group", dataset_group)
            try:
                arn = self._gateway.ensure_filter(group, name, expression)
            except AlreadyExists as exc:  # filter names are unique per account and region, not per group
                raise RecommenderError(
                    f"filter name {name!r} is taken by another dataset group; choose another "
                    "STORYREC_PERSONALIZE_FILTER",
                    retryable=False,
                    code="ResourceAlreadyExistsException",
                ) from exc
            except StoryrecError as exc:
                raise RecommenderError(str(exc), retryable=True) from exc
        self._await_filter(arn)
        return arn

    def _await_filter(self, arn: str, timeout: float = FILTER_TIMEOUT) -> None:
        """A new filter is CREATE PENDING for a while; GetRecommendations rejects it until ACTIVE."""
        try:
            status = wait_until(
                lambda: self._gateway.filter_status(arn),
                lambda s: not s.pending,
                timeout=timeout,
                interval=0.5,
                max_interval=10.0,
                what=f"filter {arn}",
            )
        except NotReady as exc:
            raise RecommenderError(str(exc), retryable=True, code="FilterPending") from exc
        except StoryrecError as exc:
            raise RecommenderError(str(exc), retryable=not isinstance(exc, NotFound)) from exc
        if status is not Status.ACTIVE:
            raise RecommenderError(f"filter {arn} is {status.value}", retryable=False, code="FilterFailed")

    def recommend(
        self,
        campaign_arn: str,
        user_id: str,
        num_results: int,
        filter_arn: str | None,
        filter_values: Mapping[str, str],
    ) -> Ranked:
        kwargs: dict[str, Any] = {"campaignArn": campaign_arn, "userId": user_id, "numResults": num_results}
        if filter_arn:
            kwargs["filterArn"] = filter_arn
            if filter_values:
                kwargs["filterValues"] = dict(filter_values)
        try:
            response = self._runtime.get_recommendations(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc) from exc
        items = response.get("itemList", [])
        return Ranked(
            tuple(str(i["itemId"]) for i in items),
            tuple(i.get("score") for i in items),
            response.get("recommendationId"),
        )

    def start_batch(self, request: BatchRequest) -> str:
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
        try:
            return str(self._control.create_batch_inference_job(**kwargs)["batchInferenceJobArn"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
                raise _error(exc) from exc
        except BotoCoreError as exc:
            raise _error(exc) from exc
        return self._find_batch(request)  # a retried run finds the job its first attempt started

    def _find_batch(self, request: BatchRequest) -> str:
        try:
            pages = self._control.get_paginator("list_batch_inference_jobs").paginate(
                solutionVersionArn=request.solution_version_arn
            )
            for page in pages:
                for job in page.get("batchInferenceJobs", []):
                    if job.get("jobName") == request.job_name:
                        return str(job["batchInferenceJobArn"])
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc) from exc
        raise RecommenderError(f"batch job {request.job_name} exists but is not listed", retryable=True)

    def batch_status(self, job_arn: str) -> tuple[str, str | None]:
        try:
            job = self._control.describe_batch_inference_job(batchInferenceJobArn=job_arn)["batchInferenceJob"]
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc) from exc
        return str(job.get("status")), job.get("failureReason")
