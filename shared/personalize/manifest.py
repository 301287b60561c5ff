"""Reads the export's manifest (format in docs/export.md, written by ``shared.export.manifest``).

The import stage depends on the JSON format only, not on the export package, so the Lambda's import
path stays small; tests/unit/aws check that what ``build_manifest`` writes is what this reads.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from shared.errors import StoryrecError
from shared.personalize.model import ImportMode

FORMAT_VERSION = "1"
"""The manifest format the export writes (``shared.export.manifest``)."""
SUPPORTED_FORMATS = (FORMAT_VERSION,)
_MANIFEST_KEY = re.compile(r"manifests/dt=(\d{4}-\d{2}-\d{2})/manifest\.json$")


class BadManifest(StoryrecError):
    """The manifest cannot be imported as it is (unreadable, unknown format, inconsistent)."""


@dataclass(frozen=True)
class ManifestFile:
    key: str
    rows: int
    size: int


@dataclass(frozen=True)
class ManifestDataset:
    dataset: str
    import_mode: ImportMode
    rows: int
    files: tuple[ManifestFile, ...]


@dataclass(frozen=True)
class Manifest:
    run_id: str
    day: date
    datasets: tuple[ManifestDataset, ...]


def is_manifest_key(key: str, prefix: str = "") -> bool:
    """True for ``<prefix>manifests/dt=YYYY-MM-DD/manifest.json`` (the object the export writes last)."""
    return key.startswith(prefix) and bool(_MANIFEST_KEY.fullmatch(key[len(prefix) :]))


def parse_manifest(raw: bytes) -> Manifest:
    """Parse and check a manifest; raise BadManifest naming what is wrong."""
    try:
        body: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadManifest(f"manifest is not UTF-8 JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadManifest("manifest is not a JSON object")
    if str(body.get("format_version")) not in SUPPORTED_FORMATS:
        raise BadManifest(f"unsupported manifest format_version {body.get('format_version')!r}")
    try:
        run_id, day = str(body["run_id"]), date.fromisoformat(str(body["date"]))
        datasets = []
        for name, spec in sorted(dict(body["datasets"]).items()):
            mode = spec["import_mode"]
            if mode not in ("FULL", "INCREMENTAL"):
                raise BadManifest(f"dataset {name}: import_mode {mode!r}")
            files = tuple(ManifestFile(str(f["key"]), int(f["rows"]), int(f["bytes"])) for f in spec["files"])
            rows = int(spec["rows"])
            if rows != sum(f.rows for f in files):
                raise BadManifest(f"dataset {name}: rows {rows} differ from the sum of its files")
            datasets.append(ManifestDataset(str(name), mode, rows, files))
    except (KeyError, TypeError, ValueError) as exc:
        raise BadManifest(f"manifest field missing or malformed: {exc!r}") from exc
    if not run_id:
        raise BadManifest("manifest has an empty run_id")
    return Manifest(run_id, day, tuple(datasets))
