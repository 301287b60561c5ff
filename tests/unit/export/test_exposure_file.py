"""The online test's daily exposure file, written after the export: feed impressions and feed clicks per
reader with the reader's arm, pre-test activity counted once per test; never failing the export."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from shared.adapters.memory import RecordingMetrics
from shared.config import ExperimentSettings
from shared.experiment.assign import experiment_for, experiment_record
from shared.experiment.exposure import from_csv
from shared.experiment.verdict import judge
from shared.export import ExportDeps
from shared.export.exposure import write_exposure, write_exposure_isolated

pytestmark = pytest.mark.unit
DAY = date(2026, 11, 28)
T = int(datetime(2026, 11, 28, 12, tzinfo=UTC).timestamp())
TEST = experiment_for("arn:x:solution/s/champ", "arn:x:solution/s/cand", 0.3, 0.3)


FILLED = datetime(2026, 11, 28, 5, tzinfo=UTC)  # the fill of the exported day


def _feed(deps: ExportDeps, uid: str, arm: str | None = None, experiment_id: str | None = TEST.experiment_id,
          generated: datetime = FILLED) -> None:
    deps.docs.set(f"feeds/{uid}", {"arm": arm or TEST.arm(uid), "experimentId": experiment_id,
                                   "generatedAt": generated, "kind": "personalized", "itemsJson": "[]"})


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
    for uid in ("a", "b", "c", "d"):
        _feed(deps, uid)


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


def _reader(deps: ExportDeps, uid: str, n: int = 2) -> None:
    deps.docs.set(f"ml_impressions/imp-{uid}", {"USER_ID": uid, "ITEM_IDS": ["s1"] * n, "RECOMMENDATION_ID": "r",
                                               "TIMESTAMP": T})
    deps.docs.set(f"ml_interactions/click-{uid}", {"USER_ID": uid, "ITEM_ID": "s1", "EVENT_TYPE": "read",
                                                   "RECOMMENDATION_ID": "r", "TIMESTAMP": T})


def test_a_reader_counts_in_the_arm_of_the_feed_they_saw_not_the_arm_the_hash_assigned(deps: ExportDeps) -> None:
    """Issue #23: a challenger reader whose fill failed kept a pre-test feed; their clicks are not the
    challenger's. A feed whose arm differs from the hash counts in the feed's arm; a feed written after the
    exported day (a refresh) is not the one they saw."""
    deps.docs.set("ml_state/experiment", {**experiment_record(TEST), "startedAt": FILLED - timedelta(days=1)})
    uids = [f"u{i}" for i in range(200)]
    challenger = [u for u in uids if TEST.arm(u) == "challenger"]
    champion = [u for u in uids if TEST.arm(u) == "champion"]
    for u in uids:
        _reader(deps, u)
        _feed(deps, u)
    stale = challenger[:5]
    for u in stale:  # the candidate's batch fill failed: the pre-test champion feed, marked stale
        _feed(deps, u, arm="champion", experiment_id=None, generated=FILLED - timedelta(days=3))
    _feed(deps, champion[0], arm="control")  # labelled by another rule than the hash: the label wins
    _feed(deps, champion[1], generated=datetime(2026, 11, 29, 0, 30, tzinfo=UTC))  # refreshed after the day
    _feed(deps, champion[2], experiment_id="another-test")
    key = write_exposure(DAY, deps)
    assert key is not None
    rows = {r.user_id: r for r in from_csv(deps.import_store.get_bytes(key), TEST.experiment_id or "")}
    left_out = {*stale, champion[1], champion[2]}
    assert set(rows) == set(uids) - left_out
    assert rows[champion[0]].arm == "control"
    assert all(r.arm == TEST.arm(u) for u, r in rows.items() if u != champion[0])


def test_a_failed_challenger_fill_shows_as_a_sample_ratio_mismatch_that_blocks_the_decision(
    deps: ExportDeps,
) -> None:
    """The challenger readers the candidate never served are left out, so the arm is short of its share: the
    verdict is "blocked" (the monitor alerts on it), never a lift measured on the champion's feeds."""
    deps.docs.set("ml_state/experiment", {**experiment_record(TEST), "startedAt": FILLED - timedelta(days=1)})
    uids = [f"u{i}" for i in range(2000)]
    for n, u in enumerate(uids):
        _reader(deps, u)
        failed = TEST.arm(u) == "challenger" and n % 10 != 0  # 90 % of the candidate's fill failed
        if failed:
            _feed(deps, u, arm="champion", experiment_id=None, generated=FILLED - timedelta(days=3))
        else:
            _feed(deps, u)
    key = write_exposure(DAY, deps)
    assert key is not None
    rows = from_csv(deps.import_store.get_bytes(key), TEST.experiment_id or "")
    verdict = judge(TEST, rows, ExperimentSettings(min_days=1, min_users_per_arm=10))
    assert verdict.action == "blocked" and "sample ratio mismatch" in verdict.reasons[0]
    for u in uids:  # the same readers, every fill served: no mismatch
        _feed(deps, u)
    deps.import_store.delete(key)  # a day's file is written once: a re-run keeps it
    key = write_exposure(DAY, deps)
    assert key is not None
    rows = from_csv(deps.import_store.get_bytes(key), TEST.experiment_id or "")
    assert len(rows) == len(uids)
    assert judge(TEST, rows, ExperimentSettings(min_days=1, min_users_per_arm=10)).action != "blocked"


def test_a_re_export_after_the_next_fill_keeps_the_day_file(deps: ExportDeps) -> None:
    """Issue 24's 42-day simulation: the operator re-exported a lost day nine days later (as the alert says);
    every feed had been refilled since, so a rewritten file would leave all its readers out. The day's file is
    written once, by the export of that night."""
    _seed(deps)
    key = write_exposure(DAY, deps)
    assert key is not None
    first = deps.import_store.get_bytes(key)
    for uid in ("a", "b", "c", "d"):  # the fills of the days since
        _feed(deps, uid, generated=FILLED + timedelta(days=9))
    assert write_exposure(DAY, deps) == key
    assert deps.import_store.get_bytes(key) == first


def test_a_day_before_the_test_began_gets_no_file(deps: ExportDeps) -> None:
    """A re-export of a day from before the running test (a lost day re-exported after a promotion) writes no
    file for a day the test did not run: the monitor would count it, the readers in it saw no test's feed."""
    _seed(deps)  # the test began 2026-11-27
    assert write_exposure(date(2026, 11, 26), deps) is None
    assert deps.import_store.list(f"experiments/{TEST.experiment_id}/2026-11-26") == []
    assert write_exposure(date(2026, 11, 27), deps) is not None  # its first day has one


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
