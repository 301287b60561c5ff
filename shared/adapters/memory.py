"""In-memory implementations of the ports, for fast unit tests.

They obey the same contract suite as the real adapters (tests/integration/test_contracts.py).
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from shared.errors import InvalidRequest, NotFound
from shared.ports import (
    Document,
    NewerOutcome,
    NewerWrite,
    ObjectInfo,
    Query,
    Snapshot,
    VersionedOutcome,
    Where,
    Write,
    chunked,
    newer_decision,
    versioned_decision,
)

MAX_BATCH = 500


def _matches(data: Mapping[str, Any], cond: Where) -> bool:
    if cond.field not in data:
        return False
    value = data[cond.field]
    try:
        match cond.op:
            case "==":
                return bool(value == cond.value)
            case "!=":
                return bool(value != cond.value)
            case "<":
                return bool(value < cond.value)
            case "<=":
                return bool(value <= cond.value)
            case ">":
                return bool(value > cond.value)
            case ">=":
                return bool(value >= cond.value)
            case "in":
                return value in cond.value
            case "array-contains":
                return isinstance(value, list) and cond.value in value
    except TypeError:
        return False
    return False


def _projected(data: Document, fields: Sequence[str]) -> Document:
    """Only ``fields`` of ``data`` (those it has), as Firestore's field mask returns them."""
    return {k: v for k, v in data.items() if k in fields}


def _document_path(path: str) -> str:
    """Refuse what Firestore refuses as a document path (an odd number of segments, an empty one)."""
    parts = path.split("/")
    if len(parts) % 2 or any(p == "" for p in parts):
        raise InvalidRequest(f"{path[:200]!r} is not a document path")
    return path


class InMemoryDocumentStore:
    """A dict of documents keyed by path, with the update time of each (like Firestore's)."""

    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}
        self.update_times: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def get(self, path: str) -> Document | None:
        doc = self.docs.get(_document_path(path))
        return copy.deepcopy(doc) if doc is not None else None

    def set(self, path: str, data: Mapping[str, Any], *, merge: bool = False) -> None:
        _document_path(path)
        base = self.docs.get(path, {}) if merge else {}
        self.docs[path] = {**base, **copy.deepcopy(dict(data))}
        self.update_times[path] = datetime.now(UTC)

    def create(self, path: str, data: Mapping[str, Any]) -> bool:
        if _document_path(path) in self.docs:
            return False
        self.set(path, data)
        return True

    def delete(self, path: str) -> None:
        self.docs.pop(_document_path(path), None)
        self.update_times.pop(path, None)

    def put_versioned(
        self, path: str, data: Mapping[str, Any], *, version_field: str, stamps: Mapping[str, Any]
    ) -> VersionedOutcome:
        """The same decision as Firestore's transaction, under a lock."""
        with self._lock:
            outcome = versioned_decision(self.get(path), data, version_field, stamps)
            if outcome == "written":
                self.set(path, {**data, **stamps})
            return outcome

    def get_many(self, paths: Sequence[str], *, fields: Sequence[str] | None = None) -> list[Document | None]:
        found = [self.get(p) for p in paths]
        return found if fields is None else [None if d is None else _projected(d, fields) for d in found]

    def write_newer(self, writes: Sequence[NewerWrite], *, version_field: str) -> list[NewerOutcome]:
        """Each write decided and applied under the lock, so concurrent callers see one order."""
        outcomes: list[NewerOutcome] = []
        for w in writes:
            with self._lock:
                outcome = newer_decision(self.get(w.path), w, version_field)
                if outcome == "written":
                    self.set(w.path, w.data, merge=w.merge)
            outcomes.append(outcome)
        return outcomes

    def write_batch(self, writes: Sequence[Write]) -> int:
        for batch in chunked(writes, MAX_BATCH):
            for w in batch:
                if w.kind == "delete":
                    self.delete(w.path)
                else:
                    self.set(w.path, w.data, merge=w.merge)
        return len(writes)

    def _collection(self, collection: str) -> list[Snapshot]:
        depth = collection.count("/") + 2
        out = []
        for path, data in self.docs.items():
            if path.startswith(collection + "/") and path.count("/") + 1 == depth:
                out.append(Snapshot(path.rsplit("/", 1)[1], path, copy.deepcopy(data), self.update_times.get(path)))
        return out

    def query(self, query: Query) -> list[Snapshot]:
        snaps = [s for s in self._collection(query.collection) if all(_matches(s.data, w) for w in query.where)]
        order = (*query.order_by, "__name__") if query.order_by else ("__name__",)

        def key(s: Snapshot) -> tuple[Any, ...]:
            return tuple(s.id if f == "__name__" else s.data.get(f) for f in order)

        if query.order_by:
            snaps = [s for s in snaps if all(f in s.data for f in query.order_by)]
        snaps.sort(key=key)
        if query.start_after is not None:
            cursor = tuple(query.start_after)
            snaps = [s for s in snaps if key(s)[: len(cursor)] > cursor]
        snaps = snaps[: query.limit] if query.limit is not None else snaps
        if query.fields is not None:
            fields = query.fields
            snaps = [Snapshot(s.id, s.path, _projected(s.data, fields), s.update_time) for s in snaps]
        return snaps

    def stream(self, query: Query, *, page_size: int = 1000) -> Iterator[Snapshot]:
        yield from self.query(query)


class InMemoryObjectStore:
    """A bucket held in a dict."""

    def __init__(self, bucket: str = "memory") -> None:
        self.bucket = bucket
        self.objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put_bytes(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        self.objects[key] = bytes(data)

    def put_if_absent(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> bool:
        with self._lock:
            if key in self.objects:
                return False
            self.objects[key] = bytes(data)
            return True

    def put_file(self, key: str, path: str, *, content_type: str = "application/octet-stream") -> None:
        with open(path, "rb") as fh:
            self.objects[key] = fh.read()

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.objects[key]
        except KeyError:
            raise NotFound(f"{self.bucket}/{key}") from None

    def head(self, key: str) -> ObjectInfo | None:
        data = self.objects.get(key)
        return None if data is None else ObjectInfo(key=key, size=len(data))

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        return [ObjectInfo(key=k, size=len(v)) for k, v in sorted(self.objects.items()) if k.startswith(prefix)]

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)


class RecordingNotifier:
    """Keeps every notification in a list."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, str]]] = []
        self._ids = itertools.count(1)

    def notify(self, subject: str, message: str, attributes: Mapping[str, str] | None = None) -> str:
        self.sent.append((subject, message, dict(attributes or {})))
        return f"memory-{next(self._ids)}"


class RecordingMetrics:
    """Keeps every metric data point in a list."""

    def __init__(self) -> None:
        self.points: list[tuple[str, float, str, dict[str, str]]] = []

    def put(
        self, name: str, value: float = 1.0, *, unit: str = "Count", dimensions: Mapping[str, str] | None = None
    ) -> None:
        self.points.append((name, value, unit, dict(dimensions or {})))

    def flush(self) -> None:
        return None

    def total(self, name: str) -> float:
        return sum(p[1] for p in self.points if p[0] == name)
