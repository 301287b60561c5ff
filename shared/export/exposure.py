"""The online test's daily exposure file (docs/experiment.md), written after a day's export succeeded.

Kept apart from the export's datasets: it reads the test the feed fill used (``ml_state/experiment``), the
day's impressions from a feed (``ml_impressions``, never sent to Personalize) and the day's clicks that came
from a feed (interactions with a ``RECOMMENDATION_ID`` or a ``storyrec-*`` ``EVENT_ATTRIBUTION_SOURCE``),
and writes ``<prefix>experiments/<experimentId>/<day>.csv`` (one row per exposed reader) to the import
bucket, where the monitor reads it. A reader is exposed in the arm of the feed they saw: their
``feeds/{uid}`` carries this test's ``experimentId`` and its ``arm`` (:func:`served_arms`); a reader whose
fill failed kept an older feed and is left out, whatever the uid hash assigned. Each reader's pre-test activity
(all interactions in the ``PRE_DAYS`` before the test's first day) is counted once per test and kept next
to the day files (``pre/clicks.csv``). A failure here is logged and counted (``ExposureFailed``); it
never fails the export (the data is exported; the test waits a day).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.errors import NotFound
from shared.experiment.assign import Experiment, experiment_from_record
from shared.experiment.exposure import exposure_key, exposure_rows, to_csv
from shared.export.job import ExportDeps
from shared.logs import get_logger
from shared.ports import Query, Where

_log = get_logger("export")
PRE_DAYS = 28


def _bounds(day: date, zone: ZoneInfo) -> tuple[int, int]:
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return int(start.astimezone(UTC).timestamp()), int(end.astimezone(UTC).timestamp())


def from_feed(record: Mapping[str, Any]) -> bool:
    """Whether an impression or a click came from a feed storyrec made (not ``latest`` or another list)."""
    source = record.get("EVENT_ATTRIBUTION_SOURCE")
    return bool(record.get("RECOMMENDATION_ID")) or (isinstance(source, str) and source.startswith("storyrec-"))


def _stream(deps: ExportDeps, collection: str, start: int, end: int) -> Any:
    where = (Where("TIMESTAMP", ">=", start), Where("TIMESTAMP", "<", end))
    return (s.data for s in deps.docs.stream(Query(collection, where, ("TIMESTAMP",))))


def _pre_clicks(deps: ExportDeps, key: str, first_day: date, zone: ZoneInfo) -> dict[str, int]:
    """Each reader's interactions in the ``PRE_DAYS`` before the test's first day: counted once, then read."""
    try:
        rows = csv.reader(io.StringIO(deps.import_store.get_bytes(key).decode("utf-8")))
        return {r[0]: int(r[1]) for r in rows if len(r) == 2 and r[1].isdigit()}
    except NotFound:
        pass
    start, _ = _bounds(first_day - timedelta(days=PRE_DAYS), zone)
    end, _ = _bounds(first_day, zone)
    counts = Counter(str(r.get("USER_ID")) for r in _stream(deps, deps.collections.ml_interactions, start, end))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(sorted(counts.items()))
    deps.import_store.put_if_absent(key, out.getvalue().encode("utf-8"), content_type="text/csv")
    return dict(counts)


def served_arms(deps: ExportDeps, test: Experiment, day_end: datetime) -> dict[str, str]:
    """uid → the arm of the feed the reader saw on the exported day, for the feeds of this test.

    The export runs in the night after the day (02:00) and the fill in the morning (05:00), so the
    ``feeds/{uid}`` read now is the one the reader had during the exported day. A feed generated after the
    day ended (a refresh, or a late re-run of the export after the next fill) is not the one they saw: the
    reader is left out (smaller, never wrongly labelled). Feeds of another test, with an arm the test does
    not have, or with no ``generatedAt`` are left out too.
    """
    experiment_id, arms = test.experiment_id, set(test.shares())
    out: dict[str, str] = {}
    query = Query(deps.collections.feeds, (Where("experimentId", "==", experiment_id),))
    for snap in deps.docs.stream(query):
        feed = snap.data
        generated, arm = feed.get("generatedAt"), feed.get("arm")
        if feed.get("experimentId") != experiment_id or arm not in arms:
            continue
        if isinstance(generated, datetime) and generated.tzinfo is not None and generated < day_end:
            out[snap.id] = str(arm)
    return out


def write_exposure(day: date, deps: ExportDeps) -> str | None:
    """Write the day's exposure file of the running test, once; its key, or None when no test ran that day.

    A file already there is kept: the export of the night after the day wrote it from the feeds the readers
    had; a later re-run (a lost day re-exported days after, as the import's alert asks) finds them refilled
    since and would leave the readers out. A day before the running test began gets no file (the test did
    not run then).
    """
    state = deps.docs.get(f"{deps.collections.state}/experiment")
    test = experiment_from_record(state)
    if test.experiment_id is None or state is None:
        return None
    zone = ZoneInfo(deps.time_zone)
    started = state.get("startedAt")
    first_day = started.astimezone(zone).date() if isinstance(started, datetime) else day
    if day < first_day:
        _log.info("no exposure file: the test began after the day", extra={"date": day.isoformat()})
        return None
    base = f"{deps.prefix}{deps.experiment_prefix}"
    key = exposure_key(base, test.experiment_id, day)
    if deps.import_store.head(key) is not None:
        _log.info("the day's exposure file was written before; kept", extra={"date": day.isoformat(), "key": key})
        return key
    start, end = _bounds(day, zone)
    impressions: Counter[str] = Counter()
    for r in _stream(deps, deps.collections.ml_impressions, start, end):
        items = r.get("ITEM_IDS")
        if from_feed(r) and isinstance(r.get("USER_ID"), str) and isinstance(items, list):
            impressions[r["USER_ID"]] += len(items)
    clicks = Counter(
        str(r["USER_ID"]) for r in _stream(deps, deps.collections.ml_interactions, start, end)
        if from_feed(r) and isinstance(r.get("USER_ID"), str)
    )
    pre = _pre_clicks(deps, f"{base}{test.experiment_id}/pre/clicks.csv", first_day, zone)
    served = served_arms(deps, test, datetime.fromtimestamp(end, UTC))
    rows = exposure_rows(test, day, impressions, clicks, pre, served)
    left_out = len((set(impressions) | set(clicks)) - set(served))
    if left_out:
        _log.info("readers without a feed of the test left out", extra={"readers": left_out, "date": day.isoformat()})
    deps.import_store.put_if_absent(key, to_csv(rows), content_type="text/csv")  # two runs at once: one file
    return key


def write_exposure_isolated(day: date, deps: ExportDeps) -> str | None:
    """:func:`write_exposure`, never raising (the export has succeeded by then)."""
    try:
        return write_exposure(day, deps)
    except Exception:
        _log.exception("the test's exposure file could not be written", extra={"date": day.isoformat()})
        try:
            deps.metrics.put("ExposureFailed", 1)
        except Exception:
            _log.exception("metric failed")
        return None
