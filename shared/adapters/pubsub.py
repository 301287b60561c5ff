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

