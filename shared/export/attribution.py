"""The attribution columns of an interaction row: where the click came from and what the reader saw.

Personalize reads three reserved columns (docs/export.md, "Attribution and impressions"):

- ``EVENT_ATTRIBUTION_SOURCE``: the click's ``source`` (a closed vocabulary, :data:`shared.limits.ATTRIBUTION_SOURCES`);
- ``RECOMMENDATION_ID``: the click's recommendation id, written only when the click has no source
  (Personalize attributes by the source when both are given, so the id would only mislead);
- ``IMPRESSION``: the ``|``-joined story ids of *the reader's impression of the same list*: an
  ``ml_impressions`` record of the same user with the same recommendation id (or, failing that, the
  same source), the most recent whose TIMESTAMP is at or before the click's, and no earlier than the
  start of the UTC day before the click's day. Ties are broken by the impression id, so the join is
  a function of the records, and a rerun writes the same bytes.

The join happens at export time because an impression and its clicks arrive in any order.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.limits import MULTI_SEPARATOR, ids_problem, rule

_DAY = 86_400
_RECOMMENDATION_ID = rule("interactions", "RECOMMENDATION_ID")
_SOURCE = rule("interactions", "EVENT_ATTRIBUTION_SOURCE")
LOOKBACK = timedelta(days=1)
"""How far before a window's start the export reads impressions: the day before a click's day."""

_Key = tuple[str, str, str]


def _day_start(timestamp: int) -> int:
    return timestamp - timestamp % _DAY


@dataclass
class ImpressionIndex:
    """The impressions an export may join, by (user, ``rid`` or ``src``, value), sorted by time then id."""

    _by_key: dict[_Key, list[tuple[int, str, str]]] = field(default_factory=lambda: defaultdict(list))
    skipped: int = 0
    """Impression records that capture could not have written (not joined; counted for the log)."""

    @classmethod
    def build(cls, records: Iterable[Any]) -> ImpressionIndex:
        """Index ``ml_impressions`` records (objects with ``id`` and ``data``); invalid ones are skipped."""
        index = cls()
        for record in records:
            parsed = _parse(record.data)
            if parsed is None:
                index.skipped += 1
                continue
            user, rid, source, timestamp, cell = parsed
            entry = (timestamp, str(record.id), cell)
            if rid is not None:
                index._by_key[(user, "rid", rid)].append(entry)
            if source is not None:
                index._by_key[(user, "src", source)].append(entry)
        for entries in index._by_key.values():
            entries.sort()
        return index

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_key.values())

    def impression_for(self, user: str, rid: str | None, source: str | None, timestamp: int) -> str | None:
        """The IMPRESSION cell of a click (None when no impression matches)."""
        earliest = _day_start(timestamp) - _DAY
        for kind, value in (("rid", rid), ("src", source)):
            if value is None:
                continue
            entries = self._by_key.get((user, kind, value))
            if not entries:
                continue
            # the last entry at or before the click: (timestamp, highest id) sorts after every same-time entry
            at = bisect.bisect_right(entries, (timestamp, "\U0010ffff", "")) - 1
            if at >= 0 and entries[at][0] >= earliest:
                return entries[at][2]
        return None


def _parse(data: Any) -> tuple[str, str | None, str | None, int, str] | None:
    if not isinstance(data, Mapping):
        return None
    user, ids, timestamp = data.get("USER_ID"), data.get("ITEM_IDS"), data.get("TIMESTAMP")
    if not isinstance(user, str) or not isinstance(timestamp, int) or isinstance(timestamp, bool):
        return None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or ids_problem(ids) is not None:
        return None
    rid, source = data.get("RECOMMENDATION_ID"), data.get("EVENT_ATTRIBUTION_SOURCE")
    if rid is not None and (not isinstance(rid, str) or _RECOMMENDATION_ID.problem(rid) is not None):
        return None
    if source is not None and (not isinstance(source, str) or _SOURCE.problem(source) is not None):
        return None
    if rid is None and source is None:
        return None  # an impression of no known list can be joined to no click
    return user, rid, source, timestamp, MULTI_SEPARATOR.join(ids)


EMPTY = ImpressionIndex()


def attributed(data: Any, impressions: ImpressionIndex | None) -> Any:
    """The interaction record with its attribution columns as Personalize must read them (a copy).

    A record that is not a map is returned as it is (the converter rejects it).
    """
    if not isinstance(data, Mapping):
        return data
    source = data.get("EVENT_ATTRIBUTION_SOURCE")
    rid = data.get("RECOMMENDATION_ID")
    if source is None and rid is None and "IMPRESSION" not in data:
        return data  # the common, unattributed click: nothing to change (no copy in the export's hot loop)
    out = dict(data)
    if source not in (None, ""):
        out["RECOMMENDATION_ID"] = None  # Personalize attributes by the source when both are given
    impression = None
    user, timestamp = data.get("USER_ID"), data.get("TIMESTAMP")
    if impressions is not None and isinstance(user, str) and isinstance(timestamp, int):
        impression = impressions.impression_for(
            user,
            rid if isinstance(rid, str) else None,
            source if isinstance(source, str) else None,
            timestamp,
        )
    out["IMPRESSION"] = impression
    return out


def lookback_start(window_start: datetime) -> datetime:
    """The earliest ``captured_at`` of the impressions an export of a window reads."""
    return max(window_start - LOOKBACK, datetime(1970, 1, 1, tzinfo=UTC))
