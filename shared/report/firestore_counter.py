"""Firestore's ``count()`` aggregation behind :class:`shared.report.gather.DocumentCounter`.

An aggregation is billed as one document read per 1,000 index entries counted and reads no document,
so a month of daily counts per event type costs a few hundred reads. Equality on EVENT_TYPE with a
range on TIMESTAMP needs the composite index declared in ``firestore.indexes.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.ports import Where


class FirestoreCounter:
    """Counts with ``Query.count()`` on a google-cloud-firestore client."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def count(self, collection: str, where: Sequence[Where] = ()) -> int:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query: Any = self._client.collection(collection)
        for w in where:
            query = query.where(filter=FieldFilter(w.field, w.op, w.value))
        result = query.count(alias="n").get()
        return int(result[0][0].value)
