"""The verdict is total: unusable exposure rows give "no decision", a sample-ratio mismatch "blocked", never
a promotion or a crash; a decision needs the minimum days and readers."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.config import ExperimentSettings
from shared.experiment.assign import experiment_for
from shared.experiment.verdict import UserDay, judge

pytestmark = pytest.mark.unit

CHAMPION = "arn:aws:personalize:us-east-1:123456789012:solution/storyrec/champ1"
CANDIDATE = "arn:aws:personalize:us-east-1:123456789012:solution/storyrec/cand2"
EXP = experiment_for(CHAMPION, CANDIDATE, 0.05, 0.2)
EID = EXP.experiment_id or ""
FAST = ExperimentSettings(min_days=1, max_days=3, min_users_per_arm=2, expected_users_per_arm=100)


def _rows(n: int, clicks: dict[str, float], days: int = 2) -> list[UserDay]:
    out = []
    for i in range(n):
        uid = f"u{i}"
        arm = EXP.arm(uid)
        for d in range(days):
            out.append(UserDay(EID, uid, f"d{d}", arm, 5.0, clicks[arm] + (i % 3), float(i % 4)))
    return out


numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10**6).map(float))
rows = st.builds(
    UserDay,
    experiment_id=st.sampled_from([EID, "other"]),
    user_id=st.sampled_from([f"u{i}" for i in range(30)]),
    day=st.sampled_from(["d0", "d1", "d2", "d3"]),
    arm=st.sampled_from(["champion", "challenger", "control", "treatment", ""]),
    impressions=numbers,
    clicks=numbers,
    pre_clicks=numbers,
)


def _unusable(r: UserDay) -> bool:
    values = (r.impressions, r.clicks, r.pre_clicks)
    finite = all(math.isfinite(v) and v >= 0 for v in values)
    return r.experiment_id == EID and (r.arm not in EXP.shares() or not finite)


@settings(max_examples=300, deadline=None)
@given(data=st.lists(rows, max_size=40))
def test_any_exposure_rows_give_a_verdict_never_a_crash(data: list[UserDay]) -> None:
    verdict = judge(EXP, data, FAST)
    assert verdict.action in ("promote", "retire", "wait", "blocked", "no decision")
    if any(_unusable(r) for r in data):
        assert verdict.action == "no decision"
    if verdict.action in ("promote", "retire"):
        primary = verdict.primary()
        assert primary is not None and primary.defined
    verdict.as_record()  # always serialisable


def test_no_rows_no_test_and_undefined_metrics_give_no_decision() -> None:
    assert judge(EXP, [], FAST).action == "no decision"
    no_test = experiment_for(None, None, 0.05, 0.1)
    assert judge(no_test, _rows(50, {"champion": 1, "challenger": 1, "control": 1}), FAST).action == "no decision"
    zero = [
        UserDay(r.experiment_id, r.user_id, r.day, r.arm, r.impressions, 0.0, 0.0)
        for r in _rows(400, {"champion": 0, "challenger": 0, "control": 0})
    ]
    assert judge(EXP, zero, FAST).action == "no decision"


def test_a_sample_ratio_mismatch_blocks_the_decision() -> None:
    data = _rows(3000, {"champion": 1, "challenger": 5, "control": 1})
    dropped = [r for r in data if not (r.arm == "challenger" and int(r.user_id[1:]) % 3 == 0)]  # a third lost
    verdict = judge(EXP, dropped, FAST)
    assert verdict.action == "blocked" and "sample ratio mismatch" in verdict.reasons[0]
    assert judge(EXP, data, FAST).action == "promote"


def test_a_decision_waits_for_its_minimum_days_and_readers() -> None:
    data = _rows(3000, {"champion": 1, "challenger": 5, "control": 1})
    assert judge(EXP, data, ExperimentSettings(min_days=7)).action == "wait"
    assert judge(EXP, data, ExperimentSettings(min_days=1, min_users_per_arm=10_000)).action == "wait"
    worse = _rows(3000, {"champion": 5, "challenger": 1, "control": 1})
    assert judge(EXP, worse, FAST).action == "retire"
    same = _rows(3000, {"champion": 1, "challenger": 1, "control": 1}, days=3)
    verdict = judge(EXP, same, FAST)
    assert verdict.action == "retire" and "not shown better in 3 days" in verdict.reasons[-1]
