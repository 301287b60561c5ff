"""Writes to the Firestore emulator reach functions_gcp/main.py through firebase-tools' trigger wiring."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from infra.local.firebase.emulators import Suite
from shared.capture.quarantine import quarantine_id
from tests.e2e.capture import deskdrop

pytestmark = pytest.mark.e2e

SUBSET = 150
"""Deskdrop rows replayed through the trigger wiring (all rows go through the core path elsewhere)."""


def _count(client: Any, collection: str) -> int:
    return int(client.collection(collection).count().get()[0][0].value)


def _wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError("timed out waiting for the trigger")


def _click(**overrides: Any) -> dict[str, Any]:
    from google.cloud import firestore

    doc = {
        "userId": "u1",
        "storyId": "s1",
        "type": "read",
        "clientTime": datetime.now(UTC) - timedelta(seconds=2),
        "createdAt": firestore.SERVER_TIMESTAMP,
        "sessionId": "sess-1",
        "device": "web",
        "value": 12.0,
    }
    return {**doc, **overrides}


def test_story_user_and_click_reach_the_ml_collections(suite_client: Any) -> None:
    client = suite_client
    client.document("stories/s1").set(
        {
            "title": "Hello",
            "category": "tech",
            "tags": ["ai"],
            "publishedAt": datetime.now(UTC) - timedelta(hours=1),
            "lang": "en",
        }
    )
    client.document("users/u1").set({"lang": "en", "country": "pt", "email": "u1@example.com"})
    _wait_for(lambda: client.document("ml_items/s1").get().exists)
    client.document("clicks/c1").set(_click())
    client.document("clicks/bad").set(_click(type="follow"))

    _wait_for(
        lambda: (
            client.document("ml_interactions/c1").get().exists
            and client.document(f"ml_quarantine/{quarantine_id('clicks', 'bad')}").get().exists
        )
    )
    record = client.document("ml_interactions/c1").get().to_dict()
    created = client.document("clicks/c1").get().to_dict()["createdAt"]
    assert record["TIMESTAMP"] == int(created.timestamp())
    assert (record["USER_ID"], record["ITEM_ID"], record["EVENT_TYPE"], record["EVENT_VALUE"]) == (
        "u1",
        "s1",
        "read",
        12.0,
    )
    quarantined = client.document(f"ml_quarantine/{quarantine_id('clicks', 'bad')}").get().to_dict()
    assert quarantined["reason"] == "unknown_type"
    _wait_for(lambda: client.document("ml_users/u1").get().exists)
    assert client.document("ml_users/u1").get().to_dict()["COUNTRY"] == "PT"

    client.document("stories/s1").delete()
    _wait_for(lambda: client.document("ml_items/s1").get().to_dict()["active"] is False)


def test_deskdrop_subset_replayed_twice_yields_one_record_per_valid_click(
    suite_client: Any, firebase_suite: Suite, deskdrop_dir: Path
) -> None:
    from google.cloud import firestore

    client = suite_client
    articles, interactions = deskdrop.load(deskdrop_dir)
    rows = interactions.head(SUBSET)
    wanted = set(rows["contentId"])
    used = articles[articles["item_id"].isin(wanted)]
    batch = client.batch()
    for story_id, doc in deskdrop.story_docs(used):
        batch.set(client.document(f"stories/{story_id}"), doc)
    batch.commit()
    _wait_for(lambda: _count(client, "ml_items") == len(used))

    clicks = list(deskdrop.click_docs(rows, created_at=firestore.SERVER_TIMESTAMP))
    expected = deskdrop.expected_valid(rows, articles)

    def handled() -> bool:
        return _count(client, "ml_interactions") + _count(client, "ml_quarantine") >= len(clicks)

    def replay() -> None:
        batch = client.batch()
        for click_id, doc in clicks:
            batch.set(client.document(f"clicks/{click_id}"), doc)
        batch.commit()

    replay()
    _wait_for(handled, timeout=120)
    assert _count(client, "ml_interactions") == expected
    assert _count(client, "ml_quarantine") == len(clicks) - expected

    # Redeliver every click: delete and recreate the same ids, so each fires a new "created" event.
    before = firebase_suite.output().count('"click duplicate"')
    batch = client.batch()
    for click_id, _ in clicks:
        batch.delete(client.document(f"clicks/{click_id}"))
    batch.commit()
    replay()
    _wait_for(lambda: firebase_suite.output().count('"click duplicate"') - before >= expected, timeout=120)
    assert _count(client, "ml_interactions") == expected
    assert _count(client, "ml_quarantine") == len(clicks) - expected
