"""Cloud Functions (2nd gen, Firebase) for GCP. Handlers only parse the event, call one use case, map errors.

Clients are built lazily on first invocation (``shared.capture.wiring.capture_service``), never at import.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from firebase_functions import firestore_fn
from google.cloud.firestore_v1 import DocumentSnapshot

from shared.capture.records import Writer
from shared.capture.service import CaptureService, Outcome
from shared.config import Collections
from shared.errors import ServiceUnavailable
from shared.logs import correlated, get_logger

_log = get_logger("functions")
# Trigger paths are fixed at deploy time, so they are read here; nothing else is.
_STORIES = os.environ.get("STORYREC_COLLECTION_STORIES") or Collections.stories
_USERS = os.environ.get("STORYREC_COLLECTION_USERS") or Collections.users
_CLICKS = os.environ.get("STORYREC_COLLECTION_CLICKS") or Collections.clicks


def _data(snapshot: DocumentSnapshot | None) -> dict[str, object] | None:
    return snapshot.to_dict() if snapshot is not None and snapshot.exists else None


def _run(event_id: str, use_case: Callable[[CaptureService], Outcome]) -> None:
    """Run one use case under the event id; infrastructure errors propagate so the platform retries."""
    from shared.capture.wiring import capture_service

    with correlated(event_id):
        service = capture_service()
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


@firestore_fn.on_document_written(document=f"{_STORIES}/{{storyId}}")
def capture_story(event: firestore_fn.Event[firestore_fn.Change[DocumentSnapshot | None]]) -> None:
    """stories/{storyId} written → ml_items (inactive once deleted or unpublished)."""
    data = _data(event.data.after) if event.data is not None else None
    _run(event.id, lambda s: s.capture_story(event.params["storyId"], data))


@firestore_fn.on_document_written(document=f"{_USERS}/{{uid}}")
def capture_user(event: firestore_fn.Event[firestore_fn.Change[DocumentSnapshot | None]]) -> None:
    """users/{uid} written → ml_users (inactive once deleted)."""
    data = _data(event.data.after) if event.data is not None else None
    _run(event.id, lambda s: s.capture_user(event.params["uid"], data))


@firestore_fn.on_document_created_with_auth_context(document=f"{_CLICKS}/{{clickId}}")
def capture_click(event: firestore_fn.AuthEvent[DocumentSnapshot | None]) -> None:
    """clicks/{clickId} created → ml_interactions once (or ml_quarantine with a reason)."""
    writer = Writer(event.auth_type, event.auth_id)
    _run(event.id, lambda s: s.capture_click(event.params["clickId"], _data(event.data), writer=writer))


from export import export_daily  # noqa: E402, F401  (the scheduled export; Firebase loads only main.py)
from recommend import fill_feeds_daily, first_feed_for_new_user, refresh_feed  # noqa: E402, F401  (feeds)
