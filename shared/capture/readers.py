"""The per-reader aggregate ``ml_readers/{uid}`` (docs/capture.md, "The reader aggregate").

Click capture adds every interaction to its reader's aggregate in the same commit that creates the
``ml_interactions`` record: the story id goes into the array of its event type (``items_read``...) with an
array union, idempotent and commutative, so at-least-once deliveries in any order leave the same sets. The
feed fill reads these documents by id instead of querying ``ml_interactions`` per reader: a document means
the reader has history; the arrays of the event types that count as seen (``STORYREC_FEED_SEEN_EVENT_TYPES``,
applied when read, so changing them needs no rebuild) are what the reader has seen.

An aggregate that is not the whole history says so in ``incomplete`` (then the fill queries
``ml_interactions`` for that reader, as before): ``overflow`` when it could not hold more (1 MiB), ``erased``
once the user was deleted (the story ids are dropped with the user's data). The fill trusts the aggregates
only once the marker ``ml_state/readers`` says every interaction is in one (:func:`backfill_readers`, or the
first fill of a deployment whose every interaction was captured with its aggregate).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from shared.config import Collections
from shared.errors import InvalidRequest
from shared.logs import get_logger
from shared.ports import ArrayUnion, DocumentStore, MetricsSink, Query, Where, Write, chunked

_log = get_logger("readers")

ITEMS_PREFIX = "items_"
"""``items_<event type>``: the story ids the reader interacted with in that way."""
INCOMPLETE = "incomplete"
"""Present when the aggregate is not the whole history: ``overflow`` or ``erased``."""
Incomplete = Literal["overflow", "erased"]
INDEXED = "reader_indexed"
"""On an ``ml_interactions`` record: written in the same commit as its reader's aggregate."""
MARKER = "readers"
"""``ml_state/readers``: every interaction is in its reader's aggregate (the fill may trust them)."""
BACKFILL_CURSOR = "readers_backfill"
"""``ml_state/readers_backfill``: where an interrupted :func:`backfill_readers` goes on."""


def reader_path(collections: Collections, uid: str) -> str:
    return f"{collections.ml_readers}/{uid}"


def reader_update(uid: str, items: Mapping[str, Iterable[str]]) -> dict[str, Any]:
    """The merge write adding ``items`` (event type -> story ids) to a reader's aggregate."""
    update: dict[str, Any] = {"USER_ID": uid}
    for event, ids in sorted(items.items()):
        values = tuple(dict.fromkeys(ids))
        if values:
            update[f"{ITEMS_PREFIX}{event}"] = ArrayUnion(values)
    return update


def incomplete_record(uid: str, reason: Incomplete) -> dict[str, Any]:
    """What replaces an aggregate that cannot be the whole history: no story id, only the reason."""
    return {"USER_ID": uid, INCOMPLETE: reason}


def add_to_reader(
    store: DocumentStore, collections: Collections, metrics: MetricsSink, uid: str, items: Mapping[str, Iterable[str]]
) -> None:
    """Merge ``items`` into the reader's aggregate; one too large to hold them is replaced by an overflow mark."""
    try:
        store.set(reader_path(collections, uid), reader_update(uid, items), merge=True)
    except InvalidRequest as exc:
        overflowed(store, collections, metrics, uid, exc)


def overflowed(store: DocumentStore, collections: Collections, metrics: MetricsSink, uid: str, exc: Exception) -> None:
    """The aggregate refused more (over 1 MiB): replace it by an overflow mark, so the fill queries this reader."""
    _log.warning("reader aggregate overflowed", extra={"uid": uid[:200], "error": str(exc)[:300]})
    store.set(reader_path(collections, uid), incomplete_record(uid, "overflow"))
    metrics.put("ReaderAggregateOverflowed")


def erase_reader(store: DocumentStore, collections: Collections, uid: str) -> None:
    """A deleted user's aggregate keeps no story id (the fill queries ``ml_interactions`` for them, if ever)."""
    store.set(reader_path(collections, uid), incomplete_record(uid, "erased"))


@dataclass(frozen=True)
class ReaderAggregate:
    """One reader's aggregate as the fill reads it."""

    items: Mapping[str, frozenset[str]]
    """Event type -> story ids."""
    incomplete: str | None = None

    def seen(self, seen_types: Iterable[str]) -> set[str]:
        """The stories of the event types that count as seen ('*' = every type)."""
        types = set(seen_types)
        out: set[str] = set()
        for event, ids in self.items.items():
            if "*" in types or event in types:
                out |= ids
        return out


def parse_aggregate(doc: Mapping[str, Any]) -> ReaderAggregate:
    """An ``ml_readers`` document (anything malformed makes it incomplete: the fill then queries)."""
    items: dict[str, frozenset[str]] = {}
    incomplete = doc.get(INCOMPLETE)
    for key, value in doc.items():
        if not key.startswith(ITEMS_PREFIX):
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            incomplete = incomplete or "malformed"
            continue
        items[key[len(ITEMS_PREFIX) :]] = frozenset(value)
    return ReaderAggregate(items, None if incomplete is None else str(incomplete))


def marker_path(collections: Collections) -> str:
    return f"{collections.state}/{MARKER}"


def aggregates_complete(store: DocumentStore, collections: Collections) -> bool:
    """Whether the marker says every interaction is in its reader's aggregate."""
    marker = store.get(marker_path(collections)) or {}
    return marker.get("complete") is True


def mark_complete(store: DocumentStore, collections: Collections, now: datetime, how: str) -> None:
    """Write the marker (create-only: the first writer's account of how stays)."""
    store.create(marker_path(collections), {"complete": True, "since": now, "how": how})


def captured_with_aggregates(store: DocumentStore, collections: Collections) -> bool:
    """Whether every interaction was captured with its aggregate, told by the oldest one: an empty collection,
    or an oldest record (by ``captured_at``) written in the same commit as its aggregate (:data:`INDEXED`).
    Records older than the aggregates (an existing deployment) make this False until :func:`backfill_readers`."""
    oldest = store.query(Query(collections.ml_interactions, order_by=("captured_at",), limit=1))
    if oldest:
        return oldest[0].data.get(INDEXED) is True
    return not store.query(Query(collections.ml_interactions, limit=1))  # none has a capture time: empty?


@dataclass
class BackfillCounts:
    """What :func:`backfill_readers` did."""

    interactions: int = 0
    readers: int = 0
    """Aggregate writes (a reader whose interactions span pages counts once per page)."""
    erased: int = 0
    overflowed: int = 0
    resumed_after: str | None = None


def backfill_readers(
    store: DocumentStore,
    collections: Collections,
    metrics: MetricsSink,
    now: datetime,
    *,
    page_size: int = 500,
    on_page: Callable[[int], None] = lambda _: None,
) -> BackfillCounts:
    """Build every reader's aggregate from ``ml_interactions``, then write the marker.

    Idempotent (array unions) and resumable: after each page the last record's id is kept in
    ``ml_state/readers_backfill``, and a rerun goes on after it. Deleted users (an ``ml_users`` tombstone) get
    the erased mark instead of their story ids. Run it with the aggregate-writing capture deployed: what is
    captured meanwhile adds itself.
    """
    counts = BackfillCounts()
    cursor_path = f"{collections.state}/{BACKFILL_CURSOR}"
    saved = (store.get(cursor_path) or {}).get("after")
    after = saved if isinstance(saved, str) and saved else None
    counts.resumed_after = after
    erased = {
        s.id for s in store.stream(Query(collections.ml_users, (Where("active", "==", False),)), page_size=page_size)
    }
    for uid in sorted(erased):
        erase_reader(store, collections, uid)
        counts.erased += 1
    while True:
        query = Query(
            collections.ml_interactions,
            order_by=(),
            limit=page_size,
            start_after=None if after is None else (after,),
        )
        page = store.query(query)
        if not page:
            break
        per_reader: dict[str, dict[str, list[str]]] = {}
        for snap in page:
            user, item, event = snap.data.get("USER_ID"), snap.data.get("ITEM_ID"), snap.data.get("EVENT_TYPE")
            if not (isinstance(user, str) and isinstance(item, str) and user and item and "/" not in user):
                continue  # not an id capture writes: no reader to add it to
            if user not in erased:
                per_reader.setdefault(user, {}).setdefault(str(event), []).append(item)
        counts.interactions += len(page)
        _write_aggregates(store, collections, metrics, per_reader, counts)
        after = page[-1].id
        store.set(cursor_path, {"after": after, "at": now})
        on_page(len(page))
        if len(page) < page_size:
            break
    mark_complete(store, collections, now, "backfill")
    store.delete(cursor_path)
    return counts


def _write_aggregates(
    store: DocumentStore,
    collections: Collections,
    metrics: MetricsSink,
    per_reader: Mapping[str, Mapping[str, list[str]]],
    counts: BackfillCounts,
) -> None:
    writes = [
        Write(reader_path(collections, uid), data=reader_update(uid, items), merge=True)
        for uid, items in sorted(per_reader.items())
    ]
    for chunk in chunked(writes, 500):
        try:
            store.write_batch(chunk)
        except InvalidRequest:  # one aggregate would pass 1 MiB: the batch is refused whole, so one by one
            for w in chunk:
                uid = w.data["USER_ID"]
                try:
                    store.set(w.path, w.data, merge=True)
                except InvalidRequest as exc:
                    overflowed(store, collections, metrics, uid, exc)
                    counts.overflowed += 1
        counts.readers += len(chunk)
