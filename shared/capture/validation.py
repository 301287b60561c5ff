"""Pure checks on values arriving from the app's documents: ids, categorical values, times, numbers.

Each check returns the cleaned value or raises :class:`Invalid` with a reason code, so the
use-case layer can quarantine the document with that code.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

MAX_ID = 256
"""Personalize limit on USER_ID / ITEM_ID length."""
MAX_CATEGORICAL = 1000
"""Personalize limit on one categorical value."""
MAX_TEXTUAL = 20_000
"""Personalize limit on a textual field; longer summaries are cut."""
MAX_EVENT_VALUE = 86_400.0
"""An EVENT_VALUE is seconds read at most; a day is already absurd."""
EARLIEST = datetime(2010, 1, 1, tzinfo=UTC)
"""Anything older is an absurd past for a news app (Deskdrop starts in 2016)."""
FUTURE_SKEW = timedelta(minutes=5)
"""Tolerated client clock skew."""
CSV_HOSTILE = frozenset(',"|')
"""Breaks a CSV row or Personalize's multi-value separator when inside an id or categorical value."""


class Reason(StrEnum):
    """Why a document was quarantined."""

    NOT_A_DOCUMENT = "not_a_document"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    EMPTY_VALUE = "empty_value"
    TOO_LONG = "too_long"
    CONTROL_CHARS = "control_chars"
    CSV_HOSTILE = "csv_hostile"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_VALUE = "invalid_value"
    FUTURE_TIMESTAMP = "future_timestamp"
    PAST_TIMESTAMP = "past_timestamp"
    UNKNOWN_STORY = "unknown_story"
    USER_MISMATCH = "user_mismatch"
    UNAUTHENTICATED = "unauthenticated"
    UNPARSEABLE = "unparseable"


class Invalid(ValueError):
    """A value failed a check; ``reason`` is the quarantine code, ``field`` the offending field."""

    def __init__(self, reason: Reason, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.reason = reason
        self.field = field
        self.detail = f"{field}: {detail}"


def has_control_chars(value: str) -> bool:
    """True if any character is a control or format character (newline, tab, NUL, bidi marks...)."""
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value)


def _string(data: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise Invalid(Reason.MISSING_FIELD, name, "is missing")
        return None
    if not isinstance(value, str):
        raise Invalid(Reason.WRONG_TYPE, name, f"expected a string, got {type(value).__name__}")
    return value


def check_token(field: str, value: str, limit: int) -> str:
    """Check one id or categorical value: non-empty, short enough, no control or CSV-hostile characters."""
    if value.strip() == "":
        raise Invalid(Reason.EMPTY_VALUE, field, "is empty")
    if len(value) > limit:
        raise Invalid(Reason.TOO_LONG, field, f"is {len(value)} characters (limit {limit})")
    if has_control_chars(value):
        raise Invalid(Reason.CONTROL_CHARS, field, "contains control characters")
    hostile = sorted(CSV_HOSTILE.intersection(value))
    if hostile:
        raise Invalid(Reason.CSV_HOSTILE, field, f"contains {''.join(hostile)!r}")
    return value


def required_id(data: Mapping[str, Any], name: str) -> str:
    """A required id field (≤ 256 characters)."""
    value = _string(data, name, required=True)
    assert value is not None
    return check_token(name, value, MAX_ID)


def optional_token(data: Mapping[str, Any], name: str, limit: int = MAX_CATEGORICAL) -> str | None:
    """An optional categorical or id field; blank counts as absent. Surrounding spaces are trimmed."""
    value = _string(data, name, required=False)
    if value is None or value.strip() == "":
        return None
    return check_token(name, value.strip(), limit)


def optional_tokens(data: Mapping[str, Any], name: str) -> list[str]:
    """An optional list of categorical values (e.g. tags), trimmed, de-duplicated, order kept."""
    value = data.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid(Reason.WRONG_TYPE, name, "expected a list of strings")
    seen: dict[str, None] = {}
    for i, item in enumerate(value):
        if item.strip():
            seen[check_token(f"{name}[{i}]", item.strip(), MAX_CATEGORICAL)] = None
    return list(seen)


def optional_text(data: Mapping[str, Any], name: str) -> str | None:
    """A free-text field: control characters become spaces, whitespace collapses, cut at 20,000 chars."""
    value = _string(data, name, required=False)
    if value is None:
        return None
    cleaned = "".join(" " if has_control_chars(ch) else ch for ch in value)
    cleaned = " ".join(cleaned.split())[:MAX_TEXTUAL]
    return cleaned or None


def as_utc(value: Any, field: str) -> datetime:
    """A Firestore timestamp (an aware datetime; naive is read as UTC) in UTC."""
    if not isinstance(value, datetime):
        raise Invalid(Reason.WRONG_TYPE, field, f"expected a timestamp, got {type(value).__name__}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def plausible_time(
    data: Mapping[str, Any], name: str, now: datetime, *, required: bool = True
) -> datetime | None:
    """A timestamp field no later than ``now`` (plus skew) and no earlier than 2010."""
    value = data.get(name)
    if value is None:
        if required:
            raise Invalid(Reason.MISSING_FIELD, name, "is missing")
        return None
    when = as_utc(value, name)
    if when > now + FUTURE_SKEW:
        raise Invalid(Reason.FUTURE_TIMESTAMP, name, f"{when.isoformat()} is after {now.isoformat()}")
    if when < EARLIEST:
        raise Invalid(Reason.PAST_TIMESTAMP, name, f"{when.isoformat()} is before {EARLIEST.date()}")
    return when


def optional_value(data: Mapping[str, Any], name: str) -> float | None:
    """An optional finite, non-negative number (seconds read) at most a day."""
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(Reason.WRONG_TYPE, name, f"expected a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or not 0.0 <= number <= MAX_EVENT_VALUE:
        raise Invalid(Reason.INVALID_VALUE, name, f"{value!r} is not within 0..{MAX_EVENT_VALUE:g}")
    return number
