"""Builds the export's dependencies from Settings. Called per invocation, never at import."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from google.cloud.pubsub_v1 import PublisherClient

from shared import wiring
from shared.adapters.counters import FirestoreCounter
from shared.adapters.firestore import FirestoreDocumentStore
from shared.adapters.logging_sinks import LogMetrics, LogNotifier
from shared.adapters.pubsub import PubSubPublisher
from shared.config import Settings
from shared.export.guards import Overrides
from shared.export.job import ExportDeps, ExportFailed, ExportOptions, ExportResult, report_failure
from shared.export.run import run_export, run_history
from shared.export.window import yesterday
from shared.logs import get_logger
from shared.ports import Clock, MetricsSink, Notifier
from shared.wiring import utc_now

_log = get_logger("export")


def alert_sinks(settings: Settings) -> tuple[Notifier, MetricsSink]:
    """SNS and CloudWatch (AWS credentials only); the log stands in for whichever cannot be built."""
    notifier: Notifier
    metrics: MetricsSink
    try:
        notifier = wiring.notifier(settings)
    except Exception:
        _log.exception("SNS client could not be built; alerts go to the log")
        notifier = LogNotifier()
    try:
        metrics = wiring.metrics(settings)
    except Exception:
        _log.exception("CloudWatch client could not be built; metrics go to the log")
        metrics = LogMetrics()
    return notifier, metrics


def export_deps(
    settings: Settings, clock: Clock = utc_now, sinks: tuple[Notifier, MetricsSink] | None = None
) -> ExportDeps:
    """Real adapters: Firestore, the S3 import bucket, the GCS backup bucket, SNS and CloudWatch."""
    notifier, metrics = sinks or alert_sinks(settings)
    client = wiring.firestore_client(settings)
    return ExportDeps(
        docs=FirestoreDocumentStore(client, timeout=settings.timeouts.firestore),
        import_store=wiring.import_store(settings),
        backup_store=wiring.backup_store(settings),
        notifier=notifier,
        metrics=metrics,
        clock=clock,
        collections=settings.collections,
        time_zone=settings.time_zone,
        prefix=settings.import_prefix,
        min_snapshot_share=settings.export.min_snapshot_share,
        publisher=PubSubPublisher(
            PublisherClient(), settings.gcp_project, settings.export.topic, timeout=settings.timeouts.firestore
        ),
        count=FirestoreCounter(client, timeout=settings.timeouts.firestore),
        rows_per_run=settings.export.rows_per_run,
        experiment_prefix=settings.experiment.aggregate_prefix,
    )


def connect(day: date, settings: Settings, clock: Clock = utc_now) -> ExportDeps:
    """Build the clients inside the error handler: a missing credential alerts and raises ExportFailed."""
    sinks = alert_sinks(settings)
    try:
        return export_deps(settings, clock, sinks)
    except Exception as exc:
        report_failure(day, "connect", None, exc, *sinks)
        raise ExportFailed(day, "connect", exc) from exc


def export_day(
    day: date | None,
    settings: Settings,
    options: ExportOptions | None = None,
    overrides: Overrides | None = None,
    clock: Clock | None = None,
) -> ExportResult:
    """What the CLI runs: connect, then :func:`run_export` of ``day`` (None: yesterday in the configured zone)."""
    clock = clock or utc_now
    day = day or yesterday(clock(), settings.time_zone)
    deps = connect(day, settings, clock)
    return run_export(day, deps, options, overrides)


def export_history_now(
    settings: Settings,
    options: ExportOptions | None = None,
    overrides: Overrides | None = None,
    clock: Clock | None = None,
) -> ExportResult:
    """What ``storyrec export --history`` runs: connect, then :func:`run_history` (the first load of history)."""
    clock = clock or utc_now
    deps = connect(yesterday(clock(), settings.time_zone), settings, clock)
    return run_history(replace(deps, publisher=None, count=None), options, overrides)
