"""DocumentStore over google-cloud-firestore (the client firebase-admin hands out).

The client is injected; with FIRESTORE_EMULATOR_HOST set the same client talks to the emulator.
Every method maps the SDK's errors to the port's (:mod:`shared.errors`), so the core never sees a
google exception: unreachable or overloaded → ServiceUnavailable, refused request → InvalidRequest,
credentials → AccessDenied, missing → NotFound.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc
from google.api_core.retry import Retry
from google.auth import exceptions as auth_exc
from google.cloud import firestore_v1
from google.cloud.firestore_v1 import FieldFilter
from google.cloud.firestore_v1.field_path import FieldPath

from shared.errors import AccessDenied, InvalidRequest, NotFound, PreconditionFailed, ServiceUnavailable
from shared.ports import Document, Query, Snapshot, VersionedOutcome, Write, chunked, versioned_decision

if TYPE_CHECKING:
    from google.cloud.firestore import Client

MAX_BATCH = 500
MAX_VERSIONED_ATTEMPTS = 25
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
_UNAVAILABLE = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.InternalServerError,
    gexc.TooManyRequests,
    gexc.ResourceExhausted,
    gexc.Aborted,
    gexc.Unknown,
    gexc.RetryError,
    gexc.GatewayTimeout,
    auth_exc.TransportError,
)


@contextmanager
def _mapped(operation: str, path: str) -> Iterator[None]:
    """Translate SDK errors raised inside the block into the port's errors."""
    where = f"Firestore {operation} {path[:200]!r}"
    try:
        yield
    except _UNAVAILABLE as exc:
        raise ServiceUnavailable(f"{where}: {type(exc).__name__}: {exc}") from exc
    except (
        gexc.PermissionDenied,
        gexc.Unauthenticated,
        gexc.Unauthorized,
        gexc.Forbidden,
        auth_exc.DefaultCredentialsError,
        auth_exc.RefreshError,
    ) as exc:
        raise AccessDenied(f"{where}: {type(exc).__name__}: {exc}") from exc
    except gexc.NotFound as exc:
        raise NotFound(f"{where}: {exc}") from exc
    except gexc.FailedPrecondition as exc:
        raise PreconditionFailed(f"{where}: {exc}") from exc
    except (gexc.InvalidArgument, gexc.BadRequest, gexc.OutOfRange, ValueError) as exc:
        raise InvalidRequest(f"{where}: {type(exc).__name__}: {exc}") from exc
    except gexc.GoogleAPIError as exc:
        raise ServiceUnavailable(f"{where}: {type(exc).__name__}: {exc}") from exc


class FirestoreDocumentStore:
    """Documents addressed by slash paths, read and written through a Firestore client."""

    def __init__(self, client: Client, *, timeout: float | None = None) -> None:
        self._client = client
        # bounds each call, retries included (the SDK's own default retries an unreachable host for minutes)
        self._opts: dict[str, Any] = {} if timeout is None else {"timeout": timeout, "retry": Retry(timeout=timeout)}

    def get(self, path: str) -> Document | None:
        with _mapped("get", path):
            snap = self._client.document(path).get(**self._opts)
            return snap.to_dict() if snap.exists else None

    def set(self, path: str, data: Mapping[str, Any], *, merge: bool = False) -> None:
        with _mapped("set", path):
            self._client.document(path).set(dict(data), merge=merge, **self._opts)

    def create(self, path: str, data: Mapping[str, Any]) -> bool:
        with _mapped("create", path):
            try:
                self._client.document(path).create(dict(data), **self._opts)
            except (gexc.Conflict, gexc.AlreadyExists):
                return False
            return True

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
        for _ in range(MAX_VERSIONED_ATTEMPTS):
            with _mapped("put_versioned", path):
                snap = ref.get(**self._opts)
                existing = snap.to_dict() if snap.exists else None
                outcome = versioned_decision(existing, data, version_field, stamps)
                if outcome != "written":
                    return outcome
                new = {**data, **stamps}
                try:
                    if existing is None:
                        ref.create(new, **self._opts)
                    else:
                        removed = {k: firestore_v1.DELETE_FIELD for k in existing if k not in new}
                        fields = {FieldPath(k).to_api_repr(): v for k, v in {**new, **removed}.items()}
                        ref.update(
                            fields, option=self._client.write_option(last_update_time=snap.update_time), **self._opts
                        )
                except (gexc.FailedPrecondition, gexc.AlreadyExists, gexc.Conflict, gexc.Aborted):
                    continue  # another writer won the race: decide again on what it wrote
                return "written"
        raise ServiceUnavailable(f"Firestore {path[:200]!r}: still contended after {MAX_VERSIONED_ATTEMPTS} attempts")

    def write_batch(self, writes: Sequence[Write]) -> int:
        applied = 0
        for chunk in chunked(writes, MAX_BATCH):
            with _mapped("batch commit", f"{applied} writes applied before"):
                batch = self._client.batch()
                for w in chunk:
                    ref = self._client.document(w.path)
                    if w.kind == "delete":
                        batch.delete(ref)
                    else:
                        batch.set(ref, dict(w.data), merge=w.merge)
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
        return q

    def query(self, query: Query) -> list[Snapshot]:
        with _mapped("query", query.collection):
            return [_snapshot(s) for s in self._build(query).stream(**self._opts)]

    def stream(self, query: Query, *, page_size: int = 1000) -> Iterator[Snapshot]:
        remaining = query.limit
        with _mapped("query", query.collection):
            base = self._build(Query(query.collection, query.where, query.order_by, None, query.start_after))
        cursor = None
        while remaining is None or remaining > 0:
            size = page_size if remaining is None else min(page_size, remaining)
            with _mapped("stream", query.collection):
                page_query = base.start_after(cursor) if cursor is not None else base
                page = list(page_query.limit(size).stream(**self._opts))
            for snap in page:
                yield _snapshot(snap)
            if len(page) < size:
                return
            cursor = page[-1]
            if remaining is not None:
                remaining -= len(page)


def _snapshot(snap: Any) -> Snapshot:
    return Snapshot(snap.id, snap.reference.path, snap.to_dict() or {}, snap.update_time)
