"""Notifier over an injected boto3 SNS client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import HTTPClientError

from shared.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

_SUBJECT_MAX = 100  # SNS rejects longer subjects


class SnsNotifier:
    """Publishes operator alerts to one SNS topic."""

    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self._client = client
        self.topic_arn = topic_arn

    def notify(self, subject: str, message: str, attributes: Mapping[str, str] | None = None) -> str:
        attrs = {k: {"DataType": "String", "StringValue": v} for k, v in (attributes or {}).items()}
        clean_subject = " ".join(subject.split())[:_SUBJECT_MAX] or "storyrec"
        try:
            response = self._client.publish(
                TopicArn=self.topic_arn, Subject=clean_subject, Message=message, MessageAttributes=attrs  # type: ignore[arg-type]
            )
        except (BotoConnectionError, HTTPClientError) as exc:
            raise ServiceUnavailable(f"SNS unreachable: {exc}") from exc
        return response["MessageId"]
