"""Counting documents without reading them: Firestore's ``count()`` aggregation, or a query over any store.

An aggregation is billed as one document read per 1,000 index entries counted and reads no document.
Equality on EVENT_TYPE with a range on TIMESTAMP needs the composite index declared in
``firestore.indexes.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.api_core.retry import Retry
from google.cloud.firestore_v1 import FieldFilter

from shared.ports import DocumentStore, Query, Where

_RANGE = frozenset({"<", "<=", ">", ">=", "!="})


class FirestoreCounter:
    """A :class:`~shared.ports.DocumentCounter` running ``Query.count()`` on a google-cloud-firestore client.

    ``timeout`` bounds each aggregation, retries included (None: the SDK's defaults).
    """

    def __init__(self, client: Any, *, timeout: float | None = None) -> None:
        self._client = client
        self._timeout = timeout

    def count(self, collection: str, where: Sequence[Where] = ()) -> int:
        query: Any = self._client.collection(collection)
        for w in where:
            query = query.where(filter=FieldFilter(w.field, w.op, w.value))
        aggregation = query.count()
        if self._timeout is None:
            result = aggregation.get()
        else:
            result = aggregation.get(timeout=self._timeout, retry=Retry(timeout=self._timeout))
        return int(result[0][0].value)


class StoreCounter:
    """A counter over any DocumentStore (reads the matching documents: for tests and small stores)."""

    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    def count(self, collection: str, where: Sequence[Where] = ()) -> int:
        # Firestore wants a range-filtered field ordered first
        ranged = tuple(dict.fromkeys(w.field for w in where if w.op in _RANGE))
        return len(self._store.query(Query(collection, tuple(where), order_by=ranged)))
