"""The two entry points, scheduled function and CLI, call the same run_export."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest
from typer.testing import CliRunner

from shared.export import ExportDeps
from shared.export import wiring as export_wiring
from tests.unit.export.factories import DAY_START, FailingStore, day_of_clicks, seed

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[3]
ENV = {"GOOGLE_CLOUD_PROJECT": "demo-storyrec", "STORYREC_TIME_ZONE": "UTC"}


@pytest.fixture
def wired(deps: ExportDeps, monkeypatch: pytest.MonkeyPatch) -> ExportDeps:
    """Make the entry points build the in-memory deps instead of real clients."""
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(export_wiring, "export_deps", lambda settings, clock=None: deps)
    seed(deps.docs, "ml_interactions", day_of_clicks(12))
    return deps


def _function_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("storyrec_export_fn", REPO / "functions_gcp" / "export.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _invoke(module: ModuleType, schedule_time: str) -> int:
    """Call the deployed wrapper the way Cloud Scheduler does; return the HTTP status."""
    import flask

    headers = {"X-CloudScheduler-ScheduleTime": schedule_time, "X-CloudScheduler-JobName": "export"}
    with flask.Flask("scheduler").test_request_context(method="POST", headers=headers):
        return int(module.export_daily(flask.request).status_code)


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


def test_cli_rejects_a_malformed_date(wired: ExportDeps) -> None:
    from shared.cli import app

    result = CliRunner().invoke(app, ["export", "--date", "28/11/2026"])
    assert result.exit_code == 2 and "not a date" in result.output


def test_cli_exits_non_zero_when_the_export_fails(wired: ExportDeps, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.cli import app

    broken = replace(wired, import_store=FailingStore(wired.import_store))
    monkeypatch.setattr(export_wiring, "export_deps", lambda settings, clock=None: broken)
    result = CliRunner().invoke(app, ["export", "--date", "2026-11-28"])
    assert result.exit_code == 1 and "upload_s3" in result.output


def test_scheduled_function_exports_the_day_before_the_schedule_time(wired: ExportDeps) -> None:
    from firebase_functions import scheduler_fn

    module = _function_module()
    event = scheduler_fn.ScheduledEvent(job_name="export", schedule_time=datetime(2026, 11, 29, 2, tzinfo=UTC))
    module.export_daily.__wrapped__(event)
    keys = set(wired.import_store.list("manifests/"))
    assert {k.key for k in keys} == {"manifests/dt=2026-11-28/manifest.json"}


def test_scheduled_function_answers_500_on_failure_so_the_scheduler_retries(
    wired: ExportDeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _function_module()
    assert _invoke(module, "2026-11-29T02:00:00Z") == 200
    broken = replace(wired, backup_store=FailingStore(wired.backup_store))
    monkeypatch.setattr(export_wiring, "export_deps", lambda settings, clock=None: broken)
    assert _invoke(module, "2026-11-30T02:00:00Z") == 500


def test_schedule_and_time_zone_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYREC_EXPORT_SCHEDULE", "every day 03:30")
    monkeypatch.setenv("STORYREC_TIME_ZONE", "Europe/Berlin")
    endpoint = _function_module().export_daily.__firebase_endpoint__
    assert endpoint.scheduleTrigger["schedule"] == "every day 03:30"
    assert endpoint.scheduleTrigger["timeZone"] == "Europe/Berlin"
    assert endpoint.maxInstances == 1


def test_yesterday_is_taken_in_the_configured_zone() -> None:
    at = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)  # already the 29th in Berlin
    assert export_wiring.yesterday(at, "Europe/Berlin").isoformat() == "2026-11-28"
    assert export_wiring.yesterday(at, "UTC").isoformat() == "2026-11-27"
    assert DAY_START.date().isoformat() == "2026-11-28"
