"""run_export against the local stand-ins: Firestore emulator → moto S3 + GCS emulator, SNS → SQS alerts."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.config import Settings
from shared.export import ExportDeps, ExportFailed, ExportOptions, run_export
from tests.integration.export.conftest import dead_endpoint
from tests.unit.export.factories import (
    DAY,
    DAY_START,
    END,
    HOSTILE,
    FailingStore,
    day_of_clicks,
    expected_interactions,
    interaction,
    item,
    read_csv,
    seed,
    user,
)

pytestmark = pytest.mark.integration


def _everything(store: Any) -> dict[str, bytes]:
    return {o.key: store.get_bytes(o.key) for o in store.list("")}


def _seed(deps: ExportDeps, clicks: list[tuple[str, dict[str, Any]]]) -> None:
    later = [interaction(90_000 + i, END + timedelta(minutes=i)) for i in range(3)]
    seed(deps.docs, "ml_interactions", clicks + later)
    seed(
        deps.docs,
        "ml_items",
        [item(f"s{i}", SUMMARY=t) for i, t in enumerate(HOSTILE)] + [item("old", active=False)],
    )
    seed(deps.docs, "ml_users", [user("u1"), user("u2", LANGUAGE=None), user("gone", active=False)])


def _watermark(deps: ExportDeps) -> Any:
    return (deps.docs.get("ml_state/export") or {}).get("watermark")


def test_export_round_trips_through_the_emulators_and_reruns_byte_identical(export_deps: ExportDeps) -> None:
    hostile = [
        interaction(50_000 + i, DAY_START + timedelta(hours=1, minutes=i), USER_ID=t, DEVICE=t)
        for i, t in enumerate(HOSTILE)
    ]
    clicks = day_of_clicks(1_200)
    _seed(export_deps, clicks + hostile)  # hostile ids and devices: quarantined (test_export_corpus.py)

    result = run_export(DAY, export_deps, ExportOptions(max_part_bytes=20_000, page_size=300))

    s3, gcs = _everything(export_deps.import_store), _everything(export_deps.backup_store)
    assert s3 == gcs
    keys = sorted(k for k in s3 if k.startswith("interactions/"))
    assert len(keys) > 1
    rows = [row for key in keys for row in read_csv(s3[key])[1:]]
    assert rows == expected_interactions(clicks)
    assert sum(next(d for d in result.datasets if d.dataset == "interactions").rejected.values()) == len(HOSTILE)
    items = read_csv(s3["items/dt=2026-11-28/part-00000.csv"])[1:]
    assert [r[6] for r in items] == HOSTILE
    users = read_csv(s3["users/dt=2026-11-28/part-00000.csv"])
    assert users == [["USER_ID", "LANGUAGE", "COUNTRY"], ["u1", "en", "DE"], ["u2", "", "DE"]]
    manifest = json.loads(s3[result.manifest_key])
    assert manifest["datasets"]["interactions"]["rows"] == len(clicks)
    assert _watermark(export_deps) == END

    seed(export_deps.docs, "ml_interactions", day_of_clicks(10, start=END, first=70_000))
    again = run_export(
        DAY,
        replace(export_deps, clock=lambda: END + timedelta(days=2)),
        ExportOptions(max_part_bytes=20_000, page_size=300),
    )
    assert again.run_id == result.run_id
    assert _everything(export_deps.import_store) == s3
    assert _everything(export_deps.backup_store) == gcs


def _alert(sns_topic: Any) -> dict[str, Any]:
    [envelope] = sns_topic.messages(expect=1)
    return dict(envelope)


def _failed_metric(settings: Settings, step: str) -> bool:
    from shared import wiring

    cw = wiring.aws_client("cloudwatch", settings)
    metrics = cw.list_metrics(Namespace=settings.metrics_namespace, MetricName="ExportFailed")["Metrics"]
    return any({"Name": "Step", "Value": step} in m["Dimensions"] for m in metrics)


def test_s3_down_alerts_through_sns_and_keeps_the_watermark(
    export_deps: ExportDeps, settings: Settings, sns_topic: Any
) -> None:
    import boto3
    from botocore.config import Config

    from shared.adapters.s3 import S3ObjectStore

    clicks = day_of_clicks(50)
    _seed(export_deps, clicks)
    dead = boto3.client(
        "s3",
        region_name=settings.region,
        endpoint_url=dead_endpoint(),
        config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=1),
    )
    with pytest.raises(ExportFailed) as info:
        run_export(DAY, replace(export_deps, import_store=S3ObjectStore(dead, settings.import_bucket)))
    assert info.value.step == "upload_s3"
    assert _watermark(export_deps) is None
    envelope = _alert(sns_topic)
    assert "2026-11-28" in envelope["Subject"] and "upload_s3" in envelope["Subject"]
    assert "ServiceUnavailable" in envelope["Message"]
    assert envelope["MessageAttributes"]["step"]["Value"] == "upload_s3"
    assert _failed_metric(settings, "upload_s3")

    result = run_export(DAY, export_deps)  # S3 is back: nothing was lost
    s3 = _everything(export_deps.import_store)
    assert read_csv(s3["interactions/dt=2026-11-28/part-00000.csv"])[1:] == expected_interactions(clicks)
    assert result.rows("interactions") == 50 and _watermark(export_deps) == END


def test_gcs_down_alerts_and_uploads_nothing_to_s3(export_deps: ExportDeps, settings: Settings, sns_topic: Any) -> None:
    # A wrapper, not a dead port: google-cloud-storage retries a refused connection for ~80 s by default.
    _seed(export_deps, day_of_clicks(20))
    with pytest.raises(ExportFailed) as info:
        run_export(DAY, replace(export_deps, backup_store=FailingStore(export_deps.backup_store)))
    assert info.value.step == "upload_gcs"
    assert export_deps.import_store.list("") == []
    assert _watermark(export_deps) is None
    envelope = _alert(sns_topic)
    assert "upload_gcs" in envelope["Subject"] and "injected" in envelope["Message"]
    assert _failed_metric(settings, "upload_gcs")


def test_failure_half_way_then_a_missed_day_is_caught_up(export_deps: ExportDeps, sns_topic: Any) -> None:
    day1 = day_of_clicks(30)
    day2 = day_of_clicks(20, start=END, first=1_000)
    seed(export_deps.docs, "ml_interactions", day1 + day2)
    half = FailingStore(export_deps.import_store, after=2)  # two parts land, then S3 "goes down"
    with pytest.raises(ExportFailed):
        run_export(DAY, replace(export_deps, import_store=half))
    assert _alert(sns_topic)["MessageAttributes"]["date"]["Value"] == "2026-11-28"

    next_day = DAY + timedelta(days=1)
    result = run_export(next_day, replace(export_deps, clock=lambda: END + timedelta(days=1, hours=2)))
    s3 = _everything(export_deps.import_store)
    assert read_csv(s3["interactions/dt=2026-11-29/part-00000.csv"])[1:] == expected_interactions(day1 + day2)
    assert result.window.end == END + timedelta(days=1)
    assert _watermark(export_deps) == END + timedelta(days=1)


def test_pubsub_function_runs_against_the_stack(
    settings: Settings,
    doc_store: Any,
    s3_store: Any,
    gcs_store: Any,
    sns_topic: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The deployed function (through its decorator) with real clients built from the environment."""
    from tests.unit.export.test_entrypoints import _deliver, _function_module

    monkeypatch.setenv("STORYREC_IMPORT_BUCKET", settings.import_bucket)
    monkeypatch.setenv("STORYREC_BACKUP_BUCKET", settings.backup_bucket)
    monkeypatch.setenv("STORYREC_SNS_TOPIC_ARN", sns_topic.topic_arn)
    now = datetime.now(UTC)
    yesterday_noon = (now - timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    seed(doc_store, "ml_interactions", [interaction(i, yesterday_noon + timedelta(seconds=i)) for i in range(25)])

    _deliver(_function_module(), {}, publish_time=now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))

    day = (now - timedelta(days=1)).date().isoformat()
    manifest = json.loads(s3_store.get_bytes(f"manifests/dt={day}/manifest.json"))
    assert manifest["datasets"]["interactions"]["rows"] == 25
    assert gcs_store.get_bytes(f"manifests/dt={day}/manifest.json") == s3_store.get_bytes(
        f"manifests/dt={day}/manifest.json"
    )


def test_large_files_go_through_multipart_and_resumable_uploads(export_deps: ExportDeps) -> None:
    import hashlib

    from shared.adapters.memory import InMemoryDocumentStore

    docs = InMemoryDocumentStore()  # the source does not matter here: the uploads do
    step = timedelta(milliseconds=400)
    for n in range(200_000):
        doc_id, data = interaction(n, DAY_START + step * n, USER_ID=f"user-{n % 9}-" + "x" * 80)
        docs.docs[f"ml_interactions/{doc_id}"] = data
    result = run_export(DAY, replace(export_deps, docs=docs))

    [part] = next(d for d in result.datasets if d.dataset == "interactions").files
    assert part.size > 16 * 1024 * 1024  # above the S3 multipart threshold and two GCS resumable chunks
    for store in (export_deps.import_store, export_deps.backup_store):
        body = store.get_bytes(part.key)
        assert len(body) == part.size and hashlib.sha256(body).hexdigest() == part.sha256


def test_impressions_are_joined_from_the_emulator_including_the_day_before(export_deps: ExportDeps) -> None:
    """The IMPRESSION join reads ml_impressions on the real Firestore (captured_at range one day back)."""
    before = DAY_START - timedelta(hours=3)
    noon = DAY_START + timedelta(hours=12)
    impressions = [
        ("i-prev", before, ["s1", "s2"], "rid-1", None),
        ("i-src", noon - timedelta(minutes=1), ["s3"], None, "storyrec-control"),
        ("i-too-old", DAY_START - timedelta(days=3), ["s4"], "rid-1", None),
    ]
    seed(
        export_deps.docs,
        "ml_impressions",
        [
            (
                iid,
                {
                    "USER_ID": "u1",
                    "ITEM_IDS": ids,
                    "RECOMMENDATION_ID": rid,
                    "EVENT_ATTRIBUTION_SOURCE": src,
                    "TIMESTAMP": int(at.timestamp()),
                    "impression_id": iid,
                    "captured_at": at,
                },
            )
            for iid, at, ids, rid, src in impressions
        ],
    )
    clicks = [
        interaction(1, noon, USER_ID="u1", RECOMMENDATION_ID="rid-1"),
        interaction(2, noon + timedelta(seconds=1), USER_ID="u1", EVENT_ATTRIBUTION_SOURCE="storyrec-control"),
        interaction(3, noon + timedelta(seconds=2), USER_ID="u2", RECOMMENDATION_ID="rid-1"),
    ]
    seed(export_deps.docs, "ml_interactions", clicks)
    result = run_export(DAY, export_deps)
    assert result.rows("interactions") == 3
    [key] = [o.key for o in export_deps.import_store.list("interactions/")]
    rows = read_csv(export_deps.import_store.get_bytes(key))
    at = {name: rows[0].index(name) for name in ("RECOMMENDATION_ID", "EVENT_ATTRIBUTION_SOURCE", "IMPRESSION")}
    cells = [(r[at["RECOMMENDATION_ID"]], r[at["EVENT_ATTRIBUTION_SOURCE"]], r[at["IMPRESSION"]]) for r in rows[1:]]
    assert cells == [("rid-1", "", "s1|s2"), ("", "storyrec-control", "s3"), ("rid-1", "", "")]
