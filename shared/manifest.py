"""The export manifest, in one place: its model, writer, parser (with the format check) and key layout.

One export run writes ``<prefix><dataset>/dt=YYYY-MM-DD/part-00000.csv`` for each dataset, then
``<prefix>manifests/dt=YYYY-MM-DD/manifest.json``, uploaded last: its arrival means the run is complete.
The export writes it (:func:`serialize_manifest`); the import stage, publish, status, evaluate and the
report read it back (:func:`parse_manifest`, :func:`read_manifests`). Format: docs/export.md.

The JSON is deterministic (sorted keys, no wall-clock time), so a rerun over unchanged data uploads
byte-identical objects, manifest included. This module depends on no stage of the pipeline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, Protocol, get_args

from shared.errors import StoryrecError
from shared.ports import ObjectInfo
from shared.schema import DATASET_TYPES, DatasetType, readable_versions

FORMAT_VERSION = "1"
"""The manifest format the export writes."""
SUPPORTED_FORMATS = (FORMAT_VERSION,)
ImportMode = Literal["FULL", "INCREMENTAL"]
"""How Personalize imports a dataset's files: FULL replaces the dataset, INCREMENTAL adds to it."""
DATASET_IMPORT_MODES: dict[DatasetType, ImportMode] = {"interactions": "INCREMENTAL", "items": "FULL", "users": "FULL"}
"""How the export writes each storyrec dataset: the day's interactions add to the history (a FULL
interactions import would replace the whole history with one day); items and users are full snapshots."""
MAX_COUNT = 10**12
"""No count in a manifest is larger (row and byte counts of one day's export are far below it)."""
MAX_FILE_BYTES = 100 * 1024**3
"""Personalize's cap on the data of one import job (FULL; an INCREMENTAL job takes 1 GB)."""
WINDOW_FIELD = "captured_at"
MANIFESTS = "manifests"
_MANIFEST_KEY = re.compile(rf"{MANIFESTS}/dt=(\d{{4}}-\d{{2}}-\d{{2}})/manifest\.json")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class BadManifest(StoryrecError):
    """The manifest cannot be read as it is (unreadable, unknown format, inconsistent)."""


@dataclass(frozen=True)
class ManifestFile:
    """One uploaded CSV part."""

    key: str
    rows: int
    size: int
    sha256: str = ""
    """Empty only in a manifest written without it (the parser accepts that; publish refuses it)."""


@dataclass(frozen=True)
class ManifestDataset:
    """One dataset of a run: its import mode, schema version, columns, files and rejected rows by reason."""

    dataset: str
    import_mode: ImportMode
    schema_version: str
    columns: tuple[str, ...]
    files: tuple[ManifestFile, ...]
    rejected: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)


@dataclass(frozen=True)
class ManifestWindow:
    """The half-open range ``[start, end)`` of capture times a run exported."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Manifest:
    """What one export run published."""

    run_id: str
    day: date
    datasets: tuple[ManifestDataset, ...]
    time_zone: str = ""
    window: ManifestWindow | None = None

    def dataset(self, name: str) -> ManifestDataset | None:
        return next((d for d in self.datasets if d.dataset == name), None)


# --- key layout --------------------------------------------------------------------------------------


def date_prefix(prefix: str, dataset: str, day: date) -> str:
    """The folder of one dataset for one date (the import job's data location)."""
    return f"{prefix}{dataset}/dt={day.isoformat()}/"


def part_key(prefix: str, dataset: str, day: date, index: int, stem: str = "part") -> str:
    """The key of one CSV part (a shard of a sharded run has its own ``stem``)."""
    return f"{date_prefix(prefix, dataset, day)}{stem}-{index:05d}.csv"


def manifests_prefix(prefix: str) -> str:
    """The folder holding every manifest (list it to find them)."""
    return f"{prefix}{MANIFESTS}/"


def manifest_key(prefix: str, day: date) -> str:
    return f"{date_prefix(prefix, MANIFESTS, day)}manifest.json"


def is_manifest_key(key: str, prefix: str = "") -> bool:
    """True for ``<prefix>manifests/dt=YYYY-MM-DD/manifest.json`` (the object the export writes last)."""
    return manifest_day(key, prefix) is not None


def is_manifest_shaped(key: str, prefix: str = "") -> bool:
    """True for a key laid out as a manifest's, whatever its date (``dt=2026-02-30`` included): the import
    refuses such a key with an alert instead of ignoring it."""
    return key.startswith(prefix) and _MANIFEST_KEY.fullmatch(key[len(prefix) :]) is not None


def manifest_day(key: str, prefix: str = "") -> date | None:
    """The date in a manifest key (None for any other key)."""
    found = _MANIFEST_KEY.fullmatch(key[len(prefix) :]) if key.startswith(prefix) else None
    try:
        return date.fromisoformat(found.group(1)) if found else None
    except ValueError:  # dt=2026-13-01
        return None


# --- writer ------------------------------------------------------------------------------------------


def serialize_manifest(manifest: Manifest) -> bytes:
    """The manifest as deterministic UTF-8 JSON bytes."""
    window = manifest.window
    body: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "run_id": manifest.run_id,
        "date": manifest.day.isoformat(),
        "time_zone": manifest.time_zone,
        "window": {"field": WINDOW_FIELD, "start": window.start.isoformat(), "end": window.end.isoformat()}
        if window
        else {},
        "datasets": {
            d.dataset: {
                "import_mode": d.import_mode,
                "schema_version": d.schema_version,
                "columns": list(d.columns),
                "rows": d.rows,
                "rejected": dict(sorted(d.rejected.items())),
                "files": [{"key": f.key, "rows": f.rows, "bytes": f.size, "sha256": f.sha256} for f in d.files],
            }
            for d in manifest.datasets
        },
    }
    return (json.dumps(body, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# --- parser ------------------------------------------------------------------------------------------


def parse_manifest(raw: bytes) -> Manifest:
    """Parse and check a manifest (format version, types, row sums); raise BadManifest naming what is wrong.

    ``format_version``, ``run_id``, ``date`` and each dataset's ``import_mode``, ``rows`` and ``files``
    (``key``, ``rows``, ``bytes``) are required; the descriptive fields the writer adds (``time_zone``,
    ``window``, ``schema_version``, ``columns``, ``rejected``, ``sha256``) are type-checked when present.
    """
    try:
        body: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadManifest(f"manifest is not UTF-8 JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadManifest("manifest is not a JSON object")
    if str(body.get("format_version")) not in SUPPORTED_FORMATS:
        raise BadManifest(f"unsupported manifest format_version {body.get('format_version')!r}")
    try:
        run_id, day = _text(body, "run_id"), date.fromisoformat(_text(body, "date"))
        datasets = tuple(_dataset(str(name), spec) for name, spec in sorted(_mapping(body, "datasets").items()))
        time_zone, window = _text(body, "time_zone", ""), _window(body.get("window") or {})
    except (KeyError, TypeError, ValueError) as exc:
        raise BadManifest(f"manifest field missing or malformed: {exc!r}") from exc
    if not run_id:
        raise BadManifest("manifest has an empty run_id")
    return Manifest(run_id, day, datasets, time_zone, window)


def check_importable(manifest: Manifest, key: str, prefix: str = "") -> None:
    """Raise BadManifest unless the manifest can be imported as it sits: its key's date is a calendar date
    equal to the manifest's date, every file lies in its dataset's folder of that date (a CSV object),
    and each storyrec dataset names its schema version (the parser checks that a named one is known)."""
    if not is_manifest_shaped(key, prefix):
        raise BadManifest(f"{key} is not a manifest key under {prefix!r}")
    day = manifest_day(key, prefix)
    if day is None:
        raise BadManifest(f"{key}: the key's date is not a calendar date")
    if day != manifest.day:
        raise BadManifest(f"{key}: the manifest's date {manifest.day} differs from its key's date {day}")
    if not any(spec.dataset in DATASET_TYPES for spec in manifest.datasets):
        raise BadManifest(f"{key}: no storyrec dataset")
    for spec in manifest.datasets:
        folder = date_prefix(prefix, spec.dataset, day)
        for f in spec.files:
            if not (f.key.startswith(folder) and f.key.endswith(".csv")) or "/" in f.key[len(folder) :]:
                raise BadManifest(f"dataset {spec.dataset}: file {f.key} lies outside {folder}")
        if spec.dataset in DATASET_TYPES and not spec.schema_version:
            raise BadManifest(f"dataset {spec.dataset}: no schema_version")


def _dataset(name: str, spec: Any) -> ManifestDataset:
    if not isinstance(spec, dict):
        raise TypeError(f"dataset {name} is not an object")
    mode = spec["import_mode"]
    if mode not in get_args(ImportMode):
        raise BadManifest(f"dataset {name}: import_mode {mode!r}")
    expected = DATASET_IMPORT_MODES.get(name)  # type: ignore[call-overload]
    if expected is not None and mode != expected:
        raise BadManifest(f"dataset {name}: import_mode {mode} (the export writes {expected})")
    files = tuple(_file(f) for f in _list(spec, "files"))
    rows = _count(spec["rows"])
    if rows != sum(f.rows for f in files):
        raise BadManifest(f"dataset {name}: rows {rows} differ from the sum of its files")
    if len({f.key for f in files}) != len(files):
        raise BadManifest(f"dataset {name}: a file is listed twice")
    version = _text(spec, "schema_version", "")
    if name in DATASET_TYPES and version and version not in readable_versions(name):
        raise BadManifest(f"dataset {name}: unknown schema_version {version!r}")
    columns = tuple(_str(c, "column") for c in _list(spec, "columns", []))
    rejected = {str(reason): _count(n) for reason, n in _mapping(spec, "rejected", {}).items()}
    return ManifestDataset(name, mode, version, columns, files, rejected)


def _file(spec: Any) -> ManifestFile:
    if not isinstance(spec, dict):
        raise TypeError(f"file entry {spec!r} is not an object")
    f = ManifestFile(_text(spec, "key"), _count(spec["rows"]), _count(spec["bytes"]), _text(spec, "sha256", ""))
    if f.size > MAX_FILE_BYTES or (f.rows and f.rows >= f.size):  # a CSV row takes a byte at least, the header too
        raise BadManifest(f"file {f.key}: {f.rows} rows in {f.size} bytes")
    if f.sha256 and not _SHA256.fullmatch(f.sha256):
        raise BadManifest(f"file {f.key}: sha256 {f.sha256!r} is not 64 lowercase hex digits")
    return f


def _window(spec: Any) -> ManifestWindow | None:
    if not isinstance(spec, dict) or not spec:
        return None
    window = ManifestWindow(datetime.fromisoformat(_text(spec, "start")), datetime.fromisoformat(_text(spec, "end")))
    if not window.start < window.end:  # naive against aware raises TypeError: malformed too
        raise ValueError(f"window {window.start} .. {window.end} is empty")
    return window


def _text(spec: Mapping[str, Any], name: str, default: str | None = None) -> str:
    return _str(spec[name] if default is None else spec.get(name, default), name)


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} is {type(value).__name__}, not a string")
    return value


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise TypeError(f"{value!r} is not a count")
    return value


def _list(spec: Mapping[str, Any], name: str, default: list[Any] | None = None) -> list[Any]:
    value = spec[name] if default is None else spec.get(name, default)
    if not isinstance(value, list):
        raise TypeError(f"{name} is not a list")
    return value


def _mapping(spec: Mapping[str, Any], name: str, default: dict[str, Any] | None = None) -> dict[str, Any]:
    value = spec[name] if default is None else spec.get(name, default)
    if not isinstance(value, dict):
        raise TypeError(f"{name} is not an object")
    return value


# --- reading a bucket --------------------------------------------------------------------------------


class ExportReader(Protocol):
    """Read access to exported objects: an :class:`~shared.ports.ObjectStore` or a local copy of a bucket."""

    def list(self, prefix: str = "") -> list[ObjectInfo]: ...

    def get_bytes(self, key: str) -> bytes: ...


def manifest_keys(reader: ExportReader, prefix: str = "") -> list[str]:
    """Every manifest key under ``prefix``, oldest date first."""
    return sorted(o.key for o in reader.list(manifests_prefix(prefix)) if is_manifest_key(o.key, prefix))


def read_manifest(reader: ExportReader, key: str) -> Manifest:
    """One manifest, parsed; BadManifest names its key."""
    try:
        return parse_manifest(reader.get_bytes(key))
    except BadManifest as exc:
        raise BadManifest(f"{key}: {exc}") from exc


def read_manifests(reader: ExportReader, prefix: str = "") -> list[Manifest]:
    """Every manifest under ``prefix``, parsed, oldest date first."""
    return [read_manifest(reader, key) for key in manifest_keys(reader, prefix)]
