"""The online test's exposure file on the real stand-ins: the day's feed impressions and clicks read from
the Firestore emulator (range queries on TIMESTAMP), each reader's arm from the feed they were served
(``feeds/{uid}`` of this test, an equality query on ``experimentId``), the file written to moto's S3 next
to the manifests, the pre-test counts written once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.experiment.assign import experiment_for, experiment_record
from shared.experiment.exposure import from_csv
from shared.export import ExportDeps
from shared.export.exposure import write_exposure
from tests.unit.export.factories import DAY, DAY_START

pytestmark = pytest.mark.integration
TEST = experiment_for("arn:x:solution/s/champ", "arn:x:solution/s/cand", 0.3, 0.3)
FILLED = DAY_START + timedelta(hours=5)


def _feed(docs: Any, uid: str, experiment_id: str | None = TEST.experiment_id, arm: str | None = None) -> None:
    docs.set(f"feeds/{uid}", {"arm": arm or TEST.arm(uid), "experimentId": experiment_id, "generatedAt": FILLED,
                              "kind": "popular", "itemsJson": "[]"})


def test_the_day_file_is_made_from_the_emulators_records(export_deps: ExportDeps) -> None:
    docs: Any = export_deps.docs
    docs.set("ml_state/experiment", {**experiment_record(TEST), "startedAt": DAY_START - timedelta(days=1)})
    noon = int((DAY_START + timedelta(hours=12)).timestamp())
    for n in range(30):
        uid = f"reader{n}"
        docs.set(f"ml_impressions/imp-{n}", {"USER_ID": uid, "ITEM_IDS": ["s1", "s2"], "RECOMMENDATION_ID": None,
                                             "EVENT_ATTRIBUTION_SOURCE": "storyrec-popular", "TIMESTAMP": noon + n,
                                             "impression_id": f"imp-{n}"})
        docs.set(f"ml_interactions/click-{n}", {"USER_ID": uid, "ITEM_ID": "s1", "EVENT_TYPE": "read",
                                                "RECOMMENDATION_ID": f"rid-{n}" if n % 2 else None,
                                                "EVENT_ATTRIBUTION_SOURCE": None if n % 2 else "latest",
                                                "TIMESTAMP": noon + n})
        docs.set(f"ml_interactions/before-{n}", {"USER_ID": uid, "ITEM_ID": "s9", "EVENT_TYPE": "read",
                                                 "TIMESTAMP": noon - 3 * 86400})
        _feed(docs, uid)
    for n in range(30, 36):  # their fill failed: a feed from before the test, whatever arm the hash gives
        uid = f"reader{n}"
        docs.set(f"ml_impressions/imp-{n}", {"USER_ID": uid, "ITEM_IDS": ["s1"], "RECOMMENDATION_ID": "rid-old",
                                             "TIMESTAMP": noon, "impression_id": f"imp-{n}"})
        _feed(docs, uid, experiment_id=None, arm="champion")
    _feed(docs, "reader0", arm="control" if TEST.arm("reader0") != "control" else "champion")  # the label wins
    key = write_exposure(DAY, export_deps)
    assert key == f"{export_deps.prefix}experiments/{TEST.experiment_id}/{DAY.isoformat()}.csv"
    rows = from_csv(export_deps.import_store.get_bytes(key), TEST.experiment_id or "")
    assert len(rows) == 30 and all(r.impressions == 2.0 and r.pre_clicks == 1.0 for r in rows)
    assert sum(r.clicks for r in rows) == 15  # the odd readers' clicks came from a feed; "latest" does not count
    assert {r.arm for r in rows} <= {"champion", "challenger", "control"}
    assert {r.user_id for r in rows} == {f"reader{n}" for n in range(30)}
    assert all(r.arm == TEST.arm(r.user_id) for r in rows if r.user_id != "reader0")
    assert next(r for r in rows if r.user_id == "reader0").arm != TEST.arm("reader0")
    pre = f"{export_deps.prefix}experiments/{TEST.experiment_id}/pre/clicks.csv"
    assert export_deps.import_store.get_bytes(pre).decode().count("\n") == 30


def test_the_day_file_counts_what_capture_recorded_from_client_writes(export_deps: ExportDeps) -> None:
    """Client documents → capture (the trigger's use case) → the exposure file: the field names agree end to end."""
    from shared.adapters.logging_sinks import LogMetrics
    from shared.capture.service import CaptureService, Outcome

    docs: Any = export_deps.docs
    docs.set("ml_state/experiment", {**experiment_record(TEST), "startedAt": DAY_START - timedelta(days=1)})
    docs.set("stories/s1", {"title": "One", "status": "published"})
    noon = DAY_START + timedelta(hours=12)
    capture = CaptureService(store=docs, clock=lambda: noon, metrics=LogMetrics(), collections=export_deps.collections)
    for n in range(12):
        uid, sent = f"reader{n}", noon - timedelta(seconds=5)
        shown = {"userId": uid, "storyIds": ["s1", "s2", "s3"], "source": "storyrec-control",
                 "clientTime": sent, "createdAt": noon}
        assert capture.capture_impression(f"imp-{n}", shown) is Outcome.CAPTURED
        click = {"userId": uid, "storyId": "s1", "type": "open", "source": "storyrec-control" if n % 3 else "latest",
                 "clientTime": sent, "createdAt": noon}
        assert capture.capture_click(f"click-{n}", click) is Outcome.CAPTURED
        _feed(docs, uid)
    key = write_exposure(DAY, export_deps)
    assert key is not None
    rows = from_csv(export_deps.import_store.get_bytes(key), TEST.experiment_id or "")
    assert len(rows) == 12 and all(r.impressions == 3.0 for r in rows)
    assert sum(r.clicks for r in rows) == 8  # clicks from the feed; the "latest" ones do not count
