"""The statistics of the online test, with the reader as the unit (docs/experiment.md).

Each arm is reduced to sufficient statistics over its readers (``Moments``: counts, sums, squares and
cross-products of clicks, impressions and pre-test activity), so the monitor streams any number of
readers in constant memory. A metric is a ratio of per-reader means, ``mean(x) / mean(d)``: clicks per
impression (x = clicks, d = impressions) or clicks per exposed reader (d = 1). Its variance is the delta
method's, through each reader's linearised contribution ``(x - R d) / mean(d)`` — never clicks as
independent samples, since one reader's clicks are correlated.

CUPED: each arm's linearised contribution is adjusted by the reader's pre-test activity ``z`` around the
mean of ``z`` over both arms, with the arm's own slope (Lin's regression adjustment: for clicks per reader
the adjusted difference is exactly the OLS treatment coefficient with the centred covariate and its
interaction). Randomisation makes it unbiased; it removes the variance the covariate explains, and an
arm's own slope also helps a small arm (5 % control) whose readers react differently to their feed.

Daily looks: every interval that decides is an always-valid confidence sequence (the asymptotic Gaussian
mixture sequence of Waudby-Smith et al., as GrowthBook's sequential testing uses), so looking every day
and stopping at the first interval that excludes 0 keeps the false-positive rate at ``alpha``. The fixed
95 % interval is reported next to it for reading, never for deciding.

Pure ``math``: the Lambda ships no scipy. tests/unit/experiment checks it against scipy and statsmodels.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist


@dataclass(frozen=True)
class Moments:
    """Sufficient statistics of one arm: x = feed clicks, y = impressions, z = pre-test activity, per reader."""

    n: int = 0
    sx: float = 0.0
    sy: float = 0.0
    sz: float = 0.0
    sxx: float = 0.0
    syy: float = 0.0
    szz: float = 0.0
    sxy: float = 0.0
    sxz: float = 0.0
    syz: float = 0.0

    @classmethod
    def of(cls, rows: Iterable[tuple[float, float, float]]) -> Moments:
        """The moments of ``(clicks, impressions, pre)`` per reader."""
        n, acc = 0, [0.0] * 9
        for x, y, z in rows:
            n += 1
            for i, v in enumerate((x, y, z, x * x, y * y, z * z, x * y, x * z, y * z)):
                acc[i] += v
        return cls(n, *acc)

    def mean(self, a: str) -> float:
        return float(getattr(self, f"s{a}")) / self.n if self.n else math.nan

    def cov(self, a: str, b: str) -> float:
        """The sample covariance of two of x, y, z (``"1"`` is the constant 1: covariance 0)."""
        if "1" in (a, b) or self.n < 2:
            return 0.0 if self.n >= 2 else math.nan
        key = "s" + "".join(sorted(a + b))
        cross = float(getattr(self, key))
        return (cross - self.n * self.mean(a) * self.mean(b)) / (self.n - 1)


Metric = tuple[str, str]
"""(numerator, denominator) among x, y and "1": clicks per impression ("x", "y"), clicks per reader ("x", "1")."""
CLICKS_PER_IMPRESSION: Metric = ("x", "y")
CLICKS_PER_USER: Metric = ("x", "1")
METRICS: dict[str, Metric] = {"clicks_per_impression": CLICKS_PER_IMPRESSION, "clicks_per_user": CLICKS_PER_USER}


def _mean(m: Moments, a: str) -> float:
    return 1.0 if a == "1" else m.mean(a)


@dataclass(frozen=True)
class Estimate:
    """One arm's value of a metric and the variance of that value (finite, or NaN when undefined)."""

    value: float
    variance: float
    n: int

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        half = z_value(level) * math.sqrt(self.variance) if self.variance >= 0 else math.nan
        return (self.value - half, self.value + half)


def estimate(m: Moments, metric: Metric, theta: float = 0.0, z_center: float | None = None) -> Estimate:
    """The arm's metric, CUPED-adjusted by ``theta`` around ``z_center`` (theta 0: unadjusted)."""
    num, den = metric
    d = _mean(m, den)
    if m.n < 2 or not (d > 0 and math.isfinite(d)) or d * d == 0.0:  # a tiny d underflows when squared
        return Estimate(math.nan, math.nan, m.n)
    r = _mean(m, num) / d
    var_l = (m.cov(num, num) - 2 * r * m.cov(num, den) + r * r * m.cov(den, den)) / (d * d)
    cov_lz = (m.cov(num, "z") - r * m.cov(den, "z")) / d
    value = r
    if theta and z_center is not None:
        value = r - theta * (m.mean("z") - z_center)
        var_l = var_l - 2 * theta * cov_lz + theta * theta * m.cov("z", "z")
    return Estimate(value, max(var_l, 0.0) / m.n, m.n)


def cuped_theta(m: Moments, metric: Metric) -> float:
    """The arm's CUPED slope: cov(linearised metric, z) / var(z); 0 if undefined."""
    num, den = metric
    d = _mean(m, den)
    if m.n < 2 or not (d > 0 and math.isfinite(d)):
        return 0.0
    r = _mean(m, num) / d
    var_z = m.cov("z", "z")
    theta = (m.cov(num, "z") - r * m.cov(den, "z")) / d / var_z if var_z > 0 else 0.0
    return theta if math.isfinite(theta) else 0.0


def z_value(level: float) -> float:
    """The two-sided normal quantile of a confidence level (1.96 for 0.95)."""
    return NormalDist().inv_cdf(0.5 + level / 2)


def sequential_halfwidth(variance: float, n: int, alpha: float, tuned_n: int) -> float:
    """Half-width of the always-valid (asymptotic Gaussian-mixture) confidence sequence at ``n`` readers.

    ``variance`` is the estimate's variance at ``n``; ``tuned_n`` the sample size where the sequence is
    tightest (it is valid at every size: any number of looks, any stopping rule).
    """
    if not (variance >= 0 and n > 0 and 0 < alpha < 1 and tuned_n > 0):
        return math.nan
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuned_n
    a = n * rho2
    return math.sqrt(variance) * math.sqrt(2 * (a + 1) / a * math.log(math.sqrt(a + 1) / alpha))


@dataclass(frozen=True)
class Lift:
    """The treatment's relative lift over the baseline on one metric (0.05: 5 % more)."""

    metric: str
    treatment: str
    baseline: str
    treatment_value: float
    baseline_value: float
    lift: float
    interval: tuple[float, float]
    """Fixed-horizon 95 % interval: for reading only."""
    sequence: tuple[float, float]
    """Always-valid interval at level 1 - alpha: what decides."""
    variance_reduction: float
    """CUPED's reduction of the lift's variance (0.3: 30 % less; 0 when the covariate does not help)."""

    @property
    def defined(self) -> bool:
        return all(math.isfinite(v) for v in (self.lift, *self.interval, *self.sequence))

    def as_record(self) -> dict[str, object]:
        return {
            "metric": self.metric,
            "treatment": self.treatment,
            "baseline": self.baseline,
            "treatment_value": _finite(self.treatment_value),
            "baseline_value": _finite(self.baseline_value),
            "lift": _finite(self.lift),
            "interval_95": [_finite(v) for v in self.interval],
            "always_valid_interval": [_finite(v) for v in self.sequence],
            "cuped_variance_reduction": _finite(self.variance_reduction),
        }


def _finite(v: float) -> float | None:
    return round(v, 6) if math.isfinite(v) else None


def _ratio(t: Estimate, c: Estimate) -> tuple[float, float]:
    """Relative lift t/c - 1 and its delta-method variance (independent arms)."""
    if not (c.value > 0 and math.isfinite(t.value) and math.isfinite(t.variance) and math.isfinite(c.variance)):
        return math.nan, math.nan
    try:  # float ** raises on overflow (where * gives inf): extreme but legal inputs have no lift
        lift = t.value / c.value - 1
        var = t.variance / c.value**2 + t.value**2 * c.variance / c.value**4
    except (OverflowError, ZeroDivisionError):
        return math.nan, math.nan
    return (lift, var) if math.isfinite(lift) and math.isfinite(var) else (math.nan, math.nan)


def lift(
    metric: str,
    treatment: tuple[str, Moments],
    baseline: tuple[str, Moments],
    *,
    alpha: float = 0.05,
    tuned_n: int = 10_000,
    cuped: bool = True,
) -> Lift:
    """The treatment's relative lift over the baseline on ``metric``; NaN everywhere when undefined."""
    spec = METRICS[metric]
    (t_name, t), (c_name, c) = treatment, baseline
    raw_t, raw_c = estimate(t, spec), estimate(c, spec)
    raw_lift, raw_var = _ratio(raw_t, raw_c)
    center = (t.sz + c.sz) / (t.n + c.n) if t.n + c.n else math.nan
    theta_t, theta_c = (cuped_theta(t, spec), cuped_theta(c, spec)) if cuped else (0.0, 0.0)
    adj_t, adj_c = estimate(t, spec, theta_t, center), estimate(c, spec, theta_c, center)
    value, var = _ratio(adj_t, adj_c)
    if not (math.isfinite(var) and var <= raw_var):  # the covariate did not help here: report the plain lift
        value, var, adj_t, adj_c = raw_lift, raw_var, raw_t, raw_c
    reduction = 1 - var / raw_var if raw_var > 0 else 0.0
    half = z_value(0.95) * math.sqrt(var) if var >= 0 else math.nan
    seq = sequential_halfwidth(var, t.n + c.n, alpha, tuned_n)
    floor = min(-1.0, value)  # a rate's relative lift is at least -100 %: a lower bound below it says nothing more
    return Lift(
        metric, t_name, c_name, adj_t.value, adj_c.value, value,
        (max(value - half, floor), value + half), (max(value - seq, floor), value + seq), reduction,
    )


def chi2_sf(x: float, df: int) -> float:
    """P(X > x) for a chi-square with ``df`` degrees of freedom (the regularised upper incomplete gamma)."""
    if not math.isfinite(x) or df < 1:
        return math.nan
    if x <= 0:
        return 1.0
    a, h = df / 2.0, x / 2.0
    log_front = a * math.log(h) - h - math.lgamma(a)
    if h < a + 1:  # the series of the lower function converges fast here
        term = total = 1.0 / a
        k = a
        for _ in range(10_000):
            k += 1
            term *= h / k
            total += term
            if term < total * 1e-16:
                break
        return max(0.0, 1.0 - math.exp(log_front) * total)
    # Lentz's continued fraction of the upper function
    tiny = 1e-300
    b = h + 1 - a
    c, d = 1 / tiny, 1 / b
    f = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        step = d * c
        f *= step
        if abs(step - 1) < 1e-16:
            break
    return math.exp(log_front) * f


def sample_ratio_p(observed: Sequence[int], expected_shares: Sequence[float]) -> float:
    """The sample-ratio-mismatch p-value: Pearson's chi-square of the arms' reader counts against their
    expected shares (NaN when it cannot be computed: no readers, a share of 0, fewer than two arms)."""
    total = sum(observed)
    share_sum = sum(expected_shares)
    if len(observed) != len(expected_shares) or len(observed) < 2 or total <= 0 or share_sum <= 0:
        return math.nan
    if any(s <= 0 or not math.isfinite(s) for s in expected_shares) or any(o < 0 for o in observed):
        return math.nan
    expected = [total * s / share_sum for s in expected_shares]
    stat = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    return chi2_sf(stat, len(observed) - 1)


def min_sample_size(
    baseline_sd: float, baseline_mean: float, relative_effect: float, alpha: float, power: float
) -> int:
    """Readers per arm a fixed-horizon test would need to detect ``relative_effect`` (two-sided, equal arms).

    Reported next to the sequential test (docs/experiment.md) so an operator knows how long a test runs.
    """
    delta = abs(relative_effect * baseline_mean)
    if not (delta > 0 and baseline_sd > 0 and 0 < alpha < 1 and 0 < power < 1):
        return 0
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    return math.ceil(2 * (z * baseline_sd / delta) ** 2)
