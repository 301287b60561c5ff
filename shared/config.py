"""Typed settings, read once from the environment and passed in.

Every variable is named ``STORYREC_*`` except the standard ones the cloud SDKs
read themselves (``GOOGLE_CLOUD_PROJECT``, ``AWS_REGION`` ...). A missing or
malformed value raises :class:`ConfigError` naming the variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.errors import ConfigError

_ARN = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{12}:.+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,61}[a-z0-9]$")
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,62}$")
_COLLECTION = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")
_ARN_OR_RECIPE = re.compile(r"^arn:aws[a-z-]*:personalize:[a-z0-9-]*:\d{0,12}:recipe/[A-Za-z0-9\-_]+$")
_CRON_OR_RATE = re.compile(r"^(every .+|(\S+\s+){4}\S+|cron\(.+\)|rate\(.+\))$")


@dataclass(frozen=True)
class Collections:
    """Firestore collection names: the app's own and storyrec's ML collections."""

    stories: str = "stories"
    users: str = "users"
    clicks: str = "clicks"
    feeds: str = "feeds"
    ml_items: str = "ml_items"
    ml_users: str = "ml_users"
    ml_interactions: str = "ml_interactions"
    quarantine: str = "ml_quarantine"
    state: str = "ml_state"


@dataclass(frozen=True)
class PersonalizeSettings:
    """Names of the Personalize resources storyrec creates or uses."""

    dataset_group: str = "storyrec"
    solution: str = "storyrec-user-personalization"
    campaign: str = "storyrec-feed"
    filter: str = "storyrec-exclude-seen"
    recipe_arn: str = "arn:aws:personalize:::recipe/aws-user-personalization"
    import_role_arn: str | None = None
    min_campaign_tps: int = 1
    num_results: int = 25


@dataclass(frozen=True)
class RecommendSettings:
    """How feeds are filled (docs/recommend.md); ``STORYREC_FEED_*`` variables."""

    active_days: int = 30
    """A user is active with an interaction (or a profile change) in this many days."""
    max_story_age_days: int = 30
    """Stories created longer ago than this never enter a feed."""
    seen_event_types: tuple[str, ...] = ("*",)
    """Event types that mark a story as already read ('*' = any interaction)."""
    concurrency: int = 8
    campaign_tps: int = 50
    """GetRecommendations calls per second at most (keep under the campaign's provisioned TPS)."""
    retries: int = 3
    backoff_seconds: float = 0.5
    breaker_failures: int = 20
    """After this many users failing in a row, stop calling Personalize for the rest of the run."""
    batch_threshold: int = 50_000
    """Past this many users to recommend, one batch inference job replaces the per-user calls."""
    batch_role_arn: str | None = None
    batch_prefix: str = "batch/feeds/"
    batch_timeout_seconds: int = 3600
    schedule: str = "every day 05:00"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RecommendSettings:
        """Read the ``STORYREC_FEED_*`` variables; raise ConfigError on bad values."""
        reader, d = _Reader(env), cls()
        seen = reader.get("STORYREC_FEED_SEEN_EVENT_TYPES", ",".join(d.seen_event_types), _EVENT_TYPES)
        try:
            backoff = float(reader.get("STORYREC_FEED_BACKOFF_SECONDS", str(d.backoff_seconds)))
        except ValueError as exc:
            raise ConfigError("STORYREC_FEED_BACKOFF_SECONDS is not a number") from exc
        if not 0 <= backoff <= 60:
            raise ConfigError(f"STORYREC_FEED_BACKOFF_SECONDS={backoff} is outside 0..60")
        return cls(
            active_days=reader.integer("STORYREC_FEED_ACTIVE_DAYS", d.active_days, 1, 3650),
            max_story_age_days=reader.integer("STORYREC_FEED_MAX_STORY_AGE_DAYS", d.max_story_age_days, 1, 36500),
            seen_event_types=tuple(t.strip() for t in seen.split(",") if t.strip()),
            concurrency=reader.integer("STORYREC_FEED_CONCURRENCY", d.concurrency, 1, 256),
            campaign_tps=reader.integer("STORYREC_FEED_CAMPAIGN_TPS", d.campaign_tps, 1, 100_000),
            retries=reader.integer("STORYREC_FEED_RETRIES", d.retries, 0, 10),
            backoff_seconds=backoff,
            breaker_failures=reader.integer("STORYREC_FEED_BREAKER_FAILURES", d.breaker_failures, 1, 1_000_000),
            batch_threshold=reader.integer("STORYREC_FEED_BATCH_THRESHOLD", d.batch_threshold, 1, 100_000_000),
            batch_role_arn=reader.optional("STORYREC_FEED_BATCH_ROLE_ARN", _ARN),
            batch_prefix=_prefix(reader.get("STORYREC_FEED_BATCH_PREFIX", d.batch_prefix)),
            batch_timeout_seconds=reader.integer("STORYREC_FEED_BATCH_TIMEOUT", d.batch_timeout_seconds, 10, 86400),
            schedule=reader.get("STORYREC_FEED_SCHEDULE", d.schedule, _CRON_OR_RATE),
        )


_EVENT_TYPES = re.compile(r"^(\*|[A-Za-z0-9_\-]{1,100}(,\s*[A-Za-z0-9_\-]{1,100})*)$")


@dataclass(frozen=True)
class Settings:
    """Everything storyrec reads from its environment, in one immutable object."""

    gcp_project: str
    region: str = "us-east-1"
    collections: Collections = field(default_factory=Collections)
    import_bucket: str = "storyrec-import"
    import_prefix: str = ""
    backup_bucket: str = "storyrec-backup"
    sns_topic_arn: str | None = None
    metrics_namespace: str = "storyrec"
    personalize: PersonalizeSettings = field(default_factory=PersonalizeSettings)
    export_schedule: str = "every day 02:00"
    train_schedule: str = "cron(0 3 1 * ? *)"
    time_zone: str = "UTC"
    recommend: RecommendSettings = field(default_factory=RecommendSettings)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from a mapping such as ``os.environ``; raise ConfigError on bad values."""
        reader = _Reader(env)
        project = reader.first("STORYREC_GCP_PROJECT", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT")
        if project is None:
            raise ConfigError(
                "STORYREC_GCP_PROJECT is not set (nor GOOGLE_CLOUD_PROJECT / GCLOUD_PROJECT): "
                "set it to the Firebase project id"
            )
        defaults = cls(gcp_project=project)
        d_col, d_p = defaults.collections, defaults.personalize
        collections = Collections(
            **{
                name: reader.get(f"STORYREC_COLLECTION_{name.upper()}", getattr(d_col, name), _COLLECTION)
                for name in Collections.__dataclass_fields__
            }
        )
        personalize = PersonalizeSettings(
            dataset_group=reader.name_or_arn("STORYREC_PERSONALIZE_DATASET_GROUP", d_p.dataset_group),
            solution=reader.name_or_arn("STORYREC_PERSONALIZE_SOLUTION", d_p.solution),
            campaign=reader.name_or_arn("STORYREC_PERSONALIZE_CAMPAIGN", d_p.campaign),
            filter=reader.name_or_arn("STORYREC_PERSONALIZE_FILTER", d_p.filter),
            recipe_arn=reader.get("STORYREC_PERSONALIZE_RECIPE_ARN", d_p.recipe_arn, _ARN_OR_RECIPE),
            import_role_arn=reader.optional("STORYREC_PERSONALIZE_ROLE_ARN", _ARN),
            min_campaign_tps=reader.integer("STORYREC_PERSONALIZE_MIN_TPS", d_p.min_campaign_tps, 1, 1000),
            num_results=reader.integer("STORYREC_PERSONALIZE_NUM_RESULTS", d_p.num_results, 1, 500),
        )
        time_zone = reader.get("STORYREC_TIME_ZONE", defaults.time_zone)
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"STORYREC_TIME_ZONE={time_zone!r} is not an IANA time zone") from exc
        return cls(
            gcp_project=project,
            region=reader.first("STORYREC_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION") or defaults.region,
            collections=collections,
            import_bucket=reader.get("STORYREC_IMPORT_BUCKET", defaults.import_bucket, _BUCKET),
            import_prefix=_prefix(reader.get("STORYREC_IMPORT_PREFIX", defaults.import_prefix)),
            backup_bucket=reader.get("STORYREC_BACKUP_BUCKET", defaults.backup_bucket, _BUCKET),
            sns_topic_arn=reader.optional("STORYREC_SNS_TOPIC_ARN", _ARN),
            metrics_namespace=reader.get("STORYREC_METRICS_NAMESPACE", defaults.metrics_namespace),
            personalize=personalize,
            export_schedule=reader.get("STORYREC_EXPORT_SCHEDULE", defaults.export_schedule, _CRON_OR_RATE),
            train_schedule=reader.get("STORYREC_TRAIN_SCHEDULE", defaults.train_schedule, _CRON_OR_RATE),
            time_zone=time_zone,
            recommend=RecommendSettings.from_env(env),
        )


def _prefix(value: str) -> str:
    value = value.strip("/")
    return f"{value}/" if value else ""


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def _raw(self, name: str) -> str | None:
        value = self._env.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def first(self, *names: str) -> str | None:
        for name in names:
            value = self._raw(name)
            if value is not None:
                return value
        return None

    def get(self, name: str, default: str, pattern: re.Pattern[str] | None = None) -> str:
        value = self._raw(name)
        if value is None:
            return default
        if pattern is not None and not pattern.match(value):
            raise ConfigError(f"{name}={value!r} is malformed (expected to match {pattern.pattern})")
        return value

    def optional(self, name: str, pattern: re.Pattern[str]) -> str | None:
        value = self._raw(name)
        if value is not None and not pattern.match(value):
            raise ConfigError(f"{name}={value!r} is malformed (expected to match {pattern.pattern})")
        return value

    def name_or_arn(self, name: str, default: str) -> str:
        value = self._raw(name)
        if value is None:
            return default
        if not (_NAME.match(value) or _ARN.match(value)):
            raise ConfigError(f"{name}={value!r} is neither a Personalize resource name nor an ARN")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError as exc:
            raise ConfigError(f"{name}={value!r} is not an integer") from exc
        if not low <= number <= high:
            raise ConfigError(f"{name}={number} is outside {low}..{high}")
        return number
