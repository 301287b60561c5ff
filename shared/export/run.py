"""Entry of every export: one run in this process, or a day fanned out as shards, with one error policy.

:func:`run_export` serves ``storyrec export``; :func:`run_export_event` the scheduled Cloud Function and
its shard messages. Either way a refused or failed run alerts the operators, leaves the watermark where it
was, and raises; a rejected date only logs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from zoneinfo import ZoneInfo

from shared.export.exposure import write_exposure_isolated
from shared.export.guards import DateRejected, ExportRefused, Overrides
from shared.export.history import export_history, history_window
from shared.export.job import (
    ExportDeps,
    ExportFailed,
    ExportOptions,
    ExportResult,
    Progress,
    check_day,
    export_in_one_run,
    report_failure,
    report_refusal,
    run_id_for,
)
from shared.export.kept_alerts import KeepingNotifier, KeptAlerts, send_kept
from shared.export.shards import Shard, fan_out, run_shard
from shared.export.window import ExportState
from shared.logs import correlated, get_logger

_log = get_logger("export")


def run_export(
    day: date, deps: ExportDeps, options: ExportOptions | None = None, overrides: Overrides | None = None
) -> ExportResult:
    """Export ``day`` (or re-export its recorded window) in this process, however large.

    Raises :class:`DateRejected` (no alert) for a day outside [first data, today), :class:`ExportRefused`
    (alert + metric) when a guard refuses the result, and :class:`ExportFailed` (alert + metric) when a step fails.
    """
    result = run_export_event(day, replace(deps, publisher=None, count=None), options, overrides)
    assert result is not None  # without a publisher nothing is fanned out
    return result


def run_export_event(
    day: date,
    deps: ExportDeps,
    options: ExportOptions | None = None,
    overrides: Overrides | None = None,
    shard: Shard | None = None,
) -> ExportResult | None:
    """As :func:`run_export`, but a day too large for one run is fanned out as shards (when ``deps`` has a
    publisher and a counter), and ``shard`` runs one of them. None: fanned out, or a shard that did not finalise.
    """
    options = options or ExportOptions()
    return _with_policy(day, deps, lambda progress: _run(day, deps, options, overrides or Overrides(), progress, shard))


def run_history(
    deps: ExportDeps, options: ExportOptions | None = None, overrides: Overrides | None = None
) -> ExportResult:
    """The first load of history (:mod:`shared.export.history`) under the daily export's error policy."""
    options = options or ExportOptions()
    try:
        day, _ = history_window(deps, options)
    except DateRejected as exc:
        _log.warning("history export rejected", extra={"reason": str(exc)})
        raise
    result = _with_policy(day, deps, lambda progress: export_history(deps, options, overrides, progress))
    assert result is not None
    return result


def _with_policy(day: date, deps: ExportDeps, run: Callable[[Progress], ExportResult | None]) -> ExportResult | None:
    """Run one export: a rejected date only logs; a refusal or a failure alerts, counts and raises.

    Alerts an earlier delivery could not send (SNS down) are sent first; this run's own alert, if SNS refuses
    it, is kept for the next delivery (:mod:`shared.export.kept_alerts`).
    """
    kept = KeptAlerts(deps.docs, deps.collections.state, deps.clock)
    send_kept(kept, deps.notifier)
    notifier = KeepingNotifier(deps.notifier, kept)
    progress = Progress()
    try:
        result = run(progress)
    except DateRejected as exc:
        _log.warning("export date rejected", extra={"date": day.isoformat(), "reason": str(exc)})
        raise
    except ExportRefused as exc:
        with correlated(progress.run_id):
            report_refusal(day, exc, notifier, deps.metrics)
        raise
    except Exception as exc:
        with correlated(progress.run_id):
            report_failure(day, progress.step, progress.run_id, exc, notifier, deps.metrics)
        raise ExportFailed(day, progress.step, exc) from exc
    if result is None:
        return None
    with correlated(result.run_id):
        _report_success(result, deps)
        write_exposure_isolated(day, deps)  # the online test's exposure file (docs/experiment.md)
    return result


def _run(
    day: date,
    deps: ExportDeps,
    options: ExportOptions,
    overrides: Overrides,
    progress: Progress,
    shard: Shard | None,
) -> ExportResult | None:
    progress.step = "check_date"
    check_day(day, deps)
    progress.step = "window"
    state = ExportState(deps.docs, deps.collections.state)
    window = state.window(day, ZoneInfo(deps.time_zone), deps.clock(), options.settle)
    progress.run_id = run_id = run_id_for(day, window)
    with correlated(run_id):
        if shard is not None:
            progress.step = f"shard_{shard.index}"
            return run_shard(day, window, shard, deps, options, overrides)
        if deps.publisher is not None and deps.count is not None:
            progress.step = "plan"
            if fan_out(day, window, deps, deps.publisher, deps.count, deps.rows_per_run, overrides):
                return None
        return export_in_one_run(day, window, state, deps, options, overrides, progress)


def _report_success(result: ExportResult, deps: ExportDeps) -> None:
    try:
        for d in result.datasets:
            deps.metrics.put("ExportRows", d.rows, dimensions={"Dataset": d.dataset})
            if d.rejected:
                deps.metrics.put("ExportRejectedRows", sum(d.rejected.values()), dimensions={"Dataset": d.dataset})
        deps.metrics.flush()
    except Exception:  # the data is exported and committed; a lost metric must not make the run fail
        _log.exception("export metrics could not be sent")
