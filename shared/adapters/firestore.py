"""DocumentStore over google-cloud-firestore (the client firebase-admin hands out).

The client is injected; with FIRESTORE_EMULATOR_HOST set the same client talks to the emulator.
Every method maps the SDK's errors to the port's (:mod:`shared.errors`) through one table,
:data:`TRANSLATION`, so the core never sees a google exception; the per-write google.rpc statuses of a
BatchWrite go through the same table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from google.api_core import exceptions as gexc
from google.api_core.datetime_helpers import DatetimeWithNanoseconds
from google.api_core.retry import Retry
from google.auth import exceptions as auth_exc
from google.cloud import firestore_v1
from google.cloud.firestore_v1 import FieldFilter, _helpers
from google.cloud.firestore_v1.field_path import FieldPath
from google.cloud.firestore_v1.types import common as _common_types
from google.cloud.firestore_v1.types import document as _document_types
from google.cloud.firestore_v1.types import firestore as _firestore_types

from shared.errors import (
    AccessDenied,
    AlreadyExists,
    InvalidRequest,
    NotFound,
    PreconditionFailed,
    ServiceUnavailable,
    StoryrecError,
)
from shared.logs import get_logger
from shared.ports import (
    ArrayUnion,
    Document,
    NewerOutcome,
    NewerWrite,
    Query,
    Snapshot,
    VersionedOutcome,
    Write,
    chunked,
    newer_decision,
    versioned_decision,
)
from shared.retry import Backoff, Sleep, retry_call

if TYPE_CHECKING:
    from google.cloud.firestore import Client

T = TypeVar("T")
_log = get_logger("firestore")

MAX_BATCH = 500
MAX_VERSIONED_ATTEMPTS = 25
# one RunQuery of stream() lives at most this long, then goes on after its last document: each reopening
# costs the emulator a scan of the whole result, and a run has 540 s
STREAM_SECONDS = 300.0
# pause between two rounds of a contended conditional write (jittered, so racing writers fall out of step)
CONTENTION_BACKOFF = Backoff(initial=0.01, factor=2.0, cap=1.0, jitter=True)
_OPS = {
    "==": "==",
    "!=": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
    "in": "in",
    "array-contains": "array_contains",
}
TRANSLATION: tuple[tuple[tuple[type[BaseException], ...], type[StoryrecError]], ...] = (
    # first match wins: subclasses before their bases (Aborted and AlreadyExists are Conflicts;
    # FailedPrecondition, InvalidArgument and OutOfRange are BadRequests)
    (
        (
            gexc.ServiceUnavailable,
            gexc.GatewayTimeout,  # DeadlineExceeded
            gexc.InternalServerError,
            gexc.TooManyRequests,  # ResourceExhausted
            gexc.Aborted,  # contention: the same call may succeed
            gexc.Unknown,
            gexc.RetryError,
            auth_exc.TransportError,
        ),
        ServiceUnavailable,
    ),
    (
        (
            gexc.Forbidden,  # PermissionDenied
            gexc.Unauthorized,  # Unauthenticated
            auth_exc.DefaultCredentialsError,
            auth_exc.RefreshError,
        ),
        AccessDenied,
    ),
    ((gexc.NotFound,), NotFound),
    ((gexc.Conflict,), AlreadyExists),  # AlreadyExists
    ((gexc.FailedPrecondition,), PreconditionFailed),
    ((gexc.BadRequest, ValueError), InvalidRequest),  # InvalidArgument, OutOfRange; a malformed path
    ((gexc.GoogleAPIError,), ServiceUnavailable),  # anything else the service answered
)
"""SDK exception class → storyrec error (and so its ``retryable`` verdict), for calls and BatchWrite statuses."""
# a conditional write that failed with one of these lost its race: read and decide again
_LOST_RACE = (NotFound, AlreadyExists, PreconditionFailed)
# plain protobuf classes behind the SDK's proto-plus types (see _RawCalls)
_DocumentMask = _common_types.DocumentMask.pb()
_BatchGetRequest = _firestore_types.BatchGetDocumentsRequest.pb()
_BatchWriteRequest = _firestore_types.BatchWriteRequest.pb()
_RunQueryRequest = _firestore_types.RunQueryRequest.pb()
# errors a stream that delivered nothing is opened again after (the SDK's own stream retries these)
_TRANSIENT = (gexc.ServiceUnavailable, gexc.InternalServerError, gexc.TooManyRequests)
STREAM_ATTEMPTS = 5


def translate(exc: BaseException, where: str) -> StoryrecError | None:
    """The storyrec error :data:`TRANSLATION` gives ``exc`` (None: not an SDK error, let it through)."""
    for sdk_errors, error in TRANSLATION:
        if isinstance(exc, sdk_errors):
            return error(f"{where}: {type(exc).__name__}: {exc}")
    return None


def status_error(code: int, message: str, where: str) -> StoryrecError:
    """A failed google.rpc status (one write of a BatchWrite) as the storyrec error of the same table."""
    error = translate(gexc.from_grpc_status(code, message), where)  # type: ignore[no-untyped-call]
    assert error is not None  # every GoogleAPIError is in the table
    return error


@contextmanager
def _mapped(operation: str, path: str) -> Iterator[None]:
    """Translate SDK errors raised inside the block into the port's errors."""
    try:
        yield
    except Exception as exc:
        error = translate(exc, f"Firestore {operation} {path[:200]!r}")
        if error is None:
            raise
        raise error from exc


class _Contended(StoryrecError):
    """A conditional write lost its race or met a transient refusal: another round reads and decides again."""

    retryable = True


def _again(error: StoryrecError) -> bool:
    return isinstance(error, _LOST_RACE) or error.retryable


def _contended(exc: BaseException) -> bool:
    return isinstance(exc, _Contended)


class FirestoreDocumentStore:
    """Documents addressed by slash paths, read and written through a Firestore client."""

    def __init__(
        self,
        client: Client,
        *,
        timeout: float | None = None,
        sleep: Sleep = time.sleep,
        stream_seconds: float = STREAM_SECONDS,
    ) -> None:
        self._client = client
        # bounds each call, retries included (the SDK's own default retries an unreachable host for minutes)
        self._opts: dict[str, Any] = {} if timeout is None else {"timeout": timeout, "retry": Retry(timeout=timeout)}
        # a stream's deadline covers the whole RunQuery: long, so the stream is rarely reopened (see stream)
        self._stream_opts: dict[str, Any] = (
            {} if timeout is None else {"timeout": max(timeout, stream_seconds), "retry": Retry(timeout=timeout)}
        )
        self._sleep = sleep

    def get(self, path: str) -> Document | None:
        with _mapped("get", path):
            snap = self._client.document(path).get(**self._opts)
            return snap.to_dict() if snap.exists else None

    def set(self, path: str, data: Mapping[str, Any], *, merge: bool = False) -> None:
        with _mapped("set", path):
            self._client.document(path).set(_sdk_fields(data), merge=merge, **self._opts)

    def create(self, path: str, data: Mapping[str, Any], *, also: Sequence[Write] = ()) -> bool:
        """A plain create, or with ``also`` one commit holding the create and those writes (all or none)."""
        try:
            with _mapped("create", path):
                if not also:
                    self._client.document(path).create(_sdk_fields(data), **self._opts)
                    return True
                batch = self._client.batch()
                batch.create(self._client.document(path), _sdk_fields(data))
                self._add_writes(batch, also)
                batch.commit(**self._opts)
        except AlreadyExists:
            return False
        return True

    def _add_writes(self, batch: Any, writes: Sequence[Write]) -> None:
        for w in writes:
            ref = self._client.document(w.path)
            if w.kind == "delete":
                batch.delete(ref)
            else:
                batch.set(ref, _sdk_fields(w.data), merge=w.merge)

    def delete(self, path: str) -> None:
        with _mapped("delete", path):
            self._client.document(path).delete(**self._opts)

    def put_versioned(
        self, path: str, data: Mapping[str, Any], *, version_field: str, stamps: Mapping[str, Any]
    ) -> VersionedOutcome:
        """Read, decide, then write under a precondition on what was read (optimistic, no locks).

        The write is a ``create`` when the document was absent and an ``update`` guarded by the read's
        ``update_time`` otherwise (fields the new record lacks are deleted, so it replaces). If another
        writer got in between, the precondition fails and the decision is taken again on fresh data.
        """
        with _mapped("put_versioned", path):
            ref = self._client.document(path)

        def attempt() -> VersionedOutcome:
            with _mapped("put_versioned", path):
                snap = ref.get(**self._opts)
                existing = snap.to_dict() if snap.exists else None
                outcome = versioned_decision(existing, data, version_field, stamps)
                if outcome != "written":
                    return outcome
                new = {**data, **stamps}
            try:
                with _mapped("put_versioned write", path):
                    if existing is None:
                        ref.create(new, **self._opts)
                    else:
                        removed = {k: firestore_v1.DELETE_FIELD for k in existing if k not in new}
                        fields = {FieldPath(k).to_api_repr(): v for k, v in {**new, **removed}.items()}
                        option = self._client.write_option(last_update_time=snap.update_time)
                        ref.update(fields, option=option, **self._opts)
            except StoryrecError as exc:
                if _again(exc):
                    raise _Contended(str(exc)) from exc
                raise
            return "written"

        return self._until_settled(attempt, repr(path[:200]))

    def _until_settled(self, attempt: Callable[[], T], where: str) -> T:
        """``attempt`` again (after a backoff pause) while it is contended, at most MAX_VERSIONED_ATTEMPTS times."""
        try:
            return retry_call(
                attempt,
                attempts=MAX_VERSIONED_ATTEMPTS,
                backoff=CONTENTION_BACKOFF,
                retryable=_contended,
                sleep=self._sleep,
            )
        except _Contended as exc:
            message = f"Firestore {where}: still contended after {MAX_VERSIONED_ATTEMPTS} attempts: {exc}"
            raise ServiceUnavailable(message) from exc

    def get_many(self, paths: Sequence[str], *, fields: Sequence[str] | None = None) -> list[Document | None]:
        """One BatchGetDocuments per 500 paths, with a field mask when ``fields`` is given.

        Sent and decoded as plain protobuf (:class:`_RawCalls`), each document's fields by the SDK's own
        ``decode_dict``: the SDK's ``get_all`` also builds a snapshot and deep-copies its data for each
        document, which cost the feed fill's catalogue read about three times its CPU (docs/BENCHMARKS.md,
        Feeds, "The fixed cost of a run").
        """
        found: dict[str, Document] = {}
        mask = None if fields is None else _field_paths(fields)
        for chunk in chunked(dict.fromkeys(paths), MAX_BATCH):
            with _mapped("get_many", chunk[0]):
                raw = _RawCalls(self._client, self._opts)  # inside: the client's transport may fail to start
                names = {raw.name(p): p for p in chunk}
                for name, data in raw.documents(list(names), mask).items():
                    found[names[name]] = data
        return [found.get(p) for p in paths]

    def write_newer(self, writes: Sequence[NewerWrite], *, version_field: str) -> list[NewerOutcome]:
        """Read the stored versions of up to 500 documents with one ``get_all`` (that field only), decide,
        and send the writes as one BatchWrite, each under a precondition on what was read: ``exists=False``
        for an absent document, its ``update_time`` otherwise.

        BatchWrite applies each write on its own, so a lost race (or a retryable refusal, per
        :data:`TRANSLATION`) fails only that write: its document is read and decided again after a
        :data:`CONTENTION_BACKOFF` pause. A path written twice in ``writes`` is handled in order.
        """
        outcomes: list[NewerOutcome | None] = [None] * len(writes)
        for round_ in _rounds(writes):
            for chunk in chunked(round_, MAX_BATCH):
                self._write_newer_chunk(writes, chunk, version_field, outcomes)
        return [o or "kept" for o in outcomes]

    def _write_newer_chunk(
        self, writes: Sequence[NewerWrite], pending: list[int], version_field: str, outcomes: list[NewerOutcome | None]
    ) -> None:
        where = f"{len(pending)} versioned writes from {writes[pending[0]].path[:200]}"
        raw = _RawCalls(self._client, self._opts)

        def attempt() -> None:
            pending[:] = self._newer_round(raw, writes, pending, version_field, outcomes, where)
            if pending:
                raise _Contended(f"{len(pending)} writes lost their race or were refused for now")

        self._until_settled(attempt, where)

    def _newer_round(
        self,
        raw: _RawCalls,
        writes: Sequence[NewerWrite],
        pending: list[int],
        version_field: str,
        outcomes: list[NewerOutcome | None],
        where: str,
    ) -> list[int]:
        """One read-decide-write round over ``pending``; the indices whose write must be decided again."""
        with _mapped("write_newer read", where):
            names = {raw.name(writes[i].path): i for i in pending}
            stored = raw.versions(list(names), version_field)
            sent: list[int] = []
            batch = raw.new_batch()
            for name, i in names.items():
                version, update_time = stored.get(name, (None, None))
                current = None if update_time is None else ({} if version is None else {version_field: version})
                outcome = newer_decision(current, writes[i], version_field)
                if outcome != "written":
                    outcomes[i] = outcome
                    continue
                raw.guarded_write(batch, name, writes[i], update_time)
                sent.append(i)
        if not sent:
            return []
        with _mapped("write_newer commit", where):
            statuses = raw.batch_write(batch)
        again = []
        for i, status in zip(sent, statuses, strict=True):
            if status.code == 0:
                outcomes[i] = "written"
                continue
            error = status_error(status.code, status.message, f"Firestore write_newer {writes[i].path[:200]!r}")
            if not _again(error):
                raise error
            again.append(i)
        return again

    def write_batch(self, writes: Sequence[Write]) -> int:
        applied = 0
        for chunk in chunked(writes, MAX_BATCH):
            with _mapped("batch commit", f"{applied} writes applied before"):
                batch = self._client.batch()
                self._add_writes(batch, chunk)
                batch.commit(**self._opts)
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
        if query.fields is not None:
            # the order fields too: a stream reopens after its last snapshot, whose values of them make the cursor
            q = q.select(_field_paths((*query.fields, *(f for f in query.order_by if f not in query.fields))))
        return q

    def query(self, query: Query) -> list[Snapshot]:
        with _mapped("query", query.collection):
            return [_only(s, query.fields) for s in self._run(self._build(query), self._opts)]

    def stream(self, query: Query, *, page_size: int = 1000) -> Iterator[Snapshot]:
        """Every matching document from one RunQuery, reopened after the last one delivered if it breaks.

        ``page_size`` is not used here. Reading page by page with cursors cost a query per page, and the
        emulator scans and sorts the whole result for each query, so a read cost pages x size
        (docs/BENCHMARKS.md, Export). A stream that breaks (its deadline, a dropped connection) after
        delivering documents goes on after the last of them. One that breaks before delivering any raises,
        unless the service was briefly unavailable (:data:`_TRANSIENT`, as the SDK's own stream retries):
        that one is opened again after a pause, at most :data:`STREAM_ATTEMPTS` times in a row.
        """
        remaining = query.limit
        with _mapped("query", query.collection):
            base = self._build(replace(query, limit=None))
        last: Snapshot | None = None
        failed = 0  # openings in a row that delivered nothing
        pauses = CONTENTION_BACKOFF.delays()
        while remaining is None or remaining > 0:
            with _mapped("stream", query.collection):
                # the cursor: the last document's fields (the order fields among them) and its id
                page_query = base if last is None else base.start_after({**last.data, "__name__": last.id})
                if remaining is not None:
                    page_query = page_query.limit(remaining)
            delivered = 0
            try:
                for snap in self._run(page_query, self._stream_opts):
                    last = snap
                    delivered += 1
                    if remaining is not None:
                        remaining -= 1
                    yield _only(snap, query.fields)
                return
            except Exception as exc:
                error = translate(exc, f"Firestore stream {query.collection[:200]!r}")
                if error is None:
                    raise
                failed = 0 if delivered else failed + 1
                if not error.retryable or (failed and (not isinstance(exc, _TRANSIENT) or failed >= STREAM_ATTEMPTS)):
                    raise error from exc
                if failed:
                    self._sleep(next(pauses))
                _log.info(
                    "stream reopened",
                    extra={"collection": query.collection, "delivered": delivered, "error": type(exc).__name__},
                )

    def _run(self, query: Any, opts: Mapping[str, Any]) -> Iterator[Snapshot]:
        """The documents of one RunQuery of the SDK query ``query``, sent and decoded as plain protobuf.

        The SDK's ``Query.stream`` builds a snapshot of each document through proto-plus wrappers and
        deep-copies its data again in ``to_dict``: three times the CPU of this for the feed fill's
        catalogue read (docs/BENCHMARKS.md, Feeds, "The fixed cost of a run"). The request is the one the
        SDK sends (its ``_to_protobuf``), through the client's own transport, metadata, retry and timeout;
        the fields are decoded by the SDK's ``decode_dict``.
        """
        client = self._client
        parent, _ = query._parent._parent_info()
        request = _RunQueryRequest(parent=parent, structured_query=query._to_protobuf()._pb)
        responses = client._firestore_api.run_query(
            request=_firestore_types.RunQueryRequest.wrap(request), metadata=client._rpc_metadata, **opts
        )
        prefix = f"{client._database_string}/documents/"
        for response in responses:
            pb = response._pb
            if not pb.HasField("document"):
                continue
            doc = pb.document
            path = doc.name[len(prefix) :] if doc.name.startswith(prefix) else doc.name
            data = cast(Document, _helpers.decode_dict(doc.fields, client))
            yield Snapshot(path.rsplit("/", 1)[-1], path, data, _time(doc.update_time))


def _sdk_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """A write's fields with the port's transforms as the SDK's (:class:`ArrayUnion`)."""
    return {k: firestore_v1.ArrayUnion(list(v.values)) if isinstance(v, ArrayUnion) else v for k, v in data.items()}


def _rounds(writes: Sequence[NewerWrite]) -> list[list[int]]:
    """Indices of ``writes`` in rounds where each path appears once (a BatchWrite may not hold two writes to
    one document); the n-th write to a path goes in round n."""
    rounds: list[list[int]] = []
    count: dict[str, int] = {}
    for i, write in enumerate(writes):
        n = count.get(write.path, 0)
        count[write.path] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(i)
    return rounds


class _RawCalls:
    """BatchGetDocuments and BatchWrite with plain protobuf messages, for :meth:`write_newer` and :meth:`get_many`.

    The SDK's batch and snapshot classes go through proto-plus wrappers; measured in the feed fill
    (docs/BENCHMARKS.md, Feeds), that marshalling cost more CPU per feed than the GetRecommendations call
    itself. This builds the same requests the SDK's ``get_all`` and ``BulkWriteBatch`` send (through the
    client's own transport, metadata, retry and timeout), as protobuf messages directly. It reaches into
    private client attributes, kept because a fresh measurement against the public calls still justifies
    them (docs/BENCHMARKS.md, "write_newer: plain protobuf requests against the public SDK": replaces at
    2.3-3.6x the rate and a quarter of the client CPU; benchmarks/bench_firestore_paths.py).
    """

    def __init__(self, client: Any, opts: Mapping[str, Any]) -> None:
        self._client = client
        self._api = client._firestore_api
        self._database = str(client._database_string)
        self._metadata = client._rpc_metadata
        self._opts = opts

    def name(self, path: str) -> str:
        """The document's full resource name. Built here: the SDK's ``document(path)._document_path`` rebuilds the
        database name on every call, a third of the CPU of reading a small document (ValueError as it raises)."""
        segments = path.split("/")
        if len(segments) % 2 or not all(segments):
            raise ValueError(f"{path[:200]!r} is not a document path")
        return f"{self._database}/documents/{path}"

    def versions(self, names: list[str], version_field: str) -> dict[str, tuple[Any, Any]]:
        """name → (stored version as a Python value or None, update_time protobuf or None if absent)."""
        request = _BatchGetRequest(
            database=self._database,
            documents=names,
            mask=_DocumentMask(field_paths=[FieldPath(version_field).to_api_repr()]),
        )
        found: dict[str, tuple[Any, Any]] = {}
        responses = self._api.batch_get_documents(
            request=_firestore_types.BatchGetDocumentsRequest.wrap(request), metadata=self._metadata, **self._opts
        )
        for response in responses:
            pb = response._pb
            if pb.WhichOneof("result") == "found":
                doc = pb.found
                value = doc.fields.get(version_field)
                found[doc.name] = (None if value is None else _decode(value), doc.update_time)
            else:
                found[pb.missing] = (None, None)
        return found

    def documents(self, names: list[str], mask: list[str] | None) -> dict[str, Document]:
        """name → data of each document found (only the ``mask`` field paths, when given), decoded as the SDK does."""
        request = _BatchGetRequest(database=self._database, documents=names)
        if mask is not None:
            request.mask.field_paths.extend(mask)
            request.mask.SetInParent()  # an empty mask still asks for no field
        found: dict[str, Document] = {}
        responses = self._api.batch_get_documents(
            request=_firestore_types.BatchGetDocumentsRequest.wrap(request), metadata=self._metadata, **self._opts
        )
        for response in responses:
            pb = response._pb
            if pb.WhichOneof("result") == "found":
                found[pb.found.name] = cast(Document, _helpers.decode_dict(pb.found.fields, self._client))
        return found

    def new_batch(self) -> Any:
        """An empty BatchWriteRequest for this database, for :meth:`guarded_write` to fill."""
        return _BatchWriteRequest(database=self._database)

    def guarded_write(self, batch: Any, name: str, write: NewerWrite, update_time: Any) -> None:
        """Add to ``batch`` a Write of ``write`` under a precondition: absent (``update_time`` None), else unchanged
        since read. Encoded in place: building each Write and Value apart and copying them into the request cost
        more than twice the CPU (docs/BENCHMARKS.md, Feeds, "The guarded write encoded in place, and where the
        fill's CPU goes now")."""
        pb = batch.writes.add()
        pb.update.name = name
        fields = pb.update.fields
        for key, value in write.data.items():
            _encode_into(fields[key], value)
        if update_time is None:
            pb.current_document.exists = False
        else:
            pb.current_document.update_time.CopyFrom(update_time)
        if write.merge:
            pb.update_mask.field_paths.extend(FieldPath(k).to_api_repr() for k in write.data)

    def batch_write(self, batch: Any) -> list[Any]:
        """Send ``batch`` as one BatchWrite (each write applied on its own); the google.rpc status of each write,
        in order."""
        response = self._api.batch_write(
            request=_firestore_types.BatchWriteRequest.wrap(batch), metadata=self._metadata, **self._opts
        )
        return list(response._pb.status)


def _encode_into(pb: Any, value: Any) -> None:
    """Set the Firestore ``Value`` protobuf ``pb`` to a Python value (the types a document of this project holds)."""
    if value is None:
        pb.null_value = 0
    elif isinstance(value, bool):
        pb.boolean_value = value
    elif isinstance(value, str):
        pb.string_value = value
    elif isinstance(value, int):
        pb.integer_value = value
    elif isinstance(value, float):
        pb.double_value = value
    elif isinstance(value, bytes):
        pb.bytes_value = value
    elif isinstance(value, datetime):
        pb.timestamp_value.FromDatetime(value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC))
    elif isinstance(value, Mapping):
        fields = pb.map_value.fields
        pb.map_value.SetInParent()  # an empty map is still a map
        for key, item in value.items():
            _encode_into(fields[str(key)], item)
    elif isinstance(value, list | tuple):
        values = pb.array_value.values
        pb.array_value.SetInParent()  # an empty array is still an array
        for item in value:
            _encode_into(values.add(), item)
    else:  # anything else (a GeoPoint, a reference, a sentinel): the SDK's own encoding
        pb.CopyFrom(_helpers.encode_value(value)._pb)


def _decode(value: Any) -> Any:
    """The stored version field as a Python value (a timestamp as an aware datetime; others as the SDK reads them)."""
    if value.WhichOneof("value_type") == "timestamp_value":
        return value.timestamp_value.ToDatetime(tzinfo=UTC)
    return _helpers.decode_value(_document_types.Value.wrap(value), None)


def _only(snap: Snapshot, fields: Sequence[str] | None) -> Snapshot:
    """``snap`` without the order fields a projected query reads for its cursor."""
    if fields is None:
        return snap
    return Snapshot(snap.id, snap.path, {k: v for k, v in snap.data.items() if k in fields}, snap.update_time)


def _time(pb: Any) -> datetime | None:
    """A protobuf Timestamp as the SDK gives it (a ``DatetimeWithNanoseconds``); None when unset."""
    if not (pb.seconds or pb.nanos):
        return None
    return cast(datetime, DatetimeWithNanoseconds.from_timestamp_pb(pb))  # type: ignore[no-untyped-call]


def _field_paths(fields: Sequence[str]) -> list[str]:
    """Top-level field names as Firestore field paths (a name that is not a plain identifier is quoted)."""
    return [FieldPath(name).to_api_repr() for name in fields]
