"""Publisher over an injected google-cloud-pubsub PublisherClient (the Pub/Sub emulator via PUBSUB_EMULATOR_HOST)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from google.api_core import exceptions as gexc

from shared.errors import ServiceUnavailable


class PubSubPublisher:
    """Publishes JSON messages to one topic and waits for each to be accepted (bounded by ``timeout``)."""

    def __init__(self, client: Any, project: str, topic: str, *, timeout: float = 30.0) -> None:
        self._client = client
        self._topic = client.topic_path(project, topic)
        self._timeout = timeout

    def publish(self, body: Mapping[str, Any]) -> str:
        data = json.dumps(dict(body), sort_keys=True).encode("utf-8")
        try:
            return str(self._client.publish(self._topic, data).result(timeout=self._timeout))
        except (gexc.GoogleAPICallError, gexc.RetryError, TimeoutError) as exc:
            raise ServiceUnavailable(f"Pub/Sub publish to {self._topic} failed: {exc}") from exc


def firestore_counter(client: Any, *, timeout: float) -> Any:
    """A ``Counter`` (shared.export.shards) running Firestore's count() aggregation for a Query."""
    from google.api_core.retry import Retry
    from google.cloud.firestore_v1 import FieldFilter

    from shared.ports import Query

    def count(query: Query) -> int:
        q: Any = client.collection(query.collection)
        for cond in query.where:
            q = q.where(filter=FieldFilter(cond.field, cond.op, cond.value))
        result = q.count().get(timeout=timeout, retry=Retry(timeout=timeout))
        return int(result[0][0].value)

    return count
