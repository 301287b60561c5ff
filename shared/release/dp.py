"""Differentially private story popularity: reader counts with two-sided geometric noise.

The released rows are not differentially private (no row-level release of click histories can be at a
useful ε); what is, is ``item_counts.csv``: per story, the number of distinct readers plus noise from the
two-sided geometric (discrete Laplace) mechanism of Ghosh, Roughgarden & Sundararajan (2009). One user
reads at most ``sensitivity`` released stories (the per-user cap), so adding or removing a user moves the
count vector by at most that much in L1, and noise with ``P(z) ∝ exp(-ε|z|/sensitivity)`` gives ε-DP
for the whole table (one query; every further release spends its own ε: the budgets add up). Integer
noise avoids the floating-point attacks on continuous Laplace samplers (Mironov, 2012). The list of
stories is public (items.csv), so releasing a count for every story, even 0, leaks nothing extra.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping


def geometric_noise(epsilon: float, sensitivity: int, rng: random.Random) -> int:
    """One draw of two-sided geometric noise with ``P(z) ∝ exp(-epsilon·|z| / sensitivity)``."""
    if epsilon <= 0 or sensitivity < 1:
        raise ValueError("epsilon must be > 0 and sensitivity ≥ 1")
    p = 1.0 - math.exp(-epsilon / sensitivity)
    return _geometric(p, rng) - _geometric(p, rng)


def _geometric(p: float, rng: random.Random) -> int:
    """Failures before the first success, success probability ``p`` (inverse CDF)."""
    if p >= 1.0:
        return 0
    u = 1.0 - rng.random()  # in (0, 1]
    return math.floor(math.log(u) / math.log1p(-p))


def noisy_counts(
    counts: Mapping[str, int], epsilon: float, sensitivity: int, rng: random.Random | None = None
) -> dict[str, int]:
    """``counts`` with geometric noise, clamped at 0 (post-processing keeps ε). Default: system entropy."""
    draw = rng or random.SystemRandom()
    return {item: max(0, n + geometric_noise(epsilon, sensitivity, draw)) for item, n in sorted(counts.items())}


def noise_scale(epsilon: float, sensitivity: int) -> float:
    """Standard deviation of the noise: ``sqrt(2·a) / (1 - a)`` with ``a = exp(-ε/Δ)``."""
    a = math.exp(-epsilon / sensitivity)
    return math.sqrt(2 * a) / (1 - a)
