"""Cloud Functions (2nd gen, Firebase) for GCP. Handlers only parse the event, call one use case, map errors.

Clients are built lazily on first invocation (``shared.capture.wiring.capture_service``), never at import.
Every event trigger is deployed with retry on: a handler that raises (an unreachable Firestore) gets the
event again, and the use cases are idempotent and order-proof, so a redelivery changes nothing it should
not. :func:`triggers.retried` says why retry is set in the endpoint manifest rather than the decorator.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from firebase_functions import firestore_fn
from google.cloud.firestore_v1 import DocumentSnapshot
from triggers import retried

from shared.capture import wiring
from shared.capture.records import Writer
from shared.capture.service import CaptureService, Outcome
from shared.config import TriggerSettings
from shared.errors import ServiceUnavailable
from shared.logs import correlated, get_logger

_log = get_logger("functions")
# Trigger paths are fixed at deploy time, so they are read here (through the settings); nothing else is.
_TRIGGERS = TriggerSettings.from_env(os.environ)
_STORIES = _TRIGGERS.collections.stories
_USERS = _TRIGGERS.collections.users
_CLICKS = _TRIGGERS.collections.clicks
_IMPRESSIONS = _TRIGGERS.collections.impressions
_RUN_AS = _TRIGGERS.service_accounts.capture  # capture needs no AWS role (docs/deploy.md, who may do what)


def _data(snapshot: DocumentSnapshot | None) -> dict[str, object] | None:
    return snapshot.to_dict() if snapshot is not None and snapshot.exists else None


def _utc(value: Any) -> datetime:
    """A Firestore/CloudEvent time as a plain aware datetime (microseconds, as Firestore stores them)."""
    when: datetime = value.ToDatetime(tzinfo=UTC) if hasattr(value, "ToDatetime") else value
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return datetime(when.year, when.month, when.day, when.hour, when.minute, when.second, when.microsecond, UTC)


def _version(event: firestore_fn.Event[firestore_fn.Change[DocumentSnapshot | None]]) -> datetime:
    """The time of the change: the new document's update time, or the event time for a delete."""
    after = event.data.after if event.data is not None else None
    if after is not None and after.exists and after.update_time is not None:
        return _utc(after.update_time)
    return _utc(event.time)


def _run(event_id: str, use_case: Callable[[CaptureService], Outcome]) -> None:
    """Run one use case under the event id; infrastructure errors propagate so the platform retries."""
    with correlated(event_id):
        service = wiring.capture_service()
        try:
            outcome = use_case(service)
        except ServiceUnavailable:
            _log.warning("backing service unavailable; the event will be retried")
            raise
        except Exception:
            _log.exception("capture failed")
            raise
        finally:
            _flush(service)
        _log.info("handled", extra={"outcome": outcome.value})


def _flush(service: CaptureService) -> None:
    try:
        service.metrics.flush()
    except Exception:  # a lost metric must not fail (and re-deliver) a capture that succeeded
        _log.exception("metrics flush failed")


@retried
@firestore_fn.on_document_written(document=f"{_STORIES}/{{storyId}}", service_account=_RUN_AS)
def capture_story(event: firestore_fn.Event[firestore_fn.Change[DocumentSnapshot | None]]) -> None:
    """stories/{storyId} written → ml_items (a tombstone once deleted or unpublished)."""
    data = _data(event.data.after) if event.data is not None else None
    version = _version(event)
    _run(event.id, lambda s: s.capture_story(event.params["storyId"], data, version=version))


@retried
@firestore_fn.on_document_written(document=f"{_USERS}/{{uid}}", service_account=_RUN_AS)
def capture_user(event: firestore_fn.Event[firestore_fn.Change[DocumentSnapshot | None]]) -> None:
    """users/{uid} written → ml_users (a tombstone once deleted)."""
    data = _data(event.data.after) if event.data is not None else None
    version = _version(event)
    _run(event.id, lambda s: s.capture_user(event.params["uid"], data, version=version))


@retried
@firestore_fn.on_document_created_with_auth_context(document=f"{_CLICKS}/{{clickId}}", service_account=_RUN_AS)
def capture_click(event: firestore_fn.AuthEvent[DocumentSnapshot | None]) -> None:
    """clicks/{clickId} created → ml_interactions once (or ml_quarantine with a reason)."""
    writer = Writer(event.auth_type, event.auth_id)
    _run(event.id, lambda s: s.capture_click(event.params["clickId"], _data(event.data), writer=writer))


@retried
@firestore_fn.on_document_created_with_auth_context(
    document=f"{_IMPRESSIONS}/{{impressionId}}", service_account=_RUN_AS
)
def capture_impression(event: firestore_fn.AuthEvent[DocumentSnapshot | None]) -> None:
    """impressions/{impressionId} created → ml_impressions once (or ml_quarantine with a reason)."""
    writer = Writer(event.auth_type, event.auth_id)
    _run(event.id, lambda s: s.capture_impression(event.params["impressionId"], _data(event.data), writer=writer))


from export import export_daily  # noqa: E402, F401  (the scheduled export; Firebase loads only main.py)
from recommend import fill_feeds_daily, first_feed_for_new_user, refresh_feed  # noqa: E402, F401  (feeds)
