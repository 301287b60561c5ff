"""Fill :class:`ReportData` from what exists today: Firestore counts and the export manifests.

Counting goes through :class:`~shared.ports.DocumentCounter`: Firestore's ``count()`` aggregation in
production (:class:`shared.adapters.counters.FirestoreCounter`, one cheap aggregation per day and event
type, no documents read, ``COUNT_CONCURRENCY`` in flight at once), or a plain query over any store
(:class:`~shared.adapters.counters.StoreCounter`) in tests. Solution versions come from
the AWS stage's decision history in S3 (:class:`~shared.personalize.state.StageState`) and, given the
stage's adapters, from Personalize too (every version of the main solution's two slots, failed ones included, and the
version the campaign actually serves), with the import jobs and the stage's alerts; feeds from
``feeds/*`` (read as ``storyrec status`` reads them, :mod:`shared.operate.status`); a source not
given stays ``None`` and renders as "no data yet".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from shared.config import Settings
from shared.limits import EVENT_TYPES
from shared.manifest import ExportReader, read_manifests
from shared.operate.status import campaign_status, quarantine_by_reason, read_feeds
from shared.personalize.model import SolutionVersion as Trained
from shared.personalize.names import import_job_day, training_day
from shared.personalize.stage import StageDeps, find_slots
from shared.personalize.state import StageState
from shared.ports import DocumentCounter, DocumentStore, Where
from shared.report.data import (
    Alert,
    ArmRow,
    DailyCount,
    Decision,
    ExperimentLook,
    ExportRun,
    FeedSnapshot,
    ImportRun,
    LiftRow,
    ReportData,
    SolutionVersion,
)
from shared.schema import DATASET_TYPES

T = TypeVar("T")


def day_bounds(day: date, zone: ZoneInfo) -> tuple[int, int]:
    """``[start, end)`` of ``day`` in ``zone``, as Unix seconds (what TIMESTAMP holds)."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return int(start.astimezone(UTC).timestamp()), int(end.astimezone(UTC).timestamp())


# Firestore answers each count() in one round trip; the report asks ~5 per day (one per event type), so
# 30 days sequentially is 150 round trips and a 180-day report 905. The emulator scans the whole collection for
# each and concurrent counts share that work: 8 at once over 113k interactions outlasted the 20 s count timeout
# (a 180-day simulation's report, 2026-12-07), so on the emulator they run one at a time.
COUNT_CONCURRENCY = 8
EMULATOR_COUNT_CONCURRENCY = 1


def _counts(
    counter: DocumentCounter, collection: str, queries: Sequence[tuple[date, str, tuple[Where, ...]]], concurrency: int
) -> tuple[DailyCount, ...]:
    """Run ``queries`` (day, label, filters) at most ``concurrency`` at a time; keep the non-zero ones, in order."""
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="report-count") as pool:
        counts = list(pool.map(lambda q: counter.count(collection, q[2]), queries))
    return tuple(DailyCount(day, label, n) for (day, label, _), n in zip(queries, counts, strict=True) if n)


def interactions_per_day(
    counter: DocumentCounter,
    collection: str,
    days: Sequence[date],
    zone: ZoneInfo,
    concurrency: int = COUNT_CONCURRENCY,
) -> tuple[DailyCount, ...]:
    """Interactions per day and event type; days with none are left out."""
    queries = []
    for day in days:
        start, end = day_bounds(day, zone)
        for event_type in EVENT_TYPES:
            where = (
                Where("EVENT_TYPE", "==", event_type),
                Where("TIMESTAMP", ">=", start),
                Where("TIMESTAMP", "<", end),
            )
            queries.append((day, event_type, where))
    return _counts(counter, collection, queries, concurrency)


def quarantined_per_day(
    counter: DocumentCounter,
    collection: str,
    days: Sequence[date],
    zone: ZoneInfo,
    concurrency: int = COUNT_CONCURRENCY,
) -> tuple[DailyCount, ...]:
    """Quarantined documents per day, by ``quarantined_at``; days with none are left out."""
    queries = []
    for day in days:
        start = datetime.combine(day, time(0), tzinfo=zone)
        where = (Where("quarantined_at", ">=", start), Where("quarantined_at", "<", start + timedelta(days=1)))
        queries.append((day, "quarantined", where))
    return _counts(counter, collection, queries, concurrency)


def export_runs(reader: ExportReader, prefix: str = "") -> tuple[ExportRun, ...]:
    """One row per export manifest."""
    runs = []
    for m in read_manifests(reader, prefix):
        rejected: dict[str, int] = {}
        for d in m.datasets:
            for reason, n in d.rejected.items():
                rejected[reason] = rejected.get(reason, 0) + n
        runs.append(ExportRun(m.day, m.run_id, {d.dataset: d.rows for d in m.datasets}, rejected))
    return tuple(runs)


def _decision(record: dict[str, Any], serving: str | None) -> Decision:
    if record.get("candidate") == serving:
        return "serving"
    if str(record.get("outcome", "")).startswith("update failed"):
        return "failed"
    by_action: dict[str, Decision] = {
        "promote": "promoted", "keep": "kept", "hold": "held", "test": "testing", "retire": "retired"
    }
    return by_action.get(str(record.get("action")), "pending")


def _undecided(v: Trained, serving: str | None) -> Decision:
    if v.arn == serving:
        return "serving"
    if v.status.failed:
        return "failed"
    return "pending" if v.status.value == "ACTIVE" else "training"


def solution_versions(
    history: list[dict[str, Any]], trained: Sequence[Trained] = (), serving: str | None = None
) -> tuple[SolutionVersion, ...]:
    """One point per version, oldest first: each decided one (``decisions/*.json``), and each version of
    the main solution's slots ``trained`` lists that no decision names (failed, still training, not decided yet).

    ``serving`` is the version the campaign serves (Personalize); without it, the candidate of the newest
    promotion whose update did not fail. A held version (manual mode) is ``held`` unless it serves, however
    it came to serve (``storyrec promote``, or a deployment outside storyrec).
    """
    if serving is None:
        promoted = [
            d for d in history
            if d.get("action") == "promote" and not str(d.get("outcome", "")).startswith("update failed")
        ]
        serving = str(promoted[-1]["candidate"]) if promoted else None
    out = []
    for record in history:
        candidate = str(record.get("candidate", ""))
        metrics = (record.get("metrics") or {}).get("candidate") or {}
        out.append(
            SolutionVersion(
                name=candidate.rsplit("/", 1)[-1],
                created=datetime.fromisoformat(str(record["decided_at"])),
                metrics={str(k): float(v) for k, v in metrics.items() if _float(v) is not None},
                decision=_decision(record, serving),
                reason="; ".join(str(r) for r in record.get("reasons", [])),
            )
        )
    decided = {str(d.get("candidate", "")) for d in history}
    for v in trained:
        if v.arn not in decided:
            day = training_day(v.name)  # the run's day, not the engine's clock (a simulation's is virtual)
            created = datetime.combine(day, time(0), tzinfo=UTC) if day else v.created
            out.append(
                SolutionVersion(
                    name=v.arn.rsplit("/", 1)[-1],
                    created=created or datetime.min.replace(tzinfo=UTC),
                    metrics={},
                    decision=_undecided(v, serving),
                    reason=v.failure_reason or "",
                )
            )
    return tuple(sorted(out, key=lambda v: v.created))


def _main_solutions(deps: StageDeps) -> list[str]:
    """The serving solution's two slots that exist (the candidate alternates between them)."""
    group = deps.settings.personalize.dataset_group
    if not group.startswith("arn:"):
        group = deps.personalize.find_arn("dataset_group", group) or ""
    return find_slots(deps.personalize, deps.settings, group or None)


def stage_versions(deps: StageDeps) -> tuple[SolutionVersion, ...]:
    """Every version of the main solution's two slots with what was decided, the campaign's version marked
    serving."""
    history = deps.state.decisions()
    decided = {str(d.get("candidate", "")) for d in history}
    listed = [v for solution in _main_solutions(deps) for v in deps.personalize.list_solution_versions(solution)]
    # a listing carries no name (the training's day): read it for the few versions no decision dates
    trained = [v if v.arn in decided else deps.personalize.describe_solution_version(v.arn) for v in listed]
    campaign = campaign_status(deps)
    return solution_versions(history, trained, campaign.solution_version_arn if campaign else None)


def import_runs(deps: StageDeps, zone: ZoneInfo) -> tuple[ImportRun, ...]:
    """Every import job of the dataset group's datasets, by the export day its name carries (a foreign
    job: the day it started, in ``zone``)."""
    port = deps.personalize
    group = port.find_arn("dataset_group", deps.settings.personalize.dataset_group)
    out = []
    for dataset_type in DATASET_TYPES if group else ():
        arn = port.find_arn("dataset", f"storyrec-{dataset_type}", group)
        for job in port.list_import_jobs(arn) if arn else []:
            day = import_job_day(job.name) or (job.created.astimezone(zone).date() if job.created else None)
            if day is not None:
                out.append(ImportRun(day, dataset_type, job.status.value, job.name))
    return tuple(sorted(out, key=lambda r: (r.day, r.dataset, r.name)))


def stage_alerts(state: StageState, limit: int = 10_000) -> tuple[Alert, ...]:
    """The alerts the AWS stage sent (its markers), oldest first."""
    out = []
    for m in state.alerts(limit):
        sent = m.get("sent_at")
        at = datetime.fromisoformat(sent) if isinstance(sent, str) else None
        out.append(Alert(at, str(m.get("subject", "")), str(m.get("key", ""))))
    return tuple(sorted(out, key=lambda a: a.sent_at or datetime.min.replace(tzinfo=UTC)))


def _float(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _first(v: Any) -> float | None:
    return _float(v[0]) if isinstance(v, list) and v else None


def _arm(a: dict[str, Any]) -> ArmRow:
    return ArmRow(
        str(a.get("arm")),
        int(a.get("users") or 0),
        float(a.get("impressions") or 0),
        float(a.get("clicks") or 0),
        _first(a.get("clicks_per_user")),
        _first(a.get("clicks_per_impression")),
    )


def _lift(x: dict[str, Any]) -> LiftRow:
    low, high = [*list(x.get("always_valid_interval") or []), None, None][:2]
    label = f"{x.get('treatment')} vs {x.get('baseline')}, {x.get('metric')}"
    return LiftRow(label, _float(x.get("lift")), _float(low), _float(high), _float(x.get("cuped_variance_reduction")))


def experiment_looks(looks: list[dict[str, Any]]) -> tuple[ExperimentLook, ...]:
    """Each online test's latest look (``experiments/*.json`` in the AWS stage's state), oldest first."""
    return tuple(
        ExperimentLook(
            str(look.get("experiment_id")),
            str(look.get("action")),
            int(look.get("days") or 0),
            tuple(_arm(a) for a in look.get("arms") or [] if isinstance(a, dict)),
            tuple(_lift(x) for x in look.get("lifts") or [] if isinstance(x, dict)),
            tuple(str(r) for r in look.get("reasons") or []),
            _float(look.get("srm_p")),
        )
        for look in looks
    )


def feed_snapshot(counter: DocumentCounter, store: DocumentStore, settings: Settings, now: datetime) -> FeedSnapshot:
    """Feed coverage and freshness: users and stories counted, every ``feeds/*`` document read."""
    cols = settings.collections
    feeds = read_feeds(store, cols.feeds, now)
    return FeedSnapshot(
        users_total=counter.count(cols.ml_users),
        users_with_feed=feeds.feeds,
        ages_hours=feeds.ages_hours,
        items_total=counter.count(cols.ml_items),
        items_in_feeds=len(feeds.story_ids),
        stale_ages_hours=feeds.stale_ages_hours,
        active_days=settings.recommend.active_days,
    )


def _or_note(read: Callable[[], T], what: str, notes: list[str]) -> T | None:
    """An optional source that cannot be read leaves its section empty and says why, instead of no report."""
    try:
        return read()
    except Exception as exc:  # any SDK's error: the rest of the report is still worth having
        notes.append(f"{what} unreadable: {type(exc).__name__}: {exc}")
        return None


def gather_report_data(
    settings: Settings,
    counter: DocumentCounter,
    backup: ExportReader,
    now: datetime,
    days: int = 30,
    *,
    state: StageState | None = None,
    feeds: DocumentStore | None = None,
    stage: StageDeps | None = None,
) -> ReportData:
    """Everything the report can show, for the last ``days`` days up to ``now``.

    ``state`` (the AWS stage's S3 state) fills the solution versions from the decision history; ``stage``
    (its adapters, state included) fills them from Personalize and the history, and the imports and alerts;
    ``feeds`` (Firestore) the feeds.
    """
    zone = settings.tz
    today = now.astimezone(zone).date()
    notes = [f"Interactions: the {days} days up to {today.isoformat()} ({settings.time_zone})."]
    window = [today - timedelta(days=n) for n in range(days - 1, -1, -1)]
    cols = settings.collections
    state = stage.state if stage is not None else state
    if stage is not None:
        versions = _or_note(lambda: stage_versions(stage), "solution versions", notes)
    else:
        versions = (
            _or_note(lambda: solution_versions(state.decisions()), "decision history", notes)
            if state is not None else None
        )
    imports = _or_note(lambda: import_runs(stage, zone), "import jobs", notes) if stage is not None else None
    alerts = _or_note(lambda: stage_alerts(state), "alerts", notes) if state is not None else None
    feed = _or_note(lambda: feed_snapshot(counter, feeds, settings, now), "feeds", notes) if feeds is not None else None
    tests = _or_note(lambda: experiment_looks(state.looks()), "online tests", notes) if state is not None else None
    at_once = EMULATOR_COUNT_CONCURRENCY if settings.emulators.firestore_host else COUNT_CONCURRENCY
    interactions = _or_note(
        lambda: interactions_per_day(counter, cols.ml_interactions, window, zone, at_once), "interactions", notes
    )
    quarantine = _or_note(lambda: quarantine_by_reason(counter, cols.quarantine), "quarantine", notes)
    quarantine_days = (
        _or_note(lambda: quarantined_per_day(counter, cols.quarantine, window, zone, at_once), "quarantine", notes)
        if quarantine is not None
        else None
    )
    return ReportData(
        project=settings.gcp_project,
        generated_at=now,
        interactions_per_day=interactions or (),
        quarantine=quarantine or (),
        quarantine_per_day=quarantine_days or (),
        exports=_or_note(lambda: export_runs(backup, settings.import_prefix), "exports", notes) or (),
        solution_versions=versions,
        feeds=feed,
        experiments=tests,
        notes=tuple(notes),
        imports=imports,
        alerts=alerts,
    )
