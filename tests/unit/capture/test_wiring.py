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
