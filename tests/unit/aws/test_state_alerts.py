"""The stage's alerts: one per key among overlapping runs, never lost; markers stamped and listed newest first."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.memory import InMemoryObjectStore, RecordingNotifier
from shared.errors import ServiceUnavailable
from shared.personalize.state import RESEND_AFTER, StageState

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


class _FailingOnce(RecordingNotifier):
    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def notify(self, subject: str, message: str, attributes: Mapping[str, str] | None = None) -> str:
        if not self.failed:
            self.failed = True
            raise ServiceUnavailable("SNS down")
        return super().notify(subject, message, attributes)


def test_overlapping_runs_send_one_alert_per_key() -> None:
    store, notifier = InMemoryObjectStore("b"), RecordingNotifier()
    states = [StageState(store, "state/", lambda: T0) for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        sent = list(pool.map(lambda s: s.alert_once(notifier, "import-failed:x", "s", "m"), states))
    assert sent.count(True) == 1 and len(notifier.sent) == 1


def test_a_failed_publish_is_sent_by_the_next_pass() -> None:
    state, notifier = StageState(InMemoryObjectStore("b"), "state/", lambda: T0), _FailingOnce()
    with pytest.raises(ServiceUnavailable):
        state.alert_once(notifier, "k", "s", "m")
    assert state.alert_once(notifier, "k", "s", "m") and len(notifier.sent) == 1


def test_an_alert_claimed_by_a_run_that_died_is_re_sent_once_later() -> None:
    now = [T0]
    store = InMemoryObjectStore("b")
    state, notifier = StageState(store, "state/", lambda: now[0]), RecordingNotifier()
    store.put_bytes(  # what a run that died between its claim and its publish leaves
        f"state/alerts/{hashlib.sha256(b'k').hexdigest()[:32]}.json",
        json.dumps({"key": "k", "subject": "s", "sent_at": T0.isoformat()}).encode(),
    )
    assert not state.alert_once(notifier, "k", "s", "m")  # maybe still publishing: not yet
    now[0] = T0 + RESEND_AFTER
    assert state.alert_once(notifier, "k", "s", "m")
    assert not state.alert_once(notifier, "k", "s", "m")
    assert len(notifier.sent) == 1


def test_an_alert_sns_refused_is_kept_and_sent_once_by_a_later_pass_even_if_nothing_raises_it_again() -> None:
    store, notifier = InMemoryObjectStore("b"), _FailingOnce()
    state = StageState(store, "state/", lambda: T0)
    with pytest.raises(ServiceUnavailable):
        state.alert_once(notifier, "held-lost:2026-10-30", "storyrec held interactions lost: 2026-10-30", "m")
    assert [o.key for o in store.list("state/alerts/")] == []  # the marker is gone: a retry may send it
    assert state.resend_kept(notifier) == ["held-lost:2026-10-30"]
    assert state.resend_kept(notifier) == [] and [o.key for o in store.list("state/alerts-kept/")] == []
    assert [s for s, _, _ in notifier.sent] == ["storyrec held interactions lost: 2026-10-30"]
    assert not state.alert_once(notifier, "held-lost:2026-10-30", "again", "m")  # still once per key


def test_a_kept_alert_stays_kept_while_sns_is_still_down() -> None:
    class Down(RecordingNotifier):
        def notify(self, subject: str, message: str, attributes: Mapping[str, str] | None = None) -> str:
            raise ServiceUnavailable("SNS down")

    store = InMemoryObjectStore("b")
    state = StageState(store, "state/", lambda: T0)
    with pytest.raises(ServiceUnavailable):
        state.alert_once(Down(), "k", "s", "m")
    assert state.resend_kept(Down()) == [] and len(store.list("state/alerts-kept/")) == 1
    back = RecordingNotifier()
    assert state.resend_kept(back) == ["k"] and [s for s, _, _ in back.sent] == ["s"]
