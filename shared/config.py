"""Typed settings, read once from the environment and passed in.

Every variable is named ``STORYREC_*`` except the standard ones the cloud SDKs
read themselves (``GOOGLE_CLOUD_PROJECT``, ``AWS_REGION`` ...). A missing or
malformed value raises :class:`ConfigError` naming the variable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.errors import ConfigError
from shared.limits import SOLUTION_NAME_MAX_CHARS
from shared.limits import VALID_RESOURCE_NAME as _NAME

_N = TypeVar("_N", int, float)

_ARN = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{12}:.+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,61}[a-z0-9]$")
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
    click_rate: str = "ml_click_rate"
    impressions: str = "impressions"
    ml_impressions: str = "ml_impressions"
    impression_rate: str = "ml_impression_rate"
    ml_readers: str = "ml_readers"
    """One aggregate per reader, kept by click capture: the stories they interacted with, per event type."""


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
class Emulators:
    """The standard switches to local stand-ins (all unset in production).

    The SDKs read these variables themselves to find the emulators; storyrec reads them here only to
    decide what it must do differently (anonymous credentials, no writer check under firebase-tools).
    """

    firestore_host: str | None = None
    pubsub_host: str | None = None
    storage_host: str | None = None
    functions: bool = False
    """True when firebase-tools' Functions emulator runs the code (``FUNCTIONS_EMULATOR=true``)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Emulators:
        reader = _Reader(env)
        return cls(
            firestore_host=reader.first("FIRESTORE_EMULATOR_HOST"),
            pubsub_host=reader.first("PUBSUB_EMULATOR_HOST"),
            storage_host=reader.first("STORAGE_EMULATOR_HOST"),
            functions=reader.first("FUNCTIONS_EMULATOR") == "true",
        )


FUNCTION_FAMILIES: Mapping[str, str] = MappingProxyType(
    {"capture_story": "capture", "capture_user": "capture", "capture_click": "capture",
     "capture_impression": "capture", "export_daily": "export",
     "fill_feeds_daily": "feeds", "first_feed_for_new_user": "feeds", "refresh_feed": "refresh"}
)
"""Each Google function's family: the service account it runs as, the AWS role it assumes (docs/deploy.md)."""

_SERVICE_ACCOUNT = re.compile(r"^[a-z0-9][a-z0-9\-]{0,62}@([a-z0-9][a-z0-9.\-]*\.[a-z]+)?$")


@dataclass(frozen=True)
class ServiceAccounts:
    """Each function family's service account (``STORYREC_SERVICE_ACCOUNT_<FAMILY>``; ``name@`` = in this project)."""

    capture: str = "storyrec-capture@"
    export: str = "storyrec-export@"
    feeds: str = "storyrec-feeds@"
    refresh: str = "storyrec-refresh@"


@dataclass(frozen=True)
class TriggerSettings:
    """What the functions' decorators need when Firebase loads ``main.py``: trigger paths and the schedule.

    Read at import (deploy) time, when no project id may be set yet; everything else is read per
    invocation through :meth:`Settings.from_env`. Both parse the same variables the same way.
    """

    collections: Collections = field(default_factory=Collections)
    export_schedule: str = "every day 02:00"
    time_zone: str = "UTC"
    export_topic: str = "storyrec-export"
    feed_schedule: str = "every day 05:00"
    service_accounts: ServiceAccounts = field(default_factory=ServiceAccounts)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TriggerSettings:
        """Build from a mapping such as ``os.environ``; raise ConfigError on bad values."""
        reader = _Reader(env)
        return cls(
            collections=_collections(reader),
            export_schedule=reader.get("STORYREC_EXPORT_SCHEDULE", cls.export_schedule, _CRON_OR_RATE),
            time_zone=_time_zone(reader),
            export_topic=_export_settings(env)[0].topic,
            feed_schedule=reader.get("STORYREC_FEED_SCHEDULE", cls.feed_schedule, _CRON_OR_RATE),
            service_accounts=ServiceAccounts(**{
                f: reader.get(f"STORYREC_SERVICE_ACCOUNT_{f.upper()}", d, _SERVICE_ACCOUNT)
                for f, d in vars(ServiceAccounts()).items()
            }),
        )


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

    topic: str = TriggerSettings.export_topic
    scheduler_job: str = "storyrec-export-daily"
    scheduler_location: str = "us-central1"
    min_snapshot_share: float = 0.5
    rows_per_run: int = 1_000_000
    max_event_age_hours: int = 24


_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")


def _export_settings(env: Mapping[str, str]) -> tuple[ExportSettings, ServiceTimeouts]:
    """STORYREC_EXPORT_* and STORYREC_TIMEOUT_* variables."""
    d, t = ExportSettings(), ServiceTimeouts()
    reader = _Reader(env)
    export = ExportSettings(
        topic=reader.get("STORYREC_EXPORT_TOPIC", d.topic, _NAME),
        scheduler_job=reader.get("STORYREC_EXPORT_SCHEDULER_JOB", d.scheduler_job, _NAME),
        scheduler_location=reader.get("STORYREC_EXPORT_SCHEDULER_LOCATION", d.scheduler_location, _REGION),
        min_snapshot_share=reader.number("STORYREC_EXPORT_MIN_SNAPSHOT_SHARE", d.min_snapshot_share, 0.0, 1.0),
        rows_per_run=reader.integer("STORYREC_EXPORT_ROWS_PER_RUN", d.rows_per_run, 1, 1_000_000_000),
        max_event_age_hours=reader.integer("STORYREC_EXPORT_MAX_EVENT_AGE_HOURS", d.max_event_age_hours, 1, 168),
    )
    timeouts = ServiceTimeouts(
        firestore=reader.number("STORYREC_TIMEOUT_FIRESTORE", t.firestore, 0.1, 540.0),
        gcs=reader.number("STORYREC_TIMEOUT_GCS", t.gcs, 0.1, 540.0),
        aws_connect=reader.number("STORYREC_TIMEOUT_AWS_CONNECT", t.aws_connect, 0.1, 60.0),
        aws_read=reader.number("STORYREC_TIMEOUT_AWS_READ", t.aws_read, 0.1, 540.0),
        aws_attempts=reader.integer("STORYREC_TIMEOUT_AWS_ATTEMPTS", t.aws_attempts, 1, 10),
    )
    return export, timeouts


@dataclass(frozen=True)
class PublishSettings:
    """``storyrec publish-dataset``: how the public release is anonymised, and when it refuses."""

    key: str | None = field(default=None, repr=False)
    """HMAC-SHA256 key for pseudonymous user ids (``STORYREC_PUBLISH_KEY``); never written anywhere."""
    min_users: int = 1000
    min_events_per_user: int = 5
    time_grain: str = "week"


@dataclass(frozen=True)
class RecommendSettings:
    """How feeds are filled (docs/recommend.md); ``STORYREC_FEED_*`` variables."""

    active_days: int = 30
    """A user is active with an interaction (or a profile change) in this many days."""
    max_story_age_days: int = 30
    """Stories created longer ago than this never enter a feed."""
    seen_event_types: tuple[str, ...] = ("*",)
    """Event types that mark a story as already read ('*' = any interaction)."""
    popular_half_life_hours: float = 24.0
    """The popularity ranking (cold readers, the control arm) halves a read's weight every this many hours."""
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
    schedule: str = TriggerSettings.feed_schedule

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RecommendSettings:
        """Read the ``STORYREC_FEED_*`` variables; raise ConfigError on bad values."""
        reader, d = _Reader(env), cls()
        seen = reader.get("STORYREC_FEED_SEEN_EVENT_TYPES", ",".join(d.seen_event_types), _EVENT_TYPES)
        return cls(
            active_days=reader.integer("STORYREC_FEED_ACTIVE_DAYS", d.active_days, 1, 3650),
            max_story_age_days=reader.integer("STORYREC_FEED_MAX_STORY_AGE_DAYS", d.max_story_age_days, 1, 36500),
            seen_event_types=tuple(t.strip() for t in seen.split(",") if t.strip()),
            popular_half_life_hours=reader.number(
                "STORYREC_FEED_POPULAR_HALF_LIFE_HOURS", d.popular_half_life_hours, 1.0, 100_000.0
            ),
            concurrency=reader.integer("STORYREC_FEED_CONCURRENCY", d.concurrency, 1, 256),
            campaign_tps=reader.integer("STORYREC_FEED_CAMPAIGN_TPS", d.campaign_tps, 1, 100_000),
            retries=reader.integer("STORYREC_FEED_RETRIES", d.retries, 0, 10),
            backoff_seconds=reader.number("STORYREC_FEED_BACKOFF_SECONDS", d.backoff_seconds, 0.0, 60.0),
            breaker_failures=reader.integer("STORYREC_FEED_BREAKER_FAILURES", d.breaker_failures, 1, 1_000_000),
            batch_threshold=reader.integer("STORYREC_FEED_BATCH_THRESHOLD", d.batch_threshold, 1, 100_000_000),
            batch_role_arn=reader.optional("STORYREC_FEED_BATCH_ROLE_ARN", _ARN),
            batch_prefix=_prefix(reader.get("STORYREC_FEED_BATCH_PREFIX", d.batch_prefix)),
            batch_timeout_seconds=reader.integer("STORYREC_FEED_BATCH_TIMEOUT", d.batch_timeout_seconds, 10, 86400),
            schedule=reader.get("STORYREC_FEED_SCHEDULE", d.schedule, _CRON_OR_RATE),
        )


_EVENT_TYPES = re.compile(r"^(\*|[A-Za-z0-9_\-]{1,100}(,\s*[A-Za-z0-9_\-]{1,100})*)$")


@dataclass(frozen=True)
class ExperimentSettings:
    """The online test (docs/experiment.md): arm shares and when a test decides; ``STORYREC_EXPERIMENT_*``."""

    control_share: float = 0.05
    """Readers held out on the popularity feed (the baseline every version must beat)."""
    challenger_share: float = 0.10
    """Readers served by a candidate version while it is under test (0: no challenger arm)."""
    auto: bool = True
    """In promotion mode ``online``: the test's result promotes or retires by itself (False: held for an operator)."""
    alpha: float = 0.05
    """The false-positive rate of a decision, over every daily look (an always-valid test)."""
    min_days: int = 7
    """No decision before this many days of exposure (a week covers the weekly reading cycle)."""
    max_days: int = 28
    """A test still inconclusive after this many days retires the challenger (the champion stays)."""
    min_users_per_arm: int = 200
    expected_users_per_arm: int = 5_000
    """Tunes the sequential test to be tightest at this sample size (valid at every size)."""
    srm_p: float = 0.001
    """A sample-ratio-mismatch p-value below this blocks the decision and alerts."""
    aggregate_prefix: str = "experiments/"
    """Where the export writes the per-user daily exposure files (next to its manifests)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ExperimentSettings:
        reader, d = _Reader(env), cls()
        control = reader.number("STORYREC_EXPERIMENT_CONTROL_SHARE", d.control_share, 0.0, 0.5)
        challenger = reader.number("STORYREC_EXPERIMENT_CHALLENGER_SHARE", d.challenger_share, 0.0, 0.5)
        auto = reader.get("STORYREC_EXPERIMENT_AUTO", "true").lower()
        if auto not in ("true", "false", "1", "0", "yes", "no"):
            raise ConfigError(f"STORYREC_EXPERIMENT_AUTO={auto!r} is not a boolean")
        min_days = reader.integer("STORYREC_EXPERIMENT_MIN_DAYS", d.min_days, 1, 365)
        max_days = reader.integer("STORYREC_EXPERIMENT_MAX_DAYS", d.max_days, 1, 365)
        if max_days < min_days:
            raise ConfigError(f"STORYREC_EXPERIMENT_MAX_DAYS={max_days} is below STORYREC_EXPERIMENT_MIN_DAYS")
        return cls(
            control_share=control,
            challenger_share=challenger,
            auto=auto in ("true", "1", "yes"),
            alpha=reader.number("STORYREC_EXPERIMENT_ALPHA", d.alpha, 0.001, 0.2),
            min_days=min_days,
            max_days=max_days,
            min_users_per_arm=reader.integer("STORYREC_EXPERIMENT_MIN_USERS", d.min_users_per_arm, 2, 10**9),
            expected_users_per_arm=reader.integer(
                "STORYREC_EXPERIMENT_EXPECTED_USERS", d.expected_users_per_arm, 10, 10**9
            ),
            srm_p=reader.number("STORYREC_EXPERIMENT_SRM_P", d.srm_p, 1e-9, 0.05),
            aggregate_prefix=_prefix(reader.get("STORYREC_EXPERIMENT_PREFIX", d.aggregate_prefix)),
        )


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
    export_schedule: str = TriggerSettings.export_schedule
    train_schedule: str = "cron(0 3 1 * ? *)"
    time_zone: str = TriggerSettings.time_zone
    emulators: Emulators = field(default_factory=Emulators)
    capture_metrics: str = "log"
    """Where capture sends its metrics: ``log`` (the structured log) or ``cloudwatch``."""
    export: ExportSettings = field(default_factory=ExportSettings)
    timeouts: ServiceTimeouts = field(default_factory=ServiceTimeouts)
    publish: PublishSettings = field(default_factory=PublishSettings)
    aws_stage: AwsStageSettings = field(default_factory=lambda: AwsStageSettings())
    recommend: RecommendSettings = field(default_factory=RecommendSettings)
    experiment: ExperimentSettings = field(default_factory=ExperimentSettings)

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
        triggers = TriggerSettings.from_env(env)
        d_p = defaults.personalize
        personalize = PersonalizeSettings(
            dataset_group=reader.name_or_arn("STORYREC_PERSONALIZE_DATASET_GROUP", d_p.dataset_group),
            solution=_solution_name(reader.name_or_arn("STORYREC_PERSONALIZE_SOLUTION", d_p.solution)),
            campaign=reader.name_or_arn("STORYREC_PERSONALIZE_CAMPAIGN", d_p.campaign),
            filter=reader.name_or_arn("STORYREC_PERSONALIZE_FILTER", d_p.filter),
            recipe_arn=reader.get("STORYREC_PERSONALIZE_RECIPE_ARN", d_p.recipe_arn, _ARN_OR_RECIPE),
            import_role_arn=reader.optional("STORYREC_PERSONALIZE_ROLE_ARN", _ARN),
            min_campaign_tps=reader.integer("STORYREC_PERSONALIZE_MIN_TPS", d_p.min_campaign_tps, 1, 1000),
            num_results=reader.integer("STORYREC_PERSONALIZE_NUM_RESULTS", d_p.num_results, 1, 500),
        )
        export, timeouts = _export_settings(env)
        return cls(
            gcp_project=project,
            region=reader.first("STORYREC_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION") or defaults.region,
            collections=triggers.collections,
            import_bucket=reader.get("STORYREC_IMPORT_BUCKET", defaults.import_bucket, _BUCKET),
            import_prefix=_prefix(reader.get("STORYREC_IMPORT_PREFIX", defaults.import_prefix)),
            backup_bucket=reader.get("STORYREC_BACKUP_BUCKET", defaults.backup_bucket, _BUCKET),
            sns_topic_arn=reader.optional("STORYREC_SNS_TOPIC_ARN", _ARN),
            metrics_namespace=reader.get("STORYREC_METRICS_NAMESPACE", defaults.metrics_namespace),
            personalize=personalize,
            export_schedule=triggers.export_schedule,
            train_schedule=reader.get("STORYREC_TRAIN_SCHEDULE", defaults.train_schedule, _CRON_OR_RATE),
            time_zone=triggers.time_zone,
            emulators=Emulators.from_env(env),
            capture_metrics=reader.choice("STORYREC_CAPTURE_METRICS", defaults.capture_metrics, ("log", "cloudwatch")),
            export=export,
            timeouts=timeouts,
            publish=_publish_settings(reader),
            aws_stage=AwsStageSettings.from_env(env),
            recommend=RecommendSettings.from_env(env),
            experiment=ExperimentSettings.from_env(env),
        )


def _collections(reader: _Reader) -> Collections:
    defaults = Collections()
    return Collections(
        **{
            name: reader.get(f"STORYREC_COLLECTION_{name.upper()}", getattr(defaults, name), _COLLECTION)
            for name in Collections.__dataclass_fields__
        }
    )


def _time_zone(reader: _Reader) -> str:
    time_zone = reader.get("STORYREC_TIME_ZONE", TriggerSettings.time_zone)
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"STORYREC_TIME_ZONE={time_zone!r} is not an IANA time zone") from exc
    return time_zone


def _publish_settings(reader: _Reader) -> PublishSettings:
    d = PublishSettings()
    key = reader.first("STORYREC_PUBLISH_KEY")
    if key is not None and len(key) < 32:
        raise ConfigError("STORYREC_PUBLISH_KEY is shorter than 32 characters: use a long random secret")
    return PublishSettings(
        key=key,
        min_users=reader.integer("STORYREC_PUBLISH_MIN_USERS", d.min_users, 1, 1_000_000_000),
        min_events_per_user=reader.integer("STORYREC_PUBLISH_MIN_EVENTS", d.min_events_per_user, 1, 1_000_000),
        time_grain=reader.choice("STORYREC_PUBLISH_TIME_GRAIN", d.time_grain, ("hour", "day", "week", "order")),
    )


def _prefix(value: str) -> str:
    value = value.strip("/")
    return f"{value}/" if value else ""


def _solution_name(value: str) -> str:
    """The serving solution's name leaves room for its second slot's ``-b`` (docs/aws.md, "Two solution slots")."""
    if not _ARN.match(value) and len(value) > SOLUTION_NAME_MAX_CHARS:
        raise ConfigError(
            f"STORYREC_PERSONALIZE_SOLUTION={value!r} is {len(value)} characters: at most {SOLUTION_NAME_MAX_CHARS}, "
            "so that its second slot (the name plus '-b') is a valid Personalize name"
        )
    return value


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

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self._raw(name)
        if value is None:
            return default
        if value not in allowed:
            raise ConfigError(f"{name}={value!r} is not one of {', '.join(allowed)}")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        return self._bounded(name, default, low, high, int, "an integer")

    def number(self, name: str, default: float, low: float, high: float) -> float:
        return self._bounded(name, default, low, high, float, "a number")

    def _bounded(self, name: str, default: _N, low: _N, high: _N, parse: Callable[[str], _N], what: str) -> _N:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = parse(value)
        except ValueError as exc:
            raise ConfigError(f"{name}={value!r} is not {what}") from exc
        if not low <= number <= high:
            raise ConfigError(f"{name}={number} is outside {low}..{high}")
        return number


# --- AWS stage (import, train, monitor, promote; cross-cloud identity) --------------------------
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@\-/]{1,512}$")
_METRIC = re.compile(r"^[a-z][a-z0-9_]{0,99}$")


@dataclass(frozen=True)
class AwsStageSettings:
    """The AWS stage: where its state lives, how it trains, and when a new version may serve."""

    state_prefix: str = "storyrec-state/"
    baseline_solution: str = "storyrec-popularity-baseline"
    perform_auto_training: bool = False
    promotion_mode: str = "auto"
    """auto: the offline rule promotes; manual: it holds for an operator; online: it admits a version to the
    challenger test, whose measured lift promotes or retires it (docs/experiment.md)."""
    primary_metric: str = "normalized_discounted_cumulative_gain_at_10"
    min_improvement: float = 0.01
    guard_metrics: tuple[str, ...] = ("coverage", "mean_reciprocal_rank_at_25", "precision_at_10")
    guard_tolerance: float = 0.05
    stuck_after_hours: float = 24.0
    max_pending_imports: int = 5
    min_incremental_rows: int = 1000
    monitor_schedule: str = "rate(15 minutes)"
    aws_role_arn: str | None = None
    """The role this process assumes with its Google identity (:func:`_role_to_assume`); None: no federation."""
    aws_role_audience: str = "sts.amazonaws.com"
    gce_metadata_host: str = "metadata.google.internal"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AwsStageSettings:
        """Read the ``STORYREC_*`` variables of the AWS stage (and the standard ``GCE_METADATA_HOST``)."""
        reader, d = _Reader(env), cls()
        mode = reader.get("STORYREC_PROMOTION_MODE", d.promotion_mode).lower()
        if mode not in ("auto", "manual", "online"):
            raise ConfigError(f"STORYREC_PROMOTION_MODE={mode!r} must be auto, manual or online")
        auto = reader.get("STORYREC_PERSONALIZE_AUTO_TRAINING", "false").lower()
        if auto not in ("true", "false", "1", "0", "yes", "no"):
            raise ConfigError(f"STORYREC_PERSONALIZE_AUTO_TRAINING={auto!r} is not a boolean")
        guards = reader.get("STORYREC_PROMOTION_GUARD_METRICS", ",".join(d.guard_metrics))
        guard_metrics = tuple(g.strip() for g in guards.split(",") if g.strip())
        if not all(_METRIC.match(g) for g in guard_metrics):
            raise ConfigError(f"STORYREC_PROMOTION_GUARD_METRICS={guards!r}: not Personalize metric names")
        reader.get("STORYREC_PROMOTION_METRIC", d.primary_metric, _METRIC)
        return cls(
            state_prefix=_prefix(reader.get("STORYREC_STATE_PREFIX", d.state_prefix)),
            baseline_solution=reader.name_or_arn("STORYREC_PERSONALIZE_BASELINE_SOLUTION", d.baseline_solution),
            perform_auto_training=auto in ("true", "1", "yes"),
            promotion_mode=mode,
            primary_metric=reader.get("STORYREC_PROMOTION_METRIC", d.primary_metric),
            min_improvement=_fraction(reader, "STORYREC_PROMOTION_MIN_IMPROVEMENT", d.min_improvement),
            guard_metrics=guard_metrics,
            guard_tolerance=_fraction(reader, "STORYREC_PROMOTION_GUARD_TOLERANCE", d.guard_tolerance),
            stuck_after_hours=float(reader.integer("STORYREC_TRAINING_STUCK_HOURS", int(d.stuck_after_hours), 1, 720)),
            max_pending_imports=reader.integer("STORYREC_MAX_PENDING_IMPORTS", d.max_pending_imports, 1, 5),
            min_incremental_rows=reader.integer("STORYREC_MIN_INCREMENTAL_ROWS", d.min_incremental_rows, 1, 10**9),
            monitor_schedule=reader.get("STORYREC_MONITOR_SCHEDULE", d.monitor_schedule, _CRON_OR_RATE),
            aws_role_arn=_role_to_assume(reader),
            aws_role_audience=reader.get("STORYREC_AWS_ROLE_AUDIENCE", d.aws_role_audience),
            gce_metadata_host=reader.get("GCE_METADATA_HOST", d.gce_metadata_host),
        )


_AWS_FAMILIES = ("export", "feeds", "refresh")  # capture calls no AWS service


def _role_to_assume(reader: _Reader) -> str | None:
    """Inside a function (``FUNCTION_TARGET``) its family's ``STORYREC_AWS_ROLE_ARN_<FAMILY>`` (none for capture
    or an unknown function); outside the functions ``STORYREC_AWS_ROLE_ARN``."""
    roles = {f: reader.optional(f"STORYREC_AWS_ROLE_ARN_{f.upper()}", _ROLE_ARN) for f in _AWS_FAMILIES}
    single = reader.optional("STORYREC_AWS_ROLE_ARN", _ROLE_ARN)
    target = reader.first("FUNCTION_TARGET")
    if target is None:
        return single
    if single is not None:  # the one role every function shared: refuse it rather than run without a role
        names = ", ".join(f"STORYREC_AWS_ROLE_ARN_{f.upper()}" for f in _AWS_FAMILIES)
        raise ConfigError(f"STORYREC_AWS_ROLE_ARN is not read by the functions: each family has its own ({names})")
    return roles.get(FUNCTION_FAMILIES.get(target, ""))


def _fraction(reader: _Reader, name: str, default: float) -> float:
    raw = reader.get(name, repr(default))
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a number") from exc
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name}={value} is outside 0..1 (a relative change: 0.01 = 1%)")
    return value
