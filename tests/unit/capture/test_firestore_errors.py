"""Every FirestoreDocumentStore method turns google SDK errors into the port's errors (shared.errors)."""
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc

from shared.adapters.firestore import (
    CONTENTION_BACKOFF,
    MAX_VERSIONED_ATTEMPTS,
    STREAM_ATTEMPTS,
    FirestoreDocumentStore,
    status_error,
    translate,
)
from shared.errors import (
    AccessDenied,
    AlreadyExists,
    InvalidRequest,
    NotFound,
    PreconditionFailed,
    ServiceUnavailable,
)
from shared.ports import Query, Snapshot, Write

pytestmark = pytest.mark.unit


class Failing:
    """Stands for every object of the Firestore client: any call raises the chosen SDK error."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __getattr__(self, name: str) -> Any:
        return self

    def __call__(self, *_: Any, **__: Any) -> Any:
        raise self.error


CALLS = {
    "get": lambda s: s.get("stories/a"),
    "set": lambda s: s.set("stories/a", {"n": 1}),
    "create": lambda s: s.create("stories/a", {"n": 1}),
    "delete": lambda s: s.delete("stories/a"),
    "put_versioned": lambda s: s.put_versioned("stories/a", {"v": datetime.now(UTC)}, version_field="v", stamps={}),
    "write_batch": lambda s: s.write_batch([Write("stories/a", data={"n": 1})]),
    "query": lambda s: s.query(Query("stories")),
    "stream": lambda s: list(s.stream(Query("stories"))),
    "get_many": lambda s: s.get_many(["stories/a"]),
    "get_many masked": lambda s: s.get_many(["stories/a"], fields=("title",)),
    "stream masked": lambda s: list(s.stream(Query("stories", (), ("t",), fields=("title",)))),
}
ERRORS = [
    (gexc.ServiceUnavailable("down"), ServiceUnavailable),
    (gexc.DeadlineExceeded("slow"), ServiceUnavailable),
    (gexc.InternalServerError("500"), ServiceUnavailable),
    (gexc.ResourceExhausted("quota"), ServiceUnavailable),
    (gexc.RetryError("gave up", cause=None), ServiceUnavailable),
    (auth_exc.TransportError("no metadata server"), ServiceUnavailable),
    (gexc.PermissionDenied("rules"), AccessDenied),
    (gexc.Unauthenticated("token"), AccessDenied),
    (auth_exc.DefaultCredentialsError("no credentials"), AccessDenied),
    (gexc.NotFound("database"), NotFound),
    (gexc.InvalidArgument("too big"), InvalidRequest),
    (ValueError("odd path"), InvalidRequest),
]


@pytest.mark.parametrize("method", sorted(CALLS))
@pytest.mark.parametrize(("sdk_error", "port_error"), ERRORS, ids=[type(e).__name__ for e, _ in ERRORS])
def test_sdk_error_becomes_a_port_error(method: str, sdk_error: BaseException, port_error: type) -> None:
    store = FirestoreDocumentStore(Failing(sdk_error))  # type: ignore[arg-type]
    with pytest.raises(port_error):
        CALLS[method](store)


@pytest.mark.parametrize(
    ("code", "port_error", "retryable"),
    [
        (3, InvalidRequest, False),  # INVALID_ARGUMENT
        (4, ServiceUnavailable, True),  # DEADLINE_EXCEEDED
        (5, NotFound, False),
        (6, AlreadyExists, False),
        (7, AccessDenied, False),  # PERMISSION_DENIED
        (8, ServiceUnavailable, True),  # RESOURCE_EXHAUSTED
        (9, PreconditionFailed, False),  # FAILED_PRECONDITION
        (10, ServiceUnavailable, True),  # ABORTED
        (13, ServiceUnavailable, True),  # INTERNAL
        (14, ServiceUnavailable, True),  # UNAVAILABLE
        (16, AccessDenied, False),  # UNAUTHENTICATED
    ],
)
def test_batch_write_statuses_go_through_the_same_table(code: int, port_error: type, retryable: bool) -> None:
    error = status_error(code, "refused", "Firestore write_newer 'feeds/u'")
    assert type(error) is port_error and error.retryable is retryable
    assert type(translate(gexc.from_grpc_status(code, "refused"), "x")) is port_error  # type: ignore[no-untyped-call]


class _Snap:
    exists = True
    update_time = datetime(2026, 1, 1, tzinfo=UTC)

    def to_dict(self) -> dict[str, Any]:
        return {"v": datetime(2020, 1, 1, tzinfo=UTC)}


class _Racing:
    """A client whose guarded update loses its race ``losses`` times (FAILED_PRECONDITION), then succeeds."""

    def __init__(self, losses: int) -> None:
        self.losses = losses
        self.updates = 0

    def document(self, path: str) -> _Racing:
        return self

    def write_option(self, **_: Any) -> object:
        return object()

    def get(self, **_: Any) -> _Snap:
        return _Snap()

    def update(self, *_: Any, **__: Any) -> None:
        self.updates += 1
        if self.updates <= self.losses:
            raise gexc.FailedPrecondition("update_time changed")


def test_a_lost_race_is_decided_again_after_a_pause_of_the_one_backoff() -> None:
    sleeps: list[float] = []
    client = _Racing(losses=2)
    store = FirestoreDocumentStore(client, sleep=sleeps.append)  # type: ignore[arg-type]
    now = datetime.now(UTC)
    assert store.put_versioned("users/u", {"v": now}, version_field="v", stamps={}) == "written"
    assert client.updates == 3 and len(sleeps) == 2 and all(0 < s <= CONTENTION_BACKOFF.cap for s in sleeps)


def test_endless_contention_is_a_retryable_error_after_the_last_attempt() -> None:
    sleeps: list[float] = []
    client = _Racing(losses=10**6)
    store = FirestoreDocumentStore(client, sleep=sleeps.append)  # type: ignore[arg-type]
    with pytest.raises(ServiceUnavailable, match="still contended") as caught:
        store.put_versioned("users/u", {"v": datetime.now(UTC)}, version_field="v", stamps={})
    assert caught.value.retryable and client.updates == MAX_VERSIONED_ATTEMPTS
    assert len(sleeps) == MAX_VERSIONED_ATTEMPTS - 1


class _BreakingQuery:
    """A query over documents 0..n-1 whose streams break after ``per_stream`` documents (or at once)."""

    def __init__(self, n: int, per_stream: int, error: BaseException, after: int = -1) -> None:
        self.n, self.per_stream, self.error, self.after = n, per_stream, error, after

    def start_after(self, cursor: dict[str, Any]) -> _BreakingQuery:
        return _BreakingQuery(self.n, self.per_stream, self.error, cursor["n"])

    def limit(self, k: int) -> _BreakingQuery:
        return self

    def run(self, _: Any, __: Any) -> Any:
        OPENED.append(self.after)
        for sent, n in enumerate(range(self.after + 1, self.n)):
            if sent == self.per_stream:
                raise self.error
            yield Snapshot(f"d{n:03d}", f"c/d{n:03d}", {"n": n})


OPENED: list[int] = []


def test_a_broken_stream_goes_on_after_its_last_document(monkeypatch: pytest.MonkeyPatch) -> None:
    OPENED.clear()
    store = FirestoreDocumentStore(Failing(RuntimeError()), timeout=1.0)  # type: ignore[arg-type]
    query = _BreakingQuery(10, 4, gexc.DeadlineExceeded("deadline"))
    monkeypatch.setattr(store, "_build", lambda q: query)
    monkeypatch.setattr(store, "_run", lambda q, opts: q.run(q, opts))
    assert [s.data["n"] for s in store.stream(Query("c"))] == list(range(10))
    assert OPENED == [-1, 3, 7]  # one query per break, each after the last document delivered


@pytest.mark.parametrize(
    "error", [gexc.DeadlineExceeded("deadline"), gexc.PermissionDenied("rules")], ids=["no-progress", "not-retryable"]
)
def test_a_stream_that_breaks_without_progress_or_for_good_raises(
    monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    store = FirestoreDocumentStore(Failing(RuntimeError()), timeout=1.0)  # type: ignore[arg-type]
    per_stream = 0 if isinstance(error, gexc.DeadlineExceeded) else 3
    monkeypatch.setattr(store, "_build", lambda q: _BreakingQuery(10, per_stream, error))
    monkeypatch.setattr(store, "_run", lambda q, opts: q.run(q, opts))
    with pytest.raises((ServiceUnavailable, AccessDenied)):
        list(store.stream(Query("c")))


def test_a_stream_the_service_refuses_for_a_moment_is_opened_again_after_a_pause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before any document, a transient refusal (as the SDK's own stream retries) opens the stream again after a
    pause, a few times in a row at most."""
    OPENED.clear()
    pauses: list[float] = []
    store = FirestoreDocumentStore(Failing(RuntimeError()), timeout=1.0, sleep=pauses.append)  # type: ignore[arg-type]
    openings = iter([_BreakingQuery(10, 0, gexc.ServiceUnavailable("busy"))] * 2 + [_BreakingQuery(10, 99, None)])
    monkeypatch.setattr(store, "_build", lambda q: _Reopened(openings))
    monkeypatch.setattr(store, "_run", lambda q, opts: next(openings).run(q, opts))
    assert [s.data["n"] for s in store.stream(Query("c"))] == list(range(10))
    assert len(OPENED) == 3 and len(pauses) == 2
    OPENED.clear()
    monkeypatch.setattr(
        store, "_run", lambda q, opts: _BreakingQuery(10, 0, gexc.ServiceUnavailable("down")).run(q, opts)
    )
    with pytest.raises(ServiceUnavailable):
        list(store.stream(Query("c")))
    assert len(OPENED) == STREAM_ATTEMPTS


class _Reopened:
    """A query whose cursor and limit are ignored (the openings decide what each stream returns)."""

    def __init__(self, _: Any) -> None:
        pass

    def start_after(self, _: Any) -> _Reopened:
        return self

    def limit(self, _: int) -> _Reopened:
        return self
