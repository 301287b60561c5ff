"""Personalize bulk CSV files: header, UTF-8, minimal quoting, ``\\n`` line ends, split at a size limit.

Each part starts with the header (Personalize reads every file of a folder on its own) and is hashed
while it is written, so the manifest costs no second read.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

# Personalize caps an INCREMENTAL import job at 1 GB of data (FULL: 100 GB). Parts stay under 1 GB so
# the import side can give each part its own job when a day's delta is large.
MAX_PART_BYTES = 1_000_000_000


class RowTooLarge(ValueError):
    """One row (plus the header) does not fit in a part."""


@dataclass(frozen=True)
class Part:
    """One finished CSV file on local disk."""

    index: int
    path: str
    rows: int
    size: int
    sha256: str


def _encode(rows: Sequence[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


class PartWriter:
    """Writes rows to ``<directory>/<stem>-00000.csv``, ``-00001`` ... each at most ``max_bytes``."""

    def __init__(self, directory: str, stem: str, header: Sequence[str], *, max_bytes: int = MAX_PART_BYTES) -> None:
        self._directory = directory
        self._stem = stem
        self._header = _encode([header])
        if max_bytes <= len(self._header):
            raise ValueError(f"max_bytes={max_bytes} leaves no room for rows after the header")
        self._max = max_bytes
        self._parts: list[Part] = []
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        self._fh: IO[bytes] | None = None
        self._open_part()

    def _open_part(self) -> None:
        self._path = os.path.join(self._directory, f"{self._stem}-{len(self._parts):05d}.csv")
        self._fh = open(self._path, "wb")  # noqa: SIM115 - closed in _close_part
        self._hash = hashlib.sha256()
        self._size = 0
        self._rows = 0
        self._put(self._header, 0)

    def _put(self, data: bytes, rows: int) -> None:
        assert self._fh is not None
        self._fh.write(data)
        self._hash.update(data)
        self._size += len(data)
        self._rows += rows

    def _close_part(self) -> None:
        assert self._fh is not None
        self._fh.close()
        self._fh = None
        self._parts.append(Part(len(self._parts), self._path, self._rows, self._size, self._hash.hexdigest()))

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        """Append rows; a part that would pass the limit is closed and a new one opened."""
        if not rows:
            return
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerows(rows)
        data = self._buffer.getvalue().encode("utf-8")
        if self._size + len(data) <= self._max:
            self._put(data, len(rows))
            return
        for row in rows:  # only near a part boundary
            line = _encode([row])
            if self._size + len(line) > self._max:
                if self._rows == 0:
                    raise RowTooLarge(f"a {len(line)}-byte row does not fit in a {self._max}-byte part")
                self._close_part()
                self._open_part()
                if self._size + len(line) > self._max:
                    raise RowTooLarge(f"a {len(line)}-byte row does not fit in a {self._max}-byte part")
            self._put(line, 1)

    def close(self) -> list[Part]:
        """Finish the last part and return all parts in order."""
        if self._fh is not None:
            self._close_part()
        return list(self._parts)

    def discard(self) -> None:
        """Close and delete everything written so far."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        for part in self._parts:
            os.unlink(part.path)
        if os.path.exists(self._path):
            os.unlink(self._path)
        self._parts = []
