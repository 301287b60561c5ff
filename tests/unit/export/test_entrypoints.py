"""The two entry points, scheduled function and CLI, call the same run_export."""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner

from shared.adapters.memory import RecordingNotifier
from shared.export import ExportDeps, ExportFailed
from shared.export import wiring as export_wiring
from shared.export.window import yesterday
from tests.unit.export.factories import DAY_START, FailingStore, day_of_clicks, seed

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[3]
ENV = {"GOOGLE_CLOUD_PROJECT": "demo-storyrec", "STORYREC_TIME_ZONE": "UTC"}


@pytest.fixture
def wired(deps: ExportDeps, monkeypatch: pytest.MonkeyPatch) -> ExportDeps:
    monkeypatch.setattr(export_wiring, "utc_now", deps.clock)
    """Make the entry points build the in-memory deps instead of real clients."""
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(export_wiring, "connect", lambda day, settings, clock=None: deps)
    seed(deps.docs, "ml_interactions", day_of_clicks(12))
    return deps


def _function_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("storyrec_export_fn", REPO / "functions_gcp" / "export.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _deliver(
    module: ModuleType,
    body: dict[str, Any] | str | None,
    publish_time: str = "2026-11-29T02:00:00Z",
    message_id: str = "m-1",
) -> None:
    """Deliver a Pub/Sub CloudEvent to the deployed function the way Eventarc does (through the decorator)."""
    from cloudevents.http import CloudEvent

    text = body if isinstance(body, str) else json.dumps(body) if body is not None else ""
    data = base64.b64encode(text.encode()).decode()
    message = {
        "data": data,
        "messageId": message_id,
        "message_id": message_id,
        "publishTime": publish_time,
        "publish_time": publish_time,
        "attributes": {},
    }
    event = CloudEvent(
        {
            "type": "google.cloud.pubsub.topic.v1.messagePublished",
            "specversion": "1.0",
            "id": message_id,
            "source": "//pubsub.googleapis.com/projects/demo-storyrec/topics/storyrec-export",
            "time": publish_time,
        },
        {"message": message, "subscription": "projects/demo-storyrec/subscriptions/export"},
    )
    module.export_daily(event)


def test_cli_exports_the_given_date(wired: ExportDeps) -> None:
    from shared.cli import app

    result = CliRunner().invoke(app, ["export", "--date", "2026-11-28"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"] == {"interactions": 12, "items": 0, "users": 0}
    assert summary["manifest"] == "manifests/dt=2026-11-28/manifest.json"


def test_cli_defaults_to_yesterday(wired: ExportDeps) -> None:
    from shared.cli import app

    result = CliRunner().invoke(app, ["export"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["date"] == "2026-11-28"


def test_cli_rejects_an_empty_date_instead_of_exporting_yesterday(wired: ExportDeps) -> None:
    from shared.cli import app

    result = CliRunner().invoke(app, ["export", "--date", ""])
    assert result.exit_code == 2 and "not a date" in result.output
    assert wired.import_store.list("") == []


def test_cli_refusals_and_rejections_have_their_own_exit_codes(wired: ExportDeps) -> None:
    from shared.cli import app

    seed(wired.docs, "ml_state", [("export", {"watermark": DAY_START, "rows": {"items": 10, "users": 0}})])
    refused = CliRunner().invoke(app, ["export", "--date", "2026-11-28"])
    assert refused.exit_code == 3 and "snapshot_shrink" in refused.output
    forced = CliRunner().invoke(app, ["export", "--date", "2026-11-28", "--force"])
    assert forced.exit_code == 0, forced.output
    future = CliRunner().invoke(app, ["export", "--date", "2030-01-01"])
    assert future.exit_code == 2 and "not over" in future.output


def test_cli_rejects_a_malformed_date(wired: ExportDeps) -> None:
    from shared.cli import app

    result = CliRunner().invoke(app, ["export", "--date", "28/11/2026"])
    assert result.exit_code == 2 and "not a date" in result.output


def test_cli_exits_non_zero_when_the_export_fails(wired: ExportDeps, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.cli import app

    broken = replace(wired, import_store=FailingStore(wired.import_store))
    monkeypatch.setattr(export_wiring, "connect", lambda day, settings, clock=None: broken)
    result = CliRunner().invoke(app, ["export", "--date", "2026-11-28"])
    assert result.exit_code == 1 and "upload_s3" in result.output


def _manifests(deps: ExportDeps) -> set[str]:
    return {o.key for o in deps.import_store.list("manifests/")}


def test_the_export_subscribes_to_the_topic_with_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYREC_EXPORT_TOPIC", "nightly-export")
    endpoint = _function_module().export_daily.__firebase_endpoint__
    assert endpoint.eventTrigger["eventType"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert endpoint.eventTrigger["eventFilters"] == {"topic": "nightly-export"}
    assert endpoint.eventTrigger["retry"] is True
    assert endpoint.timeoutSeconds == 540 and endpoint.scheduleTrigger is None


def test_the_daily_tick_exports_the_day_before_its_publish_time_even_when_redelivered_later(
    wired: ExportDeps, clock: Any
) -> None:
    module = _function_module()
    _deliver(module, {})
    assert _manifests(wired) == {"manifests/dt=2026-11-28/manifest.json"}
    clock.now = datetime(2026, 11, 30, 1, tzinfo=UTC)  # redelivered a day later: still the 28th
    _deliver(module, {})
    assert _manifests(wired) == {"manifests/dt=2026-11-28/manifest.json"}


def test_a_message_with_a_date_reruns_that_day(wired: ExportDeps) -> None:
    seed(wired.docs, "ml_interactions", day_of_clicks(5, start=DAY_START - timedelta(days=1), first=500))
    module = _function_module()
    _deliver(module, {"date": "2026-11-27"})
    assert _manifests(wired) == {"manifests/dt=2026-11-27/manifest.json"}


def test_force_and_replace_travel_in_the_message(wired: ExportDeps) -> None:
    seed(wired.docs, "ml_state", [("export", {"watermark": DAY_START, "rows": {"items": 10, "users": 0}})])
    module = _function_module()
    _deliver(module, {"date": "2026-11-28"})  # refused (items shrank to 0): acknowledged, alerted
    assert _manifests(wired) == set()
    assert isinstance(wired.notifier, RecordingNotifier) and wired.notifier.sent[0][2]["reason"] == "snapshot_shrink"
    _deliver(module, {"date": "2026-11-28", "force": True})
    assert _manifests(wired) == {"manifests/dt=2026-11-28/manifest.json"}


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        '{"date": ""}',
        '{"date": "28/11/2026"}',
        '{"date": 20261128}',
        '{"force": "yes"}',
        '{"day": "2026-11-28"}',
    ],
)
def test_a_malformed_message_is_acknowledged_and_exports_nothing(wired: ExportDeps, body: str) -> None:
    _deliver(_function_module(), body)  # returns: no redelivery loop
    assert _manifests(wired) == set()


def test_a_failed_export_raises_so_pubsub_redelivers_until_the_message_is_too_old(
    wired: ExportDeps, monkeypatch: pytest.MonkeyPatch, clock: Any
) -> None:
    broken = replace(wired, backup_store=FailingStore(wired.backup_store))
    monkeypatch.setattr(export_wiring, "connect", lambda day, settings, clock=None: broken)
    module = _function_module()
    monkeypatch.setattr("shared.wiring.utc_now", clock)
    with pytest.raises(ExportFailed):
        _deliver(module, {})
    clock.now = datetime(2026, 12, 1, 3, tzinfo=UTC)  # past STORYREC_EXPORT_MAX_EVENT_AGE_HOURS (24 h)
    _deliver(module, {})  # dropped: acknowledged, operators already alerted


def test_yesterday_is_taken_in_the_configured_zone() -> None:
    at = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)  # already the 29th in Berlin
    assert yesterday(at, "Europe/Berlin").isoformat() == "2026-11-28"
    assert yesterday(at, "UTC").isoformat() == "2026-11-27"
    assert DAY_START.date().isoformat() == "2026-11-28"


def test_a_misconfigured_function_acknowledges_instead_of_retrying_for_days(
    wired: ExportDeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _function_module()  # a malformed value at deploy time fails the deploy (test_config)
    monkeypatch.setenv("STORYREC_TIME_ZONE", "Mars/Olympus_Mons")
    _deliver(module, {})  # returns: logged, no redelivery loop
    assert _manifests(wired) == set()
