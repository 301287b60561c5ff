"""Builds the export's dependencies from Settings. Called per invocation, never at import."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.config import Settings
from shared.export.job import ExportDeps
from shared.ports import Clock
from shared.wiring import utc_now


def export_deps(settings: Settings, clock: Clock = utc_now) -> ExportDeps:
    """Real adapters: Firestore, the S3 import bucket, the GCS backup bucket, SNS and CloudWatch."""
    from shared import wiring

    return ExportDeps(
        docs=wiring.document_store(settings),
        import_store=wiring.import_store(settings),
        backup_store=wiring.backup_store(settings),
        notifier=wiring.notifier(settings),
        metrics=wiring.metrics(settings),
        clock=clock,
        collections=settings.collections,
        time_zone=settings.time_zone,
        prefix=settings.import_prefix,
    )


def yesterday(now: datetime, time_zone: str) -> date:
    """The last complete day in ``time_zone``: what the daily schedule exports."""
    return (now.astimezone(ZoneInfo(time_zone)) - timedelta(days=1)).date()
