"""Arm assignment: a salted sha256 of the uid; shares hold, a reader's arm is stable within a test and
re-drawn (independently) for the next one."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.config import ExperimentSettings, Settings
from shared.errors import ConfigError
from shared.experiment.assign import Experiment, experiment_for, position

pytestmark = pytest.mark.unit

CHAMPION = "arn:aws:personalize:us-east-1:123456789012:solution/storyrec/abc123"
CANDIDATE = "arn:aws:personalize:us-east-1:123456789012:solution/storyrec/def456"
uids = st.text(min_size=1, max_size=40)
salts = st.from_regex(r"[A-Za-z0-9_\-]{1,30}", fullmatch=True)


def _within_binomial(count: int, n: int, p: float, z: float = 5.0) -> bool:
    """``count`` of ``n`` within z standard deviations of a Binomial(n, p) (z = 5: a flake once in ~3.5 million)."""
    return abs(count - n * p) <= z * math.sqrt(n * p * (1 - p)) + 1


@settings(max_examples=40, deadline=None)
@given(
    salt=salts,
    control=st.floats(min_value=0.01, max_value=0.3),
    challenger=st.floats(min_value=0.01, max_value=0.3),
)
def test_every_arm_gets_its_share_within_binomial_bounds(salt: str, control: float, challenger: float) -> None:
    exp = Experiment(salt, control, challenger, CHAMPION, CANDIDATE)
    n = 20_000
    arms = [exp.arm(f"user-{i}") for i in range(n)]
    for arm, share in exp.shares().items():
        assert _within_binomial(arms.count(arm), n, share), (arm, arms.count(arm), share)


@given(uid=uids, salt=salts)
def test_a_readers_arm_is_stable_within_a_test(uid: str, salt: str) -> None:
    a = Experiment(salt, 0.05, 0.1, CHAMPION, CANDIDATE)
    b = Experiment(salt, 0.05, 0.1, CHAMPION, CANDIDATE)
    assert a.arm(uid) == b.arm(uid) == a.arm(uid)
    assert 0.0 <= position(uid, salt) < 1.0


@settings(max_examples=30, deadline=None)
@given(s1=salts, s2=salts)
def test_arms_are_redrawn_independently_across_tests(s1: str, s2: str) -> None:
    """Two salts: being in control in one test says nothing about the next (a 2x2 table near independence)."""
    if s1 == s2:
        return
    n, share = 40_000, 0.2
    a, b = Experiment(s1, share), Experiment(s2, share)
    both = sum(1 for i in range(n) if a.arm(f"u{i}") == "control" and b.arm(f"u{i}") == "control")
    assert _within_binomial(both, n, share * share)


def test_a_challenger_arm_only_while_a_candidate_is_under_test() -> None:
    holdout = experiment_for(CHAMPION, None, 0.05, 0.1)
    assert holdout.experiment_id == "holdout-abc123"
    assert set(holdout.shares()) == {"champion", "control"}
    assert {holdout.arm(f"u{i}") for i in range(2000)} == {"champion", "control"}
    test = experiment_for(CHAMPION, CANDIDATE, 0.05, 0.1)
    assert test.experiment_id == "test-def456-vs-abc123"
    assert test.shares() == pytest.approx({"champion": 0.85, "control": 0.05, "challenger": 0.1})
    # nothing serves, or nothing to split: no test, everyone on the (popular or campaign) default feed
    assert experiment_for(None, CANDIDATE, 0.05, 0.1).experiment_id is None
    assert experiment_for(CHAMPION, None, 0.0, 0.1).arm("u") == "champion"


@pytest.mark.parametrize(("control", "challenger"), [(-0.1, 0.1), (0.6, 0.6), (math.nan, 0.1)])
def test_impossible_shares_are_refused(control: float, challenger: float) -> None:
    with pytest.raises(ValueError):
        Experiment("x", control, challenger)


def test_settings_defaults_and_bad_values() -> None:
    s = Settings.from_env({"STORYREC_GCP_PROJECT": "p"}).experiment
    assert s == ExperimentSettings() and s.control_share == 0.05 and s.auto
    custom = ExperimentSettings.from_env(
        {"STORYREC_EXPERIMENT_CONTROL_SHARE": "0.1", "STORYREC_EXPERIMENT_CHALLENGER_SHARE": "0.2",
         "STORYREC_EXPERIMENT_AUTO": "no", "STORYREC_EXPERIMENT_MIN_DAYS": "3"}
    )
    assert (custom.control_share, custom.challenger_share, custom.auto, custom.min_days) == (0.1, 0.2, False, 3)
    for name, value in [
        ("STORYREC_EXPERIMENT_CONTROL_SHARE", "0.9"),
        ("STORYREC_EXPERIMENT_AUTO", "maybe"),
        ("STORYREC_EXPERIMENT_MAX_DAYS", "2"),
        ("STORYREC_EXPERIMENT_ALPHA", "0.5"),
    ]:
        with pytest.raises(ConfigError, match=name):
            ExperimentSettings.from_env({name: value})
    assert Settings.from_env({"STORYREC_GCP_PROJECT": "p", "STORYREC_PROMOTION_MODE": "online"}).aws_stage
