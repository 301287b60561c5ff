"""The reader aggregate ``ml_readers/{uid}`` kept by click capture: at least once, any order, bounded, erasable."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.adapters.memory import InMemoryDocumentStore, RecordingMetrics, document_size
from shared.capture.readers import INCOMPLETE, backfill_readers, parse_aggregate
from shared.capture.service import CaptureService, Outcome
from shared.config import Collections
from shared.errors import InvalidRequest
from shared.ports import MAX_DOCUMENT_BYTES, ArrayUnion
from tests.corpus.capture_cases import NOW, VERSION, click, story
from tests.unit.capture.conftest import Clock

pytestmark = pytest.mark.unit

STORIES = [f"s{i}" for i in range(6)]
TYPES = ["open", "read", "comment", "like", "save"]


def _store(stories: list[str] = STORIES) -> InMemoryDocumentStore:
    store = InMemoryDocumentStore()
    for sid in stories:
        store.set(f"stories/{sid}", story())
    return store


def _items(store: InMemoryDocumentStore, uid: str = "u1") -> dict[str, set[str]]:
    doc = store.get(f"ml_readers/{uid}")
    assert doc is not None
    return {k: set(v) for k, v in parse_aggregate(doc).items.items()}


def _nearly_full(store: InMemoryDocumentStore, uid: str, field: str) -> None:
    """An aggregate of 256-character story ids two bytes short of 1 MiB: no further story fits."""
    ids = [f"{i:06d}" + "x" * 250 for i in range(MAX_DOCUMENT_BYTES // 257 - 1)]
    doc = {"USER_ID": uid, field: ids}
    short = MAX_DOCUMENT_BYTES - 2 - document_size(f"ml_readers/{uid}", doc)
    assert 0 <= short < 257 * 2
    ids.append("y" * (short - 1))
    store.set(f"ml_readers/{uid}", doc)
    assert document_size(f"ml_readers/{uid}", doc) == MAX_DOCUMENT_BYTES - 2


def _click(n: int, sid: str, event: str = "read", uid: str = "u1") -> dict[str, object]:
    # one click a minute apart: under capture's 60 a minute
    at = NOW - timedelta(minutes=n + 1)
    return click(userId=uid, storyId=sid, type=event, createdAt=at, clientTime=at)


def test_a_click_and_its_aggregate_are_one_commit(service: CaptureService, store: InMemoryDocumentStore) -> None:
    assert service.capture_click("c1", click(type="like")) is Outcome.CAPTURED
    assert store.get("ml_readers/u1") == {"USER_ID": "u1", "items_like": ["s1"]}
    assert store.get("ml_interactions/c1")["reader_indexed"] is True  # type: ignore[index]


def test_a_duplicate_delivery_repairs_a_missing_aggregate_and_adds_nothing_twice(
    service: CaptureService, store: InMemoryDocumentStore
) -> None:
    service.capture_click("c1", click())
    store.delete("ml_readers/u1")  # e.g. an interaction captured before aggregates existed
    assert service.capture_click("c1", click()) is Outcome.DUPLICATE
    assert service.capture_click("c1", click()) is Outcome.DUPLICATE
    assert store.get("ml_readers/u1") == {"USER_ID": "u1", "items_read": ["s1"]}


def test_a_refused_aggregate_never_fails_the_capture_it_marks_the_reader_overflowed() -> None:
    store, metrics = _store(), RecordingMetrics()
    service = CaptureService(store, Clock(), metrics)
    _nearly_full(store, "u1", "items_read")
    assert service.capture_click("c1", _click(1, "s1")) is Outcome.CAPTURED
    assert store.get("ml_interactions/c1") is not None
    assert store.get("ml_readers/u1") == {"USER_ID": "u1", INCOMPLETE: "overflow"}
    assert metrics.total("ReaderAggregateOverflowed") == 1
    # later clicks add to it again, and it stays incomplete (the fill queries this reader)
    assert service.capture_click("c2", _click(2, "s2")) is Outcome.CAPTURED
    doc = store.get("ml_readers/u1")
    assert doc is not None and parse_aggregate(doc).incomplete == "overflow"


def test_an_interaction_the_store_refuses_is_still_an_error_not_an_overflow() -> None:
    class Refusing(InMemoryDocumentStore):
        def create(self, path: str, data: object, *, also: object = ()) -> bool:  # type: ignore[override]
            raise InvalidRequest("refused")

    store = Refusing()
    store.set("stories/s1", story())
    with pytest.raises(InvalidRequest):
        CaptureService(store, Clock(), RecordingMetrics()).capture_click("c1", click())
    assert store.get("ml_readers/u1") is None


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(STORIES), st.sampled_from(TYPES)), min_size=1, max_size=12),
    st.randoms(use_true_random=False),
    st.integers(min_value=0, max_value=3),
)
def test_any_order_with_duplicates_gives_the_same_aggregate(
    clicks: list[tuple[str, str]], rnd: object, repeats: int
) -> None:
    deliveries = list(enumerate(clicks)) + list(enumerate(clicks))[:repeats]
    rnd.shuffle(deliveries)  # type: ignore[attr-defined]
    store = _store()
    service = CaptureService(store, Clock(), RecordingMetrics())
    for n, (sid, event) in deliveries:
        service.capture_click(f"c{n}", _click(n, sid, event))
    expected: dict[str, set[str]] = {}
    for sid, event in clicks:
        expected.setdefault(event, set()).add(sid)
    assert _items(store) == expected
    doc = store.get("ml_readers/u1") or {}
    assert all(len(v) == len(set(v)) for k, v in doc.items() if k.startswith("items_"))


def test_a_deleted_user_keeps_no_story_id_in_the_aggregate(
    service: CaptureService, store: InMemoryDocumentStore
) -> None:
    service.capture_click("c1", click())
    assert service.capture_user("u1", None, version=VERSION) is Outcome.DEACTIVATED
    assert store.get("ml_readers/u1") == {"USER_ID": "u1", INCOMPLETE: "erased"}
    store.set("ml_readers/u1", {"USER_ID": "u1", "items_read": ["s1"]})  # a crash before the erase, then the retry
    assert service.capture_user("u1", None, version=VERSION) is Outcome.IGNORED
    assert store.get("ml_readers/u1") == {"USER_ID": "u1", INCOMPLETE: "erased"}


def test_an_older_delete_arriving_after_a_newer_profile_erases_nothing(
    service: CaptureService, store: InMemoryDocumentStore
) -> None:
    service.capture_user("u1", {"lang": "en"}, version=VERSION)
    service.capture_click("c1", click())
    assert service.capture_user("u1", None, version=VERSION - timedelta(hours=1)) is Outcome.STALE
    assert _items(store) == {"read": {"s1"}}


def test_a_user_id_capture_refuses_writes_no_aggregate(service: CaptureService, store: InMemoryDocumentStore) -> None:
    assert service.capture_user("a/b", None, version=VERSION) is Outcome.IGNORED
    assert service.capture_click("c1", click(userId="x" * 300)) is Outcome.QUARANTINED
    assert [p for p in store.docs if p.startswith("ml_readers/")] == []


def test_the_backfill_builds_what_capture_would_have_and_resumes() -> None:
    store, metrics = _store(), RecordingMetrics()
    service = CaptureService(store, Clock(), metrics)
    for n in range(7):
        service.capture_click(f"c{n}", _click(n, STORIES[n % 3], TYPES[n % 2], uid=f"u{n % 2}"))
    captured = {uid: _items(store, uid) for uid in ("u0", "u1")}
    for uid in ("u0", "u1"):
        store.delete(f"ml_readers/{uid}")
    store.set("ml_state/readers_backfill", {"after": "c3"})  # an interrupted run: goes on after c3
    counts = backfill_readers(store, Collections(), metrics, NOW, page_size=2)
    assert counts.resumed_after == "c3" and counts.interactions == 3  # c4, c5, c6
    counts = backfill_readers(store, Collections(), metrics, NOW, page_size=2)
    assert counts.interactions == 7
    assert {uid: _items(store, uid) for uid in ("u0", "u1")} == captured
    assert store.get("ml_state/readers")["complete"] is True  # type: ignore[index]
    assert store.get("ml_state/readers_backfill") is None


def test_the_backfill_erases_deleted_users_and_marks_overflow() -> None:
    store, metrics = _store(), RecordingMetrics()
    service = CaptureService(store, Clock(), metrics)
    service.capture_click("c1", _click(1, "s1", uid="gone"))
    service.capture_click("c2", _click(2, "s1", uid="big"))
    service.capture_user("gone", None, version=VERSION)
    store.delete("ml_readers/gone")
    _nearly_full(store, "big", "items_open")
    counts = backfill_readers(store, Collections(), metrics, NOW)
    assert (counts.erased, counts.overflowed) == (1, 1)
    assert store.get("ml_readers/gone") == {"USER_ID": "gone", INCOMPLETE: "erased"}
    assert store.get("ml_readers/big") == {"USER_ID": "big", INCOMPLETE: "overflow"}


def test_the_fakes_array_union_and_size_limit_match_firestores() -> None:
    store = InMemoryDocumentStore()
    store.set("r/u", {"a": ArrayUnion(("x", "y"))}, merge=True)
    store.set("r/u", {"a": ArrayUnion(("y", "z"))}, merge=True)
    assert store.get("r/u") == {"a": ["x", "y", "z"]}
    with pytest.raises(InvalidRequest):
        store.set("r/u", {"a": ArrayUnion(())}, merge=True)
    with pytest.raises(InvalidRequest):
        store.set("r/v", {"a": "x" * MAX_DOCUMENT_BYTES})
    assert store.get("r/v") is None


def test_every_event_types_array_is_exempt_from_indexing() -> None:
    """Firestore indexes each array value (40,000 index entries a document at most): the arrays are never queried."""
    import json
    from pathlib import Path

    from shared.limits import EVENT_TYPES

    spec = json.loads((Path(__file__).resolve().parents[3] / "firestore.indexes.json").read_text())
    exempt = {
        o["fieldPath"] for o in spec["fieldOverrides"] if o["collectionGroup"] == "ml_readers" and not o["indexes"]
    }
    assert exempt == {f"items_{t}" for t in EVENT_TYPES}
