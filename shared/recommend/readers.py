"""What the fill knows of readers' whole histories: the aggregates (``ml_readers``), read by id in bulk.

Before the marker says the aggregates are complete (docs/capture.md, "The reader aggregate"), and for a
reader whose aggregate is incomplete (overflowed, erased, malformed), the answers come from the per-reader
queries on ``ml_interactions`` as before: same results, old cost.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import datetime

from shared.capture.readers import (
    ReaderAggregate,
    aggregates_complete,
    captured_with_aggregates,
    mark_complete,
    parse_aggregate,
    reader_path,
)
from shared.config import Collections
from shared.logs import get_logger
from shared.ports import DocumentStore, Query, Where, chunked

_log = get_logger("recommend")
GET_CHUNK = 500
_ABSENT = ReaderAggregate({})


class ReaderIndex:
    """Per-reader aggregates for one run; ``trusted`` False: every answer comes from the old queries."""

    def __init__(self, docs: DocumentStore, collections: Collections, trusted: bool) -> None:
        self.docs = docs
        self.collections = collections
        self.trusted = trusted
        self._found: dict[str, ReaderAggregate | None] = {}
        self._lock = threading.Lock()
        self.reads = 0
        """Aggregates read."""
        self.fallbacks = 0
        """Readers answered by a query on ``ml_interactions`` (untrusted, or an incomplete aggregate)."""

    @classmethod
    def for_run(cls, docs: DocumentStore, collections: Collections, now: datetime) -> ReaderIndex:
        """Trusted when the marker is there, or can be written now: every interaction so far was captured with
        its aggregate (a fresh deployment's first fill)."""
        trusted = aggregates_complete(docs, collections)
        if not trusted and captured_with_aggregates(docs, collections):
            mark_complete(docs, collections, now, "captured")
            _log.info("reader aggregates complete: every interaction was captured with its aggregate")
            trusted = True
        return cls(docs, collections, trusted)

    def load(self, uids: Iterable[str]) -> None:
        """Read the aggregates of ``uids`` not read yet, by id, in chunks."""
        if not self.trusted:
            return
        todo = [u for u in dict.fromkeys(uids) if u not in self._found and u and "/" not in u]
        for chunk in chunked(todo, GET_CHUNK):
            docs = self.docs.get_many([reader_path(self.collections, u) for u in chunk])
            with self._lock:
                for uid, doc in zip(chunk, docs, strict=True):
                    self._found[uid] = None if doc is None else parse_aggregate(doc)
                self.reads += len(chunk)

    def aggregate(self, uid: str) -> ReaderAggregate | None:
        """The reader's complete aggregate (an empty one when they have no history); None: ask the queries."""
        if not self.trusted:
            return None
        if uid not in self._found:
            self.load([uid])
        found = self._found.get(uid, _ABSENT)
        if found is None:
            return _ABSENT
        return found if found.incomplete is None else None

    def has_history(self, uid: str) -> bool:
        """Whether the reader ever interacted (outside the window too)."""
        found = self.aggregate(uid)
        if found is not None:
            return found is not _ABSENT
        self.fallbacks += 1
        query = Query(self.collections.ml_interactions, (Where("USER_ID", "==", uid),), limit=1)
        return bool(self.docs.query(query))


def untrusted(docs: DocumentStore, collections: Collections) -> ReaderIndex:
    """An index that answers every question with the old queries."""
    return ReaderIndex(docs, collections, False)


def split_known(index: ReaderIndex, users: Sequence[str]) -> tuple[dict[str, ReaderAggregate], list[str]]:
    """(aggregates of the readers they answer for, the readers to query)."""
    index.load(users)
    known: dict[str, ReaderAggregate] = {}
    rest: list[str] = []
    for uid in users:
        found = index.aggregate(uid)
        if found is None:
            rest.append(uid)
        else:
            known[uid] = found
    return known, rest
