"""At-least-once, any-order delivery through the real trigger functions: duplicates change nothing, an
older event never overwrites a newer record, and a tombstone is never undone by a late older event."""

from __future__ import annotations

import itertools
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
from cloudevents.http import CloudEvent

from shared.capture.service import CaptureService
from tests.unit.capture import events
from tests.unit.capture.conftest import NOW, click, story

pytestmark = pytest.mark.unit

T1, T2, T3 = NOW - timedelta(minutes=3), NOW - timedelta(minutes=2), NOW - timedelta(minutes=1)


@pytest.fixture
def service(wired_service: CaptureService) -> CaptureService:
    return wired_service


def _ml(service: CaptureService, path: str) -> dict[str, Any] | None:
    record = service.store.get(path)
    return None if record is None else {k: v for k, v in record.items() if k != "updated_at"}


# --- clicks -------------------------------------------------------------------------------------------


def _click_event(click_id: str, **fields: Any) -> CloudEvent:
    return events.event(
        f"clicks/{click_id}",
        after=click(**fields),
        updated=NOW,
        event_type=events.CREATED_WITH_AUTH,
        auth=("unknown", "u1"),
    )


def test_same_click_event_twice_is_recorded_once(main: ModuleType, service: CaptureService) -> None:
    event = _click_event("c1")
    main.capture_click(event)
    first = service.store.get("ml_interactions/c1")
    main.capture_click(event)
    assert service.store.get("ml_interactions/c1") == first
    assert service.metrics.total("ClickCaptured") == 1 and service.metrics.total("ClickDuplicate") == 1  # type: ignore[attr-defined]


def test_clicks_delivered_in_reverse_order_are_all_recorded(main: ModuleType, service: CaptureService) -> None:
    for n in reversed(range(5)):
        main.capture_click(_click_event(f"c{n}", createdAt=NOW - timedelta(seconds=10 - n)))
    for n in range(5):
        record = service.store.get(f"ml_interactions/c{n}")
        assert record is not None and record["TIMESTAMP"] == int((NOW - timedelta(seconds=10 - n)).timestamp())


def test_bad_click_event_twice_is_quarantined_once(main: ModuleType, service: CaptureService) -> None:
    event = _click_event("c1", type="follow")
    main.capture_click(event)
    main.capture_click(event)
    assert service.metrics.total("ClickQuarantined") == 1  # type: ignore[attr-defined]


# --- stories and users: every order of create, update, delete ------------------------------------------

STORY_EVENTS = {
    "create": lambda: events.event("stories/s2", after=story(category="old"), updated=T1),
    "update": lambda: events.event("stories/s2", before=story(category="old"), after=story(category="new"), updated=T2),
    "delete": lambda: events.event("stories/s2", before=story(category="new"), after=None, updated=T3),
}
USER_EVENTS = {
    "create": lambda: events.event("users/u2", after={"lang": "en"}, updated=T1),
    "update": lambda: events.event(
        "users/u2", before={"lang": "en"}, after={"lang": "pt", "country": "BR"}, updated=T2
    ),
    "delete": lambda: events.event("users/u2", before={"lang": "pt"}, after=None, updated=T3),
}
TOMBSTONES = {
    "stories": ("ml_items/s2", {"ITEM_ID": "s2", "active": False, "source_updated_at": T3}),
    "users": ("ml_users/u2", {"USER_ID": "u2", "active": False, "source_updated_at": T3}),
}


@pytest.mark.parametrize("source", ["stories", "users"])
@pytest.mark.parametrize("order", list(itertools.permutations(["create", "update", "delete"])), ids="-".join)
def test_any_delivery_order_ends_at_the_newest_state(
    main: ModuleType, service: CaptureService, source: str, order: tuple[str, ...]
) -> None:
    function = main.capture_story if source == "stories" else main.capture_user
    table = STORY_EVENTS if source == "stories" else USER_EVENTS
    for name in order:
        function(table[name]())
    path, tombstone = TOMBSTONES[source]
    assert _ml(service, path) == tombstone


@pytest.mark.parametrize("source", ["stories", "users"])
@pytest.mark.parametrize("order", [("create", "update"), ("update", "create")], ids="-".join)
def test_older_update_never_overwrites_a_newer_one(
    main: ModuleType, service: CaptureService, source: str, order: tuple[str, ...]
) -> None:
    function = main.capture_story if source == "stories" else main.capture_user
    table = STORY_EVENTS if source == "stories" else USER_EVENTS
    for name in order:
        function(table[name]())
    record = _ml(service, "ml_items/s2" if source == "stories" else "ml_users/u2")
    assert record is not None and record["source_updated_at"] == T2 and record["active"] is True
    assert record["CATEGORY"] == "new" if source == "stories" else record["LANGUAGE"] == "pt"


@pytest.mark.parametrize("source", ["stories", "users"])
def test_same_event_twice_changes_nothing(main: ModuleType, service: CaptureService, source: str) -> None:
    function = main.capture_story if source == "stories" else main.capture_user
    event = (STORY_EVENTS if source == "stories" else USER_EVENTS)["update"]()
    function(event)
    path = "ml_items/s2" if source == "stories" else "ml_users/u2"
    first = service.store.get(path)
    service.clock.tick(60)  # type: ignore[attr-defined]
    function(event)
    assert service.store.get(path) == first


def test_unpublish_then_late_older_publish_keeps_the_item_inactive(main: ModuleType, service: CaptureService) -> None:
    main.capture_story(events.event("stories/s2", before=story(), after=story(status="draft"), updated=T2))
    main.capture_story(events.event("stories/s2", after=story(), updated=T1))
    assert _ml(service, "ml_items/s2") == {"ITEM_ID": "s2", "active": False, "source_updated_at": T2}


def test_republish_after_a_delete_is_active_again(main: ModuleType, service: CaptureService) -> None:
    main.capture_story(STORY_EVENTS["delete"]())
    main.capture_story(events.event("stories/s2", after=story(), updated=T3 + timedelta(seconds=1)))
    assert _ml(service, "ml_items/s2")["active"] is True  # type: ignore[index]


def test_delete_then_late_create_of_a_user_copies_no_data_back(main: ModuleType, service: CaptureService) -> None:
    main.capture_user(USER_EVENTS["delete"]())
    main.capture_user(USER_EVENTS["update"]())
    main.capture_user(USER_EVENTS["create"]())
    assert _ml(service, "ml_users/u2") == TOMBSTONES["users"][1]
    assert service.metrics.total("UserStale") == 2  # type: ignore[attr-defined]
