"""The Personalize Avro schemas: the single source of truth for dataset columns.

The canonical files are ``infra/personalize/schemas/*.avsc``. Deploy bundles carry a
copy at ``shared/schemas/`` (made by ``make bundle``), which wins when present.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

DatasetType = Literal["interactions", "items", "users"]
DATASET_TYPES: tuple[DatasetType, ...] = ("interactions", "items", "users")

_BUNDLED = Path(__file__).resolve().parent / "schemas"
_REPO = Path(__file__).resolve().parent.parent / "infra" / "personalize" / "schemas"


@dataclass(frozen=True)
class Column:
    """One dataset column as the Avro schema declares it."""

    name: str
    avro_type: str
    nullable: bool
    categorical: bool = False
    textual: bool = False


@dataclass(frozen=True)
class DatasetSchema:
    """A parsed schema: its raw Avro JSON (for CreateSchema) and its columns in order."""

    dataset_type: DatasetType
    avro: dict[str, Any]
    columns: tuple[Column, ...]
    version: str

    @property
    def header(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def resource_name(self) -> str:
        """The Personalize schema name: versioned, because Personalize schemas are immutable."""
        return f"storyrec-{self.dataset_type}-v{self.version.replace('.', '-')}"

    def as_json(self) -> str:
        return json.dumps(self.avro, separators=(",", ":"))


def schema_dir() -> Path:
    """Where the schema files are read from."""
    return _BUNDLED if _BUNDLED.is_dir() else _REPO


EARLIER_VERSIONS: dict[DatasetType, tuple[str, ...]] = {"interactions": ("1.0",)}
"""Schema versions earlier exports were written with: their manifests and CSVs stay readable (the backup's
history is what ``storyrec rebuild`` re-imports), their columns a prefix-compatible subset of today's."""


def readable_versions(dataset_type: DatasetType) -> frozenset[str]:
    """The schema versions a manifest of this dataset may name: the current one and the earlier ones."""
    return frozenset({load_schema(dataset_type).version, *EARLIER_VERSIONS.get(dataset_type, ())})


@cache
def load_schema(dataset_type: DatasetType) -> DatasetSchema:
    """Parse ``<dataset_type>.avsc``."""
    avro = json.loads((schema_dir() / f"{dataset_type}.avsc").read_text(encoding="utf-8"))
    columns = []
    for f in avro["fields"]:
        types = f["type"] if isinstance(f["type"], list) else [f["type"]]
        non_null = [t for t in types if t != "null"]
        columns.append(
            Column(
                name=f["name"],
                avro_type=non_null[0],
                nullable="null" in types,
                categorical=bool(f.get("categorical", False)),
                textual=bool(f.get("textual", False)),
            )
        )
    return DatasetSchema(dataset_type, avro, tuple(columns), str(avro.get("version", "1.0")))
