"""What feed filling needs from a recommender service (Amazon Personalize in production).

A small Protocol so the composition root can point it at any adapter; no SDK type appears here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from shared.errors import StoryrecError


@dataclass(frozen=True)
class Ranked:
    """A ranked answer for one user: item ids best first, their scores, and the request's id."""

    item_ids: tuple[str, ...]
    scores: tuple[float | None, ...]
    recommendation_id: str | None = None


@dataclass(frozen=True)
class CampaignInfo:
    """The campaign feeds are read from and the solution version it serves."""

    campaign_arn: str
    solution_version_arn: str


@dataclass(frozen=True)
class BatchRequest:
    """One batch inference job over JSON lines on S3."""

    job_name: str
    solution_version_arn: str
    input_uri: str
    output_uri: str
    num_results: int
    role_arn: str | None
    filter_arn: str | None = None


class RecommenderError(StoryrecError):
    """The recommender failed; ``retryable`` when waiting may help (throttling, outage)."""

    def __init__(self, message: str, *, retryable: bool, code: str = "Unknown") -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code


class Recommender(Protocol):
    """Read recommendations from a campaign, create the feed filter, run batch jobs."""

    def campaign(self, name_or_arn: str) -> CampaignInfo:
        """Describe the campaign: its ARN and the solution version it serves."""
        ...

    def ensure_filter(self, name: str, dataset_group: str, expression: str) -> str:
        """The ARN of filter ``name`` with ``expression``, created if absent (describe-or-create)."""
        ...

    def recommend(
        self,
        campaign_arn: str,
        user_id: str,
        num_results: int,
        filter_arn: str | None,
        filter_values: Mapping[str, str],
    ) -> Ranked: ...

    def start_batch(self, request: BatchRequest) -> str:
        """Start (or find, under the same job name) a batch inference job; return its ARN.

        Filter values travel per user in the input lines (``{"userId": ..., "filterValues": ...}``).
        """
        ...

    def batch_status(self, job_arn: str) -> tuple[str, str | None]:
        """(status, failure reason) of a batch inference job."""
        ...


def ranked_from_batch_line(output: Mapping[str, object]) -> Ranked:
    """A Ranked from one batch output's ``output`` object (batch answers carry no recommendation id)."""
    items = output.get("recommendedItems") or []
    scores = output.get("scores") or []
    ids = tuple(str(i) for i in items) if isinstance(items, Sequence) else ()
    values: tuple[float | None, ...] = (
        tuple(float(s) if isinstance(s, int | float) else None for s in scores) if isinstance(scores, Sequence) else ()
    )
    padded = values + (None,) * (len(ids) - len(values))
    return Ranked(ids, padded[: len(ids)])
