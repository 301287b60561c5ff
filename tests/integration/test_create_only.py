"""The ObjectStore's create-only put (``put_if_absent``) on every adapter: of writers racing for one key,
exactly one wins, and the object holds the winner's bytes. The decision record relies on it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.adapters.memory import InMemoryObjectStore
from shared.ports import ObjectStore

pytestmark = pytest.mark.integration


@pytest.fixture(params=["s3", "gcs", "memory"])
def objects(request: pytest.FixtureRequest) -> ObjectStore:
    if request.param == "memory":
        return InMemoryObjectStore()
    return request.getfixturevalue(f"{request.param}_store")  # type: ignore[no-any-return]


def test_put_if_absent_creates_once_and_never_overwrites(objects: ObjectStore) -> None:
    assert objects.put_if_absent("decisions/v1.json", b"first", content_type="application/json") is True
    assert objects.put_if_absent("decisions/v1.json", b"second") is False
    assert objects.get_bytes("decisions/v1.json") == b"first"
    objects.put_bytes("decisions/v1.json", b"owner rewrites")  # the winner may still update its own record
    assert objects.put_if_absent("decisions/v1.json", b"third") is False
    assert objects.get_bytes("decisions/v1.json") == b"owner rewrites"


def test_of_eight_racing_creates_exactly_one_wins(objects: ObjectStore) -> None:
    start = threading.Barrier(8)

    def create(n: int) -> bool:
        start.wait()
        return objects.put_if_absent("decisions/race.json", f"writer {n}".encode())

    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(create, range(8)))
    assert won.count(True) == 1
    assert objects.get_bytes("decisions/race.json") == f"writer {won.index(True)}".encode()
