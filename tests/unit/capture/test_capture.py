"""Good input: clicks, stories and users become the records of docs/records.md, exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.adapters.memory import InMemoryDocumentStore, RecordingMetrics
from shared.capture.service import CaptureService, Outcome
from shared.ports import Query
from tests.unit.capture.conftest import NOW, VERSION, Clock, click, story

pytestmark = pytest.mark.unit


def test_click_becomes_an_interaction_record(service: CaptureService, store: InMemoryDocumentStore) -> None:
    assert service.capture_click("c1", click(type=" Read ")) is Outcome.CAPTURED
    assert store.get("ml_interactions/c1") == {
        "USER_ID": "u1",
        "ITEM_ID": "s1",
        "TIMESTAMP": int((NOW - timedelta(seconds=1)).timestamp()),
        "EVENT_TYPE": "read",
        "EVENT_VALUE": 42.5,
        "DEVICE": "web",
        "SESSION_ID": "sess-1",
        "RECOMMENDATION_ID": None,
        "EVENT_ATTRIBUTION_SOURCE": None,
        "click_id": "c1",
        "captured_at": NOW,
        "reader_indexed": True,
    }


def test_a_click_from_a_feed_keeps_its_attribution(service: CaptureService, store: InMemoryDocumentStore) -> None:
    service.capture_click("c1", click(recommendationId="rid-1", source="storyrec-control"))
    record = store.get("ml_interactions/c1")
    assert record is not None
    assert (record["RECOMMENDATION_ID"], record["EVENT_ATTRIBUTION_SOURCE"]) == ("rid-1", "storyrec-control")


def test_an_impression_becomes_an_ml_impressions_record_once(
    service: CaptureService, store: InMemoryDocumentStore
) -> None:
    doc = {
        "userId": "u1",
        "storyIds": ["s1", "s2", "-4110354420726924665"],
        "recommendationId": "rid-1",
        "clientTime": NOW - timedelta(seconds=3),
        "createdAt": NOW - timedelta(seconds=1),
    }
    assert service.capture_impression("i1", doc) is Outcome.CAPTURED
    assert store.get("ml_impressions/i1") == {
        "USER_ID": "u1",
        "ITEM_IDS": ["s1", "s2", "-4110354420726924665"],
        "RECOMMENDATION_ID": "rid-1",
        "EVENT_ATTRIBUTION_SOURCE": None,
        "TIMESTAMP": int((NOW - timedelta(seconds=1)).timestamp()),
        "impression_id": "i1",
        "captured_at": NOW,
    }
    assert service.capture_impression("i1", doc) is Outcome.DUPLICATE
    assert len(store.query(Query("ml_impressions"))) == 1


def test_optional_click_fields_become_null(service: CaptureService, store: InMemoryDocumentStore) -> None:
    service.capture_click("c1", click(type="like", value=None, device="  ", sessionId=None))
    record = store.get("ml_interactions/c1")
    assert record is not None
    assert (record["EVENT_VALUE"], record["DEVICE"], record["SESSION_ID"]) == (None, None, None)


def test_integer_value_becomes_float_and_extra_fields_are_ignored(
    service: CaptureService, store: InMemoryDocumentStore
) -> None:
    service.capture_click("c1", click(value=30, appVersion="3.2.1"))
    record = store.get("ml_interactions/c1")
    assert record is not None and record["EVENT_VALUE"] == 30.0 and "appVersion" not in record


def test_redelivered_click_is_recorded_once(
    service: CaptureService, store: InMemoryDocumentStore, metrics: RecordingMetrics, clock: Clock
) -> None:
    assert service.capture_click("c1", click()) is Outcome.CAPTURED
    clock.tick(30)
    assert service.capture_click("c1", click()) is Outcome.DUPLICATE
    assert store.get("ml_interactions/c1")["captured_at"] == NOW  # type: ignore[index]
    assert metrics.total("ClickCaptured") == 1 and metrics.total("ClickDuplicate") == 1


def test_click_metric_carries_event_type(service: CaptureService, metrics: RecordingMetrics) -> None:
    service.capture_click("c1", click(type="save"))
    assert metrics.points == [("ClickCaptured", 1.0, "Count", {"event_type": "save"})]


def test_historical_click_is_accepted(service: CaptureService, store: InMemoryDocumentStore) -> None:
    then = NOW - timedelta(days=3000)
    service.capture_click("c1", click(createdAt=then, clientTime=then))
    assert store.get("ml_interactions/c1")["TIMESTAMP"] == int(then.timestamp())  # type: ignore[index]


def test_small_client_clock_skew_is_tolerated(service: CaptureService) -> None:
    assert service.capture_click("c1", click(clientTime=NOW + timedelta(minutes=2))) is Outcome.CAPTURED


T1, T2, T3 = VERSION - timedelta(minutes=2), VERSION - timedelta(minutes=1), VERSION


def test_published_story_becomes_an_item(service: CaptureService, store: InMemoryDocumentStore) -> None:
    doc = story(tags=["cloud", " finops ", "cloud", ""])
    assert service.capture_story("s2", doc, version=VERSION) is Outcome.CAPTURED
    assert store.get("ml_items/s2") == {
        "ITEM_ID": "s2",
        "CREATION_TIMESTAMP": int((NOW - timedelta(days=1)).timestamp()),
        "CATEGORY": "tech",
        "TAGS": "cloud|finops",
        "SOURCE": "Example News",
        "LANGUAGE": "en",
        "SUMMARY": "Why the bill grew.",
        "TITLE": "Cloud costs, explained",
        "tags_dropped": 0,
        "active": True,
        "source_updated_at": VERSION,
        "updated_at": NOW,
    }


def test_story_without_status_or_optional_fields(service: CaptureService, store: InMemoryDocumentStore) -> None:
    doc = {"createdAt": NOW, "title": "t"}
    assert service.capture_story("s2", doc, version=VERSION) is Outcome.CAPTURED
    item = store.get("ml_items/s2")
    assert item is not None and item["CREATION_TIMESTAMP"] == int(NOW.timestamp())
    assert (item["CATEGORY"], item["TAGS"], item["SOURCE"], item["LANGUAGE"], item["SUMMARY"]) == (None,) * 5


def test_long_summary_is_cut_to_the_textual_limit(service: CaptureService, store: InMemoryDocumentStore) -> None:
    service.capture_story("s2", story(summary="word " * 10_000), version=VERSION)
    assert len(store.get("ml_items/s2")["SUMMARY"]) == 20_000  # type: ignore[index]


def test_summary_starting_like_a_formula_is_neutralised(service: CaptureService, store: InMemoryDocumentStore) -> None:
    service.capture_story("s2", story(summary="=1+1 is two"), version=VERSION)
    assert store.get("ml_items/s2")["SUMMARY"] == "'=1+1 is two"  # type: ignore[index]


def test_many_tags_keep_whole_tags_that_fit_and_count_the_rest(
    service: CaptureService, store: InMemoryDocumentStore, metrics: RecordingMetrics
) -> None:
    tags = [f"tag-{i:05d}" for i in range(300)]  # 9 characters each: 100 fit in 1,000 with separators
    assert service.capture_story("s2", story(tags=tags), version=VERSION) is Outcome.CAPTURED
    item = store.get("ml_items/s2")
    assert item is not None and item["TAGS"].split("|") == tags[:100] and len(item["TAGS"]) <= 1000
    assert item["tags_dropped"] == 200 and metrics.total("StoryTagsDropped") == 200


@pytest.mark.parametrize("status", ["draft", "archived", "unpublished", 3])
def test_unpublished_story_leaves_a_tombstone(
    service: CaptureService,
    store: InMemoryDocumentStore,
    metrics: RecordingMetrics,
    clock: Clock,
    status: object,
) -> None:
    service.capture_story("s2", story(), version=T1)
    clock.tick()
    assert service.capture_story("s2", story(status=status), version=T2) is Outcome.DEACTIVATED
    assert store.get("ml_items/s2") == {
        "ITEM_ID": "s2",
        "active": False,
        "source_updated_at": T2,
        "updated_at": clock.now,
    }
    assert metrics.total("StoryDeactivated") == 1


def test_deleted_story_tombstone_is_written_once(service: CaptureService, store: InMemoryDocumentStore) -> None:
    service.capture_story("s2", story(), version=T1)
    assert service.capture_story("s2", None, version=T2) is Outcome.DEACTIVATED
    assert service.capture_story("s2", None, version=T2) is Outcome.IGNORED
    assert store.get("ml_items/s2")["active"] is False  # type: ignore[index]


def test_never_published_story_still_leaves_a_tombstone(service: CaptureService, store: InMemoryDocumentStore) -> None:
    """The draft's tombstone is what stops a late, older 'published' event from activating the item."""
    assert service.capture_story("s2", story(status="draft"), version=T2) is Outcome.DEACTIVATED
    assert service.capture_story("s2", story(), version=T1) is Outcome.STALE
    assert store.get("ml_items/s2")["active"] is False  # type: ignore[index]


def test_republished_story_is_active_again(service: CaptureService, store: InMemoryDocumentStore) -> None:
    service.capture_story("s2", story(), version=T1)
    service.capture_story("s2", None, version=T2)
    service.capture_story("s2", story(), version=T3)
    assert store.get("ml_items/s2")["active"] is True  # type: ignore[index]


def test_unchanged_story_is_not_rewritten(
    service: CaptureService, store: InMemoryDocumentStore, metrics: RecordingMetrics, clock: Clock
) -> None:
    service.capture_story("s2", story(), version=VERSION)
    clock.tick(60)
    assert service.capture_story("s2", story(), version=VERSION) is Outcome.UNCHANGED
    assert store.get("ml_items/s2")["updated_at"] == NOW  # type: ignore[index]
    assert metrics.total("StoryCaptured") == 1


def test_user_becomes_an_ml_user_without_personal_data(service: CaptureService, store: InMemoryDocumentStore) -> None:
    doc = {"displayName": "Ana", "email": "ana@example.com", "lang": "PT", "country": "br"}
    assert service.capture_user("u1", doc, version=VERSION) is Outcome.CAPTURED
    assert store.get("ml_users/u1") == {
        "USER_ID": "u1",
        "LANGUAGE": "pt",
        "COUNTRY": "BR",
        "active": True,
        "source_updated_at": VERSION,
        "updated_at": NOW,
    }


def test_deleted_user_tombstone_keeps_no_personal_data(service: CaptureService, store: InMemoryDocumentStore) -> None:
    service.capture_user("u1", {"lang": "en", "country": "BR"}, version=T1)
    assert service.capture_user("u1", None, version=T2) is Outcome.DEACTIVATED
    assert store.get("ml_users/u1") == {"USER_ID": "u1", "active": False, "source_updated_at": T2, "updated_at": NOW}


def test_fixed_user_after_quarantine_is_captured(service: CaptureService, store: InMemoryDocumentStore) -> None:
    assert service.capture_user("u1", {"country": "B,R"}, version=T1) is Outcome.QUARANTINED
    assert service.capture_user("u1", {"country": "BR"}, version=T2) is Outcome.CAPTURED


def test_records_match_the_personalize_schemas(service: CaptureService, store: InMemoryDocumentStore) -> None:
    from shared.schema import load_schema

    service.capture_click("c1", click())
    service.capture_story("s2", story(), version=VERSION)
    service.capture_user("u1", {"lang": "en"}, version=VERSION)
    for path, dataset in (
        ("ml_interactions/c1", "interactions"),
        ("ml_items/s2", "items"),
        ("ml_users/u1", "users"),
    ):
        record = store.get(path)
        assert record is not None
        joined = {"IMPRESSION"}  # the export joins it from ml_impressions (docs/export.md)
        assert set(load_schema(dataset).header) - joined <= set(record), dataset


def test_invalid_id_of_a_deleted_story_writes_nothing() -> None:
    service = CaptureService(InMemoryDocumentStore(), Clock(), RecordingMetrics())
    assert service.capture_story("a/b", None, version=VERSION) is Outcome.IGNORED
    assert service.metrics.points == []  # type: ignore[attr-defined]


def test_two_long_ids_sharing_a_prefix_get_two_quarantine_records(
    service: CaptureService, store: InMemoryDocumentStore
) -> None:
    first, second = "x" * 1499 + "a", "x" * 1499 + "b"
    service.capture_click(first, click())
    service.capture_click(second, click())
    keys = [p for p in store.docs if p.startswith("ml_quarantine/")]
    assert len(keys) == 2 and len({len(k) for k in keys}) == 1
    assert sorted(store.get(k)["doc_id"] for k in keys) == [first, second]  # type: ignore[index]


def test_quarantine_of_a_huge_payload_is_bounded_with_its_size_and_hash(
    service: CaptureService, store: InMemoryDocumentStore
) -> None:
    import hashlib
    import json

    from shared.capture.quarantine import MAX_RAW_BYTES, quarantine_id

    doc = click(type="x" * 2_000_000)
    service.capture_click("c1", doc)
    record = store.get(f"ml_quarantine/{quarantine_id('clicks', 'c1')}")
    assert record is not None and record["raw_truncated"] is True
    assert len(record["raw"].encode()) <= MAX_RAW_BYTES
    text = json.dumps(doc, default=lambda v: v.isoformat(), sort_keys=True, ensure_ascii=False)
    assert record["raw_bytes"] == len(text.encode())
    assert record["raw_sha256"] == hashlib.sha256(text.encode()).hexdigest()


def test_click_for_another_user_is_quarantined(service: CaptureService, store: InMemoryDocumentStore) -> None:
    from shared.capture.quarantine import quarantine_id
    from shared.capture.records import Writer

    outcome = service.capture_click("c1", click(userId="victim"), writer=Writer("unknown", "attacker"))
    assert outcome is Outcome.QUARANTINED
    assert store.get(f"ml_quarantine/{quarantine_id('clicks', 'c1')}")["reason"] == "user_mismatch"  # type: ignore[index]


def test_writer_check_can_be_disabled_for_the_emulator(store: InMemoryDocumentStore, clock: Clock) -> None:
    from shared.capture.records import Writer

    service = CaptureService(store, clock, RecordingMetrics(), verify_writer=False)
    outcome = service.capture_click("c1", click(), writer=Writer("unknown", "fake-auth-id@gmail.com"))
    assert outcome is Outcome.CAPTURED


def test_retried_bad_click_is_counted_once(service: CaptureService, metrics: RecordingMetrics) -> None:
    for _ in range(3):
        service.capture_click("c1", click(type="follow"))
    assert metrics.total("ClickQuarantined") == 1


def test_bad_story_replayed_unchanged_is_counted_once(service: CaptureService, metrics: RecordingMetrics) -> None:
    for _ in range(2):
        service.capture_story("s2", story(tags=["a|b"]), version=VERSION)
    assert metrics.total("StoryQuarantined") == 1
