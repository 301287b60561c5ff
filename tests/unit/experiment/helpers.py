"""Moments from numpy arrays (fast for simulations) and simple generated readers for the statistics tests."""

from __future__ import annotations

import numpy as np

from shared.experiment.stats import Moments


def moments(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> Moments:
    x, y, z = (np.asarray(a, dtype=float) for a in (x, y, z))
    return Moments(
        len(x), x.sum(), y.sum(), z.sum(), (x * x).sum(), (y * y).sum(), (z * z).sum(),
        (x * y).sum(), (x * z).sum(), (y * z).sum(),
    )


def readers(rng: np.random.Generator, n: int, rate: float = 0.05, effect: float = 0.0):
    """``n`` readers with a persistent activity level: pre-test clicks, impressions and feed clicks in the test
    (clicks per impression ``rate * (1 + effect)``)."""
    activity = rng.lognormal(0.0, 0.8, n)
    pre = rng.poisson(activity * 4)
    impressions = rng.poisson(activity * 20) + 1
    clicks = rng.binomial(impressions, min(rate * (1 + effect), 1.0))
    return clicks.astype(float), impressions.astype(float), pre.astype(float)
