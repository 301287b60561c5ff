"""Daily export, triggered by Pub/Sub: Cloud Scheduler publishes the daily tick to the export topic.

Operators re-run a day by publishing ``{"date": "YYYY-MM-DD"}`` (optionally ``"force": true`` or
``"replace": true``) to the same topic (shared/export/trigger.py). Retry is on: a transient failure
raises and Pub/Sub redelivers the same message (same publish time, so the same day).
The topic is a deploy-time value, read here (Firebase loads ``functions_gcp/.env*`` before it imports
this file); everything else is read per invocation.
"""

from __future__ import annotations

import os

from firebase_functions import options, pubsub_fn

from shared import wiring
from shared.config import Settings, TriggerSettings
from shared.errors import ConfigError
from shared.logs import correlated, get_logger

_TRIGGERS = TriggerSettings.from_env(os.environ)
_TOPIC = _TRIGGERS.export_topic


@pubsub_fn.on_message_published(
    topic=_TOPIC,
    retry=True,
    timeout_sec=540,  # the most an event-driven function may run
    memory=options.MemoryOption.GB_2,  # /tmp is memory-backed: the CSV parts live there until uploaded
    max_instances=10,
    service_account=_TRIGGERS.service_accounts.export,
)
def export_daily(event: pubsub_fn.CloudEvent[pubsub_fn.MessagePublishedData[object]]) -> None:
    """Export the day the message names, or the day before its publish time."""
    # measured: importing these at module top adds ~70 ms to the cold start of every function in main.py
    from shared.export.trigger import handle_message
    from shared.export.wiring import connect

    message = event.data.message
    with correlated(message.message_id):
        try:
            settings = Settings.from_env(os.environ)
        except ConfigError:  # permanent: a redelivery would fail the same way for days
            get_logger("export").exception("export not configured; message acknowledged without export")
            return
        handle_message(message.data, message.publish_time, settings, connect, wiring.utc_now())
