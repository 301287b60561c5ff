"""Capture integration fixtures: the capture service over the Firestore emulator."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.adapters.memory import RecordingMetrics
from shared.capture.service import CaptureService
from shared.config import Settings


@pytest.fixture
def metrics() -> RecordingMetrics:
    return RecordingMetrics()


@pytest.fixture
def service(doc_store: Any, metrics: RecordingMetrics, settings: Settings) -> CaptureService:
    return CaptureService(doc_store, lambda: datetime.now(UTC), metrics, collections=settings.collections)
