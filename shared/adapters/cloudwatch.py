"""MetricsSink over an injected boto3 CloudWatch client, buffered and flushed in batches."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient

_BATCH = 500  # PutMetricData accepts up to 1000 datums; stay well inside the payload limit


class CloudWatchMetrics:
    """Buffers data points and sends them with PutMetricData on ``flush`` (or when the buffer fills)."""

    def __init__(self, client: CloudWatchClient, namespace: str) -> None:
        self._client = client
        self.namespace = namespace
        self._buffer: list[dict[str, Any]] = []

    def put(
        self, name: str, value: float = 1.0, *, unit: str = "Count", dimensions: Mapping[str, str] | None = None
    ) -> None:
        self._buffer.append(
            {
                "MetricName": name,
                "Value": float(value),
                "Unit": unit,
                "Timestamp": datetime.now(UTC),
                "Dimensions": [{"Name": k, "Value": v} for k, v in (dimensions or {}).items()],
            }
        )
        if len(self._buffer) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        while self._buffer:
            batch, self._buffer = self._buffer[:_BATCH], self._buffer[_BATCH:]
            self._client.put_metric_data(Namespace=self.namespace, MetricData=batch)  # type: ignore[arg-type]
