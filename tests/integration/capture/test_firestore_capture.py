"""Capture against the real Firestore emulator: create-once dedupe, stored types, quarantine payloads."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.memory import RecordingMetrics
from shared.capture.quarantine import quarantine_id
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
    q = seeded.document(f"ml_quarantine/{quarantine_id('clicks', 'c1')}").get().to_dict()
    assert (q["source"], q["doc_id"], q["reason"]) == ("clicks", "c1", "unknown_type")
    assert json.loads(q["raw"])["type"] == "follow" and q["raw_truncated"] is False
    assert not list(seeded.collection("ml_interactions").stream())


@pytest.mark.parametrize(
    ("click_id", "payload"),
    [
        ("x" * 1500, _click()),
        ("y" * 700, ["a", "list", {"not": "a map"}]),
        ("c-huge", _click(type="t" * 3_000_000)),
        ("c-bytes", {f"b{i}": b"\x01" for i in range(30_000)}),
        ("c-nested", {"a": [{"b": [{"c": [{"d": [{"e": 1}]}]}]}]}),
    ],
    ids=["1500-byte id", "a list", "3 MB string", "30k byte values", "nested"],
)
def test_any_quarantine_record_fits_in_a_real_firestore_document(
    seeded: Any, service: CaptureService, click_id: str, payload: Any
) -> None:
    assert service.capture_click(click_id, payload) is Outcome.QUARANTINED
    q = seeded.document(f"ml_quarantine/{quarantine_id('clicks', click_id)}").get().to_dict()
    assert q["doc_id"] == click_id and q["raw_bytes"] >= len(q["raw"].encode())


def test_click_on_a_sub_document_path_does_not_pass_the_story_check(seeded: Any, service: CaptureService) -> None:
    seeded.document("stories/s1/comments/c1").set({"text": "hi"})
    assert service.capture_click("c1", _click(storyId="s1/comments/c1")) is Outcome.QUARANTINED
    assert not list(seeded.collection("ml_interactions").stream())


T1, T2, T3 = (datetime(2026, 11, 29, 10, m, tzinfo=UTC) for m in (1, 2, 3))


def test_story_lifecycle(seeded: Any, service: CaptureService) -> None:
    story = seeded.document("stories/s1").get().to_dict()
    assert service.capture_story("s1", story, version=T1) is Outcome.CAPTURED
    assert service.capture_story("s1", story, version=T1) is Outcome.UNCHANGED
    item = seeded.document("ml_items/s1").get().to_dict()
    assert (item["TAGS"], item["active"], item["source_updated_at"]) == ("ai|cloud", True, T1)
    assert service.capture_story("s1", {**story, "status": "draft"}, version=T2) is Outcome.DEACTIVATED
    assert seeded.document("ml_items/s1").get().to_dict()["active"] is False
    assert service.capture_story("s1", story, version=T1) is Outcome.STALE
    assert seeded.document("ml_items/s1").get().to_dict()["active"] is False
    assert service.capture_story("s1", story, version=T3) is Outcome.CAPTURED


def test_user_lifecycle(seeded: Any, service: CaptureService) -> None:
    doc = {"lang": "pt", "country": "br", "email": "a@b.c"}
    assert service.capture_user("u1", doc, version=T1) is Outcome.CAPTURED
    user = seeded.document("ml_users/u1").get().to_dict()
    assert (user["LANGUAGE"], user["COUNTRY"], "email" in user) == ("pt", "BR", False)
    assert service.capture_user("u1", None, version=T2) is Outcome.DEACTIVATED
    assert service.capture_user("u1", doc, version=T1) is Outcome.STALE
    assert set(seeded.document("ml_users/u1").get().to_dict()) == {
        "USER_ID",
        "active",
        "source_updated_at",
        "updated_at",
    }


def test_concurrent_out_of_order_writers_end_at_the_newest_version(seeded: Any, service: CaptureService) -> None:
    """Twelve versions raced by four threads in shuffled order: the transaction lets only newer ones in."""
    import random

    versions = [T1 + timedelta(seconds=i) for i in range(12)]
    order = random.Random(7).sample(versions, len(versions))
    story = seeded.document("stories/s1").get().to_dict()

    def capture(version: datetime) -> Outcome:
        return service.capture_story("s1", {**story, "category": f"v{versions.index(version)}"}, version=version)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(capture, order))
    item = seeded.document("ml_items/s1").get().to_dict()
    assert (item["CATEGORY"], item["source_updated_at"]) == ("v11", versions[-1])


def test_impression_written_by_the_sdk_is_captured_once_under_redeliveries(
    seeded: Any, service: CaptureService
) -> None:
    from google.cloud import firestore

    now = datetime.now(UTC)
    seeded.document("impressions/i1").set(
        {
            "userId": "u1",
            "storyIds": ["s1", "s2", "-4110354420726924665"],
            "source": "storyrec-control",
            "clientTime": now - timedelta(seconds=2),
            "createdAt": firestore.SERVER_TIMESTAMP,
        }
    )
    data = seeded.document("impressions/i1").get().to_dict()
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(lambda _: service.capture_impression("i1", data), range(6)))
    assert sorted(outcomes) == sorted([Outcome.CAPTURED] + [Outcome.DUPLICATE] * 5)
    record = seeded.document("ml_impressions/i1").get().to_dict()
    assert record["ITEM_IDS"] == ["s1", "s2", "-4110354420726924665"]
    assert (record["RECOMMENDATION_ID"], record["EVENT_ATTRIBUTION_SOURCE"]) == (None, "storyrec-control")
    assert record["TIMESTAMP"] == int(data["createdAt"].timestamp())


def test_bad_impression_is_quarantined_with_its_reason(seeded: Any, service: CaptureService) -> None:
    now = datetime.now(UTC)
    bad = {"userId": "u1", "storyIds": ["s1", "s1"], "clientTime": now, "createdAt": now}
    assert service.capture_impression("i2", bad) is Outcome.QUARANTINED
    record = seeded.document(f"ml_quarantine/{quarantine_id('impressions', 'i2')}").get().to_dict()
    assert record["reason"] == "duplicate"
    assert not seeded.document("ml_impressions/i2").get().exists
