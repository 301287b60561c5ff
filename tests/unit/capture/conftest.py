"""Capture unit fixtures: the service over in-memory fakes with a fixed clock."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from shared.adapters.memory import InMemoryDocumentStore, RecordingMetrics
from shared.capture.service import CaptureService
from tests.corpus.capture_cases import NOW, STORIES, VERSION, click, story

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
