"""Capture unit fixtures: the service over in-memory fakes with a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.memory import InMemoryDocumentStore, RecordingMetrics
from shared.capture.service import CaptureService

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += timedelta(seconds=seconds)


def click(**overrides: Any) -> dict[str, Any]:
    """A valid click document as the web client writes it, with fields overridden or removed (None)."""
    doc: dict[str, Any] = {
        "userId": "u1",
        "storyId": "s1",
        "type": "read",
        "clientTime": NOW - timedelta(seconds=3),
        "createdAt": NOW - timedelta(seconds=1),
        "sessionId": "sess-1",
        "device": "Web",
        "value": 42.5,
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


def story(**overrides: Any) -> dict[str, Any]:
    """A valid published story document."""
    doc: dict[str, Any] = {
        "title": "Cloud costs, explained",
        "url": "https://example.com/a",
        "source": "Example News",
        "image": "https://example.com/a.jpg",
        "category": "tech",
        "tags": ["cloud", "finops"],
        "lang": "EN",
        "summary": "Why the bill\ngrew.\t",
        "publishedAt": NOW - timedelta(days=1),
        "status": "published",
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


@pytest.fixture
def store() -> InMemoryDocumentStore:
    s = InMemoryDocumentStore()
    s.set("stories/s1", story())
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
