"""Composition: metrics sinks and the emulator switch."""

from __future__ import annotations

from typing import Any

import pytest

from shared.adapters.memory import RecordingMetrics
from shared.capture import wiring
from shared.capture.backfill import AggregatingMetrics, ordered
from shared.config import Settings

pytestmark = pytest.mark.unit


def test_aggregating_metrics_sends_one_point_per_series() -> None:
    inner = RecordingMetrics()
    metrics = AggregatingMetrics(inner)
    for reason in ("unknown_type", "unknown_type", "unknown_story"):
        metrics.put("ClickQuarantined", dimensions={"reason": reason})
    metrics.put("ClickCaptured")
    metrics.flush()
    assert sorted(inner.points) == [
        ("ClickCaptured", 1.0, "Count", {}),
        ("ClickQuarantined", 1.0, "Count", {"reason": "unknown_story"}),
        ("ClickQuarantined", 2.0, "Count", {"reason": "unknown_type"}),
    ]
    metrics.flush()
    assert len(inner.points) == 3


def test_sources_replay_stories_before_clicks() -> None:
    assert ordered(["clicks", "users", "stories"]) == ["stories", "users", "clicks"]


@pytest.mark.parametrize(
    ("env", "verify", "sink"),
    [
        ({}, True, wiring.LogMetrics),
        ({"FUNCTIONS_EMULATOR": "true"}, False, wiring.LogMetrics),
    ],
)
def test_build_service(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], verify: bool, sink: Any) -> None:
    from shared import wiring as shared_wiring

    monkeypatch.setattr(shared_wiring, "document_store", lambda settings: object())
    service = wiring.build_service(Settings.from_env({"GOOGLE_CLOUD_PROJECT": "demo-storyrec", **env}))
    assert service.verify_writer is verify and isinstance(service.metrics, sink)


def test_cloudwatch_metrics_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared import wiring as shared_wiring

    sentinel = RecordingMetrics()
    monkeypatch.setattr(shared_wiring, "document_store", lambda settings: object())
    monkeypatch.setattr(shared_wiring, "metrics", lambda settings: sentinel)
    settings = Settings.from_env({"GOOGLE_CLOUD_PROJECT": "p", "STORYREC_CAPTURE_METRICS": "cloudwatch"})
    service = wiring.build_service(settings)
    assert service.metrics is sentinel


def _store_refusing_user_b() -> Any:
    """Users a, b, c; writing b's ML record fails as a document Firestore refuses would."""
    from shared.adapters.memory import InMemoryDocumentStore
    from shared.errors import InvalidRequest

    store = InMemoryDocumentStore()
    for uid in ("a", "b", "c"):
        store.set(f"users/{uid}", {"lang": "en"})
    real = store.put_versioned

    def refuse_b(path: str, data: Any, **kwargs: Any) -> Any:
        if path.endswith("/b"):
            raise InvalidRequest("document too large")
        return real(path, data, **kwargs)

    store.put_versioned = refuse_b  # type: ignore[method-assign]
    return store


def test_replay_counts_a_document_the_store_refuses_and_goes_on() -> None:
    from shared.capture.backfill import replay
    from shared.capture.service import CaptureService, Outcome
    from tests.unit.capture.conftest import Clock

    store = _store_refusing_user_b()
    service = CaptureService(store, Clock(), RecordingMetrics())
    assert replay(service, store, "users") == {Outcome.CAPTURED: 2, Outcome.FAILED: 1}


def test_replay_stops_when_the_store_is_down() -> None:
    from shared.adapters.memory import InMemoryDocumentStore
    from shared.capture.backfill import replay
    from shared.capture.service import CaptureService
    from shared.errors import ServiceUnavailable
    from tests.unit.capture.conftest import Clock

    store = InMemoryDocumentStore()
    store.set("users/a", {"lang": "en"})

    def down(*_: Any, **__: Any) -> Any:
        raise ServiceUnavailable("down")

    store.put_versioned = down  # type: ignore[method-assign]
    with pytest.raises(ServiceUnavailable):
        replay(CaptureService(store, Clock(), RecordingMetrics()), store, "users")


def test_backfill_command_finishes_then_exits_1_when_a_document_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from shared.capture.service import CaptureService
    from shared.cli import app
    from tests.unit.capture.conftest import Clock

    store = _store_refusing_user_b()
    service = CaptureService(store, Clock(), RecordingMetrics())
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "demo-storyrec")
    monkeypatch.setattr(wiring, "build_service", lambda settings: service)
    result = CliRunner().invoke(app, ["backfill", "all"])
    assert result.exit_code == 1, result.output
    assert store.get("ml_users/a") is not None and store.get("ml_users/c") is not None
