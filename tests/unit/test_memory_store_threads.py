"""The in-memory document store (unit tests, the feed bench's --memory-store) is used by threaded code as
Firestore is: the feed fill writes on its writer threads while its catalogue is streamed on another."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.memory import InMemoryDocumentStore
from shared.ports import NewerWrite, Query

pytestmark = pytest.mark.unit


def test_a_stream_while_other_threads_write_sees_whole_documents_and_never_fails() -> None:
    store = InMemoryDocumentStore()
    for k in range(300):
        store.set(f"stories/s{k}", {"title": f"t{k}", "n": k})
    stop, errors = threading.Event(), []
    now = datetime(2026, 12, 7, tzinfo=UTC)

    def write() -> None:
        k = 0
        try:
            while not stop.is_set():
                at = now + timedelta(seconds=k)
                store.write_newer([NewerWrite(f"feeds/u{k}", {"generatedAt": at}, at)], version_field="generatedAt")
                store.set(f"stories/new{k}", {"title": "x", "n": -1})
                store.delete(f"stories/new{k - 1}")
                k += 1
        except Exception as exc:  # reported below: a writer must not fail either
            errors.append(exc)

    writers = [threading.Thread(target=write) for _ in range(3)]
    for t in writers:
        t.start()
    try:
        for _ in range(200):
            seen = {s.id: s.data for s in store.stream(Query("stories"))}
            assert all(f"s{k}" in seen for k in range(300))
            assert all(d["title"] == ("x" if d["n"] == -1 else f"t{d['n']}") for d in seen.values())
    finally:
        stop.set()
        for t in writers:
            t.join()
    assert errors == []
