"""Export guards: each bad input first, then the override that lets an operator through."""

from __future__ import annotations

import io
import logging
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.memory import InMemoryObjectStore, RecordingMetrics, RecordingNotifier
from shared.config import Settings
from shared.errors import ServiceUnavailable
from shared.export import ExportDeps, ExportFailed, run_export
from shared.export.guards import DateRejected, ExportRefused, Overrides
from shared.logs import JsonFormatter, redact
from tests.unit.export.factories import DAY, DAY_START, day_of_clicks, interaction, item, seed, user

pytestmark = pytest.mark.unit


def _sent(deps: ExportDeps) -> list[tuple[str, str, dict[str, str]]]:
    assert isinstance(deps.notifier, RecordingNotifier)
    return deps.notifier.sent


def _metric(deps: ExportDeps, name: str) -> list[dict[str, str]]:
    assert isinstance(deps.metrics, RecordingMetrics)
    return [p[3] for p in deps.metrics.points if p[0] == name]


def _objects(deps: ExportDeps) -> dict[str, bytes]:
    assert isinstance(deps.import_store, InMemoryObjectStore)
    return dict(deps.import_store.objects)


def _last_export(deps: ExportDeps, items: int, users: int) -> None:
    """State as left by a good export of the day before: its watermark and its snapshot sizes."""
    seed(
        deps.docs,
        "ml_state",
        [
            (
                "export",
                {
                    "watermark": DAY_START,
                    "date": "2026-11-27",
                    "rows": {"interactions": 50, "items": items, "users": users},
                },
            )
        ],
    )
    seed(deps.docs, "ml_interactions", [interaction(900_000, DAY_START - timedelta(hours=5))])


def _world(deps: ExportDeps, items: int, users: int, clicks: int = 20) -> None:
    seed(deps.docs, "ml_interactions", day_of_clicks(clicks))
    seed(deps.docs, "ml_items", [item(f"s{i}") for i in range(items)])
    seed(deps.docs, "ml_users", [user(f"u{i}") for i in range(users)])


@pytest.mark.parametrize(("items", "users", "dataset"), [(0, 10, "items"), (4, 10, "items"), (10, 3, "users")])
def test_a_shrunken_full_snapshot_is_refused_with_an_alert(
    deps: ExportDeps, items: int, users: int, dataset: str
) -> None:
    _last_export(deps, items=10, users=10)
    _world(deps, items=items, users=users)
    with pytest.raises(ExportRefused, match=f"FULL {dataset} snapshot") as info:
        run_export(DAY, deps)
    assert info.value.reason == "snapshot_shrink"
    assert _objects(deps) == {}  # nothing uploaded: the import cannot delete the catalogue
    assert deps.docs.get("ml_state/export")["watermark"] == DAY_START  # type: ignore[index]
    assert [s[2]["reason"] for s in _sent(deps)] == ["snapshot_shrink"]
    assert _metric(deps, "ExportRefused") == [{"Reason": "snapshot_shrink"}]


def test_a_forced_shrunken_snapshot_is_exported(deps: ExportDeps) -> None:
    _last_export(deps, items=10, users=10)
    _world(deps, items=2, users=10)
    result = run_export(DAY, deps, overrides=Overrides(force=True))
    assert result.rows("items") == 2 and _sent(deps) == []


def test_a_snapshot_at_the_configured_share_passes(deps: ExportDeps) -> None:
    _last_export(deps, items=10, users=10)
    _world(deps, items=5, users=10)
    with pytest.raises(ExportRefused):
        run_export(DAY, replace(deps, min_snapshot_share=0.6))
    assert run_export(DAY, replace(deps, min_snapshot_share=0.5)).rows("items") == 5


def test_a_day_without_interactions_is_refused_unless_forced(deps: ExportDeps) -> None:
    _last_export(deps, items=3, users=3)
    _world(deps, items=3, users=3, clicks=0)
    with pytest.raises(ExportRefused, match="no interactions") as info:
        run_export(DAY, deps)
    assert info.value.reason == "empty_interactions" and _objects(deps) == {}
    assert _metric(deps, "ExportRefused") == [{"Reason": "empty_interactions"}]
    assert run_export(DAY, deps, overrides=Overrides(force=True)).rows("interactions") == 0


def test_a_rerun_that_differs_from_the_published_manifest_is_refused_unless_replace(deps: ExportDeps) -> None:
    _world(deps, items=5, users=5)
    first = run_export(DAY, deps)
    published = _objects(deps)
    assert run_export(DAY, deps).run_id == first.run_id  # identical rerun: allowed, byte-identical
    assert _objects(deps) == published

    seed(deps.docs, "ml_items", [item("late-story")])  # the catalogue moved on since
    with pytest.raises(ExportRefused, match="already exists with different content") as info:
        run_export(DAY, deps)
    assert info.value.reason == "manifest_differs"
    assert _objects(deps) == published
    assert run_export(DAY, deps, overrides=Overrides(replace=True)).rows("items") == 6
    assert _objects(deps) != published


@pytest.mark.parametrize(
    ("day", "now", "message"),
    [
        (date(2026, 11, 29), datetime(2026, 11, 29, 2, tzinfo=UTC), "not over"),
        (date(2027, 1, 1), datetime(2026, 11, 29, 2, tzinfo=UTC), "not over"),
        (date(2026, 11, 1), datetime(2026, 11, 29, 2, tzinfo=UTC), "before the first captured interaction"),
        (date(1970, 1, 1), datetime(2026, 11, 29, 2, tzinfo=UTC), "before the first captured interaction"),
    ],
)
def test_days_outside_the_data_are_rejected_without_paging(
    deps: ExportDeps, clock: Any, day: date, now: datetime, message: str
) -> None:
    _world(deps, items=2, users=2)
    clock.now = now
    with pytest.raises(DateRejected, match=message):
        run_export(day, deps)
    assert _sent(deps) == [] and _metric(deps, "ExportFailed") == [] and _objects(deps) == {}


def test_no_captured_data_at_all_is_a_clear_rejection(deps: ExportDeps) -> None:
    with pytest.raises(DateRejected, match="no interactions have been captured yet"):
        run_export(DAY, deps)
    assert _sent(deps) == []


def test_a_password_in_an_endpoint_url_is_masked_in_the_alert_and_the_log(deps: ExportDeps) -> None:
    secret_url = "http://admin:hunter2@10.1.2.3:4566/storyrec-import?X-Amz-Signature=deadbeef"

    class LeakyStore(InMemoryObjectStore):
        def put_file(self, key: str, path: str, *, content_type: str = "application/octet-stream") -> None:
            raise ServiceUnavailable(f'Could not connect to the endpoint URL: "{secret_url}"')

    _world(deps, items=2, users=2)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger("storyrec").addHandler(handler)
    try:
        with pytest.raises(ExportFailed):
            run_export(DAY, replace(deps, import_store=LeakyStore("import")))
    finally:
        logging.getLogger("storyrec").removeHandler(handler)
    subject, message, _ = _sent(deps)[0]
    for text in (subject, message, stream.getvalue()):
        assert "hunter2" not in text and "deadbeef" not in text
    assert "admin:***@10.1.2.3" in message


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("https://u:p@h/x", "https://u:***@h/x"),
        ("http://u:p@ss:w@rd@host:1/a", "http://u:***@host:1/a"),
        ("redis://:only-password@cache:6379", "redis://:***@cache:6379"),
        ("https://h/a?token=abc&page=2", "https://h/a?token=***&page=2"),
        ("https://h/a?AWSAccessKeyId=AK&Signature=s", "https://h/a?AWSAccessKeyId=***&Signature=***"),
        ("no url here: user:pass", "no url here: user:pass"),
        ("https://host/path@v2", "https://host/path@v2"),
    ],
)
def test_redact_masks_url_secrets(raw: str, clean: str) -> None:
    assert redact(raw) == clean


def test_missing_google_credentials_alert_and_fail_cleanly(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from shared.export import wiring as export_wiring

    for var in ("FIRESTORE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    notifier, metrics = RecordingNotifier(), RecordingMetrics()
    monkeypatch.setattr(export_wiring, "alert_sinks", lambda settings: (notifier, metrics))
    settings = Settings(gcp_project="demo-storyrec")
    with pytest.raises(ExportFailed, match="connect") as info:
        export_wiring.export_day(DAY, settings)
    assert info.value.step == "connect"
    assert "DefaultCredentialsError" in notifier.sent[0][1]
    assert metrics.total("ExportFailed") == 1


def test_export_settings_are_read_and_checked() -> None:
    from shared.errors import ConfigError

    env = {
        "GOOGLE_CLOUD_PROJECT": "p",
        "STORYREC_EXPORT_MIN_SNAPSHOT_SHARE": "0.8",
        "STORYREC_EXPORT_ROWS_PER_RUN": "5000",
        "STORYREC_TIMEOUT_FIRESTORE": "3",
        "STORYREC_EXPORT_TOPIC": "daily-export",
    }
    settings = Settings.from_env(env)
    assert settings.export.min_snapshot_share == 0.8 and settings.export.rows_per_run == 5000
    assert settings.export.topic == "daily-export" and settings.timeouts.firestore == 3.0
    assert Settings.from_env({"GOOGLE_CLOUD_PROJECT": "p"}).export.min_snapshot_share == 0.5
    for bad in (
        {"STORYREC_EXPORT_MIN_SNAPSHOT_SHARE": "1.5"},
        {"STORYREC_TIMEOUT_GCS": "soon"},
        {"STORYREC_EXPORT_ROWS_PER_RUN": "0"},
    ):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            Settings.from_env({"GOOGLE_CLOUD_PROJECT": "p", **bad})


def test_a_first_attempt_that_died_before_its_commit_is_simply_redone(deps: ExportDeps) -> None:
    _world(deps, items=5, users=5)
    deps.import_store.put_bytes("manifests/dt=2026-11-28/manifest.json", b'{"left": "by a crashed attempt"}')
    result = run_export(DAY, deps)  # not a rerun (no recorded window): the leftover is overwritten
    assert deps.import_store.get_bytes(result.manifest_key) != b'{"left": "by a crashed attempt"}'
