"""Sanity checks a run passes before it touches the buckets.

Two kinds of "no":

* :class:`DateRejected` — the operator (or a message) asked for a day that cannot be exported: before
  the first captured interaction, or not over yet. A clear error, no page: nothing is wrong with the system.
* :class:`ExportRefused` — the data looks wrong for a destructive step: a FULL snapshot that shrank below
  a share of the last one (an import would delete the missing records), a day without a single
  interaction, or a rerun whose result differs from the manifest already published for that day.
  Operators are alerted; ``force`` (shrink, empty day) or ``replace`` (differing rerun) overrides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from shared.errors import StoryrecError

FULL_SNAPSHOTS = ("items", "users")


class DateRejected(StoryrecError, ValueError):
    """The requested day is outside [first captured interaction, today)."""


class ExportRefused(StoryrecError):
    """A guard refused the run; ``reason`` is a short code used as the metric dimension."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Overrides:
    """Operator overrides: ``force`` accepts a shrunken or empty snapshot, ``replace`` a differing rerun."""

    force: bool = False
    replace: bool = False


def check_date(day: date, today: date, first_day: date | None) -> None:
    """Refuse days after the last complete one or before the first captured interaction."""
    if day >= today:
        raise DateRejected(f"{day} is not over yet (today is {today}); the export covers complete days only")
    if first_day is None:
        raise DateRejected(f"no interactions have been captured yet, so there is nothing to export for {day}")
    if day < first_day:
        raise DateRejected(f"{day} is before the first captured interaction ({first_day})")


def check_interactions(rows: int, force: bool) -> None:
    """Refuse a day whose window holds no interaction (capture down, or the collection setting wrong)."""
    if rows == 0 and not force:
        raise ExportRefused(
            "empty_interactions",
            "the day has no interactions: capture may be down or the collection setting wrong "
            "(export with force to accept it)",
        )


def check_full_snapshots(rows: Mapping[str, int], last_rows: Mapping[str, int], min_share: float, force: bool) -> None:
    """Refuse a FULL snapshot below ``min_share`` of the last one: its import would delete the difference."""
    if force:
        return
    for dataset in FULL_SNAPSHOTS:
        last = int(last_rows.get(dataset, 0) or 0)
        now = rows.get(dataset, 0)
        if last > 0 and now < min_share * last:
            raise ExportRefused(
                "snapshot_shrink",
                f"the FULL {dataset} snapshot has {now} rows, below {min_share:.0%} of the last one ({last}): "
                f"importing it would delete {last - now} {dataset} from Personalize (force to export anyway)",
            )


def check_manifest(existing: bytes | None, manifest: bytes, key: str, replace: bool) -> None:
    """Refuse to overwrite a published manifest with a different one unless ``replace``."""
    if existing is None or existing == manifest or replace:
        return
    raise ExportRefused(
        "manifest_differs",
        f"{key} already exists with different content: this rerun would replace a published export "
        "(rerun with replace to overwrite it)",
    )
