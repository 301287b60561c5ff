"""What the three handlers share: settings, the stage's dependencies, and Powertools metrics as a MetricsSink."""

from __future__ import annotations

import os
from collections.abc import Mapping

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from shared.config import Settings
from shared.personalize.stage import StageDeps
from shared.wiring import stage_deps


class PowertoolsMetricsSink:
    """The MetricsSink port over Powertools' EMF metrics (flushed by ``@metrics.log_metrics``)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def put(
        self, name: str, value: float = 1.0, *, unit: str = "Count", dimensions: Mapping[str, str] | None = None
    ) -> None:
        if dimensions:
            with single_metric(
                name=name, unit=MetricUnit(unit), value=value, namespace=self._metrics.namespace
            ) as metric:
                for key, dim in dimensions.items():
                    metric.add_dimension(name=key, value=dim)
        else:
            self._metrics.add_metric(name=name, unit=MetricUnit(unit), value=value)

    def flush(self) -> None:
        """Nothing to do: the handler's ``log_metrics`` decorator writes the EMF blob."""


def deps_for_invocation(metrics: Metrics) -> tuple[Settings, StageDeps]:
    """Read settings once for this invocation and build the stage's adapters.

    The metrics' namespace comes from the settings too, not from what the environment held when the
    handler's module was imported (a warm container, or a process that set it later).
    """
    settings = Settings.from_env(os.environ)
    metrics.namespace = settings.metrics_namespace
    return settings, stage_deps(settings, sink=PowertoolsMetricsSink(metrics))
