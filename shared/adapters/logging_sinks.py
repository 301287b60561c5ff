"""Notifier and metrics that write to the structured log (alerts without SNS; log-based metrics)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from shared.logs import get_logger

_log = get_logger("alerts")
_metrics_log = get_logger("metrics")


class LogNotifier:
    """Logs alerts at ERROR level so log-based alerting still sees them."""

    def notify(self, subject: str, message: str, attributes: Mapping[str, str] | None = None) -> str:
        message_id = uuid.uuid4().hex
        _log.error(subject, extra={"alert": message, "attributes": dict(attributes or {}), "message_id": message_id})
        return message_id


class LogMetrics:
    """Metrics as structured log lines (``metric``, ``value``, dimensions): Cloud Logging log-based metrics.

    The default for the capture triggers, so a click never waits on a cross-cloud call; set
    ``STORYREC_CAPTURE_METRICS=cloudwatch`` to send them to CloudWatch instead.
    """

    def put(
        self, name: str, value: float = 1.0, *, unit: str = "Count", dimensions: Mapping[str, str] | None = None
    ) -> None:
        _metrics_log.info("metric", extra={"metric": name, "value": value, "unit": unit, **(dimensions or {})})

    def flush(self) -> None:
        return None
