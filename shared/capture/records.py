"""Pure mappings from the app's documents to the ML records of docs/records.md.

Field names the app writes (camelCase, as Firebase clients naturally do) are listed in docs/capture.md.
Every function either returns the record (without the server-side ``captured_at``/``updated_at``) or
raises :class:`~shared.capture.validation.Invalid`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.capture.validation import (
    MAX_ID,
    Invalid,
    Reason,
    check_token,
    optional_text,
    optional_token,
    optional_tokens,
    optional_value,
    plausible_time,
    required_id,
)

EVENT_TYPES = ("open", "read", "comment", "like", "save")
PUBLISHED = "published"
TRUSTED_WRITERS = frozenset({"service_account", "system"})
"""Auth types of server-side writers (importers, the Admin SDK): they may write clicks for any user."""


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


def click_to_interaction(
    click_id: str, data: Any, *, now: datetime, writer: Writer | None = None
) -> dict[str, Any]:
    """Validate a ``clicks/{clickId}`` document and map it to an ``ml_interactions`` record.

    TIMESTAMP is ``createdAt`` (the server receive time: rules force it to ``request.time``);
    ``clientTime`` is only checked for plausibility.
    """
    doc = _mapping(data)
    check_token("clickId", click_id, MAX_ID)
    user_id = required_id(doc, "userId")
    item_id = required_id(doc, "storyId")
    event_type = doc.get("type")
    if event_type is None:
        raise Invalid(Reason.MISSING_FIELD, "type", "is missing")
    if not isinstance(event_type, str):
        raise Invalid(Reason.WRONG_TYPE, "type", f"expected a string, got {type(event_type).__name__}")
    if event_type.strip().lower() not in EVENT_TYPES:
        detail = f"{event_type[:50]!r} is not one of {', '.join(EVENT_TYPES)}"
        raise Invalid(Reason.UNKNOWN_TYPE, "type", detail)
    received = plausible_time(doc, "createdAt", now)
    assert received is not None
    plausible_time(doc, "clientTime", received)
    record = {
        "USER_ID": user_id,
        "ITEM_ID": item_id,
        "TIMESTAMP": int(received.timestamp()),
        "EVENT_TYPE": event_type.strip().lower(),
        "EVENT_VALUE": optional_value(doc, "value"),
        "DEVICE": _lower(optional_token(doc, "device")),
        "SESSION_ID": optional_token(doc, "sessionId", MAX_ID),
        "click_id": click_id,
    }
    check_writer(user_id, writer)
    return record


def is_published(data: Mapping[str, Any] | None) -> bool:
    """A story is live unless deleted or its ``status`` says otherwise (absent status = published)."""
    if data is None:
        return False
    status = data.get("status")
    return status is None or (isinstance(status, str) and status.strip().lower() == PUBLISHED)


def story_to_item(story_id: str, data: Any, *, now: datetime) -> dict[str, Any]:
    """Validate a published ``stories/{storyId}`` document and map it to an active ``ml_items`` record."""
    doc = _mapping(data)
    check_token("storyId", story_id, MAX_ID)
    created = plausible_time(doc, "publishedAt", now, required=False) or plausible_time(doc, "createdAt", now)
    assert created is not None
    tags = optional_tokens(doc, "tags")
    return {
        "ITEM_ID": story_id,
        "CREATION_TIMESTAMP": int(created.timestamp()),
        "CATEGORY": optional_token(doc, "category"),
        "TAGS": "|".join(tags) or None,
        "SOURCE": optional_token(doc, "source"),
        "LANGUAGE": _lower(optional_token(doc, "lang")),
        "SUMMARY": optional_text(doc, "summary"),
        "TITLE": optional_text(doc, "title"),
        "active": True,
    }


def user_to_ml_user(uid: str, data: Any) -> dict[str, Any]:
    """Validate a ``users/{uid}`` document and map it to an ``ml_users`` record (no personal data copied)."""
    doc = _mapping(data)
    check_token("uid", uid, MAX_ID)
    country = optional_token(doc, "country")
    return {
        "USER_ID": uid,
        "LANGUAGE": _lower(optional_token(doc, "lang")),
        "COUNTRY": country.upper() if country else None,
        "active": True,
    }


def _lower(value: str | None) -> str | None:
    return value.lower() if value else None
