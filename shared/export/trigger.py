"""The export's Pub/Sub message: what operators (and Cloud Scheduler) publish, and how a delivery is handled.

Message body (JSON, UTF-8), every field optional::

    {"date": "2026-11-28", "force": false, "replace": false}

Without ``date`` the day is yesterday in the configured zone, taken from the message's *publish time*,
so a redelivery exports the same day. Delivery is at least once with retry on: only a transient
failure raises (Pub/Sub redelivers); a malformed message, a rejected date or a refused run is logged
(the refusal is alerted) and acknowledged, because redelivering it would give the same answer.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.config import Settings
from shared.errors import StoryrecError
from shared.export.guards import DateRejected, ExportRefused, Overrides
from shared.export.job import ExportDeps, ExportFailed, ExportOptions
from shared.export.run import run_export_event
from shared.export.shards import Shard
from shared.export.window import yesterday
from shared.logs import get_logger

_log = get_logger("export")
_FIELDS = frozenset({"date", "force", "replace", "shard"})


class BadMessage(StoryrecError, ValueError):
    """The message body is not an export request."""


class Outcome(StrEnum):
    EXPORTED = "exported"
    BAD_MESSAGE = "bad_message"
    DATE_REJECTED = "date_rejected"
    REFUSED = "refused"
    EXPIRED = "expired"


@dataclass(frozen=True)
class ExportRequest:
    """A parsed message: an explicit day (or None for "yesterday") and the operator overrides."""

    day: date | None = None
    overrides: Overrides = field(default_factory=Overrides)
    shard: Shard | None = None


def _flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise BadMessage(f"{name!r} must be true or false, got {value!r}")
    return value


def parse_request(data: str | bytes | None) -> ExportRequest:
    """Parse a message's base64 ``data`` (as Pub/Sub delivers it). An empty body is the daily tick."""
    try:
        raw = base64.b64decode(data or b"", validate=True)
        text = raw.decode("utf-8").strip()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise BadMessage(f"message data is not base64 UTF-8: {exc}") from exc
    if not text:
        return ExportRequest()
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadMessage(f"message body is not JSON: {exc.msg}") from exc
    if not isinstance(body, dict):
        raise BadMessage(f"message body must be a JSON object, got {type(body).__name__}")
    unknown = set(body) - _FIELDS
    if unknown:
        raise BadMessage(f"unknown field(s) {sorted(unknown)}; expected {sorted(_FIELDS)}")
    day: date | None = None
    if "date" in body:
        value = body["date"]
        if not isinstance(value, str):
            raise BadMessage(f"'date' must be a YYYY-MM-DD string, got {value!r}")
        try:
            day = date.fromisoformat(value.strip())
        except ValueError as exc:  # "" included: an empty date is a mistake, not "yesterday"
            raise BadMessage(f"'date' {value!r} is not a date (YYYY-MM-DD)") from exc
    shard = None
    if "shard" in body:  # published by the export itself when it fans a large day out (shards.py)
        if day is None or not isinstance(body["shard"], dict):
            raise BadMessage("'shard' needs a 'date' and must be an object")
        try:
            shard = Shard.parse(body["shard"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BadMessage(f"'shard' is malformed: {exc}") from exc
    return ExportRequest(day, Overrides(force=_flag(body, "force"), replace=_flag(body, "replace")), shard)


def handle_message(
    data: str | bytes | None,
    publish_time: datetime,
    settings: Settings,
    connect: Callable[[date, Settings], ExportDeps],
    now: datetime,
    options: ExportOptions | None = None,
) -> Outcome:
    """Run the export a message asks for; raise only when a redelivery may succeed."""
    try:
        request = parse_request(data)
    except BadMessage as exc:
        _log.error("export message ignored", extra={"reason": str(exc)})
        return Outcome.BAD_MESSAGE
    day = request.day or yesterday(publish_time, settings.time_zone)
    try:
        run_export_event(day, connect(day, settings), options, request.overrides, request.shard)
    except DateRejected:
        return Outcome.DATE_REJECTED
    except ExportRefused:
        return Outcome.REFUSED
    except ExportFailed:
        age = now - publish_time
        if age > timedelta(hours=settings.export.max_event_age_hours):
            _log.error(
                "export message too old to retry; dropped (operators were alerted)",
                extra={"date": day.isoformat(), "age_s": age.total_seconds()},
            )
            return Outcome.EXPIRED
        raise
    return Outcome.EXPORTED
