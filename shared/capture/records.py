"""Pure mappings from the app's documents to the ML records of docs/records.md.

Field names the app writes (camelCase, as Firebase clients naturally do) are listed in docs/capture.md.
Every function either returns the record (without the server-side ``captured_at``/``updated_at``) or
raises :class:`~shared.capture.validation.Invalid`. Every value is checked with the rule
:mod:`shared.limits` derives from the Avro schemas, so whatever is captured can be exported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.capture.validation import (
    Invalid,
    Reason,
    check,
    check_document_id,
    optional,
    optional_multi,
    optional_text,
    optional_value,
    plausible_time,
    required,
)
from shared.limits import EVENT_TYPES, IMPRESSION_MAX_IDS, TEXTUAL_MAX_CHARS, rule

PUBLISHED = "published"
TRUSTED_WRITERS = frozenset({"service_account", "system"})
"""Auth types of server-side writers (importers, the Admin SDK): they may write clicks for any user."""

_USER_ID = rule("interactions", "USER_ID")
_ITEM_ID = rule("interactions", "ITEM_ID")
_EVENT_TYPE = rule("interactions", "EVENT_TYPE")
_DEVICE = rule("interactions", "DEVICE")
_RECOMMENDATION_ID = rule("interactions", "RECOMMENDATION_ID")
_SOURCE = rule("interactions", "EVENT_ATTRIBUTION_SOURCE")
_ITEM = {name: rule("items", name) for name in ("ITEM_ID", "CATEGORY", "TAGS", "SOURCE", "LANGUAGE", "SUMMARY")}
_USER = {name: rule("users", name) for name in ("USER_ID", "LANGUAGE", "COUNTRY")}


@dataclass(frozen=True)
class Writer:
    """Who wrote a document, from a trigger's auth context (``authtype`` / ``authid``)."""

    auth_type: str | None
    auth_id: str | None


def check_writer(user_id: str, writer: Writer | None) -> None:
    """Raise unless the writer may write a click for ``user_id``: trusted servers, or the user itself."""
    if writer is None or writer.auth_type in TRUSTED_WRITERS:
        return
    if writer.auth_type == "unauthenticated" or not writer.auth_id:
        detail = f"written without a signed-in user ({writer.auth_type})"
        raise Invalid(Reason.UNAUTHENTICATED, "userId", detail)
    if writer.auth_id != user_id:
        detail = f"{user_id!r} differs from the writer {writer.auth_id!r}"
        raise Invalid(Reason.USER_MISMATCH, "userId", detail)


def _mapping(data: Any) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise Invalid(Reason.NOT_A_DOCUMENT, "document", f"expected a map, got {type(data).__name__}")
    return data


def check_doc_id(field: str, doc_id: str) -> str:
    """An id that becomes a path segment and a CSV cell: Firestore's id rules plus the ID column's."""
    return check(field, check_document_id(field, doc_id), _USER_ID)


def click_to_interaction(click_id: str, data: Any, *, now: datetime, writer: Writer | None = None) -> dict[str, Any]:
    """Validate a ``clicks/{clickId}`` document and map it to an ``ml_interactions`` record.

    TIMESTAMP is ``createdAt`` (the server receive time: rules force it to ``request.time``);
    ``clientTime`` is only checked for plausibility.
    """
    check_doc_id("clickId", click_id)
    doc = _mapping(data)
    user_id = required(doc, "userId", _USER_ID)
    item_id = required(doc, "storyId", _ITEM_ID)
    event_type = doc.get("type")
    if event_type is None:
        raise Invalid(Reason.MISSING_FIELD, "type", "is missing")
    if not isinstance(event_type, str):
        raise Invalid(Reason.WRONG_TYPE, "type", f"expected a string, got {type(event_type).__name__}")
    if _EVENT_TYPE.normalise(event_type) not in EVENT_TYPES:
        detail = f"{event_type[:50]!r} is not one of {', '.join(EVENT_TYPES)}"
        raise Invalid(Reason.UNKNOWN_TYPE, "type", detail)
    received = plausible_time(doc, "createdAt", now)
    assert received is not None
    plausible_time(doc, "clientTime", received)
    record = {
        "USER_ID": user_id,
        "ITEM_ID": item_id,
        "TIMESTAMP": int(received.timestamp()),
        "EVENT_TYPE": _EVENT_TYPE.normalise(event_type),
        "EVENT_VALUE": optional_value(doc, "value"),
        "DEVICE": optional(doc, "device", _DEVICE),
        "SESSION_ID": optional(doc, "sessionId", _USER_ID),
        **_attribution(doc),
        "click_id": click_id,
    }
    check_writer(user_id, writer)
    return record


def _attribution(doc: Mapping[str, Any]) -> dict[str, str | None]:
    """Where a click or an impression came from: the feed's recommendation id and/or a closed-vocabulary
    source (docs/client.md). Both are kept; the export decides what Personalize gets."""
    return {
        "RECOMMENDATION_ID": optional(doc, "recommendationId", _RECOMMENDATION_ID),
        "EVENT_ATTRIBUTION_SOURCE": optional(doc, "source", _SOURCE),
    }


def _story_ids(doc: Mapping[str, Any]) -> list[str]:
    """``storyIds``: 1..25 distinct item ids, in feed order."""
    value = doc.get("storyIds")
    if value is None:
        raise Invalid(Reason.MISSING_FIELD, "storyIds", "is missing")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid(Reason.WRONG_TYPE, "storyIds", "expected a list of strings")
    if not value:
        raise Invalid(Reason.EMPTY_VALUE, "storyIds", "lists no story")
    if len(value) > IMPRESSION_MAX_IDS:
        raise Invalid(Reason.TOO_MANY, "storyIds", f"lists {len(value)} stories (limit {IMPRESSION_MAX_IDS})")
    ids = [check(f"storyIds[{i}]", v, _ITEM_ID) for i, v in enumerate(value)]
    if len(set(ids)) != len(ids):
        raise Invalid(Reason.DUPLICATE, "storyIds", "lists a story twice")
    return ids


def impression_to_record(
    impression_id: str, data: Any, *, now: datetime, writer: Writer | None = None
) -> dict[str, Any]:
    """Validate an ``impressions/{impressionId}`` document and map it to an ``ml_impressions`` record.

    TIMESTAMP is ``createdAt`` (the server receive time, as for clicks); the story ids are checked as
    ids, not looked up (25 reads an impression would cost more than an unknown id harms: the export's
    IMPRESSION cell only tells Personalize what was shown).
    """
    check_doc_id("impressionId", impression_id)
    doc = _mapping(data)
    user_id = required(doc, "userId", _USER_ID)
    item_ids = _story_ids(doc)
    received = plausible_time(doc, "createdAt", now)
    assert received is not None
    plausible_time(doc, "clientTime", received)
    record = {
        "USER_ID": user_id,
        "ITEM_IDS": item_ids,
        **_attribution(doc),
        "TIMESTAMP": int(received.timestamp()),
        "impression_id": impression_id,
    }
    check_writer(user_id, writer)
    return record


def is_published(data: Mapping[str, Any] | None) -> bool:
    """A story is live unless deleted or its ``status`` says otherwise (absent status = published)."""
    if data is None or not isinstance(data, Mapping):
        return data is not None  # a payload that is not a map is "live" so that it gets quarantined
    status = data.get("status")
    return status is None or (isinstance(status, str) and status.strip().lower() == PUBLISHED)


def story_to_item(story_id: str, data: Any, *, now: datetime) -> dict[str, Any]:
    """Validate a published ``stories/{storyId}`` document and map it to an active ``ml_items`` record.

    Tags are kept whole, in order, while the TAGS cell fits its limit; the rest are counted in
    ``tags_dropped`` (so the story is captured and exported, never dropped by the export).
    """
    check_doc_id("storyId", story_id)
    doc = _mapping(data)
    created = plausible_time(doc, "publishedAt", now, required=False) or plausible_time(doc, "createdAt", now)
    assert created is not None
    tags, dropped = optional_multi(doc, "tags", _ITEM["TAGS"])
    return {
        "ITEM_ID": story_id,
        "CREATION_TIMESTAMP": int(created.timestamp()),
        "CATEGORY": optional(doc, "category", _ITEM["CATEGORY"]),
        "TAGS": tags,
        "SOURCE": optional(doc, "source", _ITEM["SOURCE"]),
        "LANGUAGE": optional(doc, "lang", _ITEM["LANGUAGE"]),
        "SUMMARY": optional_text(doc, "summary", _ITEM["SUMMARY"].max_chars),
        "TITLE": optional_text(doc, "title", TEXTUAL_MAX_CHARS),
        "tags_dropped": len(dropped),
        "active": True,
    }


def user_to_ml_user(uid: str, data: Any) -> dict[str, Any]:
    """Validate a ``users/{uid}`` document and map it to an ``ml_users`` record (no personal data copied)."""
    check_doc_id("uid", uid)
    doc = _mapping(data)
    return {
        "USER_ID": uid,
        "LANGUAGE": optional(doc, "lang", _USER["LANGUAGE"]),
        "COUNTRY": optional(doc, "country", _USER["COUNTRY"]),
        "active": True,
    }
