"""DocumentStore over google-cloud-firestore (the client firebase-admin hands out).

The client is injected; with FIRESTORE_EMULATOR_HOST set the same client talks to the emulator.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc
from google.api_core.retry import Retry
from google.cloud.firestore_v1 import FieldFilter
from google.cloud.firestore_v1.field_path import FieldPath

from shared.errors import ServiceUnavailable
from shared.ports import Document, Query, Snapshot, Write, chunked

if TYPE_CHECKING:
    from google.cloud.firestore import Client

MAX_BATCH = 500
_OPS = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "in": "in",
        "array-contains": "array_contains"}


class FirestoreDocumentStore:
    """Documents addressed by slash paths, read and written through a Firestore client."""

    def __init__(self, client: Client, *, timeout: float | None = None) -> None:
        self._client = client
        # bounds each call, retries included (the SDK's own default retries an unreachable host for minutes)
        self._opts: dict[str, Any] = {} if timeout is None else {"timeout": timeout, "retry": Retry(timeout=timeout)}

    def get(self, path: str) -> Document | None:
        snap = self._client.document(path).get(**self._opts)
        return snap.to_dict() if snap.exists else None

    def set(self, path: str, data: Mapping[str, Any], *, merge: bool = False) -> None:
        self._client.document(path).set(dict(data), merge=merge, **self._opts)

    def create(self, path: str, data: Mapping[str, Any]) -> bool:
        try:
            self._client.document(path).create(dict(data), **self._opts)
        except (gexc.Conflict, gexc.AlreadyExists):
            return False
        return True

    def delete(self, path: str) -> None:
        self._client.document(path).delete(**self._opts)

    def write_batch(self, writes: Sequence[Write]) -> int:
        applied = 0
        for chunk in chunked(writes, MAX_BATCH):
            batch = self._client.batch()
            for w in chunk:
                ref = self._client.document(w.path)
                if w.kind == "delete":
                    batch.delete(ref)
                else:
                    batch.set(ref, dict(w.data), merge=w.merge)
            try:
                batch.commit(**self._opts)
            except (gexc.ServiceUnavailable, gexc.RetryError) as exc:
                raise ServiceUnavailable(f"Firestore batch commit failed after {applied} writes") from exc
            applied += len(chunk)
        return applied

    def _build(self, query: Query) -> Any:
        collection = self._client.collection(query.collection)
        q: Any = collection
        for cond in query.where:
            q = q.where(filter=FieldFilter(cond.field, _OPS[cond.op], cond.value))
        for name in query.order_by:
            q = q.order_by(name)
        q = q.order_by(FieldPath.document_id())
        if query.start_after is not None:
            values = list(query.start_after)
            if len(values) == len(query.order_by) + 1:
                values[-1] = collection.document(str(values[-1]))
            q = q.start_after(values)
        if query.limit is not None:
            q = q.limit(query.limit)
        return q

    def query(self, query: Query) -> list[Snapshot]:
        return [Snapshot(s.id, s.reference.path, s.to_dict() or {}) for s in self._build(query).stream(**self._opts)]

    def stream(self, query: Query, *, page_size: int = 1000) -> Iterator[Snapshot]:
        remaining = query.limit
        base = self._build(Query(query.collection, query.where, query.order_by, None, query.start_after))
        cursor = None
        while remaining is None or remaining > 0:
            size = page_size if remaining is None else min(page_size, remaining)
            page_query = base.start_after(cursor) if cursor is not None else base
            page = list(page_query.limit(size).stream(**self._opts))
            for snap in page:
                yield Snapshot(snap.id, snap.reference.path, snap.to_dict() or {})
            if len(page) < size:
                return
            cursor = page[-1]
            if remaining is not None:
                remaining -= len(page)
