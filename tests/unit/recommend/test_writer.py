"""FeedWriter under several adding threads (the realtime fill's workers hand it their feeds directly)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest

from shared.adapters.memory import InMemoryDocumentStore
from shared.ports import NewerWrite, Query
from shared.recommend.writer import WRITE_CHUNK, FeedWrite, FeedWriter
from tests.unit.recommend.fakes import NOW


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Threads switch every microsecond: races that a 5-ms interval hides come out."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def test_feeds_added_from_many_threads_are_each_written_once(fast_switching: None) -> None:
    docs = InMemoryDocumentStore()
    writer = FeedWriter(docs)
    threads, per_thread = 8, WRITE_CHUNK + 137  # every thread crosses a batch boundary
    start = threading.Barrier(threads)

    def add(t: int) -> None:
        start.wait()
        for k in range(per_thread):
            uid = f"t{t}-u{k}"
            data = {"owner": uid, "generatedAt": NOW + timedelta(seconds=1)}
            writer.add(FeedWrite(NewerWrite(f"feeds/{uid}", data, NOW + timedelta(seconds=1)), ()))

    adders = [threading.Thread(target=add, args=(t,)) for t in range(threads)]
    for adder in adders:
        adder.start()
    for adder in adders:
        adder.join()
    assert writer.close() == threads * per_thread
    stored = docs.query(Query("feeds"))
    assert len(stored) == threads * per_thread
    assert all(snap.data["owner"] == snap.id for snap in stored)
