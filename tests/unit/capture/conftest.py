"""Capture unit fixtures: the service over in-memory fakes with a fixed clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from types import ModuleType

import pytest

from shared.adapters.memory import InMemoryDocumentStore, RecordingMetrics
from shared.capture import wiring
from shared.capture.service import CaptureService
from tests.corpus.capture_cases import NOW, STORIES, VERSION, click, story
from tests.unit.capture import events

__all__ = ["NOW", "VERSION", "Clock", "click", "story"]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def store() -> InMemoryDocumentStore:
    s = InMemoryDocumentStore()
    for story_id in STORIES:
        s.set(f"stories/{story_id}", story())
    return s


@pytest.fixture
def metrics() -> RecordingMetrics:
    return RecordingMetrics()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(store: InMemoryDocumentStore, metrics: RecordingMetrics, clock: Clock) -> CaptureService:
    return CaptureService(store=store, clock=clock, metrics=metrics)


@pytest.fixture
def main(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """functions_gcp.main loaded fresh, its triggers as the Firebase CLI would serve them."""
    yield from events.load_main(monkeypatch)


@pytest.fixture
def wired_service(monkeypatch: pytest.MonkeyPatch) -> CaptureService:
    """The service the real triggers get from ``wiring``: in-memory store holding story s1."""
    store = InMemoryDocumentStore()
    store.set("stories/s1", story())
    svc = CaptureService(store, Clock(), RecordingMetrics())
    monkeypatch.setattr(wiring, "capture_service", lambda: svc)
    return svc
