"""run_export over in-memory fakes: output, layout, reruns, failures and catch-up."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.memory import InMemoryObjectStore, RecordingMetrics, RecordingNotifier
from shared.export import ExportDeps, ExportFailed, ExportOptions, run_export
from shared.export.guards import DateRejected, Overrides
from shared.export.window import EPOCH
from shared.schema import load_schema
from tests.unit.export.factories import (
    AFTER_DAY,
    DAY,
    DAY_START,
    END,
    HOSTILE,
    FailingStore,
    RecordingStore,
    day_of_clicks,
    expected_interactions,
    interaction,
    item,
    read_csv,
    seed,
    user,
)

pytestmark = pytest.mark.unit


def _objects(store: Any) -> dict[str, bytes]:
    assert isinstance(store, InMemoryObjectStore)
    return dict(store.objects)


def _seed_world(deps: ExportDeps, clicks: int = 60) -> list[tuple[str, dict[str, Any]]]:
    inside = day_of_clicks(clicks)
    later = [interaction(10_000 + i, END + timedelta(minutes=i)) for i in range(5)]
    seed(deps.docs, "ml_interactions", inside + later)
    seed(deps.docs, "ml_items", [item("s2"), item("s1", TAGS=None), item("s3", active=False)])
    seed(deps.docs, "ml_users", [user("u2", COUNTRY=None), user("u1"), user("gone", active=False)])
    return inside


def _watermark(deps: ExportDeps) -> Any:
    return (deps.docs.get("ml_state/export") or {}).get("watermark")


def test_csvs_match_the_source_records_row_by_row(deps: ExportDeps) -> None:
    inside = _seed_world(deps)
    result = run_export(DAY, deps)
    objects = _objects(deps.import_store)
    interactions = read_csv(objects["interactions/dt=2026-11-28/part-00000.csv"])
    assert interactions[0] == load_schema("interactions").header
    assert interactions[1:] == expected_interactions(inside)
    items = read_csv(objects["items/dt=2026-11-28/part-00000.csv"])
    assert items == [
        load_schema("items").header,
        ["s1", "1764000000", "news", "", "wire", "en", "Summary of s1"],
        ["s2", "1764000000", "news", "a|b", "wire", "en", "Summary of s2"],
    ]
    users = read_csv(objects["users/dt=2026-11-28/part-00000.csv"])
    assert users == [["USER_ID", "LANGUAGE", "COUNTRY"], ["u1", "en", "DE"], ["u2", "en", ""]]
    assert (result.rows("interactions"), result.rows("items"), result.rows("users")) == (60, 2, 2)
    assert (result.window.start, result.window.end) == (EPOCH, END)


def test_layout_is_identical_in_both_buckets_and_the_manifest_comes_last(deps: ExportDeps) -> None:
    _seed_world(deps)
    s3, gcs = RecordingStore(deps.import_store), RecordingStore(deps.backup_store)
    run_export(DAY, replace(deps, import_store=s3, backup_store=gcs, prefix="personalize/"))
    expected = {f"personalize/{d}/dt=2026-11-28/part-00000.csv" for d in ("interactions", "items", "users")}
    expected.add("personalize/manifests/dt=2026-11-28/manifest.json")
    assert set(_objects(deps.import_store)) == expected
    assert _objects(deps.import_store) == _objects(deps.backup_store)
    for store in (s3, gcs):
        assert store.writes[-1] == "personalize/manifests/dt=2026-11-28/manifest.json"
        assert len(store.writes) == 4


def test_manifest_describes_the_run(deps: ExportDeps) -> None:
    _seed_world(deps)
    result = run_export(DAY, deps)
    objects = _objects(deps.import_store)
    manifest = json.loads(objects[result.manifest_key])
    assert manifest["run_id"] == result.run_id and manifest["date"] == "2026-11-28"
    assert manifest["window"] == {"field": "captured_at", "start": EPOCH.isoformat(), "end": END.isoformat()}
    modes = {name: d["import_mode"] for name, d in manifest["datasets"].items()}
    assert modes == {"interactions": "INCREMENTAL", "items": "FULL", "users": "FULL"}
    for name, dataset in manifest["datasets"].items():
        assert dataset["schema_version"] == load_schema(name).version
        assert dataset["columns"] == load_schema(name).header
        for f in dataset["files"]:
            assert hashlib.sha256(objects[f["key"]]).hexdigest() == f["sha256"]
            assert len(objects[f["key"]]) == f["bytes"]
            assert len(read_csv(objects[f["key"]])) - 1 == f["rows"]
        assert dataset["rows"] == sum(f["rows"] for f in dataset["files"])


def test_rerun_of_a_date_is_byte_identical_even_after_new_captures(deps: ExportDeps, clock: Any) -> None:
    _seed_world(deps)
    first = run_export(DAY, deps)
    before = _objects(deps.import_store)
    seed(deps.docs, "ml_interactions", day_of_clicks(20, start=END, first=50_000))
    clock.now = AFTER_DAY + timedelta(days=3)
    again = run_export(DAY, deps)
    assert _objects(deps.import_store) == before == _objects(deps.backup_store)
    assert (again.run_id, again.window.start, again.window.end) == (first.run_id, first.window.start, first.window.end)
    assert again.window.rerun and _watermark(deps) == END


def test_next_day_starts_at_the_watermark(deps: ExportDeps, clock: Any) -> None:
    _seed_world(deps)
    run_export(DAY, deps)
    clock.now = AFTER_DAY + timedelta(days=1)
    result = run_export(DAY + timedelta(days=1), deps)
    assert (result.window.start, result.window.end) == (END, END + timedelta(days=1))
    assert result.rows("interactions") == 5
    assert _watermark(deps) == END + timedelta(days=1)


@pytest.mark.parametrize(("broken", "step"), [("import_store", "upload_s3"), ("backup_store", "upload_gcs")])
def test_a_store_down_alerts_and_loses_nothing(deps: ExportDeps, broken: str, step: str) -> None:
    inside = _seed_world(deps)
    store = FailingStore(getattr(deps, broken), after=1)
    failing = replace(deps, import_store=store) if broken == "import_store" else replace(deps, backup_store=store)
    with pytest.raises(ExportFailed) as info:
        run_export(DAY, failing)
    assert info.value.step == step
    assert _watermark(deps) is None and deps.docs.get("ml_state/export/dates/2026-11-28") is None
    assert not any(k.startswith("manifests/") for k in _objects(deps.import_store))
    notifier, metrics = deps.notifier, deps.metrics
    assert isinstance(notifier, RecordingNotifier) and isinstance(metrics, RecordingMetrics)
    [(subject, message, attributes)] = notifier.sent
    assert "2026-11-28" in subject and step in subject
    assert "ServiceUnavailable" in message and "injected" in message
    assert attributes == {"stage": "export", "date": "2026-11-28", "step": step}
    assert [p for p in metrics.points if p[0] == "ExportFailed"] == [("ExportFailed", 1, "Count", {"Step": step})]
    result = run_export(DAY, deps)  # the cloud is back: the retry exports everything
    assert result.rows("interactions") == len(inside) and _watermark(deps) == END


def test_a_missed_day_is_caught_up_by_the_next_run(deps: ExportDeps, clock: Any) -> None:
    day1 = day_of_clicks(10)
    day2 = day_of_clicks(7, start=END, first=100)
    seed(deps.docs, "ml_interactions", day1 + day2)
    with pytest.raises(ExportFailed):
        run_export(DAY, replace(deps, import_store=FailingStore(deps.import_store)))
    clock.now = AFTER_DAY + timedelta(days=1)
    result = run_export(DAY + timedelta(days=1), deps)
    rows = read_csv(_objects(deps.import_store)["interactions/dt=2026-11-29/part-00000.csv"])[1:]
    assert rows == expected_interactions(day1 + day2)
    assert result.window.start == EPOCH


def test_files_split_at_the_size_limit(deps: ExportDeps) -> None:
    inside = _seed_world(deps, clicks=300)
    result = run_export(DAY, deps, ExportOptions(max_part_bytes=2_000))
    objects = _objects(deps.import_store)
    keys = sorted(k for k in objects if k.startswith("interactions/"))
    assert len(keys) > 3 and keys[0].endswith("part-00000.csv") and keys[1].endswith("part-00001.csv")
    rows: list[list[str]] = []
    for key in keys:
        assert len(objects[key]) <= 2_000
        parsed = read_csv(objects[key])
        assert parsed[0] == load_schema("interactions").header
        rows.extend(parsed[1:])
    assert rows == expected_interactions(inside)
    manifest = json.loads(objects[result.manifest_key])
    assert [f["key"] for f in manifest["datasets"]["interactions"]["files"]] == keys


def test_a_rerun_with_fewer_parts_removes_the_stale_ones(deps: ExportDeps) -> None:
    _seed_world(deps, clicks=300)
    run_export(DAY, deps, ExportOptions(max_part_bytes=2_000))
    run_export(DAY, deps, overrides=Overrides(replace=True))
    for store in (deps.import_store, deps.backup_store):
        keys = [k for k in _objects(store) if k.startswith("interactions/")]
        assert keys == ["interactions/dt=2026-11-28/part-00000.csv"]


def test_rows_follow_the_store_order_so_reruns_are_byte_identical(deps: ExportDeps) -> None:
    clicks = day_of_clicks(400)
    rng = random.Random(7)
    for _, data in clicks:  # TIMESTAMP no longer follows captured_at: no sort is needed or done
        data["TIMESTAMP"] = int(DAY_START.timestamp()) + rng.randint(0, 86_000)
    seed(deps.docs, "ml_interactions", clicks)
    run_export(DAY, deps)
    first = _objects(deps.import_store)
    rows = read_csv(first["interactions/dt=2026-11-28/part-00000.csv"])[1:]
    assert rows == expected_interactions(clicks)  # captured_at order, as read
    run_export(DAY, deps)
    assert _objects(deps.import_store) == first


def test_hostile_text_round_trips_in_free_text_and_is_quarantined_in_ids(deps: ExportDeps) -> None:
    hostile = [
        interaction(i, DAY_START + timedelta(minutes=i), USER_ID=t, ITEM_ID=t + "!", DEVICE=t)
        for i, t in enumerate(HOSTILE)
    ]
    good = day_of_clicks(5, start=DAY_START + timedelta(hours=1), first=100)
    seed(deps.docs, "ml_interactions", hostile + good)
    seed(deps.docs, "ml_items", [item(f"s{i}", SUMMARY=t) for i, t in enumerate(HOSTILE)])
    result = run_export(DAY, deps)
    objects = _objects(deps.import_store)
    rows = read_csv(objects["interactions/dt=2026-11-28/part-00000.csv"])[1:]
    assert rows == expected_interactions(good)
    exported = next(d for d in result.datasets if d.dataset == "interactions")
    assert sum(exported.rejected.values()) == len(HOSTILE)
    items = read_csv(objects["items/dt=2026-11-28/part-00000.csv"])[1:]
    assert [r[6] for r in items] == HOSTILE


def test_rejected_records_are_counted_not_exported(deps: ExportDeps) -> None:
    good = day_of_clicks(5)
    bad = [
        interaction(900, DAY_START + timedelta(hours=1), USER_ID=None),
        interaction(901, DAY_START + timedelta(hours=2), TIMESTAMP="soon"),
    ]
    seed(deps.docs, "ml_interactions", good + bad)
    result = run_export(DAY, deps)
    manifest = json.loads(_objects(deps.import_store)[result.manifest_key])
    assert manifest["datasets"]["interactions"]["rejected"] == {"bad_long": 1, "missing_required": 1}
    assert result.rows("interactions") == 5
    metrics = deps.metrics
    assert isinstance(metrics, RecordingMetrics)
    assert ("ExportRejectedRows", 2, "Count", {"Dataset": "interactions"}) in metrics.points


def test_success_counts_rows_per_dataset(deps: ExportDeps) -> None:
    _seed_world(deps)
    run_export(DAY, deps)
    metrics = deps.metrics
    assert isinstance(metrics, RecordingMetrics)
    rows = {p[3]["Dataset"]: p[1] for p in metrics.points if p[0] == "ExportRows"}
    assert rows == {"interactions": 60, "items": 2, "users": 2}
    assert not [p for p in metrics.points if p[0] == "ExportFailed"]


def test_a_forced_empty_day_exports_header_only_files(deps: ExportDeps) -> None:
    seed(deps.docs, "ml_interactions", [interaction(1, DAY_START - timedelta(days=3))])
    seed(deps.docs, "ml_state", [("export", {"watermark": DAY_START - timedelta(days=2)})])
    result = run_export(DAY, deps, overrides=Overrides(force=True))
    assert [d.rows for d in result.datasets] == [0, 0, 0]
    assert read_csv(_objects(deps.import_store)["users/dt=2026-11-28/part-00000.csv"]) == [
        ["USER_ID", "LANGUAGE", "COUNTRY"]
    ]


def test_a_day_not_over_is_rejected_without_paging(deps: ExportDeps, clock: Any) -> None:
    _seed_world(deps)
    clock.now = datetime(2026, 11, 28, 23, tzinfo=UTC)
    with pytest.raises(DateRejected, match="not over"):
        run_export(DAY, deps)
    assert _objects(deps.import_store) == {}
    assert isinstance(deps.notifier, RecordingNotifier) and deps.notifier.sent == []


def test_an_unreachable_notifier_does_not_hide_the_failure(deps: ExportDeps) -> None:
    class DeadNotifier:
        def notify(self, subject: str, message: str, attributes: Any = None) -> str:
            raise ConnectionError("sns down")

    _seed_world(deps)
    with pytest.raises(ExportFailed, match="upload_gcs"):
        run_export(DAY, replace(deps, notifier=DeadNotifier(), backup_store=FailingStore(deps.backup_store)))


def test_the_time_zone_sets_the_window_end(deps: ExportDeps) -> None:
    seed(
        deps.docs,
        "ml_interactions",
        [
            interaction(1, datetime(2026, 11, 28, 22, 30, tzinfo=UTC)),
            interaction(2, datetime(2026, 11, 28, 23, 30, tzinfo=UTC)),
        ],
    )
    result = run_export(DAY, replace(deps, time_zone="Europe/Berlin"))
    assert result.window.end == datetime(2026, 11, 28, 23, tzinfo=UTC)
    assert result.rows("interactions") == 1


def test_logs_are_structured_and_carry_the_run_id(deps: ExportDeps) -> None:
    import io
    import logging

    from shared.logs import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("storyrec.export")
    logger.addHandler(handler)
    try:
        _seed_world(deps)
        result = run_export(DAY, deps)
        with pytest.raises(ExportFailed):
            run_export(DAY, replace(deps, import_store=FailingStore(deps.import_store)))
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert {line["correlation_id"] for line in lines} == {result.run_id}
    assert [line["message"] for line in lines][-1] == "export failed"
    assert lines[-1]["step"] == "upload_s3" and lines[-1]["date"] == "2026-11-28"


def test_a_failure_alert_sns_could_not_take_is_sent_by_the_next_delivery(deps: ExportDeps, clock: Any) -> None:
    """SNS down while a step fails: the alert is kept (Firestore) and sent by the next delivery, even when that
    one succeeds (the failed step healed), so the failure is never unnoticed; sent once, then forgotten."""

    class DeadNotifier:
        def notify(self, subject: str, message: str, attributes: Any = None) -> str:
            raise ConnectionError("sns down")

    _seed_world(deps)
    with pytest.raises(ExportFailed, match="upload_gcs"):
        run_export(DAY, replace(deps, notifier=DeadNotifier(), backup_store=FailingStore(deps.backup_store)))
    assert isinstance(deps.notifier, RecordingNotifier) and deps.notifier.sent == []
    run_export(DAY, deps)  # the redelivery: GCS and SNS are back, the export succeeds
    subjects = [sent[0] for sent in deps.notifier.sent]
    assert subjects == ["storyrec export failed: 2026-11-28 at upload_gcs"]
    assert "(kept while SNS was unreachable" in deps.notifier.sent[0][1]
    clock.now += timedelta(days=1)
    run_export(DAY + timedelta(days=1), deps)  # nothing left to send
    assert [sent[0] for sent in deps.notifier.sent] == subjects


def test_a_kept_alert_waits_while_sns_stays_down(deps: ExportDeps, clock: Any) -> None:
    class DeadNotifier:
        def notify(self, subject: str, message: str, attributes: Any = None) -> str:
            raise ConnectionError("sns down")

    _seed_world(deps)
    dead = replace(deps, notifier=DeadNotifier())
    with pytest.raises(ExportFailed):
        run_export(DAY, replace(dead, backup_store=FailingStore(deps.backup_store)))
    run_export(DAY, dead)  # succeeds, SNS still down: the alert stays kept, the run is not failed for it
    clock.now += timedelta(days=1)
    run_export(DAY + timedelta(days=1), deps)
    assert [sent[0] for sent in deps.notifier.sent] == ["storyrec export failed: 2026-11-28 at upload_gcs"]
