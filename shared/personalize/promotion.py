"""The promotion rule, as a pure function of three sets of offline metrics.

A candidate serves only if its primary metric (default NDCG@10) beats the popularity-count baseline
trained on the same data, improves on the serving version by at least ``min_improvement``
(relative), and no guard metric falls more than ``guard_tolerance`` (relative) below the serving one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from shared.config import AwsStageSettings

Action = Literal["promote", "hold", "keep"]
"""promote: switch the campaign; hold: better, waiting for an operator (manual mode); keep: not better."""


@dataclass(frozen=True)
class Policy:
    primary: str = "normalized_discounted_cumulative_gain_at_10"
    min_improvement: float = 0.01
    guards: tuple[str, ...] = ("coverage", "mean_reciprocal_rank_at_25", "precision_at_10")
    guard_tolerance: float = 0.05
    auto: bool = True

    @classmethod
    def from_settings(cls, stage: AwsStageSettings) -> Policy:
        return cls(
            stage.primary_metric,
            stage.min_improvement,
            stage.guard_metrics,
            stage.guard_tolerance,
            stage.promotion_mode == "auto",
        )


@dataclass(frozen=True)
class Decision:
    action: Action
    reasons: tuple[str, ...] = field(default_factory=tuple)


def decide(
    candidate: Mapping[str, float],
    serving: Mapping[str, float] | None,
    baseline: Mapping[str, float] | None,
    policy: Policy,
) -> Decision:
    """Whether ``candidate`` should replace ``serving`` (None: nothing serves yet)."""
    p = policy.primary
    if p not in candidate:
        return Decision("keep", (f"candidate has no {p}",))
    reasons: list[str] = []
    value = candidate[p]
    if baseline is not None and p in baseline and not value > baseline[p]:
        reasons.append(f"{p} {value:.4f} does not beat the popularity baseline {baseline[p]:.4f}")
    if serving is not None and p in serving:
        needed = serving[p] * (1 + policy.min_improvement)
        if not (value > serving[p] and value >= needed):
            reasons.append(
                f"{p} {value:.4f} is not {policy.min_improvement:.1%} above the serving "
                f"{serving[p]:.4f} (needs ≥ {needed:.4f})"
            )
        for guard in policy.guards:
            if guard in candidate and guard in serving:
                floor = serving[guard] * (1 - policy.guard_tolerance)
                if candidate[guard] < floor:
                    reasons.append(
                        f"guard {guard} {candidate[guard]:.4f} fell below {floor:.4f} "
                        f"(serving {serving[guard]:.4f} minus {policy.guard_tolerance:.0%})"
                    )
    if reasons:
        return Decision("keep", tuple(reasons))
    why = (
        f"{p} {value:.4f}"
        + (f" vs serving {serving[p]:.4f}" if serving and p in serving else " (nothing serves)")
        + (f", baseline {baseline[p]:.4f}" if baseline and p in baseline else "")
    )
    if policy.auto:
        return Decision("promote", (why,))
    return Decision("hold", (why, "promotion mode is manual: an operator promotes by hand"))


def metrics_table(
    candidate: Mapping[str, float], serving: Mapping[str, float] | None, baseline: Mapping[str, float] | None
) -> str:
    """The three metric sets side by side, as fixed-width text for the SNS report."""
    names = sorted(set(candidate) | set(serving or {}) | set(baseline or {}))

    def cell(metrics: Mapping[str, float] | None, name: str) -> str:
        return f"{metrics[name]:.4f}" if metrics and name in metrics else "-"

    lines = [f"{'metric':<45} {'candidate':>10} {'serving':>10} {'baseline':>10}"]
    lines += [f"{n:<45} {cell(candidate, n):>10} {cell(serving, n):>10} {cell(baseline, n):>10}" for n in names]
    return "\n".join(lines)
