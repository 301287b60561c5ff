"""Bad clicks, stories and users: each is quarantined with a reason, counted, and never raises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.memory import InMemoryDocumentStore, RecordingMetrics
from shared.capture.records import Writer
from shared.capture.service import CaptureService, Outcome
from tests.unit.capture.conftest import NOW, click, story

pytestmark = pytest.mark.unit

BAD_CLICKS: list[tuple[str, Any, str]] = [
    ("not a map", ["userId", "u1"], "not_a_document"),
    ("deleted before delivery", None, "not_a_document"),
    ("missing userId", click(userId=None), "missing_field"),
    ("missing storyId", click(storyId=None), "missing_field"),
    ("missing type", click(type=None), "missing_field"),
    ("missing createdAt", click(createdAt=None), "missing_field"),
    ("missing clientTime", click(clientTime=None), "missing_field"),
    ("userId a number", click(userId=17), "wrong_type"),
    ("type a list", click(type=["open"]), "wrong_type"),
    ("clientTime in epoch millis", click(clientTime=1_700_000_000_000), "wrong_type"),
    ("createdAt a string", click(createdAt="2026-11-29T12:00:00Z"), "wrong_type"),
    ("value a string", click(value="12"), "wrong_type"),
    ("value a boolean", click(value=True), "wrong_type"),
    ("device a map", click(device={"os": "ios"}), "wrong_type"),
    ("unknown type", click(type="follow"), "unknown_type"),
    ("blank userId", click(userId="   "), "empty_value"),
    ("userId over 256", click(userId="u" * 257), "too_long"),
    ("storyId over 256", click(storyId="s" * 257), "too_long"),
    ("sessionId over 256", click(sessionId="x" * 257), "too_long"),
    ("device over 1000", click(device="d" * 1001), "too_long"),
    ("clientTime in the future", click(clientTime=NOW + timedelta(hours=1)), "future_timestamp"),
    ("createdAt in the future", click(createdAt=NOW + timedelta(days=2)), "future_timestamp"),
    ("clientTime in 1970", click(clientTime=datetime(1970, 1, 1, tzinfo=UTC)), "past_timestamp"),
    ("createdAt in 2001", click(createdAt=datetime(2001, 9, 9, tzinfo=UTC)), "past_timestamp"),
    ("newline in userId", click(userId="u1\nu2"), "control_chars"),
    ("NUL in storyId", click(storyId="s1\x00"), "control_chars"),
    ("bidi override in device", click(device="ios\u202e"), "control_chars"),
    ("comma in userId", click(userId="u1,u2"), "csv_hostile"),
    ("quote in sessionId", click(sessionId='a"b'), "csv_hostile"),
    ("pipe in device", click(device="ios|android"), "csv_hostile"),
    ("negative value", click(value=-1), "invalid_value"),
    ("NaN value", click(value=float("nan")), "invalid_value"),
    ("infinite value", click(value=float("inf")), "invalid_value"),
    ("value over a day", click(value=90_000), "invalid_value"),
    ("story that does not exist", click(storyId="nope"), "unknown_story"),
]


@pytest.mark.parametrize(("case", "doc", "reason"), BAD_CLICKS, ids=[c[0] for c in BAD_CLICKS])
def test_bad_click_is_quarantined_with_reason_and_counted(
    service: CaptureService,
    store: InMemoryDocumentStore,
    metrics: RecordingMetrics,
    case: str,
    doc: Any,
    reason: str,
) -> None:
    assert service.capture_click("c1", doc) is Outcome.QUARANTINED
    q = store.get("ml_quarantine/clicks-c1")
    assert q is not None, case
    assert (q["source"], q["doc_id"], q["reason"]) == ("clicks", "c1", reason)
    assert q["detail"] and q["raw"] == doc and q["quarantined_at"] == NOW
    assert store.get("ml_interactions/c1") is None
    assert metrics.points == [("ClickQuarantined", 1.0, "Count", {"reason": reason})]


@pytest.mark.parametrize("click_id", ["a,b", "x" * 257, "line\nbreak", "pipe|id"])
def test_hostile_click_id_is_quarantined(
    service: CaptureService, store: InMemoryDocumentStore, click_id: str
) -> None:
    assert service.capture_click(click_id, click()) is Outcome.QUARANTINED
    assert not [p for p in store.docs if p.startswith("ml_interactions/")]
    assert any(d["doc_id"] == click_id for p, d in store.docs.items() if p.startswith("ml_quarantine/"))


def test_click_for_another_user_is_quarantined(service: CaptureService, store: InMemoryDocumentStore) -> None:
    outcome = service.capture_click("c1", click(userId="victim"), writer=Writer("unknown", "attacker"))
    assert outcome is Outcome.QUARANTINED
    assert store.get("ml_quarantine/clicks-c1")["reason"] == "user_mismatch"  # type: ignore[index]


def test_unauthenticated_click_is_quarantined(service: CaptureService, store: InMemoryDocumentStore) -> None:
    assert service.capture_click("c1", click(), writer=Writer("unauthenticated", None)) is Outcome.QUARANTINED
    assert store.get("ml_quarantine/clicks-c1")["reason"] == "unauthenticated"  # type: ignore[index]


@pytest.mark.parametrize(
    "writer",
    [
        Writer("unknown", "u1"),
        Writer("api_key", "u1"),
        Writer("service_account", "importer@x.iam"),
        Writer("system", None),
        None,
    ],
)
def test_own_or_trusted_writer_is_accepted(service: CaptureService, writer: Writer | None) -> None:
    assert service.capture_click("c1", click(), writer=writer) is Outcome.CAPTURED


def test_writer_check_can_be_disabled_for_the_emulator(store: InMemoryDocumentStore, clock: Any) -> None:
    service = CaptureService(store, clock, RecordingMetrics(), verify_writer=False)
    assert (
        service.capture_click("c1", click(), writer=Writer("unknown", "fake-auth-id@gmail.com"))
        is Outcome.CAPTURED
    )


def test_unforeseen_payload_is_quarantined_not_raised(
    service: CaptureService, store: InMemoryDocumentStore
) -> None:
    class Weird(dict[str, Any]):
        def get(self, *_: Any) -> Any:
            raise RuntimeError("boom")

    assert service.capture_click("c1", Weird(userId="u1")) is Outcome.QUARANTINED
    assert store.get("ml_quarantine/clicks-c1")["reason"] == "unparseable"  # type: ignore[index]


def test_oversize_raw_payload_is_cut_so_quarantine_can_store_it(
    service: CaptureService, store: InMemoryDocumentStore
) -> None:
    doc = click(
        type="x" * 1_000_000, extra=list(range(5000)), nested={"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}
    )
    assert service.capture_click("c1", doc) is Outcome.QUARANTINED
    raw = store.get("ml_quarantine/clicks-c1")["raw"]  # type: ignore[index]
    assert len(raw["type"]) < 2100 and len(raw["extra"]) == 100
    assert isinstance(raw["nested"]["a"]["b"]["c"]["d"], str)


def test_retried_bad_click_is_counted_once(service: CaptureService, metrics: RecordingMetrics) -> None:
    for _ in range(3):
        service.capture_click("c1", click(type="follow"))
    assert metrics.total("ClickQuarantined") == 1


BAD_STORIES: list[tuple[str, dict[str, Any], str]] = [
    ("no publication time", story(publishedAt=None), "missing_field"),
    ("publishedAt a number", story(publishedAt=1_700_000_000), "wrong_type"),
    ("published in the future", story(publishedAt=NOW + timedelta(days=3)), "future_timestamp"),
    ("tags a string", story(tags="cloud,finops"), "wrong_type"),
    ("tag with a pipe", story(tags=["a|b"]), "csv_hostile"),
    ("category with a comma", story(category="tech, cloud"), "csv_hostile"),
    ("category with a newline", story(category="te\nch"), "control_chars"),
    ("source over 1000", story(source="s" * 1001), "too_long"),
    ("lang a number", story(lang=1), "wrong_type"),
]


@pytest.mark.parametrize(("case", "doc", "reason"), BAD_STORIES, ids=[c[0] for c in BAD_STORIES])
def test_bad_story_is_quarantined(
    service: CaptureService,
    store: InMemoryDocumentStore,
    metrics: RecordingMetrics,
    case: str,
    doc: dict[str, Any],
    reason: str,
) -> None:
    assert service.capture_story("s2", doc) is Outcome.QUARANTINED
    q = store.get("ml_quarantine/stories-s2")
    assert q is not None and q["reason"] == reason and q["raw"] == doc, case
    assert store.get("ml_items/s2") is None
    assert metrics.points == [("StoryQuarantined", 1.0, "Count", {"reason": reason})]


def test_story_id_with_comma_is_quarantined(service: CaptureService, store: InMemoryDocumentStore) -> None:
    assert service.capture_story("a,b", story()) is Outcome.QUARANTINED
    assert store.get("ml_quarantine/stories-a,b")["reason"] == "csv_hostile"  # type: ignore[index]


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"lang": ["en"]}, "wrong_type"),
        ({"country": "B|R"}, "csv_hostile"),
        ({"lang": "e" * 1001}, "too_long"),
    ],
)
def test_bad_user_is_quarantined(
    service: CaptureService, store: InMemoryDocumentStore, doc: dict[str, Any], reason: str
) -> None:
    assert service.capture_user("u1", doc) is Outcome.QUARANTINED
    assert store.get("ml_quarantine/users-u1")["reason"] == reason  # type: ignore[index]
    assert store.get("ml_users/u1") is None


def test_bad_story_replayed_unchanged_is_counted_once(
    service: CaptureService, metrics: RecordingMetrics
) -> None:
    for _ in range(2):
        service.capture_story("s2", story(tags=["a|b"]))
    assert metrics.total("StoryQuarantined") == 1
