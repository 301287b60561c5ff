"""What a feed is read from: the campaign (and the solution version it serves) and the feed's filter.

The filter excludes what the user read and stories older than ``$MIN_CREATED`` (a value per request);
filters are immutable, so its name carries a hash of its expression.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime

from shared.config import RecommendSettings
from shared.errors import AlreadyExists, NotFound
from shared.personalize.model import PersonalizeError, ResourceAlreadyExists, ResourceInUse, ResourceNotFound, Status
from shared.personalize.port import PersonalizePort
from shared.recommend.deps import FeedDeps
from shared.retry import Clock, Sleep, wait_until

DAY = 86400
AGE_PARAM = "MIN_CREATED"
FILTER_TIMEOUT = 600.0


@dataclass(frozen=True)
class CampaignInfo:
    """The campaign feeds are read from and the solution version it serves."""

    campaign_arn: str
    solution_version_arn: str


def filter_expression(config: RecommendSettings) -> str:
    """Exclude what the user already read and stories created before ``$MIN_CREATED``."""
    types = ",".join(f'"{t}"' for t in config.seen_event_types)
    return (
        f"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ({types})"
        f" | EXCLUDE ItemID WHERE Items.CREATION_TIMESTAMP < ${AGE_PARAM}"
    )


def filter_name(base: str, expression: str) -> str:
    """Filters are immutable: a changed expression gets a new name (base + hash), never a stale filter."""
    digest = hashlib.sha256(expression.encode()).hexdigest()[:8]
    return f"{base[:54]}-{digest}"


def feed_filter_spec(base: str, config: RecommendSettings) -> tuple[str, str]:
    """The feed filter's (name, expression); ``base`` (STORYREC_PERSONALIZE_FILTER) is used as is if an ARN."""
    expression = filter_expression(config)
    return (base if base.startswith("arn:") else filter_name(base, expression)), expression


def request_size(num_results: int) -> int:
    """Ask for twice the feed's length (at most 500): write-time checks may drop some of the answer."""
    return min(500, 2 * num_results)


def min_created(now: datetime, config: RecommendSettings) -> int:
    """The oldest creation time (epoch seconds) a feed may show."""
    return int(now.timestamp()) - config.max_story_age_days * DAY


class NoCampaign(ResourceNotFound):
    """No campaign exists yet (nothing was ever promoted): a young deployment's expected state, not an outage."""


def resolve_arn(port: PersonalizePort, kind: str, name_or_arn: str, parent_arn: str | None = None) -> str:
    """``name_or_arn`` as an ARN (looked up by name); ResourceNotFound when nothing has that name."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    arn = port.find_arn(kind, name_or_arn, parent_arn)
    if arn is None:
        raise ResourceNotFound("ResourceNotFoundException", f"no Personalize {kind} named {name_or_arn!r}")
    return arn


def serving_campaign(port: PersonalizePort, name_or_arn: str) -> CampaignInfo:
    """The campaign and the solution version it serves; ResourceInUse while it is not ACTIVE, :class:`NoCampaign`
    when none exists (by name or ARN)."""
    try:
        arn = resolve_arn(port, "campaign", name_or_arn)
        found = port.describe_campaign(arn)
    except NotFound as exc:
        raise NoCampaign("ResourceNotFoundException", f"no campaign {name_or_arn!r} yet: {exc}") from exc
    # While an update deploys, the campaign still serves the version it had: report that one.
    update = found.latest_update
    version = found.solution_version_arn or (update.solution_version_arn if update else "")
    if found.status is not Status.ACTIVE or not version:
        raise ResourceInUse("ResourceInUseException", f"campaign {arn} is {found.status.value}")
    return CampaignInfo(arn, version)


def ensure_feed_filter(
    port: PersonalizePort,
    name: str,
    dataset_group: str,
    expression: str,
    *,
    sleep: Sleep = time.sleep,
    monotonic: Clock = time.monotonic,
    timeout: float = FILTER_TIMEOUT,
) -> str:
    """The ARN of filter ``name`` with ``expression`` (describe-or-create), once it is ACTIVE.

    A new filter is CREATE PENDING for a while, and GetRecommendations rejects it until ACTIVE.
    """
    arn = name
    if not name.startswith("arn:"):
        group = resolve_arn(port, "dataset_group", dataset_group)
        try:
            arn = port.ensure_filter(group, name, expression)
        except AlreadyExists as exc:  # filter names are unique per account and region, not per group
            raise ResourceAlreadyExists(
                "ResourceAlreadyExistsException",
                f"filter name {name!r} is taken by another dataset group; choose another STORYREC_PERSONALIZE_FILTER",
            ) from exc
    status = wait_until(
        lambda: port.filter_status(arn),
        lambda s: not s.pending,
        timeout=timeout,
        interval=0.5,
        max_interval=10.0,
        what=f"filter {arn}",
        sleep=sleep,
        monotonic=monotonic,
    )
    if status is not Status.ACTIVE:
        raise PersonalizeError("FilterNotActive", f"filter {arn} is {status.value}")
    return arn


def prepare(deps: FeedDeps) -> tuple[CampaignInfo, str]:
    """The campaign (with its serving solution version) and the feed filter, created once; :class:`NoCampaign`
    before the first promotion (the filter is then not needed)."""
    port, names = deps.recommender, deps.personalize
    campaign = serving_campaign(port, names.campaign)
    name, expression = feed_filter_spec(names.filter, deps.config)
    filter_arn = ensure_feed_filter(
        port, name, names.dataset_group, expression, sleep=deps.sleep, monotonic=deps.monotonic
    )
    return campaign, filter_arn
