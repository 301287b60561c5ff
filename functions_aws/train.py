"""EventBridge schedule (monthly by default) → new solution versions (serverless.yml: ``train``)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions_aws.runtime import deps_for_invocation
from shared.logs import correlated, get_logger
from shared.personalize.training import train, training_run_name

_log = get_logger("aws.train")
metrics = Metrics()


@metrics.log_metrics
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    """Train under a name derived from the schedule's time, so a retried event trains once."""
    with correlated(event.get_id):
        _, deps = deps_for_invocation(metrics)
        scheduled_at = datetime.fromisoformat(event.time.replace("Z", "+00:00"))
        outcome = train(deps, training_run_name(scheduled_at))
        _log.info(
            "training handled",
            extra={"run": outcome.name, "versions": outcome.versions, "deferred": outcome.deferred},
        )
        return asdict(outcome)
