"""The daily export in one run: ML records → Personalize CSVs → GCS backup and S3 import bucket → watermark.

:func:`export_in_one_run` is the run; :mod:`shared.export.run` chooses it or the shards (``shards.py``,
which reuse the steps here) and applies the error policy. Order of effects: files are written to a
temporary directory, uploaded to the GCS backup, then to S3 (manifest last in each bucket), and only
then is the window recorded and the watermark advanced.
A failure at any step alerts the operators, leaves the watermark where it was, and raises.
"""

from __future__ import annotations

import gc
import hashlib
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from shared.config import Collections
from shared.errors import NotFound, StoryrecError
from shared.export.attribution import ImpressionIndex, lookback_start
from shared.export.csvfiles import MAX_PART_BYTES, Part, PartWriter
from shared.export.guards import (
    ExportRefused,
    Overrides,
    check_date,
    check_full_snapshots,
    check_interactions,
    check_manifest,
)
from shared.export.rejects import ExportQuarantine
from shared.export.rows import Record, Reject, RowConverter
from shared.export.window import ExportState, Window
from shared.logs import get_logger, redact
from shared.manifest import (
    DATASET_IMPORT_MODES,
    ImportMode,
    Manifest,
    ManifestDataset,
    ManifestFile,
    ManifestWindow,
    date_prefix,
    manifest_key,
    part_key,
    serialize_manifest,
)
from shared.ports import (
    Clock,
    DocumentCounter,
    DocumentStore,
    MetricsSink,
    Notifier,
    ObjectStore,
    Query,
    Where,
    chunked,
)
from shared.schema import DatasetType, load_schema

_log = get_logger("export")
_BATCH = 10_000
# interactions are a delta since the watermark; items and users are full snapshots of active records
IMPORT_MODES: dict[DatasetType, ImportMode] = DATASET_IMPORT_MODES


class Publisher(Protocol):
    """Publishes one JSON message on the export topic."""

    def publish(self, body: Mapping[str, Any]) -> str: ...


@dataclass(frozen=True)
class ExportOptions:
    """Tuning knobs; the defaults suit production, tests shrink them to exercise splits and spills."""

    max_part_bytes: int = MAX_PART_BYTES
    page_size: int = 5000  # one emulator/Firestore query per page: fewer, larger pages read faster
    settle: timedelta = timedelta(minutes=10)
    tmp_dir: str | None = None


@dataclass(frozen=True)
class ExportDeps:
    """Everything the export touches, built by the caller (see :func:`shared.export.wiring.export_deps`)."""

    docs: DocumentStore
    import_store: ObjectStore
    backup_store: ObjectStore
    notifier: Notifier
    metrics: MetricsSink
    clock: Clock
    collections: Collections = field(default_factory=Collections)
    time_zone: str = "UTC"
    prefix: str = ""
    min_snapshot_share: float = 0.5
    publisher: Publisher | None = None
    """With ``count``: a day above ``rows_per_run`` interactions is fanned out as shards (shards.py)."""
    count: DocumentCounter | None = None
    rows_per_run: int = 1_000_000
    experiment_prefix: str = "experiments/"
    """Where the online test's exposure files go, under ``prefix`` (STORYREC_EXPERIMENT_PREFIX)."""


@dataclass(frozen=True)
class ExportResult:
    """What one run exported."""

    date: date
    run_id: str
    window: Window
    datasets: tuple[ManifestDataset, ...]
    manifest_key: str

    def rows(self, dataset: str) -> int:
        return next(d.rows for d in self.datasets if d.dataset == dataset)


class ExportFailed(StoryrecError):
    """An export step failed; operators were alerted and the watermark did not move."""

    def __init__(self, day: date, step: str, reason: BaseException) -> None:
        super().__init__(f"export of {day} failed at {step}: {type(reason).__name__}: {reason}")
        self.day = day
        self.step = step


class Progress:
    """The step in progress, named in alerts and metrics."""

    def __init__(self) -> None:
        self.step = "window"
        self.run_id: str | None = None


def run_id_for(day: date, window: Window) -> str:
    """Deterministic, so retries and reruns of a date share ids, keys and bytes."""
    digest = hashlib.sha256(f"{window.start.isoformat()}|{window.end.isoformat()}".encode()).hexdigest()
    return f"export-{day:%Y%m%d}-{digest[:10]}"


def first_data_day(deps: ExportDeps) -> date | None:
    """The day (in the configured zone) of the earliest captured interaction, or None when there is none."""
    first = deps.docs.query(Query(deps.collections.ml_interactions, order_by=("captured_at",), limit=1))
    if not first:
        return None
    captured = first[0].data.get("captured_at")
    if not isinstance(captured, datetime):
        return None
    return captured.astimezone(ZoneInfo(deps.time_zone)).date()


def check_day(day: date, deps: ExportDeps) -> None:
    """:class:`DateRejected` unless ``day`` is in [first captured interaction, today) in the configured zone."""
    today = deps.clock().astimezone(ZoneInfo(deps.time_zone)).date()
    if day >= today:  # no store read needed to refuse a future day
        check_date(day, today, None)
    check_date(day, today, first_data_day(deps))


def existing_manifest(store: ObjectStore, key: str) -> bytes | None:
    """The manifest already published under ``key``, if any."""
    try:
        return store.get_bytes(key)
    except NotFound:
        return None


def export_in_one_run(
    day: date,
    window: Window,
    state: ExportState,
    deps: ExportDeps,
    options: ExportOptions,
    overrides: Overrides,
    progress: Progress,
    record: Mapping[str, Any] | None = None,
) -> ExportResult:
    """Export ``window`` of ``day`` in this process: extract, check, upload (manifest last), commit.

    ``record``: more fields committed with the window and the watermark, in the same batch.
    """
    run_id = run_id_for(day, window)
    _log.info("export started", extra=_window_fields(day, window, run_id))
    with tempfile.TemporaryDirectory(prefix="storyrec-export-", dir=options.tmp_dir) as tmp:
        progress.step = "extract"
        written = _extract_all(day, window, deps, options, tmp)
        datasets = [d for d, _ in written]
        manifest = build_manifest(run_id, day, deps.time_zone, window, datasets)
        key = manifest_key(deps.prefix, day)
        progress.step = "guards"
        rows = {d.dataset: d.rows for d in datasets}
        check_interactions(rows["interactions"], overrides.force)
        check_full_snapshots(rows, state.last_rows(), deps.min_snapshot_share, overrides.force)
        if window.rerun:  # a first attempt's leftovers (no commit yet) are simply overwritten
            check_manifest(existing_manifest(deps.import_store, key), manifest, key, overrides.replace)
        uploads = [(f.key, part.path) for d, parts in written for f, part in zip(d.files, parts, strict=True)]
        progress.step = "upload_gcs"
        _upload(deps.backup_store, uploads, key, manifest, date_prefixes(deps.prefix, day))
        progress.step = "upload_s3"
        _upload(deps.import_store, uploads, key, manifest, date_prefixes(deps.prefix, day))
    progress.step = "commit"
    state.commit(day, window, {"run_id": run_id, "manifest_key": key, "rows": rows, **(record or {})})
    _log.info("export complete", extra={"rows": rows, "run_id": run_id})
    return ExportResult(day, run_id, window, tuple(datasets), key)


def build_manifest(
    run_id: str, day: date, time_zone: str, window: Window, datasets: Iterable[ManifestDataset]
) -> bytes:
    """The manifest of one run, serialised."""
    return serialize_manifest(
        Manifest(run_id, day, tuple(datasets), time_zone, ManifestWindow(window.start, window.end))
    )


def _window_fields(day: date, window: Window, run_id: str) -> dict[str, Any]:
    return {
        "date": day.isoformat(),
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "rerun": window.rerun,
        "run_id": run_id,
    }


def date_prefixes(prefix: str, day: date) -> list[str]:
    """The folders of one date's datasets."""
    return [date_prefix(prefix, name, day) for name in IMPORT_MODES]


def _extract_all(
    day: date, window: Window, deps: ExportDeps, options: ExportOptions, tmp: str
) -> list[tuple[ManifestDataset, list[Part]]]:
    cols = deps.collections
    interactions = Query(
        cols.ml_interactions,
        where=(Where("captured_at", ">=", window.start), Where("captured_at", "<", window.end)),
        order_by=("captured_at",),
    )
    active = (Where("active", "==", True),)
    sources: dict[DatasetType, Query] = {
        "interactions": interactions,
        "items": Query(cols.ml_items, where=active),
        "users": Query(cols.ml_users, where=active),
    }
    out = []
    now = deps.clock()
    for dataset, query in sources.items():
        parts, converter = extract_query(dataset, query, deps, options, tmp, now)
        files = tuple(
            ManifestFile(part_key(deps.prefix, dataset, day, p.index), p.rows, p.size, p.sha256) for p in parts
        )
        schema = load_schema(dataset)
        out.append(
            (
                ManifestDataset(
                    dataset,
                    IMPORT_MODES[dataset],
                    schema.version,
                    tuple(schema.header),
                    files,
                    dict(converter.rejected),
                ),
                parts,
            )
        )
        _log.info(
            "dataset written",
            extra={
                "dataset": dataset,
                "rows": sum(p.rows for p in parts),
                "parts": len(parts),
                "rejected": converter.rejected_total,
                "rejected_ids": converter.rejected_ids,
            },
        )
    return out


def extract_query(
    dataset: DatasetType, query: Query, deps: ExportDeps, options: ExportOptions, directory: str, now: datetime
) -> tuple[list[Part], RowConverter]:
    """:func:`extract_dataset` of the records ``query`` reads; those that fail are quarantined."""
    quarantine = ExportQuarantine(deps.docs, deps.collections.quarantine, query.collection, now)
    records = partial(deps.docs.stream, query, page_size=options.page_size)
    impressions = impressions_for(query, deps, options) if dataset == "interactions" else None
    return extract_dataset(
        dataset, records, directory, options, now=now, quarantine=quarantine, impressions=impressions
    )


def impressions_for(query: Query, deps: ExportDeps, options: ExportOptions) -> ImpressionIndex:
    """The impressions the interactions of ``query`` (a ``captured_at`` range) may be joined to: those
    captured from the day before the range's start to its end (shared.export.attribution)."""
    bounds = {w.op: w.value for w in query.where if w.field == "captured_at"}
    start, end = bounds.get(">="), bounds.get("<")
    where = (Where("captured_at", "<", end),) if end is not None else ()
    if start is not None:
        where = (Where("captured_at", ">=", lookback_start(start)), *where)
    read = Query(deps.collections.ml_impressions, where=where, order_by=("captured_at",))
    index = ImpressionIndex.build(deps.docs.stream(read, page_size=options.page_size))
    _log.info("impressions indexed", extra={"impressions": len(index), "skipped": index.skipped})
    return index


def extract_dataset(
    dataset: DatasetType,
    records: Callable[[], Iterable[Record]],
    directory: str,
    options: ExportOptions,
    *,
    now: datetime | None = None,
    quarantine: Callable[[list[Reject]], None] | None = None,
    impressions: ImpressionIndex | None = None,
) -> tuple[list[Part], RowConverter]:
    """Write one dataset's CSV parts to ``directory``, rows in the order the store returns them.

    Personalize's bulk import reads rows in any order, so nothing is sorted: the query's own order
    (``captured_at``, then document id) keeps reruns byte-identical, in constant memory. Records that
    fail capture's checks (as of ``now``) are not written but handed to ``quarantine`` after each chunk.
    """
    with _gc_paused():
        schema = load_schema(dataset)
        converter = RowConverter(schema) if now is None else RowConverter(schema, now)
        converter.impressions = impressions
        writer = PartWriter(directory, dataset, schema.header, max_bytes=options.max_part_bytes)
        try:
            for chunk in chunked(records(), _BATCH):
                writer.write([line for line in map(converter.convert, chunk) if line is not None])
                rejects = converter.take_rejects()
                if rejects and quarantine is not None:
                    quarantine(rejects)
        except BaseException:
            writer.discard()
            raise
        return writer.close(), converter


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The hot loop allocates millions of acyclic tuples; cyclic GC passes over them cost ~10%."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _upload(
    store: ObjectStore, files: list[tuple[str, str]], manifest_key: str, manifest: bytes, prefixes: list[str]
) -> None:
    """Parts first, then remove parts a previous attempt left behind, then the manifest."""
    for key, path in files:
        store.put_file(key, path, content_type="text/csv")
    publish_manifest(store, {key for key, _ in files}, manifest_key, manifest, prefixes)


def publish_manifest(store: ObjectStore, wanted: set[str], key: str, manifest: bytes, prefixes: list[str]) -> None:
    """Delete parts under ``prefixes`` the manifest does not list (a previous attempt's), then write it."""
    for prefix in prefixes:
        for obj in store.list(prefix):
            if obj.key not in wanted:
                store.delete(obj.key)
    store.put_bytes(key, manifest, content_type="application/json")


def _alert(
    notifier: Notifier,
    metrics: MetricsSink,
    subject: str,
    message: str,
    attributes: dict[str, str],
    metric: str,
    dimensions: dict[str, str],
) -> None:
    """Send one alert and one metric; neither failure hides the original problem."""
    try:
        notifier.notify(redact(subject), redact(message), attributes)
    except Exception:
        _log.exception("export alert could not be sent")
    try:
        metrics.put(metric, 1, dimensions=dimensions)
        metrics.flush()
    except Exception:
        _log.exception("export metric could not be sent", extra={"metric": metric})


def report_failure(
    day: date, step: str, run_id: str | None, exc: BaseException, notifier: Notifier, metrics: MetricsSink
) -> None:
    """Log, alert and count a failed step (secrets in the reason are masked)."""
    reason = redact(f"{type(exc).__name__}: {exc}")
    _log.error(
        "export failed", extra={"date": day.isoformat(), "step": step, "reason": reason, "run_id": run_id}, exc_info=exc
    )
    message = (
        f"storyrec export of {day.isoformat()} failed at step '{step}'.\n"
        f"Reason: {reason}\nRun id: {run_id or '-'}\n"
        "The watermark was not advanced; the next run (or a retry) exports this window again."
    )
    _alert(
        notifier,
        metrics,
        f"storyrec export failed: {day.isoformat()} at {step}",
        message,
        {"stage": "export", "date": day.isoformat(), "step": step},
        "ExportFailed",
        {"Step": step},
    )


def report_refusal(day: date, exc: ExportRefused, notifier: Notifier, metrics: MetricsSink) -> None:
    """Log, alert and count a run a guard refused; nothing was uploaded and the watermark did not move."""
    _log.error("export refused", extra={"date": day.isoformat(), "reason": exc.reason, "detail": str(exc)})
    message = (
        f"storyrec export of {day.isoformat()} was refused ({exc.reason}).\n{exc}\n"
        "Nothing was uploaded and the watermark was not advanced."
    )
    _alert(
        notifier,
        metrics,
        f"storyrec export refused: {day.isoformat()} ({exc.reason})",
        message,
        {"stage": "export", "date": day.isoformat(), "reason": exc.reason},
        "ExportRefused",
        {"Reason": exc.reason},
    )
