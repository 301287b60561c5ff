"""Every FirestoreDocumentStore method turns google SDK errors into the port's errors (shared.errors)."""
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc

from shared.adapters.firestore import FirestoreDocumentStore
from shared.errors import AccessDenied, InvalidRequest, NotFound, ServiceUnavailable
from shared.ports import Query, Write

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
