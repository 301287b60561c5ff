"""``storyrec backfill`` over the Firestore emulator: replays through the core path, twice = once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.integration


def _snapshot(client: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for name in ("ml_items", "ml_users", "ml_interactions", "ml_impressions", "ml_quarantine"):
        for snap in client.collection(name).stream():
            out[f"{name}/{snap.id}"] = snap.to_dict()
    return out


def test_backfill_all_is_idempotent(firestore_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.cli import app

    monkeypatch.setenv("STORYREC_CAPTURE_METRICS", "log")
    past = datetime(2024, 5, 1, tzinfo=UTC)
    batch = firestore_client.batch()
    for i in range(30):
        batch.set(
            firestore_client.document(f"stories/s{i}"),
            {"title": f"t{i}", "publishedAt": past, "category": "tech"},
        )
    batch.set(firestore_client.document("stories/draft"), {"title": "d", "status": "draft", "publishedAt": past})
    batch.set(firestore_client.document("users/u1"), {"lang": "en"})
    for i in range(120):
        when = past + timedelta(minutes=i)
        batch.set(
            firestore_client.document(f"clicks/c{i}"),
            {"userId": "u1", "storyId": f"s{i % 31}", "type": "read", "clientTime": when, "createdAt": when},
        )
    for i in range(5):
        when = past + timedelta(minutes=i)
        ids = ["s1", "s2"] if i < 4 else ["s1", "s1"]  # the last one repeats a story: quarantined
        batch.set(
            firestore_client.document(f"impressions/i{i}"),
            {"userId": "u1", "storyIds": ids, "source": "latest", "clientTime": when, "createdAt": when},
        )
    batch.commit()

    runner = CliRunner()
    first = runner.invoke(app, ["backfill", "all", "--page-size", "50"])
    assert first.exit_code == 0, first.output
    after_first = _snapshot(firestore_client)
    second = runner.invoke(app, ["backfill"])
    assert second.exit_code == 0, second.output
    assert _snapshot(firestore_client) == after_first

    interactions = [k for k in after_first if k.startswith("ml_interactions/")]
    quarantined = [v for k, v in after_first.items() if k.startswith("ml_quarantine/")]
    # story ids s0..s29 exist; every 31st click points at the missing "s30"
    assert len(interactions) == 120 - len([i for i in range(120) if i % 31 == 30])
    assert {q["reason"] for q in quarantined} == {"unknown_story", "duplicate"}
    assert len([k for k in after_first if k.startswith("ml_impressions/")]) == 4
    items = [v for k, v in after_first.items() if k.startswith("ml_items/")]
    assert len([i for i in items if i["active"]]) == 30
    assert after_first["ml_items/draft"]["active"] is False  # the draft's tombstone
    assert after_first["ml_interactions/c5"]["TIMESTAMP"] == int((past + timedelta(minutes=5)).timestamp())


def test_backfill_one_source(firestore_client: Any) -> None:
    from shared.cli import app

    firestore_client.document("users/u2").set({"country": "pt"})
    result = CliRunner().invoke(app, ["backfill", "users"])
    assert result.exit_code == 0, result.output
    assert firestore_client.document("ml_users/u2").get().to_dict()["COUNTRY"] == "PT"
    assert not list(firestore_client.collection("ml_items").stream())


def test_backfill_all_goes_past_hostile_documents(firestore_client: Any) -> None:
    from shared.capture.quarantine import quarantine_id
    from shared.cli import app

    past = datetime(2024, 5, 1, tzinfo=UTC)
    long_id = "s" * 1500
    firestore_client.document(f"stories/{long_id}").set({"title": "t", "publishedAt": past})
    firestore_client.document("stories/ok").set({"title": "t", "publishedAt": past})
    firestore_client.document("users/bytes").set({"lang": "english", **{f"b{i}": b"\x01" for i in range(20_000)}})
    firestore_client.document("users/fine").set({"lang": "en"})
    firestore_client.document("clicks/c-list").set({"userId": ["u"], "storyId": "ok", "type": "read"})
    result = CliRunner().invoke(app, ["backfill", "all"])
    assert result.exit_code == 0, result.output
    assert firestore_client.document("ml_items/ok").get().exists
    assert firestore_client.document("ml_users/fine").get().exists
    for source, doc_id, reason in (
        ("stories", long_id, "too_long"),
        ("users", "bytes", "bad_pattern"),
        ("clicks", "c-list", "wrong_type"),
    ):
        q = firestore_client.document(f"ml_quarantine/{quarantine_id(source, doc_id)}").get().to_dict()
        assert q["reason"] == reason, q["detail"]
