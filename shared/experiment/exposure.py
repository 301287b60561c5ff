"""The daily per-reader exposure aggregate: the one data set the test's statistics read (docs/experiment.md).

One CSV per test and day, ``<import prefix><experiment prefix><experimentId>/<day>.csv``, written by the
export next to its manifest, read by the monitor. Columns: ``verdict.COLUMNS``. A day's file is rewritten
whole by a re-run of that day's export (deterministic key: at-least-once runs converge). Rows that do not
parse are kept as rows the verdict refuses (NaN counts), so a corrupt file gives "no decision", never a
silently smaller arm.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from datetime import date

from shared.experiment.assign import Experiment
from shared.experiment.verdict import COLUMNS, UserDay


def exposure_key(prefix: str, experiment_id: str, day: date) -> str:
    """Where one day of one test's exposure goes (``prefix``: the import prefix plus the experiment prefix)."""
    return f"{prefix}{experiment_id}/{day.isoformat()}.csv"


def exposure_rows(
    experiment: Experiment,
    day: date,
    impressions: Mapping[str, int],
    feed_clicks: Mapping[str, int],
    pre_clicks: Mapping[str, int],
    served: Mapping[str, str],
) -> list[UserDay]:
    """The day's rows: every reader with an impression or a feed click that day whose feed was one of this
    test's, in the arm of the feed they saw (``served``: uid → the ``arm`` of their ``feeds/{uid}`` when it
    carries this test's ``experimentId``), with their pre-test clicks. A reader not in ``served`` (a stale
    feed from before the test, a failed fill) saw no arm of this test and is left out: exposure is what was
    served, not what the uid hash assigned (docs/experiment.md)."""
    eid = experiment.experiment_id
    if eid is None:
        return []
    users = sorted(u for u in set(impressions) | set(feed_clicks) if u in served)
    return [
        UserDay(
            eid, uid, day.isoformat(), served[uid],
            float(impressions.get(uid, 0)), float(feed_clicks.get(uid, 0)), float(pre_clicks.get(uid, 0)),
        )
        for uid in users
    ]


def to_csv(rows: Iterable[UserDay]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([r.experiment_id, r.user_id, r.day, r.arm, _int(r.impressions), _int(r.clicks),
                         _int(r.pre_clicks)])
    return out.getvalue().encode("utf-8")


def _int(v: float) -> str:
    return str(int(v)) if math.isfinite(v) and v == int(v) else repr(v)


def _number(text: str | None) -> float:
    try:
        return float(text) if text is not None else math.nan
    except ValueError:
        return math.nan


def from_csv(data: bytes, experiment_id: str) -> list[UserDay]:
    """Parse one exposure file of ``experiment_id``; a malformed row (or header) becomes a row with NaN counts,
    which the verdict refuses."""
    text = data.decode("utf-8", errors="replace")
    broken = [UserDay(experiment_id, "?", "?", "?", math.nan, math.nan, math.nan)] if text.strip() else []
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if reader.fieldnames is None or tuple(reader.fieldnames) != COLUMNS:
            return broken
        return [
            UserDay(
                r.get("experiment_id") or "", r.get("user_id") or "", r.get("day") or "", r.get("arm") or "",
                _number(r.get("impressions")), _number(r.get("clicks")), _number(r.get("pre_clicks")),
            )
            for r in reader
        ]
    except csv.Error:
        return broken
