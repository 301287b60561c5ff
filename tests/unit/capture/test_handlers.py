"""The trigger functions as deployed: their endpoint manifest, and CloudEvents through the real decorators.

The manifest is the one the Firebase CLI reads (``firebase_functions.private.serving``, the code behind
``/__/functions.yaml``); the events are the protobuf CloudEvents Eventarc delivers. Nothing here calls
``__wrapped__``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
import yaml

from shared.capture import wiring
from shared.capture.quarantine import quarantine_id
from shared.capture.service import CaptureService
from shared.errors import ServiceUnavailable
from tests.unit.capture import events
from tests.unit.capture.conftest import NOW, VERSION, click, story

pytestmark = pytest.mark.unit

CAPTURE_TRIGGERS = {
    "capture_story": ("google.cloud.firestore.document.v1.written", "stories/{storyId}"),
    "capture_user": ("google.cloud.firestore.document.v1.written", "users/{uid}"),
    "capture_click": ("google.cloud.firestore.document.v1.created.withAuthContext", "clicks/{clickId}"),
    "capture_impression": (
        "google.cloud.firestore.document.v1.created.withAuthContext",
        "impressions/{impressionId}",
    ),
}


@pytest.fixture
def service(wired_service: CaptureService) -> CaptureService:
    return wired_service


@pytest.fixture
def manifest(main: ModuleType, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The endpoint manifest exactly as the Firebase CLI gets it from the functions' admin server."""
    from firebase_functions.private import serving

    monkeypatch.chdir(events.REPO / "functions_gcp")
    spec: dict[str, Any] = yaml.safe_load(serving.functions_as_yaml(serving.get_functions()))  # type: ignore[no-untyped-call]
    return spec["endpoints"]  # type: ignore[no-any-return]


def test_every_event_trigger_is_deployed_with_retry(manifest: dict[str, Any]) -> None:
    triggered = {name: e["eventTrigger"] for name, e in manifest.items() if e.get("eventTrigger")}
    assert set(CAPTURE_TRIGGERS) <= set(triggered)
    assert {name: t["retry"] for name, t in triggered.items()} == {name: True for name in triggered}


@pytest.mark.parametrize("name", sorted(CAPTURE_TRIGGERS))
def test_capture_trigger_watches_its_collection(manifest: dict[str, Any], name: str) -> None:
    event_type, document = CAPTURE_TRIGGERS[name]
    trigger = manifest[name]["eventTrigger"]
    assert trigger["eventType"] == event_type
    assert trigger["eventFilterPathPatterns"]["document"] == document


def test_click_event_carries_doc_and_writer(main: ModuleType, service: CaptureService) -> None:
    main.capture_click(
        events.event(
            "clicks/c1", after=click(), updated=NOW, event_type=events.CREATED_WITH_AUTH, auth=("unknown", "u1")
        )
    )
    assert service.store.get("ml_interactions/c1") is not None
    main.capture_click(
        events.event(
            "clicks/c2", after=click(), updated=NOW, event_type=events.CREATED_WITH_AUTH, auth=("unknown", "eve")
        )
    )
    quarantined = service.store.get(f"ml_quarantine/{quarantine_id('clicks', 'c2')}")
    assert quarantined is not None and quarantined["reason"] == "user_mismatch"


def test_story_event_version_is_the_documents_update_time(main: ModuleType, service: CaptureService) -> None:
    main.capture_story(events.event("stories/s9", after=story(), updated=VERSION))
    assert service.store.get("ml_items/s9")["source_updated_at"] == VERSION  # type: ignore[index]


def test_delete_event_version_is_the_event_time(main: ModuleType, service: CaptureService) -> None:
    main.capture_user(events.event("users/u7", after={"lang": "en"}, updated=VERSION))
    later = VERSION.replace(microsecond=123456)
    main.capture_user(events.event("users/u7", before={"lang": "en"}, after=None, updated=later))
    assert service.store.get("ml_users/u7") == {
        "USER_ID": "u7",
        "active": False,
        "source_updated_at": later,
        "updated_at": NOW,
    }


def test_unavailable_store_fails_the_invocation_so_it_is_retried(
    main: ModuleType, service: CaptureService, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*_: Any, **__: Any) -> Any:
        raise ServiceUnavailable("firestore down")

    monkeypatch.setattr(service.store, "get", down)
    with pytest.raises(ServiceUnavailable):
        main.capture_click(
            events.event(
                "clicks/c1", after=click(), updated=NOW, event_type=events.CREATED_WITH_AUTH, auth=("system", None)
            )
        )
    assert not [p for p in service.store.docs if p.startswith("ml_")]  # type: ignore[attr-defined]


def test_failed_metrics_flush_does_not_fail_the_capture(
    main: ModuleType, service: CaptureService, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise OSError("cloudwatch unreachable")

    monkeypatch.setattr(service.metrics, "flush", broken)
    main.capture_click(
        events.event(
            "clicks/c1",
            after=click(createdAt=NOW),
            updated=NOW,
            event_type=events.CREATED_WITH_AUTH,
            auth=("system", None),
        )
    )
    assert service.store.get("ml_interactions/c1") is not None


def test_importing_main_creates_no_client(main: ModuleType) -> None:
    assert wiring.capture_service.cache_info().currsize == 0
