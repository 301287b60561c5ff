"""The first load of history: everything captured before a boundary, as Personalize's first bulk import.

After the first deploy, ``storyrec backfill all`` replays the app's existing clicks, stories and users
into the ML collections; each record's ``captured_at`` is the backfill's time (its ``TIMESTAMP`` keeps
the click's own time). The daily export takes complete days only, so that history would wait for
tomorrow's run. :func:`export_history` exports it now, as one run with the daily export's steps,
guards, manifest and idempotence (:func:`~shared.export.job.export_in_one_run`):

* **Boundary.** ``B`` = now minus the settle time (10 min: a capture in flight lands before it), to the
  second. History is ``captured_at`` in ``[epoch, B)``; committing it sets the watermark to ``B``, so
  the next daily export starts exactly there (its window is ``[watermark, end of day)``): no record is
  missing, none is exported twice.
* **Key.** The manifest is filed under the day before ``B``'s day (``dt=<B's day - 1>``): no daily
  export can have that date (it ends before the watermark), while ``B``'s own day is the next daily
  export's. Interactions are INCREMENTAL (into an empty dataset that is the whole history), items and
  users FULL snapshots, as every manifest.
* **Once.** It runs only before any daily export (no watermark yet). The boundary is recorded
  (``ml_state/export``: ``history_day``, ``history_boundary``); a rerun re-exports exactly that window:
  byte-identical when nothing changed, refused (``manifest_differs``) otherwise unless ``replace``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.export.guards import DateRejected, Overrides
from shared.export.job import ExportDeps, ExportOptions, ExportResult, Progress, export_in_one_run, run_id_for
from shared.export.window import EPOCH, ExportState, Window
from shared.logs import correlated, get_logger

_log = get_logger("export")
HISTORY_DAY = "history_day"
HISTORY_BOUNDARY = "history_boundary"


class HistoryExported(DateRejected):
    """The daily exports have started: history captured before their watermark went out with them."""


def history_window(deps: ExportDeps, options: ExportOptions) -> tuple[date, Window]:
    """The history's manifest day and window: the recorded ones on a rerun, else ``[epoch, now - settle)``."""
    state = ExportState(deps.docs, deps.collections.state)
    doc = deps.docs.get(f"{deps.collections.state}/export") or {}
    recorded_day = doc.get(HISTORY_DAY)
    if isinstance(recorded_day, str):
        day = date.fromisoformat(recorded_day)
        window = state.recorded(day)
        if window is not None:
            return day, window
    watermark = state.watermark()
    if watermark is not None:
        raise HistoryExported(
            f"the daily export has already run (watermark {watermark.isoformat()}): everything captured before it "
            "went out with the daily exports, and what is captured after it goes with the next one"
        )
    boundary = (deps.clock() - options.settle).astimezone(UTC).replace(microsecond=0)
    day = boundary.astimezone(ZoneInfo(deps.time_zone)).date() - timedelta(days=1)
    return day, Window(EPOCH, boundary)


def export_history(
    deps: ExportDeps,
    options: ExportOptions | None = None,
    overrides: Overrides | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    """Export the whole captured history once (see the module doc); the daily export takes over at its end.

    Raises :class:`HistoryExported` (a :class:`DateRejected`) once the daily exports have started,
    :class:`~shared.export.guards.ExportRefused` when a guard refuses (no interactions, a differing rerun).
    """
    options = options or ExportOptions()
    progress = progress or Progress()
    day, window = history_window(deps, options)
    progress.run_id = run_id_for(day, window)
    state = ExportState(deps.docs, deps.collections.state)
    with correlated(progress.run_id):
        _log.info("history export", extra={"day": day.isoformat(), "boundary": window.end.isoformat()})
        record = {HISTORY_DAY: day.isoformat(), HISTORY_BOUNDARY: window.end}
        return export_in_one_run(day, window, state, deps, options, overrides or Overrides(), progress, record)


def boundary(deps: ExportDeps) -> datetime | None:
    """The recorded end of the history export (where the daily exports start), if it ran."""
    value = (deps.docs.get(f"{deps.collections.state}/export") or {}).get(HISTORY_BOUNDARY)
    return value if isinstance(value, datetime) else None
