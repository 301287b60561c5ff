"""Composition of the capture service for triggers and the CLI: built on first use, then cached."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache

from shared.capture.service import CaptureService
from shared.config import Settings
from shared.logs import get_logger
from shared.ports import MetricsSink

_metrics_log = get_logger("metrics")


class LogMetrics:
    """Metrics as structured log lines (``metric``, ``value``, dimensions): Cloud Logging log-based metrics.

    The default for triggers, so a click never waits on a cross-cloud call; set
    ``STORYREC_CAPTURE_METRICS=cloudwatch`` to send them to CloudWatch instead.
    """

    def put(
        self,
        name: str,
        value: float = 1.0,
        *,
        unit: str = "Count",
        dimensions: Mapping[str, str] | None = None,
    ) -> None:
        fields = {"metric": name, "value": value, "unit": unit, **(dimensions or {})}
        _metrics_log.info("metric", extra=fields)

    def flush(self) -> None:
        return None


def utc_now() -> datetime:
    """The production clock."""
    return datetime.now(UTC)


def build_service(settings: Settings, env: Mapping[str, str]) -> CaptureService:
    """Wire the capture service over Firestore; the emulator's fake auth id disables the writer check."""
    from shared import wiring

    metrics: MetricsSink = (
        wiring.metrics(settings) if env.get("STORYREC_CAPTURE_METRICS") == "cloudwatch" else LogMetrics()
    )
    return CaptureService(
        store=wiring.document_store(settings),
        clock=utc_now,
        metrics=metrics,
        collections=settings.collections,
        verify_writer=env.get("FUNCTIONS_EMULATOR") != "true",
    )


@cache
def capture_service() -> CaptureService:
    """The process-wide service, created lazily inside the first invocation (never at import)."""
    return build_service(Settings.from_env(os.environ), os.environ)
