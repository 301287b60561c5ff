"""The online test's daily exposure file, written after the export: feed impressions and feed clicks per
reader with the reader's arm, pre-test activity counted once per test; never failing the export."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from shared.adapters.memory import RecordingMetrics
from shared.experiment.assign import experiment_for, experiment_record
from shared.experiment.exposure import from_csv
from shared.export import ExportDeps
from shared.export.exposure import write_exposure, write_exposure_isolated

pytestmark = pytest.mark.unit
DAY = date(2026, 11, 28)
T = int(datetime(2026, 11, 28, 12, tzinfo=UTC).timestamp())
TEST = experiment_for("arn:x:solution/s/champ", "arn:x:solution/s/cand", 0.3, 0.3)


def _seed(deps: ExportDeps) -> None:
    started = datetime(2026, 11, 27, 5, tzinfo=UTC)
    deps.docs.set("ml_state/experiment", {**experiment_record(TEST), "startedAt": started})
    rows = [
        ("i1", "a", ["s1", "s2", "s3"], "rid-a", None, T),
        ("i2", "a", ["s4"], None, "storyrec-control", T + 60),
        ("i3", "b", ["s1", "s2"], None, "latest", T),  # not a feed: not exposure
        ("i4", "c", ["s1"], None, "storyrec-challenger", T - 86400),  # the day before
    ]
    for iid, uid, items, rid, source, ts in rows:
        deps.docs.set(f"ml_impressions/{iid}", {"USER_ID": uid, "ITEM_IDS": items, "RECOMMENDATION_ID": rid,
                                                "EVENT_ATTRIBUTION_SOURCE": source, "TIMESTAMP": ts})
    clicks = [("a", "rid-a", None, T), ("a", None, "storyrec-control", T), ("b", None, "latest", T),
              ("d", None, "storyrec-popular", T), ("a", None, None, T - 3 * 86400), ("a", None, None, T - 2 * 86400)]
    for n, (uid, rid, source, ts) in enumerate(clicks):
        deps.docs.set(f"ml_interactions/c{n}", {"USER_ID": uid, "ITEM_ID": "s1", "EVENT_TYPE": "read",
                                                 "RECOMMENDATION_ID": rid, "EVENT_ATTRIBUTION_SOURCE": source,
                                                 "TIMESTAMP": ts})


def test_the_day_file_counts_feed_impressions_and_feed_clicks_per_reader(deps: ExportDeps) -> None:
    _seed(deps)
    key = write_exposure(DAY, deps)
    assert key == f"experiments/{TEST.experiment_id}/2026-11-28.csv"
    rows = {r.user_id: r for r in from_csv(deps.import_store.get_bytes(key), TEST.experiment_id or "")}
    assert set(rows) == {"a", "d"}  # b only saw and clicked "latest"; c's impression was the day before
    assert (rows["a"].impressions, rows["a"].clicks, rows["a"].arm) == (4.0, 2.0, TEST.arm("a"))
    assert (rows["d"].impressions, rows["d"].clicks) == (0.0, 1.0)
    assert rows["a"].pre_clicks == 2.0  # its interactions of 11-25 and 11-26: before the test began (11-27)
    pre = deps.import_store.get_bytes(f"experiments/{TEST.experiment_id}/pre/clicks.csv")
    deps.docs.set("ml_interactions/late", {"USER_ID": "a", "TIMESTAMP": T - 2 * 86400, "EVENT_TYPE": "read"})
    write_exposure(DAY + timedelta(days=1), deps)  # the pre-test counts are made once per test
    assert deps.import_store.get_bytes(f"experiments/{TEST.experiment_id}/pre/clicks.csv") == pre


def test_no_test_no_file_and_a_failure_never_fails_the_export(deps: ExportDeps) -> None:
    assert write_exposure(DAY, deps) is None and deps.import_store.list("experiments/") == []

    class Broken:
        def get(self, path: str) -> None:
            raise RuntimeError("firestore down")

    broken = ExportDeps(Broken(), deps.import_store, deps.backup_store, deps.notifier, deps.metrics,  # type: ignore[arg-type]
                        deps.clock)
    assert write_exposure_isolated(DAY, broken) is None
    assert isinstance(deps.metrics, RecordingMetrics)
    assert [p[0] for p in deps.metrics.points] == ["ExposureFailed"]
