"""Import use case: one export manifest → one Personalize dataset import job per file (or per snapshot).

* INCREMENTAL (the daily interactions): one job per CSV part, each ≤ 1 GB as Personalize requires;
* FULL (item and user snapshots): one job over the snapshot's folder, so the parts replace the
  dataset together (a FULL job per part would keep only the last part).
Job names come from the manifest's run id, so a second delivery of the same S3 event finds the jobs
the first started. When Personalize's pending-import slots are full (or it throttles), the manifest
is parked and the monitor starts the rest later: nothing is dropped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date

from shared.errors import NotFound, NotReady
from shared.logs import get_logger
from shared.manifest import BadManifest, Manifest, ManifestDataset, manifest_day, manifest_keys, parse_manifest
from shared.personalize.model import ImportJob, ImportRequest, LimitExceeded, ResourceInUse, Throttled
from shared.personalize.names import import_job_day, import_job_name
from shared.personalize.stage import Datasets, StageDeps, ensure_datasets, pending_imports
from shared.schema import DATASET_TYPES

_log = get_logger("personalize.imports")


@dataclass
class ImportOutcome:
    """What one manifest led to."""

    manifest_key: str
    run_id: str = ""
    started: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    parked: str | None = None
    """Why the remaining jobs wait for the monitor (None when every job was started)."""


def plan_imports(
    manifest: Manifest,
    datasets: Datasets,
    bucket: str,
    role_arn: str | None,
    listed: dict[str, int],
    min_incremental_rows: int = 1,
) -> tuple[list[ImportRequest], dict[str, str]]:
    """The import jobs a manifest asks for, and the datasets skipped with the reason.

    ``listed`` maps each object key under the manifest's folders to its size, to check that a FULL
    snapshot's folder holds exactly the manifest's files before it replaces a dataset.
    """
    requests: list[ImportRequest] = []
    skipped: dict[str, str] = {}
    for spec in manifest.datasets:
        if spec.dataset not in DATASET_TYPES:
            skipped[spec.dataset] = "not a storyrec dataset"
            continue
        dataset_arn = datasets.by_type[spec.dataset]
        if spec.import_mode == "INCREMENTAL":
            if spec.rows == 0:
                skipped[spec.dataset] = "no new rows"
                continue
            if spec.rows < min_incremental_rows:
                skipped[spec.dataset] = f"held: {spec.rows} rows < {min_incremental_rows} (combined with later days)"
                continue
            for index, f in enumerate(spec.files):
                if f.rows:
                    requests.append(
                        ImportRequest(
                            import_job_name(spec.dataset, manifest.day, manifest.run_id, dataset_arn, index),
                            dataset_arn,
                            f"s3://{bucket}/{f.key}",
                            "INCREMENTAL",
                            role_arn,
                        )
                    )
            continue
        problem = _full_snapshot_problem(spec, listed)
        if problem:
            raise BadManifest(f"dataset {spec.dataset}: {problem}")
        folder = spec.files[0].key.rsplit("/", 1)[0] + "/"
        requests.append(
            ImportRequest(
                import_job_name(spec.dataset, manifest.day, manifest.run_id, dataset_arn, 0),
                dataset_arn,
                f"s3://{bucket}/{folder}",
                "FULL",
                role_arn,
            )
        )
    return requests, skipped


def _full_snapshot_problem(spec: ManifestDataset, listed: dict[str, int]) -> str | None:
    """A FULL import replaces the dataset: refuse an empty snapshot or a folder that differs from the manifest."""
    if spec.rows == 0 or not spec.files:
        return "a FULL snapshot with no rows would delete every record; refused"
    folders = {f.key.rsplit("/", 1)[0] for f in spec.files}
    if len(folders) != 1:
        return f"FULL snapshot files span several folders {sorted(folders)}"
    folder = folders.pop() + "/"
    in_folder = {k: v for k, v in listed.items() if k.startswith(folder) and k.endswith(".csv")}
    expected = {f.key: f.size for f in spec.files}
    if in_folder != expected:
        return f"folder {folder} holds {sorted(in_folder)} but the manifest lists {sorted(expected)}"
    return None


def import_manifest(manifest_key: str, deps: StageDeps) -> ImportOutcome:
    """Start the import jobs of one manifest (idempotent); park what cannot start now."""
    outcome = ImportOutcome(manifest_key)
    state = deps.state
    try:
        raw = deps.bucket.get_bytes(manifest_key)
    except NotFound:
        _log.warning("manifest gone; nothing to import", extra={"manifest_key": manifest_key})
        state.unpark_import(manifest_key)
        outcome.skipped["*"] = "manifest not found"
        return outcome
    try:
        manifest = parse_manifest(raw)
        outcome.run_id = manifest.run_id
        datasets = ensure_datasets(deps)
        listed = {}
        for spec in manifest.datasets:
            for folder in {f.key.rsplit("/", 1)[0] + "/" for f in spec.files if spec.import_mode == "FULL"}:
                listed.update({o.key: o.size for o in deps.bucket.list(folder)})
        stage = deps.settings.aws_stage
        requests, outcome.skipped = plan_imports(
            manifest,
            datasets,
            deps.bucket.bucket,
            deps.settings.personalize.import_role_arn,
            listed,
            stage.min_incremental_rows,
        )
        combined = _hold_small_delta(deps, manifest_key, manifest, datasets)
        if combined:
            requests.append(combined)
    except BadManifest as exc:
        _refuse(deps, manifest_key, raw, str(exc))
        outcome.skipped["*"] = str(exc)
        state.unpark_import(manifest_key)
        state.mark_handled(manifest_key, f"refused: {exc}")
        return outcome
    except (NotReady, LimitExceeded, Throttled, ResourceInUse) as exc:
        return _park(deps, outcome, f"set-up not ready: {exc}")
    _start(deps, manifest, datasets, requests, outcome)
    if combined and (combined.job_name in outcome.started or combined.job_name in outcome.existing):
        deps.state.set_held_deltas([], combined=[h["manifest_key"] for h in deps.state.held_deltas()])
    if outcome.parked:
        state.park_import(manifest_key, outcome.parked)
    else:
        state.unpark_import(manifest_key)
        state.mark_handled(manifest_key, "imports started")
    deps.metrics.put("ImportJobsStarted", len(outcome.started))
    _log.info(
        "manifest imported",
        extra={
            "manifest_key": manifest_key,
            "run_id": manifest.run_id,
            "started": outcome.started,
            "existing": outcome.existing,
            "skipped": outcome.skipped,
            "parked": outcome.parked,
        },
    )
    return outcome


def _start(
    deps: StageDeps, manifest: Manifest, datasets: Datasets, requests: list[ImportRequest], outcome: ImportOutcome
) -> None:
    port = deps.personalize
    jobs = {arn: port.list_import_jobs(arn) for arn in datasets.by_type.values()}
    known = {j.name for js in jobs.values() for j in js}
    pending = sum(1 for js in jobs.values() for j in js if j.status.pending)
    limit = deps.settings.aws_stage.max_pending_imports
    for request in requests:
        if request.job_name in known:
            outcome.existing.append(request.job_name)
            continue
        if request.mode == "FULL" and _superseded(jobs[request.dataset_arn], manifest):
            outcome.skipped[request.job_name] = "a later snapshot was already imported"
            continue
        if pending >= limit:
            _park(deps, outcome, f"{pending} imports pending (limit {limit})")
            return
        try:
            port.start_import(request)
        except (LimitExceeded, Throttled) as exc:
            _park(deps, outcome, str(exc))
            return
        outcome.started.append(request.job_name)
        pending += 1


def _hold_small_delta(
    deps: StageDeps, manifest_key: str, manifest: Manifest, datasets: Datasets
) -> ImportRequest | None:
    """Hold a delta below Personalize's minimum for an INCREMENTAL interactions import (1,000 new records).

    Held deltas accumulate in the stage's state; once they reach the minimum, their rows are combined
    into one CSV under the state prefix (named by what it holds, so a retry writes the same object)
    and imported as one job. Nothing is dropped, and nothing is imported that Personalize would refuse.
    """
    minimum = deps.settings.aws_stage.min_incremental_rows
    spec = next((d for d in manifest.datasets if d.dataset == "interactions" and d.import_mode == "INCREMENTAL"), None)
    held = deps.state.held_deltas()
    known = {h["manifest_key"] for h in held} | deps.state.combined_manifests()
    if spec is not None and 0 < spec.rows < minimum and manifest_key not in known:
        held.append(
            {
                "manifest_key": manifest_key,
                "day": manifest.day.isoformat(),
                "rows": spec.rows,
                "files": [f.key for f in spec.files if f.rows],
            }
        )
        deps.state.set_held_deltas(held)
        deps.metrics.put("ImportDeltaHeld")
    if not held or sum(int(h["rows"]) for h in held) < minimum:
        return None
    name = "|".join(sorted(h["manifest_key"] for h in held))
    parts: list[bytes] = []
    for h in held:
        for key in h["files"]:
            body = deps.bucket.get_bytes(key)
            parts.append(body if not parts else body.split(b"\n", 1)[1])
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    key = f"{deps.settings.aws_stage.state_prefix}held/interactions-{digest}.csv"
    deps.bucket.put_bytes(key, b"".join(p if p.endswith(b"\n") else p + b"\n" for p in parts), content_type="text/csv")
    last_day = date.fromisoformat(max(h["day"] for h in held))
    return ImportRequest(
        import_job_name("interactions", last_day, name, datasets.by_type["interactions"], 900),
        datasets.by_type["interactions"],
        f"s3://{deps.bucket.bucket}/{key}",
        "INCREMENTAL",
        deps.settings.personalize.import_role_arn,
    )


def _superseded(jobs: list[ImportJob], manifest: Manifest) -> bool:
    """True if a FULL snapshot of a later export date was imported (or is importing) into this dataset."""
    return any((day := import_job_day(j.name)) is not None and day > manifest.day and not j.status.failed for j in jobs)


def _park(deps: StageDeps, outcome: ImportOutcome, reason: str) -> ImportOutcome:
    outcome.parked = reason
    deps.state.park_import(outcome.manifest_key, reason)
    deps.metrics.put("ImportsParked")
    _log.warning("imports parked until a slot frees", extra={"manifest_key": outcome.manifest_key, "reason": reason})
    return outcome


def _refuse(deps: StageDeps, manifest_key: str, raw: bytes, reason: str) -> None:
    digest = hashlib.sha256(raw).hexdigest()[:16]
    deps.metrics.put("ImportRefused")
    deps.state.alert_once(
        deps.notifier,
        f"bad-manifest:{manifest_key}:{digest}",
        f"storyrec import refused: {manifest_key}",
        f"The manifest s3://{deps.bucket.bucket}/{manifest_key} was not imported.\nReason: {reason}\n"
        "Fix the export and re-run it for that date; the new manifest triggers the import again.",
        {"stage": "import"},
    )


def redrive_parked(deps: StageDeps) -> list[ImportOutcome]:
    """Retry every parked manifest (the monitor calls this on each run)."""
    return [import_manifest(key, deps) for key in deps.state.parked_imports()]


def import_missed(deps: StageDeps, since: date) -> list[ImportOutcome]:
    """Import the manifests of dates ≥ ``since`` that were never handled.

    The S3 event is the fast path; this catch-up (run by the monitor) covers an event lost after the
    Lambda's own retries were exhausted, or a Lambda that failed on a dead dependency.
    """
    prefix = deps.settings.import_prefix
    parked = set(deps.state.parked_imports())  # re-driven separately
    outcomes = []
    for key in manifest_keys(deps.bucket, prefix):
        day = manifest_day(key, prefix)
        if key in parked or day is None or day < since or deps.state.is_handled(key):
            continue
        _log.warning("manifest never imported: catching up", extra={"manifest_key": key})
        outcomes.append(import_manifest(key, deps))
    return outcomes


__all__ = ["ImportOutcome", "import_manifest", "pending_imports", "plan_imports", "redrive_parked"]
