"""The trigger handlers: parse the event, call one use case, map errors (service faked, decorators real)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest
from firebase_functions.core import Change

from shared.adapters.memory import InMemoryDocumentStore, RecordingMetrics
from shared.capture import wiring
from shared.capture.service import CaptureService
from shared.errors import ServiceUnavailable
from tests.unit.capture.conftest import NOW, Clock, click, story

pytestmark = pytest.mark.unit

REPO = __import__("pathlib").Path(__file__).resolve().parents[3]


@pytest.fixture
def main(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.syspath_prepend(str(REPO / "functions_gcp"))
    sys.modules.pop("main", None)
    import main as module

    yield module
    sys.modules.pop("main", None)


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> CaptureService:
    store = InMemoryDocumentStore()
    store.set("stories/s1", story())
    svc = CaptureService(store, Clock(), RecordingMetrics())
    monkeypatch.setattr(wiring, "capture_service", lambda: svc)
    return svc


class Snap:
    """The part of a Firestore DocumentSnapshot the handlers read."""

    def __init__(self, data: dict[str, Any] | None) -> None:
        self._data = data
        self.exists = data is not None

    def to_dict(self) -> dict[str, Any] | None:
        return self._data


def _event(cls: Any, data: Any, params: dict[str, str], **extra: Any) -> Any:
    return cls(
        specversion="1.0",
        id="evt-1",
        source="//firestore",
        type="t",
        time=datetime.now(UTC),
        data=data,
        subject=None,
        location="nam5",
        project="demo",
        database="(default)",
        namespace="(default)",
        document="x/y",
        params=params,
        **extra,
    )


def test_click_handler_passes_doc_and_writer(main: ModuleType, service: CaptureService) -> None:
    from firebase_functions import firestore_fn

    event = _event(
        firestore_fn.AuthEvent, Snap(click()), {"clickId": "c1"}, auth_type="unknown", auth_id="u1"
    )
    main.capture_click.__wrapped__(event)
    assert service.store.get("ml_interactions/c1") is not None
    bad = _event(firestore_fn.AuthEvent, Snap(click()), {"clickId": "c2"}, auth_type="unknown", auth_id="eve")
    main.capture_click.__wrapped__(bad)
    assert service.store.get("ml_quarantine/clicks-c2")["reason"] == "user_mismatch"  # type: ignore[index]


def test_story_handler_deactivates_on_delete(main: ModuleType, service: CaptureService) -> None:
    from firebase_functions import firestore_fn

    written = Change(before=None, after=Snap(story()))
    main.capture_story.__wrapped__(_event(firestore_fn.Event, written, {"storyId": "s9"}))
    deleted = Change(before=Snap(story()), after=None)
    main.capture_story.__wrapped__(_event(firestore_fn.Event, deleted, {"storyId": "s9"}))
    assert service.store.get("ml_items/s9")["active"] is False  # type: ignore[index]


def test_user_handler(main: ModuleType, service: CaptureService) -> None:
    from firebase_functions import firestore_fn

    change = Change(before=None, after=Snap({"lang": "en"}))
    main.capture_user.__wrapped__(_event(firestore_fn.Event, change, {"uid": "u7"}))
    assert service.store.get("ml_users/u7")["LANGUAGE"] == "en"  # type: ignore[index]


def test_unavailable_store_propagates_for_a_retry(
    main: ModuleType, service: CaptureService, monkeypatch: pytest.MonkeyPatch
) -> None:
    from firebase_functions import firestore_fn

    def down(*_: Any, **__: Any) -> bool:
        raise ServiceUnavailable("firestore down")

    monkeypatch.setattr(service.store, "create", down)
    event = _event(firestore_fn.AuthEvent, Snap(click()), {"clickId": "c1"}, auth_type="system", auth_id=None)
    with pytest.raises(ServiceUnavailable):
        main.capture_click.__wrapped__(event)


def test_failed_metrics_flush_does_not_fail_the_capture(
    main: ModuleType, service: CaptureService, monkeypatch: pytest.MonkeyPatch
) -> None:
    from firebase_functions import firestore_fn

    def broken() -> None:
        raise OSError("cloudwatch unreachable")

    monkeypatch.setattr(service.metrics, "flush", broken)
    event = _event(
        firestore_fn.AuthEvent,
        Snap(click(createdAt=NOW)),
        {"clickId": "c1"},
        auth_type="system",
        auth_id=None,
    )
    main.capture_click.__wrapped__(event)
    assert service.store.get("ml_interactions/c1") is not None


def test_importing_main_creates_no_client(main: ModuleType) -> None:
    assert wiring.capture_service.cache_info().currsize == 0
