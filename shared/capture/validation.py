"""Pure checks on values arriving from the app's documents: ids, categorical values, times, numbers.

Each check returns the cleaned value or raises :class:`Invalid` with a reason code, so the
use-case layer can quarantine the document with that code. Lengths, characters and vocabularies
come from :mod:`shared.limits` (derived from the Avro schemas), the same rules the export applies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.limits import MULTI_SEPARATOR, FieldRule, Kind, has_control_chars, id_problem, join_multi, neutralise_text

MAX_EVENT_VALUE = 86_400.0
"""An EVENT_VALUE is seconds read at most; a day is already absurd."""
EARLIEST = datetime(2010, 1, 1, tzinfo=UTC)
"""Anything older is an absurd past for a news app (Deskdrop starts in 2016)."""
FUTURE_SKEW = timedelta(minutes=5)
"""Tolerated client clock skew."""


class Reason(StrEnum):
    """Why a document was quarantined (the limit codes of :class:`shared.limits.Problem` included)."""

    NOT_A_DOCUMENT = "not_a_document"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    EMPTY_VALUE = "empty_value"
    TOO_LONG = "too_long"
    CONTROL_CHARS = "control_chars"
    CSV_HOSTILE = "csv_hostile"
    FORMULA_LIKE = "formula_like"
    NOT_IN_VOCABULARY = "not_in_vocabulary"
    BAD_PATTERN = "bad_pattern"
    INVALID_ID = "invalid_id"
    TOO_MANY = "too_many"
    DUPLICATE = "duplicate"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_VALUE = "invalid_value"
    FUTURE_TIMESTAMP = "future_timestamp"
    PAST_TIMESTAMP = "past_timestamp"
    UNKNOWN_STORY = "unknown_story"
    USER_MISMATCH = "user_mismatch"
    UNAUTHENTICATED = "unauthenticated"
    RATE_LIMITED = "rate_limited"
    UNPARSEABLE = "unparseable"


class Invalid(ValueError):
    """A value failed a check; ``reason`` is the quarantine code, ``field`` the offending field."""

    def __init__(self, reason: Reason, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.reason = reason
        self.field = field
        self.detail = f"{field}: {detail}"


def _string(data: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise Invalid(Reason.MISSING_FIELD, name, "is missing")
        return None
    if not isinstance(value, str):
        raise Invalid(Reason.WRONG_TYPE, name, f"expected a string, got {type(value).__name__}")
    return value


def check_document_id(field: str, value: str) -> str:
    """A document id that will become a path segment: checked before any path is built."""
    problem = id_problem(value)
    if problem is not None:
        raise Invalid(Reason(problem.problem.value), field, problem.detail)
    return value


def check(field: str, value: str, rule: FieldRule) -> str:
    """Normalise one value with its column's rule; raise :class:`Invalid` if it breaks a limit."""
    text = rule.normalise(value)
    problem = rule.problem(text)
    if problem is not None:
        raise Invalid(Reason(problem.problem.value), field, problem.detail)
    return text


def required(data: Mapping[str, Any], name: str, rule: FieldRule) -> str:
    """A required string field, checked by ``rule``."""
    value = _string(data, name, required=True)
    assert value is not None
    if value.strip() == "":
        raise Invalid(Reason.EMPTY_VALUE, name, "is empty")
    return check(name, value, rule)


def optional(data: Mapping[str, Any], name: str, rule: FieldRule) -> str | None:
    """An optional string field; blank counts as absent."""
    value = _string(data, name, required=False)
    if value is None or value.strip() == "":
        return None
    return check(name, value, rule)


def optional_multi(data: Mapping[str, Any], name: str, rule: FieldRule) -> tuple[str | None, list[str]]:
    """A list of categorical values (e.g. tags): each checked, de-duplicated, order kept, joined with
    ``|`` while the cell fits its limit. Returns the cell and the values that did not fit."""
    value = data.get(name)
    if value is None:
        return None, []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid(Reason.WRONG_TYPE, name, "expected a list of strings")
    seen: dict[str, None] = {}
    for i, item in enumerate(value):
        if item.strip():
            seen[check(f"{name}[{i}]", item, rule)] = None
    return join_multi(rule, list(seen))


def optional_text(data: Mapping[str, Any], name: str, limit: int | None) -> str | None:
    """A free-text field: control characters become spaces, whitespace collapses, cut at ``limit``,
    and a leading formula character is neutralised."""
    value = _string(data, name, required=False)
    if value is None:
        return None
    cleaned = "".join(" " if has_control_chars(ch) else ch for ch in value)
    cleaned = " ".join(cleaned.split())
    cleaned = neutralise_text(cleaned)[:limit]
    return cleaned or None


def as_utc(value: Any, field: str) -> datetime:
    """A Firestore timestamp (an aware datetime; naive is read as UTC) in UTC."""
    if not isinstance(value, datetime):
        raise Invalid(Reason.WRONG_TYPE, field, f"expected a timestamp, got {type(value).__name__}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def plausible_time(data: Mapping[str, Any], name: str, now: datetime, *, required: bool = True) -> datetime | None:
    """A timestamp field no later than ``now`` (plus skew) and no earlier than 2010."""
    value = data.get(name)
    if value is None:
        if required:
            raise Invalid(Reason.MISSING_FIELD, name, "is missing")
        return None
    return check_time(name, as_utc(value, name), now)


def check_time(field: str, when: datetime, now: datetime) -> datetime:
    """``when`` if it is no later than ``now`` (plus skew) and no earlier than 2010."""
    if when > now + FUTURE_SKEW:
        raise Invalid(Reason.FUTURE_TIMESTAMP, field, f"{when.isoformat()} is after {now.isoformat()}")
    if when < EARLIEST:
        raise Invalid(Reason.PAST_TIMESTAMP, field, f"{when.isoformat()} is before {EARLIEST.date()}")
    return when


def check_epoch(field: str, seconds: int, now: datetime) -> int:
    """Epoch seconds (an ML record's TIMESTAMP) checked as :func:`check_time` checks a timestamp."""
    try:
        when = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, ValueError, OSError):  # beyond the year 9999 (or before year 1)
        reason = Reason.FUTURE_TIMESTAMP if seconds > 0 else Reason.PAST_TIMESTAMP
        raise Invalid(reason, field, f"{seconds} is not a representable time") from None
    check_time(field, when, now)
    return seconds


def optional_value(data: Mapping[str, Any], name: str) -> float | None:
    """An optional finite, non-negative number (seconds read) at most a day."""
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(Reason.WRONG_TYPE, name, f"expected a number, got {type(value).__name__}")
    return check_value(name, value)


def check_value(field: str, value: float) -> float:
    """A finite, non-negative number (seconds read) at most a day."""
    try:
        number = float(value)
    except OverflowError:  # an int beyond a float's range
        number = math.inf
    if not math.isfinite(number) or not 0.0 <= number <= MAX_EVENT_VALUE:
        raise Invalid(Reason.INVALID_VALUE, field, f"{value!r} is not within 0..{MAX_EVENT_VALUE:g}")
    return number


def check_cell(field: str, cell: str, rule: FieldRule) -> str:
    """A CSV cell an ML record already holds, checked as capture checks the value it came from.

    Ids and categorical values: normalised and checked by the column's rule (a multi-value cell part by
    part, blanks dropped); free text: its length and its lead. Returns the cell to write.
    """
    if rule.kind is Kind.TEXTUAL:
        problem = rule.cell_problem(cell)
        if problem is not None:
            raise Invalid(Reason(problem.problem.value), field, problem.detail)
        return cell
    if not rule.multi:
        return check(field, cell, rule)
    parts = [check(f"{field}[{i}]", part, rule) for i, part in enumerate(cell.split(MULTI_SEPARATOR)) if part.strip()]
    joined = MULTI_SEPARATOR.join(dict.fromkeys(parts))
    if rule.max_chars is not None and len(joined) > rule.max_chars:
        raise Invalid(Reason.TOO_LONG, field, f"is {len(joined)} characters (limit {rule.max_chars})")
    return joined
