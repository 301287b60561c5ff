"""A Lambda invocation logs in the product's one schema, every line under the event's id."""

from __future__ import annotations

import logging
import warnings
from datetime import UTC, datetime
from typing import Any

import pytest
from aws_lambda_powertools import Metrics

from functions_aws import import_manifest, train
from functions_aws.runtime import deps_for_invocation
from infra.local.lambda_events import LambdaContext, s3_object_created, scheduled_event
from shared.adapters.memory import InMemoryObjectStore, RecordingMetrics, RecordingNotifier
from shared.config import Settings
from shared.personalize.stage import StageDeps
from tests.unit.aws.fakes import FakePersonalize
from tests.unit.log_lines import SCHEMA, captured

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
def stage(monkeypatch: pytest.MonkeyPatch) -> StageDeps:
    settings = Settings.from_env({"STORYREC_GCP_PROJECT": "p", "STORYREC_MIN_INCREMENTAL_ROWS": "1"})
    deps = StageDeps(
        FakePersonalize(NOW), InMemoryObjectStore("b"), RecordingNotifier(), RecordingMetrics(), lambda: NOW, settings
    )
    for module in (train, import_manifest):
        monkeypatch.setattr(module, "deps_for_invocation", lambda metrics: (settings, deps))
    return deps


def _invoke(handler: Any, event: dict[str, Any], name: str, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    with captured() as lines, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "No application metrics to publish")
        handler(event, LambdaContext(name))
    printed = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert all('"_aws"' in line for line in printed), printed  # stdout holds EMF metrics only, no second log
    return lines


def test_every_line_of_a_training_invocation_has_the_schema_and_the_event_id(
    stage: StageDeps, capsys: pytest.CaptureFixture[str]
) -> None:
    event = scheduled_event("storyrec-train", NOW)
    lines = _invoke(train.handler, event, "storyrec-train", capsys)
    assert [line["message"] for line in lines][-1] == "training handled"
    assert len(lines) >= 2  # the use case's lines and the handler's
    assert all(set(line) >= SCHEMA for line in lines)
    assert {line["correlation_id"] for line in lines} == {event["id"]}
    assert {line["logger"] for line in lines} >= {"storyrec.aws.train", "storyrec.personalize.training"}


def test_an_import_invocation_logs_under_the_s3_request_id(
    stage: StageDeps, capsys: pytest.CaptureFixture[str]
) -> None:
    event = s3_object_created(stage.settings.import_bucket, "exports/part-0.csv")
    lines = _invoke(import_manifest.handler, event, "storyrec-import", capsys)
    assert [line["message"] for line in lines] == ["not an export manifest; ignored"]
    assert lines[0]["correlation_id"] == event["Records"][0]["responseElements"]["x-amz-request-id"]
    assert all(set(line) >= SCHEMA for line in lines)


def test_no_powertools_logger_is_left_beside_the_product_log() -> None:
    assert not any(isinstance(getattr(m, "logger", None), logging.Logger) for m in (train, import_manifest))
    assert not hasattr(train, "logger") and not hasattr(import_manifest, "logger")


def test_the_metrics_namespace_comes_from_the_settings_whatever_the_import_time_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)
    metrics = Metrics()  # as a handler module made it, imported before the variable was set
    assert metrics.namespace is None
    monkeypatch.setenv("STORYREC_GCP_PROJECT", "p")
    monkeypatch.setenv("STORYREC_METRICS_NAMESPACE", "news-metrics")
    deps_for_invocation(metrics)
    assert metrics.namespace == "news-metrics"
