"""Ports: what the core needs from the outside world, as Protocols.

The core depends only on these. Adapters in :mod:`shared.adapters` implement
them for Firestore, S3, GCS, SNS, CloudWatch and Personalize; in-memory fakes
implement them for unit tests. One contract suite (tests/integration/test_contracts.py)
runs against both so the fakes cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

Document = dict[str, Any]
Clock = Callable[[], datetime]
"""Returns the current time as an aware datetime. Injected so tests control time."""

FilterOp = Literal["==", "!=", "<", "<=", ">", ">=", "in", "array-contains"]


@dataclass(frozen=True)
class Where:
    """One field filter of a document query."""

    field: str
    op: FilterOp
    value: Any


@dataclass(frozen=True)
class Query:
    """A single-collection query, ordered so it can be paged with a cursor."""

    collection: str
    where: tuple[Where, ...] = ()
    order_by: tuple[str, ...] = ()
    limit: int | None = None
    start_after: tuple[Any, ...] | None = None
    """Values of the ``order_by`` fields of the last document of the previous page."""
    fields: tuple[str, ...] | None = None
    """Read only these top-level fields of each matching document (a projection: each snapshot's data holds
    those of them it has, nothing else); None reads every field. Filters and order still see whole documents."""


@dataclass(frozen=True)
class Snapshot:
    """A document read from the store: its id, full path, data and last update time (when known)."""

    id: str
    path: str
    data: Document
    update_time: datetime | None = None


VersionedOutcome = Literal["written", "unchanged", "stale"]


def versioned_decision(
    existing: Mapping[str, Any] | None, data: Mapping[str, Any], version_field: str, stamps: Mapping[str, Any]
) -> VersionedOutcome:
    """What :meth:`DocumentStore.put_versioned` does, given the current document (one rule for every store).

    'stale' when the stored version is newer than ``data[version_field]``; 'unchanged' when it is the
    same version with the same content (``stamps`` fields ignored); otherwise 'written'.
    """
    if existing is None:
        return "written"
    current = existing.get(version_field)
    new = data[version_field]
    if isinstance(current, datetime) and current > new:
        return "stale"
    if current == new and {k: v for k, v in existing.items() if k not in stamps} == dict(data):
        return "unchanged"
    return "written"


NewerOutcome = Literal["written", "kept", "absent"]
"""Of a :class:`NewerWrite`: applied; not applied because the stored version is as new or newer; not
applied because a merge found no document to merge into."""


@dataclass(frozen=True)
class NewerWrite:
    """A write applied only if the stored document is absent or holds an older version.

    ``version`` is compared with the stored document's version field. A replacing write's ``data``
    normally carries ``version`` in that field itself. A ``merge`` write adds ``data`` to the stored
    document (its version is kept) and is never applied to an absent one.
    """

    path: str
    data: Document
    version: datetime
    merge: bool = False


def newer_decision(stored: Mapping[str, Any] | None, write: NewerWrite, version_field: str) -> NewerOutcome:
    """What :meth:`DocumentStore.write_newer` does with ``write`` given the stored document (one rule for every
    store): a stored version that is not an aware datetime counts as older, so a damaged document is repaired.
    """
    if stored is None:
        return "absent" if write.merge else "written"
    current = stored.get(version_field)
    try:
        newer = isinstance(current, datetime) and current >= write.version
    except TypeError:  # a naive datetime cannot be ordered against an aware one
        newer = False
    return "kept" if newer else "written"


@dataclass(frozen=True)
class ArrayUnion:
    """A field value of a merge write: adds to the stored array each of ``values`` it lacks (the array is created
    when absent). Idempotent and commutative, so at-least-once deliveries in any order leave the same set
    (Firestore's ``ArrayUnion`` transform). Only as a top-level field of a ``set``/``create``/batch write."""

    values: tuple[Any, ...]


MAX_DOCUMENT_BYTES = 1_048_576
"""Firestore's largest document (1 MiB): a write that would make a document larger fails with ``InvalidRequest``."""


@dataclass(frozen=True)
class Write:
    """One write of a batch. ``kind`` 'set' replaces (or merges), 'delete' removes."""

    path: str
    kind: Literal["set", "delete"] = "set"
    data: Document = field(default_factory=dict)
    merge: bool = False


@runtime_checkable
class DocumentStore(Protocol):
    """A document database addressed by slash paths (``collection/doc[/sub/doc]``)."""

    def get(self, path: str) -> Document | None: ...

    def set(self, path: str, data: Mapping[str, Any], *, merge: bool = False) -> None: ...

    def create(self, path: str, data: Mapping[str, Any], *, also: Sequence[Write] = ()) -> bool:
        """Write only if absent. True if written, False if the document already existed.

        ``also``: more writes committed atomically with the create (all or none: none when the document existed
        or when any of them is refused, e.g. ``InvalidRequest`` for a document over 1 MiB).
        """
        ...

    def delete(self, path: str) -> None: ...

    def put_versioned(
        self, path: str, data: Mapping[str, Any], *, version_field: str, stamps: Mapping[str, Any]
    ) -> VersionedOutcome:
        """Replace the document with ``data`` + ``stamps`` unless it holds a newer ``version_field``.

        Atomic (a transaction, not read-then-write): of two concurrent writers the older version never
        wins, whatever the order they arrive in. See :func:`versioned_decision`.
        """
        ...

    def get_many(self, paths: Sequence[str], *, fields: Sequence[str] | None = None) -> list[Document | None]:
        """Read many documents in a few round trips; one entry per path, in order (None when absent).

        ``fields``: read only these top-level fields of each document (a projection; a document that has
        none of them reads as ``{}``, not None); None reads every field.
        """
        ...

    def write_newer(self, writes: Sequence[NewerWrite], *, version_field: str) -> list[NewerOutcome]:
        """Apply each write only if the stored document is absent or older (:func:`newer_decision`).

        Correct under concurrency: a write never replaces a version newer than its own, whichever writer
        arrives first; an equal version is left as is (a rerun is a no-op). Writes are applied one by one,
        not atomically as a group. Returns one outcome per write, in order.
        """
        ...

    def write_batch(self, writes: Sequence[Write]) -> int:
        """Apply writes in atomic batches of at most 500; return how many were applied."""
        ...

    def query(self, query: Query) -> list[Snapshot]: ...

    def stream(self, query: Query, *, page_size: int = 1000) -> Iterator[Snapshot]:
        """Yield every matching document, reading page by page with cursors."""
        ...


class DocumentCounter(Protocol):
    """Counts the documents of a collection that match every filter, without reading them."""

    def count(self, collection: str, where: Sequence[Where] = ()) -> int: ...


@dataclass(frozen=True)
class ObjectInfo:
    """Metadata of a stored object."""

    key: str
    size: int
    etag: str | None = None


@runtime_checkable
class ObjectStore(Protocol):
    """A bucket of objects (S3 or GCS). Keys are bucket-relative."""

    bucket: str

    def put_bytes(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None: ...

    def put_if_absent(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> bool:
        """Create ``key`` only if no object has it (S3 ``If-None-Match: *``, GCS generation 0): True if this
        call created it, False if it already existed. Of writers racing for one key exactly one wins."""
        ...

    def put_file(self, key: str, path: str, *, content_type: str = "application/octet-stream") -> None:
        """Upload a local file; large files go as multipart (S3) or resumable (GCS) uploads."""
        ...

    def get_bytes(self, key: str) -> bytes: ...

    def head(self, key: str) -> ObjectInfo | None: ...

    def list(self, prefix: str = "") -> list[ObjectInfo]: ...

    def delete(self, key: str) -> None: ...


@runtime_checkable
class Notifier(Protocol):
    """Sends an alert to the operators (SNS in production)."""

    def notify(self, subject: str, message: str, attributes: Mapping[str, str] | None = None) -> str:
        """Publish; return the message id."""
        ...


@runtime_checkable
class MetricsSink(Protocol):
    """Records one business metric (CloudWatch in production)."""

    def put(
        self, name: str, value: float = 1.0, *, unit: str = "Count", dimensions: Mapping[str, str] | None = None
    ) -> None: ...

    def flush(self) -> None: ...


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Split an iterable into lists of at most ``size`` items."""
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
