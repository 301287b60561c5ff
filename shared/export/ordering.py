"""Deterministic ordering of interaction rows by (TIMESTAMP, click id) in bounded memory.

Interactions are read in ``captured_at`` order, and TIMESTAMP (server receive time) trails
``captured_at`` by seconds, so the stream is almost sorted. :func:`nearly_sorted` exploits that: it
sorts a sliding buffer and emits all but a carried tail; if a record arrives that belongs before a row
already emitted it raises :class:`OutOfOrder`, and the caller starts over with :func:`external_sort`,
which sorts runs to temporary files and merges them. Both give the same total order.
"""

from __future__ import annotations

import heapq
import os
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from shared.export.rows import Entry

BATCH = 10_000


class OutOfOrder(Exception):
    """The stream was more disordered than the carried buffer can absorb."""


def nearly_sorted(
    records: Iterable[Any], convert: Callable[[Any], Entry | None], *, buffer_rows: int, carry_rows: int
) -> Iterator[list[Entry]]:
    """Yield converted entries in key order, batch by batch, holding at most ``buffer_rows`` of them."""
    if not 0 < carry_rows < buffer_rows:
        raise ValueError("need 0 < carry_rows < buffer_rows")
    buf: list[Entry] = []
    append = buf.append
    floor: Entry | None = None
    for record in records:
        entry = convert(record)
        if entry is not None:
            append(entry)
            if len(buf) >= buffer_rows:
                buf.sort()
                if floor is not None and buf[0] < floor:
                    raise OutOfOrder(f"record {buf[0][1]} sorts before an emitted row")
                cut = len(buf) - carry_rows
                yield buf[:cut]
                floor = buf[cut - 1]
                del buf[:cut]
    buf.sort()
    if floor is not None and buf and buf[0] < floor:
        raise OutOfOrder(f"record {buf[0][1]} sorts before an emitted row")
    if buf:
        yield buf


def _write_run(entries: list[Entry], directory: str) -> str:
    entries.sort()
    fd, path = tempfile.mkstemp(prefix="run-", suffix=".pkl", dir=directory)
    with os.fdopen(fd, "wb") as fh:
        for start in range(0, len(entries), BATCH):
            pickle.dump(entries[start : start + BATCH], fh, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def _read_run(path: str) -> Iterator[Entry]:
    with open(path, "rb") as fh:
        while True:
            try:
                batch: list[Entry] = pickle.load(fh)  # only our own temporary files
            except EOFError:
                return
            yield from batch


def external_sort(
    records: Iterable[Any], convert: Callable[[Any], Entry | None], *, run_rows: int, directory: str
) -> Iterator[list[Entry]]:
    """Yield converted entries in key order for any input order, spilling sorted runs to ``directory``."""
    runs: list[str] = []
    buf: list[Entry] = []
    try:
        for record in records:
            entry = convert(record)
            if entry is not None:
                buf.append(entry)
                if len(buf) >= run_rows:
                    runs.append(_write_run(buf, directory))
                    buf = []
        if not runs:
            buf.sort()
            yield from (buf[i : i + BATCH] for i in range(0, len(buf), BATCH))
            return
        if buf:
            runs.append(_write_run(buf, directory))
            buf = []
        batch: list[Entry] = []
        for entry in heapq.merge(*(_read_run(p) for p in runs)):
            batch.append(entry)
            if len(batch) >= BATCH:
                yield batch
                batch = []
        if batch:
            yield batch
    finally:
        for path in runs:
            os.unlink(path)
