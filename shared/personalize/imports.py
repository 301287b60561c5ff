"""Import use case: one export manifest → one Personalize dataset import job per file (or per snapshot).

* INCREMENTAL (the daily interactions): one job per CSV part, each ≤ 1 GB as Personalize requires;
* FULL (item and user snapshots): one job over the snapshot's folder, so the parts replace the
  dataset together (a FULL job per part would keep only the last part).
Job names come from the manifest's run id, so a second delivery of the same S3 event finds the jobs
the first started. When Personalize's pending-import slots are full (or it throttles), the manifest
is parked and the monitor starts the rest later: nothing is dropped.

Before any job, the manifest is checked (the parser, :func:`~shared.manifest.check_importable`,
:func:`verify_files`); a refused one alerts once and starts nothing. Each manifest is processed on its
own (one failing never stops the next), and small interaction days are held and combined by
:mod:`shared.personalize.held`. Guarantees and their tests: docs/aws.md, "Guarantees".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date

from shared.errors import NotFound, NotReady, StoryrecError
from shared.logs import get_logger
from shared.manifest import (
    BadManifest,
    Manifest,
    ManifestDataset,
    check_importable,
    manifest_day,
    manifest_keys,
    parse_manifest,
)
from shared.personalize.held import HeldDay, HeldDays, combined_csv, combined_key, first_group, read_parts
from shared.personalize.model import ImportJob, ImportRequest, LimitExceeded, ResourceInUse, Throttled
from shared.personalize.names import import_job_day, import_job_name
from shared.personalize.stage import Datasets, StageDeps, ensure_datasets, pending_imports
from shared.personalize.state import AlertNotSent
from shared.ports import ObjectStore
from shared.schema import DATASET_TYPES

_log = get_logger("personalize.imports")
HASHED_BYTES = 32 * 1024 * 1024
"""Interaction parts up to this size are read to check their sha256 before any job starts."""
STARTED = "import-jobs/"
"""Under the state prefix: one create-only claim per started job, so each start is counted once."""
HELD_OUTCOME = "held interactions"
MAX_GROUPS_PER_PASS = 100


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
                            publish_attribution_metrics=spec.dataset == "interactions",
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


def verify_files(store: ObjectStore, manifest: Manifest) -> None:
    """Raise BadManifest unless every file of a storyrec dataset exists with its recorded size and sha256.

    Existence and size come from listing each dataset's folder (no download; the import's role may list
    the bucket but not read the snapshots). The sha256 is checked by reading the file for the daily
    interaction parts up to :data:`HASHED_BYTES` (larger parts, and the item and user snapshots, are
    checked by size; Personalize rejects a malformed CSV itself).
    """
    for spec in manifest.datasets:
        if spec.dataset not in DATASET_TYPES:
            continue
        listed: dict[str, int] = {}
        for folder in sorted({f.key.rsplit("/", 1)[0] + "/" for f in spec.files}):
            listed.update({o.key: o.size for o in store.list(folder)})
        for f in spec.files:
            where = f"dataset {spec.dataset}: file s3://{store.bucket}/{f.key}"
            if f.key not in listed:
                raise BadManifest(f"{where} does not exist")
            if listed[f.key] != f.size:
                raise BadManifest(f"{where} holds {listed[f.key]} bytes, the manifest says {f.size}")
            if not f.sha256:
                raise BadManifest(f"{where} has no sha256 in the manifest")
            hashed = spec.import_mode == "INCREMENTAL" and f.size <= HASHED_BYTES
            if hashed and hashlib.sha256(store.get_bytes(f.key)).hexdigest() != f.sha256:
                raise BadManifest(f"{where} differs from the sha256 the export recorded")


def import_manifest(manifest_key: str, deps: StageDeps, *, with_held: bool = True) -> ImportOutcome:
    """Start the import jobs of one manifest (idempotent); park what cannot start now; then (``with_held``)
    import the held days that reach the minimum.

    It never raises for what one manifest or one held day holds (only when SNS refuses an alert: it is kept,
    and the retry, or the next monitor pass, sends it): a refused manifest alerts once and starts nothing; an
    unexpected failure alerts once (per manifest and error) and parks the manifest, so the monitor retries it
    while every other manifest goes on.
    """
    outcome = ImportOutcome(manifest_key)
    try:
        _import(manifest_key, deps, outcome)
    except AlertNotSent:  # SNS is down, not the manifest: the invocation fails, the next one sends the kept alert
        raise
    except Exception as exc:  # isolation: one manifest's failure is reported, never propagated
        _failed(deps, outcome, exc)
    if not with_held:
        return outcome
    held = import_held_isolated(deps)
    outcome.started += held.started
    outcome.existing += held.existing
    return outcome


def _import(manifest_key: str, deps: StageDeps, outcome: ImportOutcome) -> None:
    state = deps.state
    try:
        raw = deps.bucket.get_bytes(manifest_key)
    except NotFound:
        _log.warning("manifest gone; nothing to import", extra={"manifest_key": manifest_key})
        state.unpark_import(manifest_key)
        outcome.skipped["*"] = "manifest not found"
        return
    try:
        manifest = parse_manifest(raw)
        check_importable(manifest, manifest_key, deps.settings.import_prefix)
        outcome.run_id = manifest.run_id
        verify_files(deps.bucket, manifest)
        datasets = ensure_datasets(deps)
        requests, outcome.skipped = plan_imports(
            manifest,
            datasets,
            deps.bucket.bucket,
            deps.settings.personalize.import_role_arn,
            _snapshot_folders(deps.bucket, manifest),
            deps.settings.aws_stage.min_incremental_rows,
        )
    except BadManifest as exc:
        if _held_day_lost(deps, manifest_key, raw, outcome):
            return
        _refuse(deps, manifest_key, raw, str(exc))
        outcome.skipped["*"] = str(exc)
        state.unpark_import(manifest_key)
        state.mark_handled(manifest_key, f"refused: {exc}")
        return
    except (NotReady, LimitExceeded, Throttled, ResourceInUse) as exc:
        _park(deps, outcome, f"set-up not ready: {exc}")
        return
    _hold_small_delta(deps, manifest_key, manifest)
    reason = _start(deps, manifest, datasets, requests, outcome)
    if reason:
        _park(deps, outcome, reason)
    else:
        state.unpark_import(manifest_key)
        state.mark_handled(manifest_key, "imports started")
    _log.info("manifest imported", extra={"run_id": manifest.run_id, **asdict(outcome)})


def _snapshot_folders(store: ObjectStore, manifest: Manifest) -> dict[str, int]:
    """Each object under the folders of the manifest's FULL snapshots, with its size."""
    listed: dict[str, int] = {}
    for spec in manifest.datasets:
        if spec.import_mode == "FULL":
            for folder in {f.key.rsplit("/", 1)[0] + "/" for f in spec.files}:
                listed.update({o.key: o.size for o in store.list(folder)})
    return listed


def _start(
    deps: StageDeps,
    manifest: Manifest | None,
    datasets: Datasets,
    requests: list[ImportRequest],
    outcome: ImportOutcome,
) -> str | None:
    """Start ``requests`` (the ones not started before); the reason to park the rest, or None.

    A job counts as started (``ImportJobsStarted``, one datum each) only for the call that wins its
    create-only claim: Personalize answers two concurrent starts of one name with the same job.
    """
    port = deps.personalize
    jobs = {arn: port.list_import_jobs(arn) for arn in datasets.by_type.values()}
    known = {j.name for js in jobs.values() for j in js}
    pending = sum(1 for js in jobs.values() for j in js if j.status.pending)
    limit = deps.settings.aws_stage.max_pending_imports
    for request in requests:
        if request.job_name in known:
            outcome.existing.append(request.job_name)
            continue
        if request.mode == "FULL" and manifest and _superseded(jobs[request.dataset_arn], manifest):
            outcome.skipped[request.job_name] = "a later snapshot was already imported"
            continue
        if pending >= limit:
            return f"{pending} imports pending (limit {limit})"
        try:
            port.start_import(request)
        except (LimitExceeded, Throttled) as exc:
            return str(exc)
        claim = f"{deps.settings.aws_stage.state_prefix}{STARTED}{request.job_name}.json"
        if deps.bucket.put_if_absent(claim, json.dumps({"job": request.job_name}).encode()):
            outcome.started.append(request.job_name)
            deps.metrics.put("ImportJobsStarted")
        else:
            outcome.existing.append(request.job_name)
        pending += 1
    return None


def _hold_small_delta(deps: StageDeps, manifest_key: str, manifest: Manifest) -> None:
    """Hold a delta below Personalize's minimum for an INCREMENTAL interactions import (1,000 new records)."""
    minimum = deps.settings.aws_stage.min_incremental_rows
    spec = manifest.dataset("interactions")
    if spec is None or spec.import_mode != "INCREMENTAL" or not 0 < spec.rows < minimum:
        return
    if _held(deps).hold(HeldDay.of(manifest_key, manifest, spec)):
        deps.metrics.put("ImportDeltaHeld")


def _held(deps: StageDeps) -> HeldDays:
    return HeldDays(deps.bucket, deps.settings.aws_stage.state_prefix)


def import_held(deps: StageDeps) -> ImportOutcome:
    """Import the held days, oldest first, in groups that reach the minimum: one job per group.

    A day whose part is gone (the bucket's expiry, a deletion) or changed is reported once, by name, and
    taken out; the other days are still imported. What cannot start now stays held for the next pass.
    """
    outcome = ImportOutcome(HELD_OUTCOME)
    held = _held(deps)
    with held.lease(deps.clock()) as mine:
        if mine:
            held.migrate_legacy()
            _import_groups(deps, held, outcome)
        else:
            _log.info("another pass is combining the held days; they wait for the next")
    return outcome


def _import_groups(deps: StageDeps, held: HeldDays, outcome: ImportOutcome) -> None:
    minimum = deps.settings.aws_stage.min_incremental_rows
    for _ in range(MAX_GROUPS_PER_PASS):
        days, unreadable = held.days()
        for key in unreadable:
            _alert_once(deps, f"held-unreadable:{key}", "storyrec held delta unreadable", key, "ImportHeldDayLost")
            held.drop_unreadable(key)
        group = first_group(days, minimum)
        if not group:
            break
        body, lost = combined_csv(deps.bucket, group)
        for day, why in lost:
            _report_lost(deps, held, day, why)
        if lost:
            continue
        reason = _start_group(deps, group, body, outcome)
        if reason:
            _log.warning("held interactions wait for a free import slot", extra={"reason": reason})
            break
        held.done(group, "imported")


def _report_lost(deps: StageDeps, held: HeldDays, day: HeldDay, why: str) -> None:
    """One alert per lost hold, naming the date and the command that re-exports it; the day leaves the held set."""
    _alert_once(
        deps,
        f"held-lost:{day.manifest_key}:{day.hold_id or 'earlier-release'}",  # each hold's loss once
        f"storyrec held interactions lost: {day.day}",
        f"The held interactions of {day.manifest_key} ({day.rows} rows) cannot be imported: {why}.\n"
        "The other held days are imported. Re-run the export for that date to import them:\n"
        f"  storyrec export --date {day.day} --replace\n"
        f'(or publish {{"date": "{day.day}", "replace": true}} on the export topic); the new manifest is held again.',
        "ImportHeldDayLost",
    )
    held.done([day], f"lost: {why}")


def _held_day_lost(deps: StageDeps, manifest_key: str, raw: bytes, outcome: ImportOutcome) -> bool:
    """True if the refused manifest is a held day's, unchanged, whose parts are gone or changed since it was
    held: it was valid then, so its event delivered again now (redelivered, reordered, caught up) is not a
    refused manifest but that day's loss, reported once per hold, or nothing new when the hold was already
    reported lost or imported."""
    held = _held(deps)
    current = held.find(manifest_key)
    day, before = (current, "") if current else held.finished(manifest_key) or (None, "")
    if day is None or not _lists_parts(raw, manifest_key, day):
        return False
    _, why = read_parts(deps.bucket, day)
    if why is None:
        return False
    if current is not None:
        _log.warning("a held day's parts are gone: reported lost", extra={"manifest_key": manifest_key, "why": why})
        _report_lost(deps, held, current, why)
        why = f"held day lost: {why}"
    else:  # the loss was reported (once per hold) or the day imported: nothing new to say
        why = f"held day {before} before; {why} since"
        _log.info("a held day's event delivered again", extra={"manifest_key": manifest_key, "why": why})
    outcome.skipped["*"] = why
    deps.state.unpark_import(manifest_key)
    deps.state.mark_handled(manifest_key, why)
    return True


def _lists_parts(raw: bytes, manifest_key: str, day: HeldDay) -> bool:
    """Whether the manifest ``raw`` lists exactly the held day's interaction parts (the manifest it was held from)."""
    try:
        manifest = parse_manifest(raw)
    except BadManifest:
        return False
    spec = manifest.dataset("interactions")
    return spec is not None and HeldDay.of(manifest_key, manifest, spec).parts == day.parts


def _start_group(deps: StageDeps, group: list[HeldDay], body: bytes, outcome: ImportOutcome) -> str | None:
    key, name = combined_key(deps.settings.aws_stage.state_prefix, group)
    deps.bucket.put_bytes(key, body, content_type="text/csv")
    datasets = ensure_datasets(deps)
    arn = datasets.by_type["interactions"]
    request = ImportRequest(
        import_job_name("interactions", max(d.day for d in group), name, arn, 900),
        arn,
        f"s3://{deps.bucket.bucket}/{key}",
        "INCREMENTAL",
        deps.settings.personalize.import_role_arn,
        publish_attribution_metrics=True,
    )
    return _start(deps, None, datasets, [request], outcome)


def import_held_isolated(deps: StageDeps) -> ImportOutcome:
    """:func:`import_held`, its failure reported once (by error class) instead of raised."""
    try:
        return import_held(deps)
    except AlertNotSent:  # SNS is down, not the import: the kept alert goes with the next pass
        raise
    except Exception as exc:  # isolation: the held days never stop a manifest's own imports
        _log.exception("held interactions not imported", extra={"error": repr(exc)})
        _alert_once(
            deps,
            f"held-error:{type(exc).__name__}",
            "storyrec held interactions not imported",
            f"Importing the held interaction days failed: {exc!r}\nThe monitor tries again on each run.",
            "ImportHeldFailed",
        )
        return ImportOutcome(HELD_OUTCOME)


def _superseded(jobs: list[ImportJob], manifest: Manifest) -> bool:
    """True if a FULL snapshot of a later export date was imported (or is importing) into this dataset."""
    return any((day := import_job_day(j.name)) is not None and day > manifest.day and not j.status.failed for j in jobs)


def _park(deps: StageDeps, outcome: ImportOutcome, reason: str) -> None:
    outcome.parked = reason
    deps.state.park_import(outcome.manifest_key, reason)
    deps.metrics.put("ImportsParked")
    _log.warning("imports parked until a slot frees", extra={"manifest_key": outcome.manifest_key, "reason": reason})


def _alert_once(deps: StageDeps, key: str, subject: str, message: str, metric: str) -> None:
    """One alert per ``key``, and its metric datum with it (a retry repeats neither)."""
    if deps.state.alert_once(deps.notifier, key, subject, message, {"stage": "import"}):
        deps.metrics.put(metric)


def _refuse(deps: StageDeps, manifest_key: str, raw: bytes, reason: str) -> None:
    digest = hashlib.sha256(raw).hexdigest()[:16]
    _alert_once(
        deps,
        f"bad-manifest:{manifest_key}:{digest}",
        f"storyrec import refused: {manifest_key}",
        f"The manifest s3://{deps.bucket.bucket}/{manifest_key} was not imported; no job was started.\n"
        f"Reason: {reason}\nFix the export and re-run it for that date; the new manifest triggers the import again.",
        "ImportRefused",
    )


def _failed(deps: StageDeps, outcome: ImportOutcome, exc: Exception) -> None:
    """An unexpected failure of one manifest: parked for the monitor to retry, alerted once unless transient."""
    reason = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, StoryrecError) and exc.retryable:
        _park(deps, outcome, reason)
        return
    _log.exception("manifest import failed", extra={"manifest_key": outcome.manifest_key, "error": reason})
    outcome.parked = reason
    deps.state.park_import(outcome.manifest_key, reason)
    _alert_once(
        deps,
        f"import-error:{outcome.manifest_key}:{type(exc).__name__}",
        f"storyrec import failed: {outcome.manifest_key}",
        f"Importing s3://{deps.bucket.bucket}/{outcome.manifest_key} failed: {reason}\n"
        "The manifest stays parked; the monitor tries it again on each run. Other manifests go on.",
        "ImportManifestFailed",
    )


def redrive_parked(deps: StageDeps) -> list[ImportOutcome]:
    """Retry every parked manifest, each on its own (the monitor calls this on each run, then
    :func:`import_held_isolated`)."""
    return [import_manifest(key, deps, with_held=False) for key in deps.state.parked_imports()]


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
        outcomes.append(import_manifest(key, deps, with_held=False))
    return outcomes


__all__ = [
    "ImportOutcome",
    "import_held",
    "import_manifest",
    "pending_imports",
    "plan_imports",
    "redrive_parked",
    "verify_files",
]
