"""EventBridge schedule (every 15 minutes by default) → follow jobs, alert, decide (serverless.yml: ``monitor``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions_aws.runtime import deps_for_invocation
from shared.logs import correlated, get_logger
from shared.personalize.monitor import monitor

_log = get_logger("aws.monitor")
metrics = Metrics()


@metrics.log_metrics
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    """One monitor pass; its alerts and decisions are keyed, so an overlapping or repeated run repeats nothing."""
    with correlated(event.get_id):
        _, deps = deps_for_invocation(metrics)
        report = monitor(deps)
        summary = {
            "redriven": [o.manifest_key for o in report.redriven],
            "alerts": report.alerts,
            "training": report.training.name if report.training else None,
            "decision": (report.decision or {}).get("action"),
            "waiting": report.waiting,
        }
        _log.info("monitor pass", extra=summary)
        return summary
