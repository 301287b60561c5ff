"""What Firebase deploys for the feed handlers: their endpoint manifests (read from the real decorators)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[3]


def _module(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "demo-storyrec")
    monkeypatch.syspath_prepend(str(REPO / "functions_gcp"))  # Firebase runs the folder's modules top-level
    spec = importlib.util.spec_from_file_location("storyrec_recommend_fn", REPO / "functions_gcp" / "recommend.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_daily_fill_is_scheduled_after_the_export_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = _module(monkeypatch).fill_feeds_daily.__firebase_endpoint__
    assert endpoint.scheduleTrigger["schedule"] == "every day 05:00"
    assert endpoint.scheduleTrigger["timeZone"] == "UTC"
    assert endpoint.scheduleTrigger["retryConfig"]["retryCount"] == 2
    assert endpoint.maxInstances == 1 and endpoint.timeoutSeconds == 3600


def test_schedule_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYREC_FEED_SCHEDULE", "every day 06:30")
    monkeypatch.setenv("STORYREC_TIME_ZONE", "Europe/Lisbon")
    trigger = _module(monkeypatch).fill_feeds_daily.__firebase_endpoint__.scheduleTrigger
    assert (trigger["schedule"], trigger["timeZone"]) == ("every day 06:30", "Europe/Lisbon")


def test_refresh_is_a_callable(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = _module(monkeypatch).refresh_feed.__firebase_endpoint__
    assert endpoint.callableTrigger == {} and endpoint.httpsTrigger is None


def test_first_feed_fires_on_user_creation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYREC_COLLECTION_USERS", "profiles")
    trigger = _module(monkeypatch).first_feed_for_new_user.__firebase_endpoint__.eventTrigger
    assert trigger["eventType"] == "google.cloud.firestore.document.v1.created"
    assert trigger["eventFilterPathPatterns"] == {"document": "profiles/{uid}"}


def test_main_exports_the_feed_handlers() -> None:
    text = (REPO / "functions_gcp" / "main.py").read_text()
    assert text.rstrip().splitlines()[-1].startswith("from recommend import fill_feeds_daily, first_feed_for_new_user")
