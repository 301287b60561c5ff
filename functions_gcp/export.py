"""Scheduled export: Cloud Scheduler runs this daily; it exports the previous day in the configured zone.

Schedule and time zone are deploy-time values, so they are read from the environment here (Firebase
loads ``functions_gcp/.env*`` before it imports this file); everything else is read per invocation.
A failed run returns HTTP 500, so Cloud Scheduler retries it with the same schedule time (same date).
"""

from __future__ import annotations

import os

from firebase_functions import options, scheduler_fn
from firebase_functions.options import Timezone

from shared.config import Settings, TriggerSettings

_TRIGGERS = TriggerSettings.from_env(os.environ)
_SCHEDULE = _TRIGGERS.export_schedule
_TIME_ZONE = _TRIGGERS.time_zone


@scheduler_fn.on_schedule(
    schedule=_SCHEDULE,
    timezone=Timezone(_TIME_ZONE),
    retry_count=3,
    min_backoff_seconds=300,
    max_instances=1,  # one export at a time: the watermark has a single writer
    timeout_sec=1800,
    memory=options.MemoryOption.GB_2,  # /tmp is memory-backed: the CSV parts live there until uploaded
)
def export_daily(event: scheduler_fn.ScheduledEvent) -> None:
    """Export the day before ``event.schedule_time`` (in the configured time zone)."""
    from shared.export import run_export
    from shared.export.wiring import export_deps, yesterday

    settings = Settings.from_env(os.environ)
    run_export(yesterday(event.schedule_time, settings.time_zone), export_deps(settings))
