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


class Everything:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def capture_story(self, sid: str, data: Any, **kwargs: Any) -> str:
        self.calls.append(("story", sid))
        return "captured"

    def capture_user(self, uid: str, data: Any, **kwargs: Any) -> str:
        self.calls.append(("user", uid))
        return "captured"

    def capture_click(self, click_id: str, data: Any, **kwargs: Any) -> str:
        self.calls.append(("click", click_id))
        return "captured"


class AllDown:
    def __getattr__(self, name: str) -> Any:
        def down(*args: Any, **kwargs: Any) -> str:
            raise ConnectionError(f"unreachable {os.environ['FIRESTORE_EMULATOR_HOST']}")

        return down


def test_the_first_story_and_user_deliveries_meet_firestore_down_and_are_redelivered_once() -> None:
    real = Everything()
    down = outages.CaptureWithFirestoreDown(real, AllDown, closed_port=9, methods=("capture_story", "capture_user"))
    assert down.capture_story("s1", {}) == "captured" and down.capture_story("s2", {}) == "captured"
    assert down.capture_user("u1", {}) == "captured" and down.capture_user("u2", None) == "captured"
    assert down.capture_click("c1", {}) == "captured"  # not a faulted trigger: straight through
    assert real.calls == [("story", "s1"), ("story", "s2"), ("user", "u1"), ("user", "u2"), ("click", "c1")]
    assert down.deliveries == [
        "capture_story s1: raised ConnectionError; redelivered",
        "capture_user u1: raised ConnectionError; redelivered",
    ]


def test_only_an_sns_failure_ends_the_aws_stages_sns_outage() -> None:
    from infra.local.simulate.pipeline import sns_caused
    from shared.errors import ServiceUnavailable

    try:
        try:
            raise ServiceUnavailable("SNS unreachable: connection refused")
        except ServiceUnavailable:
            raise RuntimeError("the pass failed") from None
    except RuntimeError as during:
        assert sns_caused(during)  # raised while handling it (alert_once's re-raise inside an isolated item)
    assert sns_caused(ServiceUnavailable("SNS unreachable: x"))
    assert not sns_caused(TimeoutError("Personalize unreachable")) and not sns_caused(None)


def test_the_aws_stage_meets_sns_down_until_one_lambda_raises_for_it_then_its_retry_resends() -> None:
    from datetime import UTC, datetime

    from infra.local.simulate.clock import VirtualClock
    from infra.local.simulate.pipeline import Night
    from shared.errors import ServiceUnavailable

    night = Night(VirtualClock(datetime(2026, 11, 1, 2, tzinfo=UTC)), None)
    sent: list[str] = []

    def alerting_pass() -> str:
        if os.environ.get("AWS_ENDPOINT_URL_SNS") == "http://127.0.0.1:9":
            raise ServiceUnavailable("SNS unreachable: refused")  # alert_once removed its marker and raised
        sent.append("training failed")
        return "sent"

    def engine_down() -> str:
        raise TimeoutError("Personalize unreachable")

    night.sns_down = 9
    try:
        engine_down_pass = night._aws("train", engine_down, engine_down)
    except TimeoutError:
        engine_down_pass = "raised"
    assert engine_down_pass == "raised" and night.sns_down == 9  # not SNS's failure: the outage goes on
    assert night._aws("monitor", alerting_pass, alerting_pass) == "sent"  # the next pass re-sends it, once
    assert sent == ["training failed"] and night.sns_down is None
    assert night.sns_raised == ["monitor: raised ServiceUnavailable: SNS unreachable: refused"]
    assert night._aws("monitor", alerting_pass, alerting_pass) == "sent" and len(sent) == 2  # SNS is back


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
