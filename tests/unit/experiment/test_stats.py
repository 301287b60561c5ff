"""The test's statistics against reference implementations (scipy, statsmodels, a bootstrap over readers),
and total: NaN, empty and zero inputs give NaN results, never a crash."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from shared.experiment.stats import (
    CLICKS_PER_IMPRESSION,
    CLICKS_PER_USER,
    Moments,
    chi2_sf,
    cuped_theta,
    estimate,
    lift,
    min_sample_size,
    sample_ratio_p,
    sequential_halfwidth,
    z_value,
)
from tests.unit.experiment.helpers import moments, readers

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("df", [1, 2, 3, 5, 10])
@pytest.mark.parametrize("x", [0.0, 1e-6, 0.3, 1.0, 2.5, 7.0, 19.0, 60.0, 400.0])
def test_chi_square_tail_matches_scipy(x: float, df: int) -> None:
    assert chi2_sf(x, df) == pytest.approx(sps.chi2.sf(x, df), rel=1e-9, abs=1e-300)


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(min_value=1, max_value=10**6), min_size=2, max_size=4),
    weights=st.lists(st.floats(min_value=0.01, max_value=1.0), min_size=4, max_size=4),
)
def test_sample_ratio_check_matches_scipys_chisquare(counts: list[int], weights: list[float]) -> None:
    shares = weights[: len(counts)]
    total = sum(counts)
    expected = [total * s / sum(shares) for s in shares]
    reference = sps.chisquare(counts, expected).pvalue
    assert sample_ratio_p(counts, shares) == pytest.approx(reference, rel=1e-7, abs=1e-12)


def test_normal_quantile_matches_scipy() -> None:
    assert z_value(0.95) == pytest.approx(sps.norm.ppf(0.975), rel=1e-12)


def test_clicks_per_user_interval_matches_statsmodels() -> None:
    rng = np.random.default_rng(1)
    x, y, z = readers(rng, 3000)
    e = estimate(moments(x, y, z), CLICKS_PER_USER)
    low, high = e.interval()
    ref = DescrStatsW(x).zconfint_mean(alpha=0.05)
    assert (low, high) == pytest.approx(ref, rel=1e-9)


def test_the_difference_matches_statsmodels_welch() -> None:
    """An absolute difference of means with its unequal-variance z interval, as statsmodels computes it."""
    rng = np.random.default_rng(2)
    xt, yt, zt = readers(rng, 2500, effect=0.1)
    xc, yc, zc = readers(rng, 2000)
    t, c = estimate(moments(xt, yt, zt), CLICKS_PER_USER), estimate(moments(xc, yc, zc), CLICKS_PER_USER)
    half = z_value(0.95) * math.sqrt(t.variance + c.variance)
    ref = CompareMeans(DescrStatsW(xt), DescrStatsW(xc)).zconfint_diff(alpha=0.05, usevar="unequal")
    assert (t.value - c.value - half, t.value - c.value + half) == pytest.approx(ref, rel=1e-9)


def test_ratio_variance_matches_a_bootstrap_over_readers() -> None:
    """The delta method's variance of clicks per impression, the reader as the unit, agrees with resampling
    readers (and is far above the naive binomial variance that treats impressions as independent)."""
    rng = np.random.default_rng(3)
    x, y, z = readers(rng, 4000)
    e = estimate(moments(x, y, z), CLICKS_PER_IMPRESSION)
    assert e.value == pytest.approx(x.sum() / y.sum())
    idx = rng.integers(0, len(x), (2000, len(x)))
    boot = x[idx].sum(axis=1) / y[idx].sum(axis=1)
    assert e.variance == pytest.approx(boot.var(ddof=1), rel=0.1)


def test_cuped_equals_lins_regression_adjustment_in_statsmodels_ols() -> None:
    """For clicks per reader, the CUPED difference (each arm's own slope, the covariate centred on both arms'
    mean) is exactly OLS's treatment coefficient with the centred pre-test covariate and its interaction
    (Lin 2013); its standard error agrees with OLS's robust (HC2) one."""
    rng = np.random.default_rng(4)
    xt, yt, zt = readers(rng, 3000, effect=0.05)
    xc, yc, zc = readers(rng, 1000)
    mt, mc = moments(xt, yt, zt), moments(xc, yc, zc)
    center = (mt.sz + mc.sz) / (mt.n + mc.n)
    t = estimate(mt, CLICKS_PER_USER, cuped_theta(mt, CLICKS_PER_USER), center)
    c = estimate(mc, CLICKS_PER_USER, cuped_theta(mc, CLICKS_PER_USER), center)
    y = np.concatenate([xt, xc])
    treat = np.concatenate([np.ones(len(xt)), np.zeros(len(xc))])
    pre = np.concatenate([zt, zc]) - center
    design = sm.add_constant(np.column_stack([treat, pre, treat * pre]))
    fit = sm.OLS(y, design).fit(cov_type="HC2")
    assert t.value - c.value == pytest.approx(fit.params[1], rel=1e-9)
    assert math.sqrt(t.variance + c.variance) == pytest.approx(fit.bse[1], rel=0.05)


def test_cuped_reduces_variance_with_a_predictive_covariate_and_reports_it() -> None:
    rng = np.random.default_rng(5)
    t, c = readers(rng, 4000, effect=0.05), readers(rng, 4000)
    with_cuped = lift("clicks_per_user", ("t", moments(*t)), ("c", moments(*c)))
    without = lift("clicks_per_user", ("t", moments(*t)), ("c", moments(*c)), cuped=False)
    assert with_cuped.variance_reduction > 0.2  # measured: activity persists, so pre-test clicks predict
    width = with_cuped.interval[1] - with_cuped.interval[0]
    assert width < without.interval[1] - without.interval[0]
    # a covariate unrelated to the outcome never widens the interval (then CUPED is not applied)
    noise = [(a, b, rng.permutation(zz)) for a, b, zz in (t, c)]
    unrelated = lift("clicks_per_user", ("t", moments(*noise[0])), ("c", moments(*noise[1])))
    assert unrelated.variance_reduction >= 0.0


def test_relative_lift_variance_matches_a_bootstrap() -> None:
    rng = np.random.default_rng(6)
    t, c = readers(rng, 3000, effect=0.1), readers(rng, 3000)
    result = lift("clicks_per_impression", ("t", moments(*t)), ("c", moments(*c)), cuped=False)
    var = ((result.interval[1] - result.lift) / z_value(0.95)) ** 2
    it, ic = rng.integers(0, 3000, (1500, 3000)), rng.integers(0, 3000, (1500, 3000))
    boot = (t[0][it].sum(1) / t[1][it].sum(1)) / (c[0][ic].sum(1) / c[1][ic].sum(1)) - 1
    assert var == pytest.approx(boot.var(ddof=1), rel=0.15)


def test_a_lifts_lower_bound_stops_at_minus_100_percent() -> None:
    """Few readers give a wide interval: its lower bound says "down to -100 %", never below (the 180-day run's
    report showed -172.5 % with 5 control readers)."""
    t, c = moments(*readers(np.random.default_rng(1), 6)), moments(*readers(np.random.default_rng(2), 5))
    result = lift("clicks_per_user", ("t", t), ("c", c))
    assert result.defined and result.sequence[0] == -1.0 and result.sequence[1] > result.interval[1]
    assert result.interval[0] >= -1.0


def test_the_sequence_is_wider_than_the_fixed_interval_and_shrinks() -> None:
    assert sequential_halfwidth(1.0, 10_000, 0.05, 10_000) > z_value(0.95)
    later = sequential_halfwidth(1 / 20_000, 20_000, 0.05, 10_000)
    assert later < sequential_halfwidth(1 / 10_000, 10_000, 0.05, 10_000)


def test_power_calculation_matches_statsmodels() -> None:
    from statsmodels.stats.power import NormalIndPower

    n = min_sample_size(baseline_sd=2.0, baseline_mean=1.0, relative_effect=0.1, alpha=0.05, power=0.8)
    ref = NormalIndPower().solve_power(effect_size=0.1 / 2.0, alpha=0.05, power=0.8, ratio=1.0)
    assert n == math.ceil(ref) or abs(n - ref) < 2


finite_or_not = st.one_of(
    st.floats(min_value=0, max_value=1e6), st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 0.0])
)


@settings(max_examples=200, deadline=None)
@given(
    rows_t=st.lists(st.tuples(finite_or_not, finite_or_not, finite_or_not), max_size=6),
    rows_c=st.lists(st.tuples(finite_or_not, finite_or_not, finite_or_not), max_size=6),
    metric=st.sampled_from(["clicks_per_user", "clicks_per_impression"]),
)
@example(rows_t=[], rows_c=[(0.0, 1.6e-232, 0.0), (0.0, 1.6e-232, 0.0)], metric="clicks_per_impression")  # d*d == 0
@example(rows_t=[(0.0, 1.6e-232, 0.0)] * 2, rows_c=[(1.0, 1.0, 0.0)] * 2, metric="clicks_per_impression")
@example(rows_t=[(0.0, 0.0, 0.0), (0.0, 1.0, 0.0)], rows_c=[(0.0, 0.0, 0.0), (1.0, 1.915964287489999e-90, 0.0)],
         metric="clicks_per_impression")  # c.value**4 overflows
def test_the_statistics_are_total(rows_t, rows_c, metric) -> None:  # type: ignore[no-untyped-def]
    """Any input, empty, zero, NaN or infinite: a result, never an exception; a finite lift has a finite,
    ordered interval."""
    result = lift(metric, ("t", Moments.of(rows_t)), ("c", Moments.of(rows_c)))
    if result.defined:
        assert result.sequence[0] <= result.interval[0] <= result.lift <= result.interval[1] <= result.sequence[1]
        assert result.lift < -1 or result.sequence[0] >= -1  # no rate falls by more than 100 %
    counts = [len(rows_t), len(rows_c)]
    p = sample_ratio_p(counts, [0.5, 0.5])
    assert math.isnan(p) or 0.0 <= p <= 1.0
