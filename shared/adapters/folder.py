"""A local folder read as a bucket: a copy of the backup bucket (``gcloud storage cp -r gs://BUCKET/* DIR``)."""

from __future__ import annotations

from pathlib import Path

from shared.ports import ObjectInfo


class FolderExport:
    """Read access (an :class:`~shared.manifest.ExportReader`) to a local copy of a bucket, keyed alike."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        out = []
        for path in sorted(self.root.rglob("*")):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and key.startswith(prefix):
                out.append(ObjectInfo(key=key, size=path.stat().st_size))
        return out

    def get_bytes(self, key: str) -> bytes:
        return (self.root / key).read_bytes()
