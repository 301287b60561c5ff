"""Builds the AWS stage's dependencies from Settings (per invocation, never at import)."""

from __future__ import annotations

from shared import wiring
from shared.config import Settings
from shared.personalize.stage import StageDeps
from shared.ports import Clock, MetricsSink


def stage_deps(settings: Settings, *, metrics: MetricsSink | None = None, clock: Clock | None = None) -> StageDeps:
    """Real adapters: Personalize, the import bucket (manifests and the stage's state), SNS, metrics."""
    return StageDeps(
        personalize=wiring.personalize(settings),
        bucket=wiring.import_store(settings),
        notifier=wiring.notifier(settings),
        metrics=metrics if metrics is not None else wiring.metrics(settings),
        clock=clock or wiring.utc_now,
        settings=settings,
    )
