"""The online test's exposure file on the real stand-ins: the day's feed impressions and clicks read from
the Firestore emulator (range queries on TIMESTAMP), the file written to moto's S3 next to the manifests,
the pre-test counts written once."""

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
    key = write_exposure(DAY, export_deps)
    assert key == f"{export_deps.prefix}experiments/{TEST.experiment_id}/{DAY.isoformat()}.csv"
    rows = from_csv(export_deps.import_store.get_bytes(key), TEST.experiment_id or "")
    assert len(rows) == 30 and all(r.impressions == 2.0 and r.pre_clicks == 1.0 for r in rows)
    assert sum(r.clicks for r in rows) == 15  # the odd readers' clicks came from a feed; "latest" does not count
    assert {r.arm for r in rows} <= {"champion", "challenger", "control"}
    assert all(r.arm == TEST.arm(r.user_id) for r in rows)
    pre = f"{export_deps.prefix}experiments/{TEST.experiment_id}/pre/clicks.csv"
    assert export_deps.import_store.get_bytes(pre).decode().count("\n") == 30
