"""Personalize bulk CSV files: header, UTF-8, minimal quoting, ``\\n`` line ends, split at a size limit.

Rows arrive already formatted as lines (see :mod:`shared.export.rows`, which formats the common case
with one f-string). :func:`csv_line` is the general formatter: RFC 4180 minimal quoting, as the
``csv`` module's ``QUOTE_MINIMAL`` with ``\\n`` line ends, except that a bare ``\\r`` is quoted too
(the ``csv`` module leaves it bare, and readers then split the row there).

Each part starts with the header (Personalize reads every file of a folder on its own) and is hashed
while it is written, so the manifest costs no second read.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

# Personalize caps an INCREMENTAL import job at 1 GB of data (FULL: 100 GB). Parts stay under 1 GB so
# the import side can give each part its own job when a day's delta is large.
MAX_PART_BYTES = 1_000_000_000
_SPECIAL = re.compile(r'[",\r\n]')


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


def _field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if _SPECIAL.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_line(row: Sequence[Any]) -> str:
    """One CSV line (with its ``\\n``): None is empty, floats by repr, fields quoted only when needed."""
    if len(row) == 1 and row[0] in ("", None):
        return '""\n'  # a lone empty field would read back as an empty line
    return ",".join(map(_field, row)) + "\n"


class PartWriter:
    """Writes lines to ``<directory>/<stem>-00000.csv``, ``-00001`` ... each at most ``max_bytes``."""

    def __init__(self, directory: str, stem: str, header: Sequence[str], *, max_bytes: int = MAX_PART_BYTES) -> None:
        self._directory = directory
        self._stem = stem
        self._header = csv_line(header).encode("utf-8")
        if max_bytes <= len(self._header):
            raise ValueError(f"max_bytes={max_bytes} leaves no room for rows after the header")
        self._max = max_bytes
        self._parts: list[Part] = []
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

    def write(self, lines: Sequence[str]) -> None:
        """Append lines (each ending in ``\\n``); a part that would pass the limit is closed, a new one opened."""
        if not lines:
            return
        data = "".join(lines).encode("utf-8")
        if self._size + len(data) <= self._max:
            self._put(data, len(lines))
            return
        for line in lines:  # only near a part boundary
            encoded = line.encode("utf-8")
            if self._size + len(encoded) > self._max:
                if self._rows == 0:
                    raise RowTooLarge(f"a {len(encoded)}-byte row does not fit in a {self._max}-byte part")
                self._close_part()
                self._open_part()
                if self._size + len(encoded) > self._max:
                    raise RowTooLarge(f"a {len(encoded)}-byte row does not fit in a {self._max}-byte part")
            self._put(encoded, 1)

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
