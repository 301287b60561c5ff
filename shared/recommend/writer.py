"""Feed writes: every one guarded on ``generatedAt``, in batches of 500 on background threads."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from shared.ports import DocumentStore, NewerWrite
from shared.recommend.document import VERSION_FIELD

WRITE_CHUNK = 500
WRITER_THREADS = 4


def write_feeds(docs: DocumentStore, writes: Sequence[NewerWrite]) -> list[str]:
    """The one way a feed is written: guarded on ``generatedAt`` (never over a newer feed; equal is a no-op)."""
    return list(docs.write_newer(writes, version_field=VERSION_FIELD))


class FeedWriter:
    """Writes feeds in guarded batches of 500 on background threads, so writing overlaps recommending.

    At most twice as many batches as threads wait at any time: a slow database slows the run down instead
    of filling memory.
    """

    def __init__(self, docs: DocumentStore, threads: int = WRITER_THREADS) -> None:
        self._docs = docs
        self._threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="feed-writer")
        self._pending: list[NewerWrite] = []
        self._futures: list[Future[list[str]]] = []
        self.written = 0
        self.kept = 0
        """Feeds not written because the stored one was as new or newer."""

    def add(self, write: NewerWrite | None) -> None:
        if write is None:
            return
        self._pending.append(write)
        if len(self._pending) >= WRITE_CHUNK:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._futures.append(self._pool.submit(write_feeds, self._docs, self._pending))
            self._pending = []
        while len(self._futures) > 2 * self._threads:
            self._count(self._futures.pop(0).result())

    def _count(self, outcomes: list[str]) -> None:
        written = outcomes.count("written")
        self.written += written
        self.kept += len(outcomes) - written

    def close(self) -> int:
        try:
            self.flush()
            while self._futures:
                self._count(self._futures.pop(0).result())
        finally:
            self._pool.shutdown()
        return self.written


def bounded_map(pool: ThreadPoolExecutor, fn: Callable[[Any], Any], items: Iterable[Any], window: int) -> Iterator[Any]:
    """``pool.map`` with at most ``window`` calls in flight (memory stays flat for 100k users)."""
    pending: list[Future[Any]] = []
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.pop(0).result()
    for future in pending:
        yield future.result()
