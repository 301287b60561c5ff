"""The simulation's one-delivery outages (infra/local/simulate/outages.py), on fakes."""

from __future__ import annotations

import os
from typing import Any

from infra.local.simulate import outages


class Capture:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def capture_click(self, click_id: str, data: Any, **kwargs: Any) -> str:
        self.calls.append(click_id)
        return "captured"

    def capture_story(self, sid: str) -> str:
        return f"story {sid}"


class Down:
    """A service wired while Firestore is down: it sees the closed port, and raises."""

    def capture_click(self, click_id: str, data: Any, **kwargs: Any) -> str:
        raise ConnectionError(f"unreachable {os.environ['FIRESTORE_EMULATOR_HOST']}")


def test_the_first_click_meets_firestore_down_then_is_redelivered_once_and_the_rest_go_straight_through() -> None:
    real = Capture()
    down = outages.CaptureWithFirestoreDown(real, Down, closed_port=9)
    assert down.capture_click("c1", {}) == "captured" and down.capture_click("c2", {}) == "captured"
    assert real.calls == ["c1", "c2"]  # each captured once, c1 on its redelivery
    assert down.deliveries == ["c1: raised ConnectionError; redelivered"]
    assert down.capture_story("s1") == "story s1"  # everything else is the real service's


def test_a_capture_that_answers_with_firestore_down_is_the_outcome_not_redelivered() -> None:
    class Answers:
        def capture_click(self, click_id: str, data: Any, **kwargs: Any) -> str:
            return "quarantined"

    real = Capture()
    down = outages.CaptureWithFirestoreDown(real, Answers, closed_port=9)
    assert down.capture_click("c1", {}) == "quarantined" and real.calls == []


def test_first_delivery_says_whether_the_platform_redelivers() -> None:
    def fails() -> None:
        raise TimeoutError("no Personalize")

    assert outages.first_delivery(fails, outages.PERSONALIZE, 9) == (True, "raised TimeoutError: no Personalize")
    assert outages.first_delivery(lambda: {"deferred": "busy"}, outages.PERSONALIZE, 9) == (
        False,
        "returned {'deferred': 'busy'}",
    )


def test_the_days_reported_lost_are_read_from_the_alert_subjects() -> None:
    alerts = [
        "storyrec held interactions lost: 2026-11-02",
        "storyrec feed fill degraded",
        "x held interactions lost: 2026-11-03 ",
    ]
    assert outages.lost_days(alerts) == ["2026-11-02", "2026-11-03"]


def test_the_expiry_takes_the_oldest_held_day_whose_parts_are_still_there() -> None:
    """Issue 24's 42-day run: the oldest held day's parts had expired a week before (still held: no group had
    formed since), and the next ``held_file_expires`` "expired" it again although it deleted nothing. The run
    counted two expiries against one report, so "expired held days reported" stayed violated to the end. A
    lifecycle rule expires what exists: the next oldest day with its parts."""
    from datetime import date

    from shared.adapters.memory import InMemoryObjectStore
    from shared.personalize.held import HeldDay, HeldDays, HeldPart

    store, prefix = InMemoryObjectStore("b"), "storyrec-state/"
    held = HeldDays(store, prefix)
    for day in ("2026-10-27", "2026-10-28", "2026-10-29"):
        part = f"interactions/dt={day}/part-00000.csv"
        store.put_bytes(part, b"USER_ID\n")
        held.hold(HeldDay(f"manifests/dt={day}/manifest.json", date.fromisoformat(day), 100, (HeldPart(part),)))
    first = outages.expire_oldest_held(store, prefix)
    assert first["day"] == "2026-10-27" and first["parts"] == ["interactions/dt=2026-10-27/part-00000.csv"]
    second = outages.expire_oldest_held(store, prefix)  # the 27th is still held, its parts gone
    assert second["day"] == "2026-10-28"
    assert outages.expire_oldest_held(store, prefix)["day"] == "2026-10-29"
    assert outages.expire_oldest_held(store, prefix) == {}  # every held day's parts gone: nothing to expire
