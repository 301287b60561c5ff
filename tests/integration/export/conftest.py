"""Export integration fixtures: run_export over the Firestore emulator, moto (S3, SNS, SQS, CloudWatch)
and the GCS emulator, with a fixed clock."""

from __future__ import annotations

import socket
from datetime import datetime
from typing import Any

import pytest

from shared.config import Settings
from shared.export import ExportDeps
from tests.unit.export.factories import AFTER_DAY


def dead_endpoint() -> str:
    """An http endpoint on a loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def export_deps(settings: Settings, doc_store: Any, s3_store: Any, gcs_store: Any, sns_topic: Any) -> ExportDeps:
    from shared import wiring
    from shared.adapters.sns import SnsNotifier

    def clock() -> datetime:
        return AFTER_DAY

    return ExportDeps(
        docs=doc_store,
        import_store=s3_store,
        backup_store=gcs_store,
        notifier=SnsNotifier(wiring.aws_client("sns", settings), sns_topic.topic_arn),
        metrics=wiring.metrics(settings),
        clock=clock,
        collections=settings.collections,
        time_zone=settings.time_zone,
        prefix=settings.import_prefix,
    )
