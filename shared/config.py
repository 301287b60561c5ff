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
class ServiceTimeouts:
    """How long one call to a backing service may take before it fails (seconds), retries included."""

    firestore: float = 20.0
    gcs: float = 60.0
    aws_connect: float = 5.0
    aws_read: float = 30.0
    aws_attempts: int = 3


@dataclass(frozen=True)
class ExportSettings:
    """The export's guards, its Pub/Sub trigger and its sharding."""

    topic: str = "storyrec-export"
    scheduler_job: str = "storyrec-export-daily"
    scheduler_location: str = "us-central1"
    min_snapshot_share: float = 0.5
    rows_per_run: int = 1_000_000
    max_event_age_hours: int = 24


_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")


def _read_float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        number = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a number") from exc
    if not low <= number <= high:
        raise ConfigError(f"{name}={number} is outside {low}..{high}")
    return number


def _export_settings(env: Mapping[str, str]) -> tuple[ExportSettings, ServiceTimeouts]:
    """STORYREC_EXPORT_* and STORYREC_TIMEOUT_* variables."""
    d, t = ExportSettings(), ServiceTimeouts()
    reader = _Reader(env)
    export = ExportSettings(
        topic=reader.get("STORYREC_EXPORT_TOPIC", d.topic, _NAME),
        scheduler_job=reader.get("STORYREC_EXPORT_SCHEDULER_JOB", d.scheduler_job, _NAME),
        scheduler_location=reader.get("STORYREC_EXPORT_SCHEDULER_LOCATION", d.scheduler_location, _REGION),
        min_snapshot_share=_read_float(env, "STORYREC_EXPORT_MIN_SNAPSHOT_SHARE", d.min_snapshot_share, 0.0, 1.0),
        rows_per_run=reader.integer("STORYREC_EXPORT_ROWS_PER_RUN", d.rows_per_run, 1, 1_000_000_000),
        max_event_age_hours=reader.integer("STORYREC_EXPORT_MAX_EVENT_AGE_HOURS", d.max_event_age_hours, 1, 168),
    )
    timeouts = ServiceTimeouts(
        firestore=_read_float(env, "STORYREC_TIMEOUT_FIRESTORE", t.firestore, 0.1, 540.0),
        gcs=_read_float(env, "STORYREC_TIMEOUT_GCS", t.gcs, 0.1, 540.0),
        aws_connect=_read_float(env, "STORYREC_TIMEOUT_AWS_CONNECT", t.aws_connect, 0.1, 60.0),
        aws_read=_read_float(env, "STORYREC_TIMEOUT_AWS_READ", t.aws_read, 0.1, 540.0),
        aws_attempts=reader.integer("STORYREC_TIMEOUT_AWS_ATTEMPTS", t.aws_attempts, 1, 10),
    )
    return export, timeouts


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
    export: ExportSettings = field(default_factory=ExportSettings)
    timeouts: ServiceTimeouts = field(default_factory=ServiceTimeouts)

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
        export, timeouts = _export_settings(env)
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
            export=export,
            timeouts=timeouts,
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
