"""The per-run manifest: what was exported, from which window, and how to check it.

Its JSON is deterministic (sorted keys, no wall-clock time), so a rerun over unchanged data
uploads byte-identical objects, manifest included.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from shared.export.window import Window
from shared.personalize.manifest import FORMAT_VERSION
from shared.personalize.model import ImportMode

__all__ = ["FORMAT_VERSION", "DatasetExport", "ExportedFile", "ImportMode", "build_manifest"]


@dataclass(frozen=True)
class ExportedFile:
    """One uploaded CSV part."""

    key: str
    rows: int
    size: int
    sha256: str


@dataclass(frozen=True)
class DatasetExport:
    """One dataset of a run: its import mode, schema version, columns and files."""

    dataset: str
    import_mode: ImportMode
    schema_version: str
    columns: tuple[str, ...]
    files: tuple[ExportedFile, ...]
    rejected: dict[str, int]

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)


def build_manifest(run_id: str, day: date, time_zone: str, window: Window, datasets: list[DatasetExport]) -> bytes:
    """The manifest as UTF-8 JSON bytes."""
    body: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "run_id": run_id,
        "date": day.isoformat(),
        "time_zone": time_zone,
        "window": {"field": "captured_at", "start": window.start.isoformat(), "end": window.end.isoformat()},
        "datasets": {
            d.dataset: {
                "import_mode": d.import_mode,
                "schema_version": d.schema_version,
                "columns": list(d.columns),
                "rows": d.rows,
                "rejected": dict(sorted(d.rejected.items())),
                "files": [{"key": f.key, "rows": f.rows, "bytes": f.size, "sha256": f.sha256} for f in d.files],
            }
            for d in datasets
        },
    }
    return (json.dumps(body, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
