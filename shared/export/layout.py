"""Object keys of one export, identical in the S3 import bucket and the GCS backup bucket.

``<prefix><dataset>/dt=YYYY-MM-DD/part-00000.csv`` for each dataset, then
``<prefix>manifests/dt=YYYY-MM-DD/manifest.json``, uploaded last: its arrival means the run is complete.
"""

from __future__ import annotations

from datetime import date

MANIFEST = "manifests"


def date_prefix(prefix: str, dataset: str, day: date) -> str:
    """The folder of one dataset for one date (the import job's data location)."""
    return f"{prefix}{dataset}/dt={day.isoformat()}/"


def part_key(prefix: str, dataset: str, day: date, index: int) -> str:
    return f"{date_prefix(prefix, dataset, day)}part-{index:05d}.csv"


def manifest_key(prefix: str, day: date) -> str:
    return f"{date_prefix(prefix, MANIFEST, day)}manifest.json"
