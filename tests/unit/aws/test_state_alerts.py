"""The stage's alert markers: one per key, stamped, and listed newest first."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.memory import InMemoryObjectStore, RecordingNotifier
from shared.personalize.state import StageState

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_alerts_are_listed_newest_first_and_limited_whatever_their_key_order() -> None:
    clock = iter(T0 + timedelta(hours=h) for h in range(10))
    state = StageState(InMemoryObjectStore("b"), "state/", lambda: next(clock))
    notifier = RecordingNotifier()
    for n in range(5):
        assert state.alert_once(notifier, f"key-{n}", f"subject {n}", "m")
    assert not state.alert_once(notifier, "key-2", "again", "m")  # once per key
    newest = state.alerts(limit=3)
    assert [m["key"] for m in newest] == ["key-4", "key-3", "key-2"]
    assert newest[0]["sent_at"] == (T0 + timedelta(hours=4)).isoformat()
    assert len(notifier.sent) == 5


def test_markers_written_before_sent_at_existed_sort_last() -> None:
    store = InMemoryObjectStore("b")
    state = StageState(store, "state/", lambda: T0)
    store.put_bytes("state/alerts/old.json", json.dumps({"key": "old", "subject": "s"}).encode())
    state.alert_once(RecordingNotifier(), "new", "s", "m")
    assert [m["key"] for m in state.alerts(limit=5)] == ["new", "old"]
