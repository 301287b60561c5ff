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
    MAX_DOCUMENT_BYTES,
    ArrayUnion,
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


def _value_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass")) + 1
    if isinstance(value, bytes):
        return len(value) + 1
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, Mapping):
        return sum(_value_size(str(k)) + _value_size(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return sum(_value_size(v) for v in value)
    return 8  # numbers, timestamps


def document_size(path: str, data: Mapping[str, Any]) -> int:
    """A document's size as Firestore counts it against its 1 MiB limit (its name, field names and values, 32)."""
    name = sum(_value_size(part) for part in path.split("/")) + 16
    return name + _value_size(data) + 32


def _written(base: Mapping[str, Any] | None, data: Mapping[str, Any], merge: bool) -> Document:
    """The document after a set of ``data`` onto ``base`` (its :class:`ArrayUnion` values applied)."""
    out: Document = copy.deepcopy(dict(base or {})) if merge else {}
    for key, value in data.items():
        if isinstance(value, ArrayUnion):
            if not value.values:  # as the Firestore SDK refuses it
                raise InvalidRequest(f"{key!r}: an ArrayUnion needs at least one value")
            current = out.get(key)
            items = list(current) if isinstance(current, list) else []
            for item in copy.deepcopy(list(value.values)):
                if item not in items:
                    items.append(item)
            out[key] = items
        else:
            out[key] = copy.deepcopy(value)
    return out


class InMemoryDocumentStore:
    """A dict of documents keyed by path, with the update time of each (like Firestore's)."""

    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}
        self.update_times: dict[str, datetime] = {}
        # reentrant: the guarded writes decide and ``set`` under it; every change and every scan takes it,
        # so a stream on one thread never iterates the dict another thread is changing (as the feed fill does)
        self._lock = threading.RLock()

    def get(self, path: str) -> Document | None:
        doc = self.docs.get(_document_path(path))
        return copy.deepcopy(doc) if doc is not None else None

    def set(self, path: str, data: Mapping[str, Any], *, merge: bool = False) -> None:
        with self._lock:
            self._commit({path: self._staged(path, data, merge, {})})

    def _staged(
        self, path: str, data: Mapping[str, Any], merge: bool, staged: Mapping[str, Document | None]
    ) -> Document:
        """The document ``path`` becomes (refused as Firestore refuses it: a bad path, over 1 MiB)."""
        _document_path(path)
        base = staged[path] if path in staged else self.docs.get(path)
        doc = _written(base, data, merge)
        if document_size(path, doc) > MAX_DOCUMENT_BYTES:
            raise InvalidRequest(f"{path[:200]!r}: the document would pass {MAX_DOCUMENT_BYTES} bytes")
        return doc

    def _commit(self, staged: Mapping[str, Document | None]) -> None:
        now = datetime.now(UTC)
        for path, doc in staged.items():
            if doc is None:
                self.docs.pop(path, None)
                self.update_times.pop(path, None)
            else:
                self.docs[path] = doc
                self.update_times[path] = now

    def _stage_all(self, writes: Sequence[Write], staged: dict[str, Document | None]) -> None:
        for w in writes:
            if w.kind == "delete":
                staged[_document_path(w.path)] = None
            else:
                staged[w.path] = self._staged(w.path, w.data, w.merge, staged)

    def create(self, path: str, data: Mapping[str, Any], *, also: Sequence[Write] = ()) -> bool:
        with self._lock:  # one atomic commit: the create and ``also``, or nothing
            if _document_path(path) in self.docs:
                return False
            staged: dict[str, Document | None] = {path: self._staged(path, data, False, {})}
            self._stage_all(also, staged)
            self._commit(staged)
            return True

    def delete(self, path: str) -> None:
        with self._lock:
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
        applied = 0
        for batch in chunked(writes, MAX_BATCH):
            with self._lock:  # each batch atomic, as Firestore commits it
                staged: dict[str, Document | None] = {}
                self._stage_all(batch, staged)
                self._commit(staged)
            applied += len(batch)
        return applied

    def _collection(self, collection: str) -> list[Snapshot]:
        depth = collection.count("/") + 2
        with self._lock:  # documents are replaced, never changed in place: copying them can wait
            found = [
                (path, data, self.update_times.get(path))
                for path, data in self.docs.items()
                if path.startswith(collection + "/") and path.count("/") + 1 == depth
            ]
        return [Snapshot(path.rsplit("/", 1)[1], path, copy.deepcopy(data), at) for path, data, at in found]

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
