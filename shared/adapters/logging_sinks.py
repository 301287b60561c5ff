"""Notifier and metrics that write to the structured log: the fallback when no SNS topic is set."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from shared.logs import get_logger

_log = get_logger("alerts")


class LogNotifier:
    """Logs alerts at ERROR level so log-based alerting still sees them."""

    def notify(self, subject: str, message: str, attributes: Mapping[str, str] | None = None) -> str:
        message_id = uuid.uuid4().hex
        _log.error(subject, extra={"alert": message, "attributes": dict(attributes or {}), "message_id": message_id})
        return message_id
