"""A message published to the Pub/Sub emulator runs the real export function under the Functions emulator."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import StackHandle
from tests.e2e.export.conftest import ROWS_PER_RUN, TOPIC, ExportSuite
from tests.unit.export.factories import interaction, item, user

pytestmark = pytest.mark.e2e


@pytest.fixture
def suite_env(export_suite: ExportSuite, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point this process's Firestore and Pub/Sub clients at the suite's emulators."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", export_suite.firestore_host)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", export_suite.pubsub_host)


def _firestore() -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    return firestore.Client(project="demo-storyrec", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]


def _s3(stack: StackHandle) -> Any:
    from shared import wiring
    from shared.config import Settings

    return wiring.aws_client("s3", Settings.from_env(stack.env))


def _publish(body: dict[str, Any]) -> None:
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path("demo-storyrec", TOPIC)
    publisher.publish(topic, json.dumps(body).encode()).result(timeout=30)


def _manifest(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())  # type: ignore[no-any-return]
    except s3.exceptions.NoSuchKey:
        return None


def _seed_day(day: Any, clicks: int, first: int) -> None:
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    db = _firestore()
    batch = db.batch()
    for doc_id, data in [interaction(first + i, noon + timedelta(seconds=i * 60)) for i in range(clicks)]:
        batch.set(db.document(f"ml_interactions/{doc_id}"), data)
    for doc_id, data in [item("s1"), item("s2")]:
        batch.set(db.document(f"ml_items/{doc_id}"), data)
    batch.set(db.document("ml_users/u1"), user("u1")[1])
    batch.commit()


def _await_manifest(export_suite: ExportSuite, stack: StackHandle, day: Any) -> dict[str, Any]:
    s3 = _s3(stack)
    key = f"manifests/dt={day.isoformat()}/manifest.json"
    manifest = None
    # the emulator may miss the first message after start (firebase-tools issue 8892): publish, wait, repeat
    for _attempt in range(4):
        _publish({"date": day.isoformat()})
        deadline = time.monotonic() + 45
        while manifest is None and time.monotonic() < deadline:
            manifest = _manifest(s3, export_suite.import_bucket, key)
            time.sleep(0.5)
        if manifest is not None:
            break
    assert manifest is not None, export_suite.output()[-4000:]
    return manifest


def test_a_published_date_is_exported_to_s3_by_the_deployed_function(
    export_suite: ExportSuite, stack: StackHandle, suite_env: None
) -> None:
    day = (datetime.now(UTC) - timedelta(days=2)).date()
    _seed_day(day, 30, first=0)

    from google.cloud import pubsub_v1

    topics = [t.name for t in pubsub_v1.PublisherClient().list_topics(request={"project": "projects/demo-storyrec"})]
    assert any(t.endswith(f"/{TOPIC}") for t in topics), topics
    manifest = _await_manifest(export_suite, stack, day)
    assert manifest["date"] == day.isoformat()
    assert manifest["datasets"]["interactions"]["rows"] == 30
    assert manifest["datasets"]["items"]["rows"] == 2


def test_a_day_above_rows_per_run_is_sharded_over_pubsub_and_finalised_once(
    export_suite: ExportSuite, stack: StackHandle, suite_env: None
) -> None:
    day = (datetime.now(UTC) - timedelta(days=1)).date()
    _seed_day(day, 150, first=10_000)
    manifest = _await_manifest(export_suite, stack, day)
    files = manifest["datasets"]["interactions"]["files"]
    assert manifest["datasets"]["interactions"]["rows"] == 150
    assert len(files) == -(-150 // ROWS_PER_RUN)  # one part per time-range shard
    assert all("/part-s" in f["key"] for f in files)
    log = export_suite.output()
    assert log.count("export fanned out") >= 1 and log.count("sharded export complete") == 1
