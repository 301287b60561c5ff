"""Typed views of Personalize resources: statuses and the few fields storyrec decides on.

Adapters turn Describe/List responses into these, so the use cases never read raw dicts.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Literal

from shared.errors import AlreadyExists, NotFound, ServiceUnavailable, StoryrecError
from shared.manifest import ImportMode as ImportMode  # the manifest's field, read by the import jobs

TrainingMode = Literal["FULL", "UPDATE"]


class Status(enum.Enum):
    """A Personalize resource status (``CREATE PENDING`` ... ``ACTIVE``, ``CREATE FAILED``)."""

    CREATE_PENDING = "CREATE PENDING"
    CREATE_IN_PROGRESS = "CREATE IN_PROGRESS"
    ACTIVE = "ACTIVE"
    CREATE_FAILED = "CREATE FAILED"
    CREATE_STOPPING = "CREATE STOPPING"
    CREATE_STOPPED = "CREATE STOPPED"
    UPDATE_PENDING = "UPDATE PENDING"
    UPDATE_IN_PROGRESS = "UPDATE IN_PROGRESS"
    UPDATE_FAILED = "UPDATE FAILED"
    DELETE_PENDING = "DELETE PENDING"
    DELETE_IN_PROGRESS = "DELETE IN_PROGRESS"
    DELETE_FAILED = "DELETE FAILED"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, value: object) -> Status:
        try:
            return cls(str(value))
        except ValueError:
            return cls.UNKNOWN

    @property
    def pending(self) -> bool:
        """Still moving: Personalize will change it without being asked."""
        return self.value.endswith(("PENDING", "IN_PROGRESS", "STOPPING"))

    @property
    def failed(self) -> bool:
        return self.value.endswith(("FAILED", "STOPPED"))

    @property
    def settled(self) -> bool:
        return not self.pending


@dataclass(frozen=True)
class ImportJob:
    """A dataset import job."""

    arn: str
    name: str
    status: Status
    created: datetime | None = None
    failure_reason: str | None = None
    import_mode: str | None = None


@dataclass(frozen=True)
class SolutionVersion:
    """A trained (or training) model of a solution."""

    arn: str
    status: Status
    solution_arn: str = ""
    name: str | None = None
    created: datetime | None = None
    failure_reason: str | None = None
    training_mode: str | None = None


@dataclass(frozen=True)
class CampaignUpdate:
    """The latest UpdateCampaign of a campaign, as Personalize reports it."""

    solution_version_arn: str
    status: Status
    failure_reason: str | None = None
    created: datetime | None = None


@dataclass(frozen=True)
class Campaign:
    """A deployed solution version."""

    arn: str
    name: str
    status: Status
    solution_version_arn: str
    failure_reason: str | None = None
    latest_update: CampaignUpdate | None = None


@dataclass(frozen=True)
class Recommendation:
    """One recommended item with the score Personalize gave it (None for recipes without scores)."""

    item_id: str
    score: float | None


@dataclass(frozen=True)
class SolutionSpec:
    """What storyrec creates a solution with."""

    name: str
    dataset_group_arn: str
    recipe_arn: str
    perform_auto_training: bool = False
    event_weights: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricSpec:
    """One metric of a metric attribution: an event type and ``SAMPLECOUNT()`` or ``SUM(Dataset.COLUMN)``."""

    metric_name: str
    event_type: str
    expression: str


@dataclass(frozen=True)
class MetricAttributionSpec:
    """What storyrec creates a metric attribution with (one per dataset group)."""

    name: str
    dataset_group_arn: str
    metrics: tuple[MetricSpec, ...]
    output_path: str  # s3://bucket/prefix/ the bulk imports' reports go to
    role_arn: str


@dataclass(frozen=True)
class ImportRequest:
    """One CreateDatasetImportJob."""

    job_name: str
    dataset_arn: str
    data_location: str
    mode: ImportMode
    role_arn: str | None = None
    publish_attribution_metrics: bool = False  # interactions: the metric attribution's report to S3


@dataclass(frozen=True)
class Recommendations:
    """One ranked answer, best first, and the id Personalize gave the request (None in batch output)."""

    items: tuple[Recommendation, ...] = ()
    recommendation_id: str | None = None

    def __iter__(self) -> Iterator[Recommendation]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(r.item_id for r in self.items)

    @property
    def scores(self) -> tuple[float | None, ...]:
        return tuple(r.score for r in self.items)


@dataclass(frozen=True)
class BatchInferenceRequest:
    """One CreateBatchInferenceJob over JSON lines on S3 (filter values travel per user in the input lines)."""

    job_name: str
    solution_version_arn: str
    input_uri: str
    output_uri: str
    num_results: int
    role_arn: str | None
    filter_arn: str | None = None
    item_exploration: Mapping[str, str] | None = None
    """``batchInferenceJobConfig.itemExplorationConfig`` (User-Personalization only)."""


CAMPAIGN_ITEM_EXPLORATION: Mapping[str, str] = MappingProxyType(
    {"explorationWeight": "0.3", "explorationItemAgeCutOff": "30"}
)
"""What storyrec's campaign explores with: it is created without ``campaignConfig``, so Personalize's documented
User-Personalization defaults. A batch job is sent the same, so that batch feeds (the challenger's, or every
reader's past ``STORYREC_FEED_BATCH_THRESHOLD``) give new stories the chance the campaign's feeds give them."""

EXPLORING_RECIPE = "aws-user-personalization"
"""The recipe that takes ``itemExplorationConfig`` ("only if your solution uses the User-Personalization recipe")."""


def item_exploration(recipe_arn: str) -> Mapping[str, str] | None:
    """The exploration a batch job of ``recipe_arn``'s versions is sent (None: the recipe takes none)."""
    return CAMPAIGN_ITEM_EXPLORATION if recipe_arn.rsplit("/", 1)[-1] == EXPLORING_RECIPE else None


@dataclass(frozen=True)
class BatchInferenceJob:
    """A batch inference job's state."""

    arn: str
    status: Status
    failure_reason: str | None = None


class PersonalizeError(StoryrecError):
    """Personalize refused or failed a request; ``code`` is its error type (the SDK's error code).

    The adapter's one translation table picks the subclass, and with it ``retryable``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class ResourceNotFound(PersonalizeError, NotFound):
    """No resource with that ARN (or name)."""


class ResourceAlreadyExists(PersonalizeError, AlreadyExists):
    """A create met a resource of the same name (Personalize names are unique per account and region)."""


class LimitExceeded(PersonalizeError):
    """A Personalize quota is full (e.g. 5 pending import jobs): try again later, do not drop."""

    retryable = True


class Throttled(PersonalizeError, ServiceUnavailable):
    """Personalize throttled the request after the SDK's own retries."""


class Unavailable(PersonalizeError, ServiceUnavailable):
    """Personalize failed on its side (a 5xx) or could not be reached."""


class ResourceInUse(PersonalizeError):
    """The resource is busy (a version already training, a campaign update pending)."""
