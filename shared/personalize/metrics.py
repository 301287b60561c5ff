"""Personalize's offline metrics: their valid ranges and the short labels every view prints.

One place for both: the promotion rule checks values against :data:`METRIC_RANGES`; the demo, the CLI
(``status``, ``evaluate``), the decision reasons and the HTML report print :func:`metric_label` (``NDCG@10``),
which fits an 80-column table where ``normalized_discounted_cumulative_gain_at_10`` does not.
"""

from __future__ import annotations

from collections.abc import Mapping

METRIC_LABELS: Mapping[str, str] = {
    "normalized_discounted_cumulative_gain_at_5": "NDCG@5",
    "normalized_discounted_cumulative_gain_at_10": "NDCG@10",
    "normalized_discounted_cumulative_gain_at_25": "NDCG@25",
    "precision_at_5": "P@5",
    "precision_at_10": "P@10",
    "precision_at_25": "P@25",
    "mean_reciprocal_rank_at_25": "MRR@25",
    "coverage": "coverage",
}
"""Personalize's metric names (GetSolutionMetrics) → their short labels."""

METRIC_RANGES: Mapping[str, tuple[float, float]] = {name: (0.0, 1.0) for name in METRIC_LABELS}
"""Personalize's offline metrics and their valid ranges: a compared metric not listed here cannot be valid."""

_PREFIXES = (
    ("normalized_discounted_cumulative_gain_at_", "NDCG@"),
    ("mean_reciprocal_rank_at_", "MRR@"),
    ("precision_at_", "P@"),
)


def metric_label(name: str) -> str:
    """The short label of a metric (``NDCG@10``); an unknown ``*_at_K`` is shortened alike, anything else kept."""
    if name in METRIC_LABELS:
        return METRIC_LABELS[name]
    for prefix, short in _PREFIXES:
        if name.startswith(prefix):
            return short + name.removeprefix(prefix)
    return name


def metric_order(name: str) -> tuple[int, str]:
    """Sort key: the known metrics in :data:`METRIC_LABELS` order (NDCG, P, MRR by cut-off), then the rest by name."""
    known = list(METRIC_LABELS)
    return (known.index(name), "") if name in known else (len(known), name)
