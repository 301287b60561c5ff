"""The exposure aggregate: rows from a day's counts in the arm of the feed each reader was served, a CSV round trip,
and a corrupt file that gives "no decision" rather than a smaller arm."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.config import ExperimentSettings
from shared.experiment.assign import experiment_for
from shared.experiment.exposure import exposure_key, exposure_rows, from_csv, to_csv
from shared.experiment.verdict import judge

pytestmark = pytest.mark.unit

EXP = experiment_for("arn:x:solution/s/champ", "arn:x:solution/s/cand", 0.05, 0.2)
EID = EXP.experiment_id or ""


def _served(*uids: str) -> dict[str, str]:
    return {u: EXP.arm(u) for u in uids}


def test_rows_carry_the_arm_of_the_feed_served_and_round_trip() -> None:
    day = date(2026, 12, 5)
    rows = exposure_rows(EXP, day, {"a": 5, "b": 3}, {"a": 1, "c": 2}, {"a": 7}, _served("a", "b", "c"))
    assert [(r.user_id, r.impressions, r.clicks, r.pre_clicks) for r in rows] == [
        ("a", 5.0, 1.0, 7.0), ("b", 3.0, 0.0, 0.0), ("c", 0.0, 2.0, 0.0)
    ]
    assert all(r.arm == EXP.arm(r.user_id) and r.day == "2026-12-05" for r in rows)
    assert from_csv(to_csv(rows), EID) == rows
    assert exposure_key("experiments/", EID, day) == f"experiments/{EID}/2026-12-05.csv"
    assert exposure_rows(experiment_for(None, None, 0.05, 0.1), day, {"a": 1}, {}, {}, {"a": "champion"}) == []


def test_a_reader_without_a_feed_of_the_test_is_not_exposed_and_the_feeds_arm_wins() -> None:
    """Exposure is what was served: a reader whose fill failed (no feed of this test) is left out whatever the
    hash says; a feed labelled with another arm than the hash counts in the feed's arm."""
    day = date(2026, 12, 5)
    other = next(a for a in ("champion", "control", "challenger") if a != EXP.arm("b"))
    rows = exposure_rows(EXP, day, {"a": 5, "b": 3}, {"a": 1, "c": 2}, {}, {"b": other})
    assert [(r.user_id, r.arm, r.impressions) for r in rows] == [("b", other, 3.0)]


@given(st.binary(max_size=300))
def test_a_corrupt_file_never_passes_as_data(data: bytes) -> None:
    rows = from_csv(data, EID)
    verdict = judge(EXP, rows, ExperimentSettings(min_days=1, min_users_per_arm=2))
    assert verdict.action in ("no decision", "wait", "blocked")


def test_a_file_with_the_wrong_header_or_a_bad_number_gives_no_decision() -> None:
    good = to_csv(exposure_rows(EXP, date(2026, 12, 5), {f"u{i}": 5 for i in range(500)}, {}, {},
                                  {f"u{i}": EXP.arm(f"u{i}") for i in range(500)}))
    assert judge(EXP, from_csv(b"user,arm\nu1,champion\n", EID), ExperimentSettings()).action == "no decision"
    broken = good.replace(b",5,0,0\n", b",five,0,0\n", 1)
    assert judge(EXP, from_csv(broken, EID), ExperimentSettings()).action == "no decision"
