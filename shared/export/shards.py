"""Sharded export of a day too large for one 540-second run.

The planner counts the day's interactions (one ``count()``); above ``rows_per_run`` it splits the window
into time-range shards of the interactions plus one shard for the item and user snapshots, records the
plan, and publishes one message per shard on the export topic, so they run in parallel.

Each shard writes its own CSV parts (keys carry the shard number), uploads them, then records what it
wrote in ``<state>/export_shards/runs/<run_id>/done/<shard>``. A shard that sees every shard done tries to
*create* ``.../final`` (create-only, so exactly one wins); the winner builds the manifest from the done
records, uploads it and advances the watermark, once. Redelivered or reordered shard messages rewrite
identical bytes and records; a shard of a finalised plan is acknowledged without work.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from shared.export.guards import ExportRefused, Overrides, check_full_snapshots, check_manifest
from shared.export.job import (
    IMPORT_MODES,
    ExportDeps,
    ExportOptions,
    ExportResult,
    Publisher,
    build_manifest,
    date_prefixes,
    existing_manifest,
    extract_query,
    publish_manifest,
    run_id_for,
)
from shared.export.window import ExportState, Window
from shared.logs import get_logger
from shared.manifest import ManifestDataset, ManifestFile, manifest_key, part_key
from shared.ports import DocumentCounter, Query, Where, Write
from shared.schema import DatasetType, load_schema

_log = get_logger("export")
_RESOLUTION = timedelta(seconds=1)


@dataclass(frozen=True)
class Shard:
    """One unit of work: an interactions time range, or (``start`` None) the item and user snapshots."""

    index: int
    count: int
    start: datetime | None = None
    end: datetime | None = None

    @property
    def snapshots(self) -> bool:
        return self.start is None

    def message(self, day: date, overrides: Overrides) -> dict[str, Any]:
        shard: dict[str, Any] = {"index": self.index, "count": self.count}
        if not self.snapshots:
            assert self.start is not None and self.end is not None
            shard |= {"start": self.start.isoformat(), "end": self.end.isoformat()}
        return {"date": day.isoformat(), "force": overrides.force, "replace": overrides.replace, "shard": shard}

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Shard:
        index, count = int(raw["index"]), int(raw["count"])
        if not 0 <= index < count:
            raise ValueError(f"shard {index} of {count}")
        if "start" not in raw:
            return cls(index, count)
        return cls(index, count, datetime.fromisoformat(raw["start"]), datetime.fromisoformat(raw["end"]))


def interactions_query(deps: ExportDeps, start: datetime, end: datetime) -> Query:
    """The day's (or a shard's) interactions, in capture order."""
    return Query(
        deps.collections.ml_interactions,
        where=(Where("captured_at", ">=", start), Where("captured_at", "<", end)),
        order_by=("captured_at",),
    )


def plan_shards(
    window: Window, first: datetime, rows: int, rows_per_run: int, count_before: Callable[[datetime], int]
) -> list[Shard]:
    """Time ranges of about ``rows_per_run`` interactions each (plus the snapshot shard), covering the window.

    Boundaries are found by bisecting time with ``count_before(t)`` (interactions in [window start, t)), so
    busy hours get narrow shards; a cheap aggregation, never a read of the rows themselves.
    """
    ranges = max(1, math.ceil(rows / rows_per_run))
    per_shard = math.ceil(rows / ranges)
    bounds = [window.start]
    lo = max(window.start, first)
    slack = max(1, per_shard // 10)  # a shard within 10% of its share is close enough: fewer count() calls
    for k in range(1, ranges):
        hi = window.end
        while hi - lo > _RESOLUTION:
            mid = lo + (hi - lo) / 2
            below = count_before(mid)
            if abs(below - k * per_shard) <= slack:
                hi = mid
                break
            if below < k * per_shard:
                lo = mid
            else:
                hi = mid
        bounds.append(hi)
        lo = hi
    bounds.append(window.end)
    total = ranges + 1
    return [Shard(i, total, bounds[i], bounds[i + 1]) for i in range(ranges)] + [Shard(ranges, total)]


def _shard_root(deps: ExportDeps, run_id: str) -> str:
    return f"{deps.collections.state}/export_shards/runs/{run_id}"


def fan_out(
    day: date,
    window: Window,
    deps: ExportDeps,
    publisher: Publisher,
    counter: DocumentCounter,
    rows_per_run: int,
    overrides: Overrides,
) -> list[Shard] | None:
    """Plan and publish the shards when the day is too large for one run; None when one run will do."""

    def count(query: Query) -> int:
        return counter.count(query.collection, query.where)

    query = interactions_query(deps, window.start, window.end)
    rows = count(query)
    if rows <= rows_per_run:
        return None
    first_page = deps.docs.query(Query(query.collection, query.where, query.order_by, limit=1))
    first = first_page[0].data["captured_at"] if first_page else window.start
    shards = plan_shards(window, first, rows, rows_per_run, lambda t: count(interactions_query(deps, window.start, t)))
    run_id = run_id_for(day, window)
    root = _shard_root(deps, run_id)
    if window.rerun and not overrides.replace:
        if (deps.docs.get(f"{root}/final/final") or {}).get("done"):
            # a redelivered tick, or a plain rerun, of a day its shards already exported: nothing to redo
            _log.info(
                "day already exported by its shards; publish with replace to redo it",
                extra={"date": day.isoformat(), "run_id": run_id},
            )
            return shards
        if existing_manifest(deps.import_store, manifest_key(deps.prefix, day)) is not None:
            raise ExportRefused(
                "manifest_differs",
                f"{day} is already published and too large for one run: a sharded rerun rewrites its parts "
                "before the result is known, so it needs replace",
            )
    if overrides.replace:  # start the shard bookkeeping afresh, or the old "final" would swallow the rerun
        stale = [f"{root}/final/final", f"{root}/plan/plan"]
        stale += [snap.path for snap in deps.docs.query(Query(f"{root}/done"))]
        deps.docs.write_batch([Write(path, kind="delete") for path in stale])
    deps.docs.set(f"{root}/plan/plan", {"rows": rows, "shards": [_plan_entry(s) for s in shards]})
    for shard in shards:
        publisher.publish(shard.message(day, overrides))
    _log.info(
        "export fanned out", extra={"date": day.isoformat(), "rows": rows, "shards": len(shards), "run_id": run_id}
    )
    return shards


def _files_record(dataset: ManifestDataset) -> dict[str, Any]:
    return {
        "files": [{"key": f.key, "rows": f.rows, "bytes": f.size, "sha256": f.sha256} for f in dataset.files],
        "rejected": dict(dataset.rejected),
    }


def _plan_entry(shard: Shard) -> str:
    return "snapshots" if shard.snapshots else f"{shard.start.isoformat()}/{shard.end.isoformat()}"  # type: ignore[union-attr]


def _in_plan(shard: Shard, plan: Mapping[str, Any] | None) -> bool:
    """True if ``shard`` is one of the recorded plan's shards (not a stale or hand-made message)."""
    entries = (plan or {}).get("shards") or []
    return len(entries) == shard.count and entries[shard.index] == _plan_entry(shard)


def run_shard(
    day: date, window: Window, shard: Shard, deps: ExportDeps, options: ExportOptions, overrides: Overrides
) -> ExportResult | None:
    """Export one shard; the shard that completes the set finalises. Returns the result if it finalised."""
    run_id = run_id_for(day, window)
    root = _shard_root(deps, run_id)
    if (deps.docs.get(f"{root}/final/final") or {}).get("done"):
        _log.info("shard of a finalised export ignored", extra={"shard": shard.index, "run_id": run_id})
        return None
    if not _in_plan(shard, deps.docs.get(f"{root}/plan/plan")):
        _log.warning(
            "shard not in the recorded plan ignored (stale or hand-made message)",
            extra={"shard": shard.index, "run_id": run_id},
        )
        return None
    datasets: list[DatasetType] = ["items", "users"] if shard.snapshots else ["interactions"]
    state = ExportState(deps.docs, deps.collections.state)
    record: dict[str, Any] = {}
    now = deps.clock()
    with tempfile.TemporaryDirectory(prefix="storyrec-shard-", dir=options.tmp_dir) as tmp:
        written = []
        for dataset in datasets:
            query = (
                Query(
                    deps.collections.ml_items if dataset == "items" else deps.collections.ml_users,
                    where=(Where("active", "==", True),),
                )
                if shard.snapshots
                else interactions_query(deps, shard.start, shard.end)  # type: ignore[arg-type]
            )
            parts, converter = extract_query(dataset, query, deps, options, tmp, now)
            stem = "part" if shard.snapshots else f"part-s{shard.index:03d}"
            files = tuple(
                ManifestFile(part_key(deps.prefix, dataset, day, p.index, stem), p.rows, p.size, p.sha256)
                for p in parts
            )
            schema = load_schema(dataset)
            export = ManifestDataset(
                dataset, IMPORT_MODES[dataset], schema.version, tuple(schema.header), files, dict(converter.rejected)
            )
            written.append((export, parts))
            record[dataset] = _files_record(export)
        if shard.snapshots:
            check_full_snapshots(
                {d.dataset: d.rows for d, _ in written},
                state.last_rows(),
                deps.min_snapshot_share,
                overrides.force,
            )
        for store in (deps.backup_store, deps.import_store):
            for export, parts in written:
                for f, part in zip(export.files, parts, strict=True):
                    store.put_file(f.key, part.path, content_type="text/csv")
    deps.docs.set(f"{root}/done/{shard.index:05d}", record)
    done = deps.docs.query(Query(f"{root}/done"))
    if len(done) < shard.count:
        return None
    claimed = deps.docs.create(f"{root}/final/final", {"owner": shard.index, "done": False})
    owner = (deps.docs.get(f"{root}/final/final") or {}).get("owner")
    if not claimed and owner != shard.index:
        return None
    return _finalise(day, window, run_id, [d.data for d in sorted(done, key=lambda s: s.id)], deps, overrides)


def _finalise(
    day: date,
    window: Window,
    run_id: str,
    records: Sequence[Mapping[str, Any]],
    deps: ExportDeps,
    overrides: Overrides,
) -> ExportResult:
    datasets = []
    for dataset in IMPORT_MODES:
        files: list[ManifestFile] = []
        rejected: dict[str, int] = {}
        for record in records:
            if dataset in record:
                files += [ManifestFile(f["key"], f["rows"], f["bytes"], f["sha256"]) for f in record[dataset]["files"]]
                for reason, n in record[dataset]["rejected"].items():
                    rejected[reason] = rejected.get(reason, 0) + n
        schema = load_schema(dataset)
        mode = IMPORT_MODES[dataset]
        datasets.append(ManifestDataset(dataset, mode, schema.version, tuple(schema.header), tuple(files), rejected))
    manifest = build_manifest(run_id, day, deps.time_zone, window, datasets)
    key = manifest_key(deps.prefix, day)
    if window.rerun:
        check_manifest(existing_manifest(deps.import_store, key), manifest, key, overrides.replace)
    wanted = {f.key for d in datasets for f in d.files}
    for store in (deps.backup_store, deps.import_store):
        publish_manifest(store, wanted, key, manifest, date_prefixes(deps.prefix, day))
    ExportState(deps.docs, deps.collections.state).commit(
        day, window, {"run_id": run_id, "manifest_key": key, "rows": {d.dataset: d.rows for d in datasets}}
    )
    deps.docs.set(f"{_shard_root(deps, run_id)}/final/final", {"done": True}, merge=True)
    _log.info("sharded export complete", extra={"run_id": run_id, "rows": {d.dataset: d.rows for d in datasets}})
    return ExportResult(day, run_id, window, tuple(datasets), key)
