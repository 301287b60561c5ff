"""Issue 23's "done when", on generated readers whose tastes the generator knows (infra/local/readers.py):
the champion's lift over the control arm is positive with an interval excluding 0; an A/A test looked at
every day stays within its false-positive rate over many seeds (where naive daily looks do not); a truly
worse challenger is retired and a truly better one promoted."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from infra.local.readers import Readers, personalised, popular, run_test
from shared.config import ExperimentSettings
from shared.experiment.assign import experiment_for
from shared.experiment.stats import lift
from shared.experiment.verdict import judge
from tests.unit.experiment.helpers import moments

pytestmark = pytest.mark.unit

CHAMPION = "arn:aws:personalize:us-east-1:123456789012:solution/storyrec/champ1"
CANDIDATE = "arn:aws:personalize:us-east-1:123456789012:solution/storyrec/cand2"
SETTINGS = ExperimentSettings(min_days=7, max_days=28, min_users_per_arm=200, expected_users_per_arm=2000)


def _daily_verdicts(readers: Readers, challenger_noise: float, seed: int, days: int = 28):  # type: ignore[no-untyped-def]
    exp = experiment_for(CHAMPION, CANDIDATE, 0.05, 0.2)
    policies = {"champion": personalised(1.0), "challenger": personalised(challenger_noise), "control": popular}
    daily = run_test(readers, exp, policies, days, seed)
    rows: list = []
    for day_rows in daily:
        rows += day_rows
        verdict = judge(exp, rows, SETTINGS)
        if verdict.action not in ("wait",):
            return verdict
    return verdict


def test_recommendations_beat_the_control_arm_with_an_interval_excluding_zero() -> None:
    readers = Readers(20_000, seed=11)
    exp = experiment_for(CHAMPION, None, 0.05, 0.0)
    policies = {"champion": personalised(1.0), "control": popular}
    rows = [r for day in run_test(readers, exp, policies, 14, 11) for r in day]
    verdict = judge(exp, rows, SETTINGS)
    assert verdict.action == "wait" and "holdout" in verdict.reasons[0]  # a holdout measures, never decides
    champion_vs_control = next(x for x in verdict.lifts if x.treatment == "champion" and x.metric == "clicks_per_user")
    assert champion_vs_control.interval[0] > 0 and champion_vs_control.sequence[0] > 0
    truth = readers.true_clicks_per_visit(personalised(1.0), np.random.default_rng(0)) / (
        readers.true_clicks_per_visit(popular, np.random.default_rng(0))
    ) - 1
    low, high = champion_vs_control.sequence
    assert low < truth < high  # the measured lift brackets the generator's true one
    assert {a.arm: a.users for a in verdict.arms}["control"] > 300


@pytest.mark.parametrize("seed", [1, 2])
def test_a_truly_worse_challenger_is_retired(seed: int) -> None:
    verdict = _daily_verdicts(Readers(8000, seed=seed), challenger_noise=3.0, seed=seed)
    assert verdict.action == "retire" and "worse" in verdict.reasons[-1], verdict.reasons


@pytest.mark.parametrize("seed", [1, 2])
def test_a_truly_better_challenger_is_promoted(seed: int) -> None:
    verdict = _daily_verdicts(Readers(8000, seed=seed), challenger_noise=0.3, seed=seed)
    assert verdict.action == "promote", verdict.reasons
    assert verdict.primary() is not None and verdict.primary().lift > 0  # type: ignore[union-attr]


def test_an_aa_test_looked_at_daily_stays_within_its_false_positive_rate() -> None:
    """Both arms served by the same model: over many seeds, with a look every day, the always-valid interval
    excludes 0 on at most alpha of the seeds (binomial bound); the naive 95 % interval, looked at the same
    way, exceeds it: the sequence is what makes daily looks safe."""
    seeds, days, alpha = 200, 14, 0.05
    readers = Readers(2000, seed=99)
    policy = personalised(1.0)
    sequential = naive = final = 0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        arm = rng.random(readers.n) < 0.5  # a fresh random split per seed: an A/A test
        clicks, imps = np.zeros(readers.n), np.zeros(readers.n)
        pre = np.zeros(readers.n)
        for _ in range(7):
            pre += readers.visit(readers.stories(rng), np.arange(readers.n), policy, rng).clicks
        hit_seq = hit_naive = False
        for _ in range(days):
            day = readers.visit(readers.stories(rng), np.arange(readers.n), policy, rng)
            clicks += day.clicks
            imps += day.impressions
            exposed = imps > 0
            a, b = exposed & arm, exposed & ~arm
            result = lift(
                "clicks_per_user",
                ("a", moments(clicks[a], imps[a], pre[a])),
                ("b", moments(clicks[b], imps[b], pre[b])),
                alpha=alpha,
                tuned_n=readers.n,
            )
            hit_seq |= not (result.sequence[0] <= 0 <= result.sequence[1])
            hit_naive |= not (result.interval[0] <= 0 <= result.interval[1])
        final += not (result.interval[0] <= 0 <= result.interval[1])
        sequential += hit_seq
        naive += hit_naive
    bound = sps.binom.ppf(0.999, seeds, alpha)  # fails by chance once in a thousand runs at most
    print(f"A/A over {seeds} seeds: sequential {sequential}, naive daily {naive}, one final look {final}")
    assert sequential <= bound, (sequential, naive, final)
    assert final <= bound  # a single look at the end is a plain 95 % test
    assert naive > sequential and naive > seeds * alpha, (sequential, naive)
