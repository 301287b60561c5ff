"""Capture against the real Firestore emulator: create-once dedupe, stored types, quarantine payloads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.memory import RecordingMetrics
from shared.capture.service import CaptureService, Outcome

pytestmark = pytest.mark.integration


def _click(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "userId": "u1",
        "storyId": "s1",
        "type": "open",
        "clientTime": now - timedelta(seconds=2),
        "createdAt": now - timedelta(seconds=1),
        "device": "ios",
        **overrides,
    }


@pytest.fixture
def seeded(firestore_client: Any) -> Any:
    from google.cloud import firestore

    firestore_client.document("stories/s1").set(
        {"title": "A", "category": "tech", "tags": ["ai", "cloud"], "publishedAt": firestore.SERVER_TIMESTAMP}
    )
    return firestore_client


def test_click_written_by_the_sdk_is_captured_once(seeded: Any, service: CaptureService) -> None:
    from google.cloud import firestore

    seeded.document("clicks/c1").set({**_click(), "createdAt": firestore.SERVER_TIMESTAMP})
    data = seeded.document("clicks/c1").get().to_dict()
    assert service.capture_click("c1", data) is Outcome.CAPTURED
    assert service.capture_click("c1", data) is Outcome.DUPLICATE
    record = seeded.document("ml_interactions/c1").get().to_dict()
    assert record["TIMESTAMP"] == int(data["createdAt"].timestamp())
    assert (record["EVENT_TYPE"], record["DEVICE"], record["EVENT_VALUE"]) == ("open", "ios", None)
    assert isinstance(record["captured_at"], datetime)


def test_concurrent_redeliveries_record_one_interaction(
    seeded: Any, service: CaptureService, metrics: RecordingMetrics
) -> None:
    data = _click()
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(lambda _: service.capture_click("c1", data), range(8)))
    assert outcomes.count(Outcome.CAPTURED) == 1 and outcomes.count(Outcome.DUPLICATE) == 7
    assert len(list(seeded.collection("ml_interactions").stream())) == 1
    assert metrics.total("ClickCaptured") == 1


def test_quarantine_keeps_the_raw_payload_in_firestore(seeded: Any, service: CaptureService) -> None:
    raw = _click(type="follow", extra={"nested": ["x" * 5000]})
    assert service.capture_click("c1", raw) is Outcome.QUARANTINED
    q = seeded.document("ml_quarantine/clicks-c1").get().to_dict()
    assert (q["source"], q["doc_id"], q["reason"]) == ("clicks", "c1", "unknown_type")
    assert q["raw"]["type"] == "follow" and q["raw"]["clientTime"] == raw["clientTime"]
    assert len(q["raw"]["extra"]["nested"][0]) < 2100
    assert not list(seeded.collection("ml_interactions").stream())


def test_story_lifecycle(seeded: Any, service: CaptureService) -> None:
    story = seeded.document("stories/s1").get().to_dict()
    assert service.capture_story("s1", story) is Outcome.CAPTURED
    assert service.capture_story("s1", story) is Outcome.UNCHANGED
    item = seeded.document("ml_items/s1").get().to_dict()
    assert (item["TAGS"], item["active"]) == ("ai|cloud", True)
    assert service.capture_story("s1", {**story, "status": "draft"}) is Outcome.DEACTIVATED
    assert seeded.document("ml_items/s1").get().to_dict()["active"] is False
    assert service.capture_story("s1", story) is Outcome.CAPTURED


def test_user_lifecycle(seeded: Any, service: CaptureService) -> None:
    assert service.capture_user("u1", {"lang": "pt", "country": "br", "email": "a@b.c"}) is Outcome.CAPTURED
    user = seeded.document("ml_users/u1").get().to_dict()
    assert (user["LANGUAGE"], user["COUNTRY"], "email" in user) == ("pt", "BR", False)
    assert service.capture_user("u1", None) is Outcome.DEACTIVATED
