"""``storyrec rebuild``: a new dataset group with the current schemas, its history re-imported from the backup.

Personalize cannot replace an interactions dataset's schema (UpdateDataset refuses), so a deployment whose
interactions schema lacks a current column (``storyrec bootstrap`` refuses it, naming this command) moves
to a new dataset group. The backup bucket holds every export (manifests and CSV parts, docs/export.md):

1. every manifest is read (oldest first) and every interactions part it lists is checked (row count and
   SHA-256 against the manifest) and rewritten with the current header (a column an older schema lacked
   is empty) under ``rebuild/<group>/interactions/`` in the import bucket; the items and users of the
   newest manifest that has them likewise;
2. the interactions are reconciled before anything is created: rows in the manifests == rows read ==
   rows written, or nothing happens;
3. the group, the current schemas and the datasets are described-or-created, and the new interactions
   dataset's schema is checked;
4. one FULL import job per dataset reads its folder; the job's name is a digest of what it imports, so a
   rerun finds the job it started (and a rerun after a new export day imports the longer history).

Every step is idempotent: a rerun after a failure resumes (staged objects are rewritten identically,
resources and jobs are found by name). The switch to the new group's campaign follows in
:mod:`shared.operate.switch` (docs/deploy.md, "Rebuilding a dataset group").
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from shared.errors import ConfigError, StoryrecError
from shared.export.csvfiles import csv_line
from shared.limits import VALID_RESOURCE_NAME
from shared.manifest import BadManifest, ExportReader, Manifest, ManifestFile, read_manifests
from shared.operate.bootstrap import check_interactions_schema
from shared.personalize.model import ImportRequest, PersonalizeError, ResourceInUse, Status
from shared.personalize.port import PersonalizePort
from shared.ports import ObjectStore
from shared.retry import wait_until
from shared.schema import DATASET_TYPES, DatasetType, load_schema, readable_versions

STAGING = "rebuild"
"""Folder of the import bucket the rebuilt history is staged under."""


class RebuildRefused(StoryrecError):
    """The backup cannot be rebuilt from as it is (nothing exported, a file that does not match its manifest)."""


@dataclass(frozen=True)
class Staged:
    """One dataset's history, rewritten with the current header in the import bucket."""

    dataset: DatasetType
    folder: str
    rows: int
    files: int
    digest: str


@dataclass(frozen=True)
class RebuildResult:
    group_arn: str
    manifests: int
    interactions_in_manifests: int
    staged: tuple[Staged, ...]
    jobs: dict[str, str] = field(default_factory=dict)
    """Dataset type → import job ARN."""

    def rows(self, dataset: str) -> int:
        return next((s.rows for s in self.staged if s.dataset == dataset), 0)


@dataclass
class Rebuild:
    port: PersonalizePort
    backup: ExportReader
    staging: ObjectStore
    group: str
    prefix: str = ""
    role_arn: str | None = None
    settle_timeout: float = 3600.0
    poll_interval: float = 10.0


def _convert(dataset: DatasetType, f: ManifestFile, data: bytes, header: list[str]) -> tuple[bytes, int]:
    """A backup part checked against its manifest entry and rewritten with ``header``; its data row count."""
    where = f"backup file {f.key}"
    if f.sha256 and hashlib.sha256(data).hexdigest() != f.sha256:
        raise RebuildRefused(f"{where}: its SHA-256 differs from the manifest's")
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    old_header = next(reader, None)
    if old_header is None:
        raise RebuildRefused(f"{where}: empty (no header)")
    unknown = [c for c in old_header if c not in header]
    if unknown:
        raise RebuildRefused(f"{where}: columns {unknown} are not in the current {dataset} schema")
    at = [old_header.index(c) if c in old_header else None for c in header]
    out = io.StringIO()
    out.write(csv_line(header))
    rows = 0
    for row in reader:
        if len(row) != len(old_header):
            raise RebuildRefused(f"{where}: row {rows + 1} has {len(row)} cells, the header {len(old_header)}")
        out.write(csv_line(["" if i is None else row[i] for i in at]))
        rows += 1
    if rows != f.rows:
        raise RebuildRefused(f"{where}: {rows} rows, the manifest says {f.rows}")
    return out.getvalue().encode("utf-8"), rows


def _sources(manifests: list[Manifest], dataset: DatasetType) -> list[tuple[Manifest, ManifestFile]]:
    """Interactions: every part of every manifest (each day's delta). Items, users: the newest snapshot."""
    having = [m for m in manifests if any(d.dataset == dataset for d in m.datasets)]
    if dataset != "interactions":
        having = having[-1:]
    out: list[tuple[Manifest, ManifestFile]] = []
    for manifest in having:
        spec = next(d for d in manifest.datasets if d.dataset == dataset)
        if spec.schema_version and spec.schema_version not in readable_versions(dataset):
            raise RebuildRefused(f"manifest of {manifest.day}: {dataset} schema {spec.schema_version} is unknown")
        out.extend((manifest, f) for f in spec.files)
    return out


def stage(rebuild: Rebuild, manifests: list[Manifest], dataset: DatasetType) -> Staged:
    """Rewrite one dataset's history with the current header under ``rebuild/<group>/<dataset>/``."""
    header = load_schema(dataset).header
    folder = f"{STAGING}/{rebuild.group}/{dataset}/"
    digest = hashlib.sha256()
    rows = files = 0
    for manifest, f in _sources(manifests, dataset):
        data, count = _convert(dataset, f, rebuild.backup.get_bytes(f.key), header)
        key = f"{folder}{manifest.day.isoformat()}-{f.key.rsplit('/', 1)[-1]}"
        rebuild.staging.put_bytes(key, data, content_type="text/csv")
        digest.update(f"{key}:{hashlib.sha256(data).hexdigest()}\n".encode())
        rows += count
        files += 1
    return Staged(dataset, folder, rows, files, digest.hexdigest())


def _wait(rebuild: Rebuild, read: Callable[[], Status], what: str) -> None:
    status = wait_until(
        read, lambda s: s.settled, timeout=rebuild.settle_timeout, interval=rebuild.poll_interval, what=what
    )
    if status is not Status.ACTIVE:
        raise PersonalizeError("RebuildFailed", f"{what} is {status.value}")


def check_target(group: str, current_group: str | None) -> None:
    """A valid name that is not the group in use (ConfigError naming the fix)."""
    if not VALID_RESOURCE_NAME.match(group):
        raise ConfigError(f"dataset group name {group!r}: 1-63 characters [a-zA-Z0-9-_]")
    if current_group is not None and group == current_group.rsplit("/", 1)[-1]:
        raise ConfigError(
            f"{group} is the dataset group in use: name a new one (if a rebuild already switched to it, "
            f"retire the old campaign with `storyrec rebuild --dataset-group {group} --finish`)"
        )


def run_rebuild(
    rebuild: Rebuild, current_group: str | None = None, progress: Callable[[str], Any] | None = None
) -> RebuildResult:
    """Stage, reconcile, create, import and wait (see the module docstring). Reruns resume."""
    say = progress or (lambda _msg: None)
    check_target(rebuild.group, current_group)
    try:
        manifests = read_manifests(rebuild.backup, rebuild.prefix)
    except BadManifest as exc:
        raise RebuildRefused(str(exc)) from exc
    if not manifests:
        raise RebuildRefused(f"no export manifest under {rebuild.prefix or 'the root of'} the backup bucket")
    expected = sum(d.rows for m in manifests for d in m.datasets if d.dataset == "interactions")
    staged = []
    for dataset in DATASET_TYPES:
        staged.append(stage(rebuild, manifests, dataset))
        say(f"staged {dataset}: {staged[-1].rows} rows in {staged[-1].files} file(s)")
    written = staged[0].rows
    if written != expected:  # _convert checks each file; this is the sum, before anything is created
        raise RebuildRefused(f"interactions: {written} rows staged, the manifests list {expected}")
    port = rebuild.port
    group = port.ensure_dataset_group(rebuild.group)
    jobs: dict[str, str] = {}
    for s in staged:
        schema = load_schema(s.dataset)
        schema_arn = port.ensure_schema(schema.resource_name, schema.as_json())
        create = partial(port.ensure_dataset, group, s.dataset, schema_arn, f"storyrec-{s.dataset}")
        created = wait_until(
            _created(create), bool, timeout=rebuild.settle_timeout, interval=rebuild.poll_interval, what="dataset group"
        )
        assert created is not None
        arn = created
        _wait(rebuild, partial(port.dataset_status, arn), f"dataset {arn}")
        if s.dataset == "interactions":
            check_interactions_schema(port, arn, rebuild.group)
        if not s.rows:
            continue
        name = f"rebuild-{s.dataset}-{s.digest[:16]}"
        bucket = rebuild.staging.bucket
        request = ImportRequest(name, arn, f"s3://{bucket}/{s.folder}", "FULL", rebuild.role_arn)
        jobs[s.dataset] = port.start_import(request)
        say(f"import {name} started")
    for name, job in jobs.items():
        _wait(rebuild, partial(_job_status, port, job), f"{name} import {job}")
        say(f"import of {name} ACTIVE")
    return RebuildResult(group, len(manifests), expected, tuple(staged), jobs)


def _job_status(port: PersonalizePort, arn: str) -> Status:
    return port.describe_import_job(arn).status


def _created(create: Callable[[], str]) -> Callable[[], str | None]:
    """A create refused because its parent is still being created is tried again (wait_until polls it)."""
    def attempt() -> str | None:
        try:
            return create()
        except ResourceInUse:
            return None

    return attempt
