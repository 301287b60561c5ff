"""Export windows and the watermark kept in Firestore (``ml_state/export``).

A date's window is ``[start, end)`` on ``captured_at``: ``end`` is midnight after the date in the
configured time zone, ``start`` the watermark left by the last successful export. Once a date has
been exported its window is recorded (``ml_state/export/dates/<date>``), so a rerun re-reads exactly
that range instead of "everything since the watermark".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from shared.ports import DocumentStore, Write

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STATE_DOC = "export"


class WindowError(ValueError):
    """The requested date cannot be exported (not over yet, or already covered by a later window)."""


@dataclass(frozen=True)
class Window:
    """A half-open range of capture times, in UTC."""

    start: datetime
    end: datetime
    rerun: bool = False


def end_of_day(day: date, zone: tzinfo) -> datetime:
    """Midnight after ``day`` in ``zone``, as an aware UTC datetime."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)


def yesterday(now: datetime, time_zone: str) -> date:
    """The last complete day in ``time_zone``: what the daily schedule exports."""
    return (now.astimezone(ZoneInfo(time_zone)) - timedelta(days=1)).date()


def _utc(value: Any) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise WindowError(f"export state holds a non-timestamp value {value!r}")
    return value.astimezone(UTC)


class ExportState:
    """Reads and writes the watermark and per-date windows under one state collection."""

    def __init__(self, docs: DocumentStore, collection: str) -> None:
        self._docs = docs
        self._path = f"{collection}/{STATE_DOC}"

    def _date_path(self, day: date) -> str:
        return f"{self._path}/dates/{day.isoformat()}"

    def watermark(self) -> datetime | None:
        doc = self._docs.get(self._path) or {}
        value = doc.get("watermark")
        return None if value is None else _utc(value)

    def last_rows(self) -> dict[str, int]:
        """Rows per dataset of the export that last advanced the watermark (empty before the first)."""
        rows = (self._docs.get(self._path) or {}).get("rows")
        return {str(k): int(v) for k, v in rows.items()} if isinstance(rows, dict) else {}

    def recorded(self, day: date) -> Window | None:
        doc = self._docs.get(self._date_path(day))
        if not doc:
            return None
        return Window(_utc(doc["start"]), _utc(doc["end"]), rerun=True)

    def window(self, day: date, zone: tzinfo, now: datetime, settle: timedelta) -> Window:
        """The window to export for ``day``: the recorded one on a rerun, else watermark → end of day."""
        recorded = self.recorded(day)
        if recorded is not None:
            return recorded
        end = end_of_day(day, zone)
        if now < end + settle:
            raise WindowError(f"{day} is not over in {zone} (plus {settle}) at {now.isoformat()}")
        start = self.watermark() or EPOCH
        if start >= end:
            raise WindowError(f"{day} is already covered: the watermark is {start.isoformat()}")
        return Window(start, end)

    def commit(self, day: date, window: Window, record: dict[str, Any]) -> None:
        """Record the date's window and advance the watermark (never backwards), in one atomic batch."""
        writes = [Write(self._date_path(day), data={"start": window.start, "end": window.end, **record})]
        current = self.watermark()
        if current is None or window.end > current:
            writes.append(
                Write(self._path, data={"watermark": window.end, "date": day.isoformat(), **record}, merge=True)
            )
        self._docs.write_batch(writes)
