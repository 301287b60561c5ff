"""Real event shapes: S3 ObjectCreated (as S3 delivers it to Lambda) and an EventBridge scheduled event."""

from __future__ import annotations

import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any


def s3_object_created(bucket: str, key: str, size: int = 100) -> dict[str, Any]:
    """S3 URL-encodes the key in the event (``dt=`` arrives as ``dt%3D``)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-11-29T00:31:02.123Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:AROAEXAMPLE:export"},
                "requestParameters": {"sourceIPAddress": "203.0.113.7"},
                "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16].upper(), "x-amz-id-2": "id2"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "manifest-created",
                    "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A1"}, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {
                        "key": urllib.parse.quote_plus(key, safe="/"),
                        "size": size,
                        "eTag": "0123456789abcdef",
                        "sequencer": "0A1B2C3D4E5F678901",
                    },
                },
            }
        ]
    }


def scheduled(time: str, rule: str = "storyrec-train") -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": time,
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:000000000000:rule/{rule}"],
        "detail": {},
    }


@dataclass
class Context:
    """The attributes of a Lambda context object that Powertools reads."""

    function_name: str = "storyrec-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:storyrec-test"
    aws_request_id: str = "req-1"
