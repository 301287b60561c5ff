"""The reader aggregate on the Firestore emulator, through the real capture code, the backfill CLI and the fill."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from shared.adapters.firestore import FirestoreDocumentStore
from shared.adapters.memory import RecordingMetrics
from shared.capture.readers import INCOMPLETE, INDEXED
from shared.capture.service import CaptureService, Outcome
from shared.ports import Query
from shared.recommend import fill_feeds
from tests.corpus.capture_cases import click, story
from tests.unit.recommend.fakes import NOW, make_deps, recommender

pytestmark = pytest.mark.integration

STORIES = [f"s{i}" for i in range(8)]


class Counting(FirestoreDocumentStore):
    """The real adapter, counting the per-reader queries on ``ml_interactions``."""

    reader_queries = 0

    def query(self, query: Query) -> Any:
        if query.collection == "ml_interactions" and any(w.field == "USER_ID" for w in query.where):
            self.reader_queries += 1
        return super().query(query)


def _click(n: int, uid: str, sid: str, event: str = "read", days_ago: float = 1) -> dict[str, Any]:
    at = NOW - timedelta(days=days_ago, minutes=n)
    return click(userId=uid, storyId=sid, type=event, createdAt=at, clientTime=at)


def _service(store: Any) -> CaptureService:
    return CaptureService(store, lambda: NOW, RecordingMetrics())


def _seed_stories(client: Any) -> None:
    created = int((NOW - timedelta(days=1)).timestamp())
    batch = client.batch()
    for sid in STORIES:
        batch.set(client.document(f"stories/{sid}"), {**story(), "title": f"T {sid}"})
        batch.set(client.document(f"ml_items/{sid}"), {"ITEM_ID": sid, "CREATION_TIMESTAMP": created, "active": True})
    batch.commit()


def _aggregate(client: Any, uid: str) -> dict[str, Any]:
    return client.document(f"ml_readers/{uid}").get().to_dict() or {}


def test_capture_keeps_the_aggregate_in_one_commit_through_duplicates_and_any_order(firestore_client: Any) -> None:
    _seed_stories(firestore_client)
    service = _service(FirestoreDocumentStore(firestore_client))
    clicks = [(3, "s3", "like"), (1, "s1", "read"), (2, "s2", "read"), (1, "s1", "read"), (4, "s1", "open")]
    for n, sid, event in clicks:  # out of order, c1 delivered twice
        service.capture_click(f"c{n}", _click(n, "u1", sid, event))
    doc = _aggregate(firestore_client, "u1")
    assert {k: sorted(v) for k, v in doc.items() if k.startswith("items_")} == {
        "items_read": ["s1", "s2"],
        "items_like": ["s3"],
        "items_open": ["s1"],
    }
    assert firestore_client.document("ml_interactions/c1").get().to_dict()[INDEXED] is True
    firestore_client.document("ml_readers/u1").delete()  # as if captured before aggregates existed
    assert service.capture_click("c2", _click(2, "u1", "s2")) is Outcome.DUPLICATE
    assert _aggregate(firestore_client, "u1") == {"USER_ID": "u1", "items_read": ["s2"]}


def test_an_aggregate_at_firestores_size_limit_never_fails_a_capture(firestore_client: Any) -> None:
    _seed_stories(firestore_client)
    ref = firestore_client.document("ml_readers/heavy")
    low, high = 900_000, 1_048_576  # the largest filler the emulator accepts: nothing more fits after it
    while high - low > 1:
        mid = (low + high) // 2
        try:
            ref.set({"USER_ID": "heavy", "items_read": ["x" * mid]})
            low = mid
        except Exception:
            high = mid
    ref.set({"USER_ID": "heavy", "items_read": ["x" * low]})
    metrics = RecordingMetrics()
    service = CaptureService(FirestoreDocumentStore(firestore_client), lambda: NOW, metrics)
    assert service.capture_click("c1", _click(1, "heavy", "s1")) is Outcome.CAPTURED
    assert firestore_client.document("ml_interactions/c1").get().exists
    assert _aggregate(firestore_client, "heavy") == {"USER_ID": "heavy", INCOMPLETE: "overflow"}
    assert metrics.total("ReaderAggregateOverflowed") == 1


def test_a_deleted_users_aggregate_is_erased(firestore_client: Any) -> None:
    _seed_stories(firestore_client)
    service = _service(FirestoreDocumentStore(firestore_client))
    service.capture_click("c1", _click(1, "gone", "s1"))
    assert service.capture_user("gone", None, version=NOW) is Outcome.DEACTIVATED
    assert _aggregate(firestore_client, "gone") == {"USER_ID": "gone", INCOMPLETE: "erased"}


def _history(client: Any, store: Any) -> None:
    """Readers in and out of the window, some active by a profile change only, with every event type."""
    _seed_stories(client)
    service = _service(store)
    n = 0
    for uid, reads in {
        "alice": [("s1", "read", 1), ("s2", "like", 40)],
        "bob": [("s3", "read", 60), ("s4", "open", 90)],  # outside the window only
        "carol": [("s0", "read", 2), ("s1", "read", 3)],
        "dave": [("s5", "save", 45)],
    }.items():
        for sid, event, days_ago in reads:
            n += 1
            assert service.capture_click(f"c{n:03d}", _click(n, uid, sid, event, days_ago)) is Outcome.CAPTURED
    for uid in ("bob", "dave", "erin"):  # erin never read anything
        client.document(f"ml_users/{uid}").set({"USER_ID": uid, "active": True, "updated_at": NOW - timedelta(days=1)})


def _feeds(client: Any) -> dict[str, Any]:
    return {s.id: s.to_dict() for s in client.collection("feeds").stream()}


@pytest.mark.parametrize("control_share", [0.0, 1.0])
def test_the_fill_on_the_emulator_gives_the_same_feeds_from_the_aggregates_without_a_reader_query(
    firestore_client: Any, control_share: float
) -> None:
    from shared.experiment.assign import experiment_for

    store = Counting(firestore_client)
    _history(firestore_client, store)

    def fill() -> Any:
        deps = make_deps(recommender(STORIES), store, seen_event_types=("read", "open"))
        deps = replace(deps, experiment=lambda champion: experiment_for(champion, None, control_share, 0.0))
        return fill_feeds(deps)

    fast = fill()
    assert store.reader_queries == 0 and fast.history_queries == 0
    assert firestore_client.document("ml_state/readers").get().to_dict()["how"] == "captured"
    new = _feeds(firestore_client)
    # the same data as an existing deployment has it: no aggregates, no marker, no capture flag
    for snap in firestore_client.collection("ml_readers").stream():
        snap.reference.delete()
    firestore_client.document("ml_state/readers").delete()
    for snap in firestore_client.collection("ml_interactions").stream():
        snap.reference.update({INDEXED: firestore_delete()})
    for snap in firestore_client.collection("feeds").stream():
        snap.reference.delete()
    slow = fill()
    assert store.reader_queries > 0 and slow.history_queries > 0
    assert not firestore_client.document("ml_state/readers").get().exists
    assert _feeds(firestore_client) == new
    assert (fast.personalized, fast.popular, fast.arms) == (slow.personalized, slow.popular, slow.arms)


def firestore_delete() -> Any:
    from google.cloud import firestore_v1

    return firestore_v1.DELETE_FIELD


def test_backfill_readers_builds_the_aggregates_of_an_existing_deployment_and_marks_them(
    firestore_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.cli import app

    monkeypatch.setenv("STORYREC_CAPTURE_METRICS", "log")
    store = FirestoreDocumentStore(firestore_client)
    _history(firestore_client, store)
    built = {s.id: s.to_dict() for s in firestore_client.collection("ml_readers").stream()}
    for uid in built:
        firestore_client.document(f"ml_readers/{uid}").delete()
    firestore_client.document("ml_users/dave").set({"USER_ID": "dave", "active": False})  # deleted since
    first = CliRunner().invoke(app, ["backfill", "readers", "--page-size", "3"])
    assert first.exit_code == 0, first.output
    after = {s.id: s.to_dict() for s in firestore_client.collection("ml_readers").stream()}
    assert after["dave"] == {"USER_ID": "dave", INCOMPLETE: "erased"}
    for uid in ("alice", "bob", "carol"):
        assert {k: sorted(v) for k, v in after[uid].items() if k.startswith("items_")} == {
            k: sorted(v) for k, v in built[uid].items() if k.startswith("items_")
        }
    assert firestore_client.document("ml_state/readers").get().to_dict()["how"] == "backfill"
    second = CliRunner().invoke(app, ["backfill", "readers"])
    assert second.exit_code == 0, second.output
    assert {s.id: s.to_dict() for s in firestore_client.collection("ml_readers").stream()} == after
