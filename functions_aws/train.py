"""EventBridge schedule (monthly by default) → new solution versions (serverless.yml: ``train``)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions_aws.runtime import deps_for_invocation
from shared.logs import correlated
from shared.personalize.training import train, training_run_name

logger = Logger(service="storyrec-train")
metrics = Metrics()


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    """Train under a name derived from the schedule's time, so a retried event trains once."""
    _, deps = deps_for_invocation(metrics)
    scheduled_at = datetime.fromisoformat(event.time.replace("Z", "+00:00"))
    with correlated(event.get_id):
        outcome = train(deps, training_run_name(scheduled_at))
    logger.info(
        "training handled", extra={"run": outcome.name, "versions": outcome.versions, "deferred": outcome.deferred}
    )
    return asdict(outcome)
