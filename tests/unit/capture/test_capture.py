"""Good input: clicks, stories and users become the records of docs/records.md, exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.adapters.memory import InMemoryDocumentStore, RecordingMetrics
from shared.capture.service import CaptureService, Outcome
from tests.unit.capture.conftest import NOW, Clock, click, story

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
        "click_id": "c1",
        "captured_at": NOW,
    }


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


def test_published_story_becomes_an_item(service: CaptureService, store: InMemoryDocumentStore) -> None:
    assert service.capture_story("s2", story(tags=["cloud", " finops ", "cloud", ""])) is Outcome.CAPTURED
    assert store.get("ml_items/s2") == {
        "ITEM_ID": "s2",
        "CREATION_TIMESTAMP": int((NOW - timedelta(days=1)).timestamp()),
        "CATEGORY": "tech",
        "TAGS": "cloud|finops",
        "SOURCE": "Example News",
        "LANGUAGE": "en",
        "SUMMARY": "Why the bill grew.",
        "TITLE": "Cloud costs, explained",
        "active": True,
        "updated_at": NOW,
    }


def test_story_without_status_or_optional_fields(
    service: CaptureService, store: InMemoryDocumentStore
) -> None:
    doc = {"createdAt": NOW, "title": "t"}
    assert service.capture_story("s2", doc) is Outcome.CAPTURED
    item = store.get("ml_items/s2")
    assert item is not None and item["CREATION_TIMESTAMP"] == int(NOW.timestamp())
    assert (item["CATEGORY"], item["TAGS"], item["SOURCE"], item["LANGUAGE"], item["SUMMARY"]) == (None,) * 5


def test_long_summary_is_cut_to_the_textual_limit(
    service: CaptureService, store: InMemoryDocumentStore
) -> None:
    service.capture_story("s2", story(summary="word " * 10_000))
    assert len(store.get("ml_items/s2")["SUMMARY"]) == 20_000  # type: ignore[index]


@pytest.mark.parametrize("status", ["draft", "archived", "unpublished", 3])
def test_unpublished_story_deactivates_its_item(
    service: CaptureService,
    store: InMemoryDocumentStore,
    metrics: RecordingMetrics,
    clock: Clock,
    status: object,
) -> None:
    service.capture_story("s2", story())
    clock.tick()
    assert service.capture_story("s2", story(status=status)) is Outcome.DEACTIVATED
    item = store.get("ml_items/s2")
    assert item is not None and item["active"] is False and item["CATEGORY"] == "tech"
    assert item["updated_at"] == clock.now
    assert metrics.total("StoryDeactivated") == 1


def test_deleted_story_deactivates_once(service: CaptureService, store: InMemoryDocumentStore) -> None:
    service.capture_story("s2", story())
    assert service.capture_story("s2", None) is Outcome.DEACTIVATED
    assert service.capture_story("s2", None) is Outcome.IGNORED
    assert store.get("ml_items/s2")["active"] is False  # type: ignore[index]


def test_never_published_story_writes_nothing(service: CaptureService, store: InMemoryDocumentStore) -> None:
    assert service.capture_story("s2", story(status="draft")) is Outcome.IGNORED
    assert store.get("ml_items/s2") is None


def test_republished_story_is_active_again(service: CaptureService, store: InMemoryDocumentStore) -> None:
    service.capture_story("s2", story())
    service.capture_story("s2", None)
    service.capture_story("s2", story())
    assert store.get("ml_items/s2")["active"] is True  # type: ignore[index]


def test_unchanged_story_is_not_rewritten(
    service: CaptureService, store: InMemoryDocumentStore, metrics: RecordingMetrics, clock: Clock
) -> None:
    service.capture_story("s2", story())
    clock.tick(60)
    assert service.capture_story("s2", story(image="https://example.com/other.jpg")) is Outcome.UNCHANGED
    assert store.get("ml_items/s2")["updated_at"] == NOW  # type: ignore[index]
    assert metrics.total("StoryCaptured") == 1


def test_user_becomes_an_ml_user_without_personal_data(
    service: CaptureService, store: InMemoryDocumentStore
) -> None:
    doc = {"displayName": "Ana", "email": "ana@example.com", "lang": "PT", "country": "br"}
    assert service.capture_user("u1", doc) is Outcome.CAPTURED
    assert store.get("ml_users/u1") == {
        "USER_ID": "u1",
        "LANGUAGE": "pt",
        "COUNTRY": "BR",
        "active": True,
        "updated_at": NOW,
    }


def test_deleted_user_is_deactivated(service: CaptureService, store: InMemoryDocumentStore) -> None:
    service.capture_user("u1", {"lang": "en"})
    assert service.capture_user("u1", None) is Outcome.DEACTIVATED
    assert store.get("ml_users/u1")["active"] is False  # type: ignore[index]


def test_fixed_user_after_quarantine_is_captured(
    service: CaptureService, store: InMemoryDocumentStore
) -> None:
    assert service.capture_user("u1", {"country": "B,R"}) is Outcome.QUARANTINED
    assert service.capture_user("u1", {"country": "BR"}) is Outcome.CAPTURED


def test_records_match_the_personalize_schemas(service: CaptureService, store: InMemoryDocumentStore) -> None:
    from shared.schema import load_schema

    service.capture_click("c1", click())
    service.capture_story("s2", story())
    service.capture_user("u1", {"lang": "en"})
    for path, dataset in (
        ("ml_interactions/c1", "interactions"),
        ("ml_items/s2", "items"),
        ("ml_users/u1", "users"),
    ):
        record = store.get(path)
        assert record is not None
        assert set(load_schema(dataset).header) <= set(record), dataset


def test_empty_store_metrics_untouched_by_reads() -> None:
    service = CaptureService(InMemoryDocumentStore(), Clock(), RecordingMetrics())
    assert service.capture_story("s9", None) is Outcome.IGNORED
    assert service.metrics.points == []  # type: ignore[attr-defined]
