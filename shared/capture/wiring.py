"""Composition of the capture service for triggers and the CLI: built on first use, then cached."""

from __future__ import annotations

import os
from functools import cache

from shared import wiring
from shared.adapters.logging_sinks import LogMetrics
from shared.capture.service import CaptureService
from shared.config import Settings
from shared.ports import MetricsSink


def build_service(settings: Settings) -> CaptureService:
    """Wire the capture service over Firestore; the emulator's fake auth id disables the writer check."""
    metrics: MetricsSink = (
        wiring.metrics(settings) if settings.capture_metrics == "cloudwatch" else LogMetrics()
    )
    return CaptureService(
        store=wiring.document_store(settings),
        clock=wiring.utc_now,
        metrics=metrics,
        collections=settings.collections,
        verify_writer=not settings.emulators.functions,
    )


@cache
def capture_service() -> CaptureService:
    """The process-wide service, created lazily inside the first invocation (never at import)."""
    return build_service(Settings.from_env(os.environ))
