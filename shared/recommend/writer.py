"""Feed writes: every one guarded on ``generatedAt``, in batches of 500 on background threads, each batch's
stories re-checked just before it is written (a story deleted or unpublished since the run read the
catalogue is taken out of the feeds it was in)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from shared.logs import get_logger
from shared.ports import DocumentStore, NewerWrite
from shared.recommend.document import VERSION_FIELD, without_stories

_log = get_logger("recommend")

WRITE_CHUNK = 500
WRITER_THREADS = 4


def write_feeds(docs: DocumentStore, writes: Sequence[NewerWrite]) -> list[str]:
    """The one way a feed is written: guarded on ``generatedAt`` (never over a newer feed; equal is a no-op)."""
    return list(docs.write_newer(writes, version_field=VERSION_FIELD))


Recheck = Callable[[Collection[str]], set[str]]
"""Given story ids, those that may no longer be shown (deleted or unpublished), read now."""


@dataclass(frozen=True)
class FeedWrite:
    """A feed write and the ids of the stories in it (so they can be re-checked without decoding the feed)."""

    write: NewerWrite
    story_ids: tuple[str, ...]


@dataclass
class Checked:
    """What is left to write of a batch after the re-check, and what the re-check took out."""

    writes: list[NewerWrite]
    withdrawn: int = 0
    """Stories taken out of feeds."""
    emptied: int = 0
    """Feeds not written because nothing in them may still be shown (the user keeps the previous feed)."""


def recheck_stories(feeds: Sequence[FeedWrite], recheck: Recheck | None) -> Checked:
    """Re-read the stories of ``feeds`` (one bulk read) and take out of each feed those no longer showable."""
    ids = {i for f in feeds for i in f.story_ids}
    gone = recheck(ids) if recheck is not None and ids else set()
    if not gone:
        return Checked([f.write for f in feeds])
    checked = Checked([])
    for feed in feeds:
        hit = gone.intersection(feed.story_ids)
        if not hit:
            checked.writes.append(feed.write)
            continue
        checked.withdrawn += len(hit)
        data = without_stories(feed.write.data, hit)
        if data is None:
            checked.emptied += 1
        else:
            checked.writes.append(replace(feed.write, data=data))
    _log.info("stories withdrawn at write time", extra={"stories": sorted(gone)[:20], "feeds": len(feeds)})
    return checked


class FeedWriter:
    """Writes feeds in guarded batches of 500 on background threads, so writing overlaps recommending.

    At most twice as many batches as threads wait at any time: a slow database slows the run down instead
    of filling memory. With ``recheck``, each batch's stories are re-read on the writer thread just before
    the batch is written (:func:`recheck_stories`). ``add`` may be called from several threads.
    """

    def __init__(self, docs: DocumentStore, threads: int = WRITER_THREADS, recheck: Recheck | None = None) -> None:
        self._docs = docs
        self._threads = threads
        self._recheck = recheck
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="feed-writer")
        self._lock = threading.Lock()  # the pending feeds and batches; a thread waiting for room holds it
        self._pending: list[FeedWrite] = []
        self._futures: list[Future[tuple[list[str], Checked]]] = []
        self.written = 0
        self.kept = 0
        """Feeds not written because the stored one was as new or newer."""
        self.withdrawn = 0
        """Stories taken out of feeds at write time (deleted or unpublished after the catalogue was read)."""
        self.emptied = 0
        """Feeds not written because the re-check left nothing in them."""

    def add(self, write: FeedWrite | None) -> None:
        if write is None:
            return
        with self._lock:
            self._pending.append(write)
            if len(self._pending) >= WRITE_CHUNK:
                self._flush()

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._futures.append(self._pool.submit(self._write, self._pending))
            self._pending = []
        while len(self._futures) > 2 * self._threads:
            self._count(*self._futures.pop(0).result())

    def _write(self, feeds: list[FeedWrite]) -> tuple[list[str], Checked]:
        checked = recheck_stories(feeds, self._recheck)
        return write_feeds(self._docs, checked.writes), checked

    def _count(self, outcomes: list[str], checked: Checked) -> None:
        written = outcomes.count("written")
        self.written += written
        self.kept += len(outcomes) - written
        self.withdrawn += checked.withdrawn
        self.emptied += checked.emptied

    def close(self) -> int:
        try:
            # the last batch is the run's tail (nothing overlaps it): one slice per writer thread
            with self._lock:
                pending, self._pending = self._pending, []
            step = max(1, -(-len(pending) // self._threads))
            for start in range(0, len(pending), step):
                self._futures.append(self._pool.submit(self._write, pending[start : start + step]))
            while self._futures:
                self._count(*self._futures.pop(0).result())
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
