"""Dead backing services fail the export within the configured time, with secrets masked.

The real clients (google-cloud-firestore, google-cloud-storage, boto3) are pointed at loopback ports
nobody listens on; no local stack is needed. The bounds asserted are generous multiples of the
configured timeouts: the point is "seconds, not the SDKs' minutes".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from shared.adapters.memory import RecordingMetrics, RecordingNotifier
from shared.config import ServiceTimeouts, Settings
from shared.export import ExportFailed
from shared.export import wiring as export_wiring
from tests.integration.export.conftest import dead_endpoint
from tests.unit.export.factories import DAY

pytestmark = pytest.mark.integration

FAST = ServiceTimeouts(firestore=2.0, gcs=2.0, aws_connect=1.0, aws_read=2.0, aws_attempts=2)
BOUND = 20.0


@pytest.fixture
def dead(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Every service on a dead port; settings with short timeouts."""
    for var in ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST"):
        monkeypatch.setenv(var, dead_endpoint().removeprefix("http://"))
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", dead_endpoint())
    for service in ("S3", "SNS", "CLOUDWATCH"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", dead_endpoint())
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return replace(Settings(gcp_project="demo-storyrec"), timeouts=FAST)


def _fails_fast(call: Callable[[], Any]) -> float:
    started = time.monotonic()
    with pytest.raises(Exception):  # noqa: B017 - any error, as long as it is quick
        call()
    return time.monotonic() - started


@pytest.mark.parametrize(
    "call",
    [
        lambda s: __import__("shared.wiring").wiring.document_store(s).get("ml_state/export"),
        lambda s: list(
            __import__("shared.wiring")
            .wiring.document_store(s)
            .stream(__import__("shared.ports").ports.Query("ml_interactions"))
        ),
        lambda s: __import__("shared.wiring").wiring.backup_store(s).put_bytes("k", b"x"),
        lambda s: __import__("shared.wiring").wiring.import_store(s).put_bytes("k", b"x"),
        lambda s: __import__("shared.wiring").wiring.import_store(s).list("k"),
        lambda s: (
            __import__("shared.adapters.sns")
            .adapters.sns.SnsNotifier(
                __import__("shared.wiring").wiring.aws_client("sns", s), "arn:aws:sns:us-east-1:123456789012:alerts"
            )
            .notify("s", "m")
        ),
        lambda s: (lambda m: (m.put("X"), m.flush()))(__import__("shared.wiring").wiring.metrics(s)),
    ],
    ids=["firestore-get", "firestore-stream", "gcs", "s3-put", "s3-list", "sns", "cloudwatch"],
)
def test_each_dead_service_fails_within_its_bound(dead: Settings, call: Callable[[Settings], Any]) -> None:
    assert _fails_fast(lambda: call(dead)) < BOUND


def test_an_unreachable_firestore_fails_the_export_in_seconds_and_alerts(
    dead: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    notifier, metrics = RecordingNotifier(), RecordingMetrics()
    monkeypatch.setattr(export_wiring, "alert_sinks", lambda settings: (notifier, metrics))
    started = time.monotonic()
    with pytest.raises(ExportFailed) as info:
        export_wiring.export_day(DAY, dead)
    assert time.monotonic() - started < BOUND
    assert info.value.step == "check_date"
    assert metrics.total("ExportFailed") == 1 and "failed" in notifier.sent[0][0]


def test_a_password_in_an_aws_endpoint_url_never_reaches_the_alert(
    dead: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared import wiring

    secret = dead_endpoint().replace("http://", "http://operator:Pa55word@")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", secret)
    notifier = RecordingNotifier()
    from shared.export.job import report_failure

    try:
        wiring.import_store(dead).put_bytes("k", b"x")
    except Exception as exc:
        assert "Pa55word" in str(exc) or "Pa55word" in repr(exc.__cause__)
        report_failure(DAY, "upload_s3", None, exc, notifier, RecordingMetrics())
    subject, message, _ = notifier.sent[0]
    assert "Pa55word" not in subject + message
    assert "operator:***@" in message
