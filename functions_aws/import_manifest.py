"""S3 ObjectCreated on the export's manifest → dataset import jobs (serverless.yml: ``importManifest``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions_aws.runtime import deps_for_invocation
from shared.logs import correlated, get_logger
from shared.manifest import is_manifest_shaped
from shared.personalize.imports import import_manifest

_log = get_logger("aws.import")
metrics = Metrics()


@metrics.log_metrics
@event_source(data_class=S3Event)
def handler(event: S3Event, context: LambdaContext) -> dict[str, Any]:
    """Import every manifest the event names, each on its own (one failing never stops the next); other keys
    (parts, state) are ignored. A key laid out as a manifest's with an impossible date is refused with an alert.

    Every line of the invocation carries the S3 request id of the event as its correlation id.
    """
    with correlated(event.record.response_elements.get("x-amz-request-id")):
        settings, deps = deps_for_invocation(metrics)
        results = []
        for record in event.records:
            # S3 URL-encodes keys in events; Powertools decodes only ``event.object_key`` (the first record)
            bucket, key = record.s3.bucket.name, unquote_plus(record.s3.get_object.key)
            if bucket != settings.import_bucket or not is_manifest_shaped(key, settings.import_prefix):
                _log.info("not an export manifest; ignored", extra={"bucket": bucket, "key": key})
                continue
            outcome = import_manifest(key, deps)
            _log.info("manifest handled", extra=asdict(outcome))
            results.append(asdict(outcome))
        return {"manifests": results}
