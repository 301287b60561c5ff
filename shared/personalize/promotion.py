"""The promotion rule: a pure, total function of three sets of offline metrics, with its policy.

A candidate serves only if its primary metric (default NDCG@10) beats the popularity-count baseline
trained on the same data, improves on the serving version by at least ``min_improvement``
(relative), and no guard metric falls more than ``guard_tolerance`` (relative) below the serving one.

The rule is total: every metric it compares must be present, a finite number and inside its valid
range, for the candidate, the serving version and the baseline (and every other metric a set
reports must be valid too). Anything else is ``hold``, naming what is missing or invalid — never
``promote``. With nothing serving, a first version is promoted only if it beats the baseline and
every metric is valid; otherwise it is held for an operator (keeping it would leave nothing serving).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from shared.config import AwsStageSettings
from shared.personalize.metrics import METRIC_RANGES, metric_label, metric_order

Action = Literal["promote", "hold", "keep", "test", "retire"]
"""promote: switch the campaign; hold: an operator decides (manual mode, missing or invalid metrics, or a
first version that does not beat the baseline); keep: the serving version stays, the candidate is not better;
test (promotion mode ``online``): the candidate passed the offline rule and goes to the challenger test, whose
result promotes or retires it (retire: the test did not show it better; the serving version stays)."""

Metrics = Mapping[str, object]
"""A version's offline metrics as reported or recorded; the rule checks every value before it compares."""


@dataclass(frozen=True)
class Policy:
    primary: str = "normalized_discounted_cumulative_gain_at_10"
    min_improvement: float = 0.01
    guards: tuple[str, ...] = ("coverage", "mean_reciprocal_rank_at_25", "precision_at_10")
    guard_tolerance: float = 0.05
    auto: bool = True
    online: bool = False
    """The offline rule only admits a version to the challenger test (promotion mode ``online``)."""

    @classmethod
    def from_settings(cls, stage: AwsStageSettings) -> Policy:
        return cls(
            stage.primary_metric,
            stage.min_improvement,
            stage.guard_metrics,
            stage.guard_tolerance,
            stage.promotion_mode in ("auto", "online"),
            stage.promotion_mode == "online",
        )

    def as_record(self) -> dict[str, object]:
        """The policy as kept in the decision record."""
        return {
            "primary": self.primary,
            "min_improvement": self.min_improvement,
            "guards": list(self.guards),
            "guard_tolerance": self.guard_tolerance,
            "mode": "online" if self.online else "auto" if self.auto else "manual",
        }


@dataclass(frozen=True)
class Evidence:
    """The metric sets one decision compares; a set that is None could not be found.

    ``serving_version`` is None when nothing serves yet; otherwise ``serving`` holds the metrics
    recorded for it when it was promoted (None: none were recorded, so it cannot be compared with).
    """

    candidate: Metrics | None
    baseline: Metrics | None
    serving_version: str | None = None
    serving: Metrics | None = None


@dataclass(frozen=True)
class Decision:
    action: Action
    reasons: tuple[str, ...] = field(default_factory=tuple)
    invalid: tuple[str, ...] = field(default_factory=tuple)
    """What was missing or invalid (then the action is ``hold``)."""


def _problem(value: object, name: str) -> str | None:
    """Why ``value`` is not a valid value of metric ``name`` (None: it is valid)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{name} is not a number ({value!r:.40})"
    try:
        number = float(value)
    except OverflowError:
        return f"{name} is too large for a float"
    if not math.isfinite(number):
        return f"{name} is {number}"
    low, high = METRIC_RANGES.get(name, (-math.inf, math.inf))
    if not low <= number <= high:
        return f"{name} {number} is outside {low:g}..{high:g}"
    return None


def _problems(role: str, metrics: Metrics | None, required: tuple[str, ...]) -> list[str]:
    if metrics is None:
        return [f"{role}: no metrics"]
    out = [f"{role}: no {name}" for name in required if name not in metrics]
    out += [f"{role}: {p}" for name, value in metrics.items() if (p := _problem(value, name)) is not None]
    return out


def invalid_metrics(evidence: Evidence, policy: Policy) -> tuple[str, ...]:
    """Every metric the rule needs that is missing, not a finite number or outside its range, named by role."""
    compared = (policy.primary, *policy.guards)
    found = [f"policy: {name} has no known valid range" for name in compared if name not in METRIC_RANGES]
    found += _problems("candidate", evidence.candidate, compared)
    found += _problems("baseline", evidence.baseline, (policy.primary,))
    if evidence.serving_version is not None:
        found += _problems(f"serving version {evidence.serving_version}", evidence.serving, compared)
    return tuple(dict.fromkeys(found))


def decide(evidence: Evidence, policy: Policy) -> Decision:
    """Promote, hold or keep the candidate; total: missing or invalid metrics always hold."""
    invalid = invalid_metrics(evidence, policy)
    if invalid:
        why = "metrics missing or invalid: " + "; ".join(invalid)
        return Decision("hold", (why, "held for an operator: the rule compares only valid metrics"), invalid)
    p, label = policy.primary, metric_label(policy.primary)
    candidate, baseline = _floats(evidence.candidate), _floats(evidence.baseline)
    serving = _floats(evidence.serving) if evidence.serving_version is not None else None
    value = candidate[p]
    reasons: list[str] = []
    if not value > baseline[p]:
        reasons.append(f"{label} {value:.4f} does not beat the popularity baseline {baseline[p]:.4f}")
    if serving is None:
        if reasons:
            return Decision("hold", (*reasons, "nothing serves yet: held for an operator"))
        why = (
            f"rule 'first version': nothing serves, so a candidate whose {label} beats the popularity baseline "
            f"is promoted (guards compare against a serving version): {label} {value:.4f} > baseline {baseline[p]:.4f}"
        )
    else:
        reasons += _worse_than_serving(candidate, serving, policy)
        if reasons:
            return Decision("keep", tuple(reasons))
        guards = ", ".join(metric_label(g) for g in policy.guards) or "none"
        why = (
            f"rule 'better than serving': {label} beats the baseline and is {policy.min_improvement:.1%} above the "
            f"serving version, no guard ({guards}) more than {policy.guard_tolerance:.0%} below it: {label} "
            f"{value:.4f} vs serving {serving[p]:.4f}, baseline {baseline[p]:.4f}"
        )
    notes = _below_baseline(candidate, baseline, p)
    if policy.online and serving is not None:  # with nothing serving there is no champion to test against
        return Decision("test", (why, *notes, "promotion mode is online: admitted to the challenger test"))
    if policy.auto:
        return Decision("promote", (why, *notes))
    return Decision("hold", (why, *notes, "promotion mode is manual: an operator promotes by hand"))


def _below_baseline(candidate: dict[str, float], baseline: dict[str, float], primary: str) -> list[str]:
    """Metrics (other than the primary) where the candidate is below popularity: shown, not decisive."""
    below = [m for m in sorted(set(candidate) & set(baseline), key=metric_order) if candidate[m] < baseline[m]]
    lower = [f"{metric_label(m)} {candidate[m]:.4f} < {baseline[m]:.4f}" for m in below if m != primary]
    if not lower:
        return []
    return [f"below popularity on {', '.join(lower)} (the rule compares the baseline on {metric_label(primary)} only)"]


def _floats(metrics: Metrics | None) -> dict[str, float]:
    """The numeric values of a set already checked by :func:`invalid_metrics`."""
    return {k: float(v) for k, v in (metrics or {}).items() if isinstance(v, int | float)}


def _worse_than_serving(candidate: dict[str, float], serving: dict[str, float], policy: Policy) -> list[str]:
    p = policy.primary
    reasons = []
    needed = serving[p] * (1 + policy.min_improvement)
    if not (candidate[p] > serving[p] and candidate[p] >= needed):
        reasons.append(
            f"{metric_label(p)} {candidate[p]:.4f} is not {policy.min_improvement:.1%} above the serving "
            f"{serving[p]:.4f} (needs ≥ {needed:.4f})"
        )
    for guard in policy.guards:
        floor = serving[guard] * (1 - policy.guard_tolerance)
        if not candidate[guard] >= floor:
            reasons.append(
                f"guard {metric_label(guard)} {candidate[guard]:.4f} fell below {floor:.4f} "
                f"(serving {serving[guard]:.4f} minus {policy.guard_tolerance:.0%})"
            )
    return reasons


def by_hand(rule: Decision, operator: str) -> Decision:
    """An operator's promotion, keeping what the rule alone would have decided (the record shows the override)."""
    said = f"the rule alone: {rule.action}" + (f" ({'; '.join(rule.reasons)})" if rule.reasons else "")
    return Decision("promote", (f"promoted by hand by {operator}", said))


def metrics_table(candidate: Metrics | None, serving: Metrics | None, baseline: Metrics | None) -> str:
    """The three metric sets side by side, as fixed-width text for the SNS report ("-": not there), each metric by
    its short label (``NDCG@10``) in the usual order."""
    names = sorted(set(candidate or {}) | set(serving or {}) | set(baseline or {}), key=metric_order)

    def cell(metrics: Metrics | None, name: str) -> str:
        if not metrics or name not in metrics:
            return "-"
        value = metrics[name]
        small_int = isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**9
        return f"{value:.4f}" if isinstance(value, float) or small_int else repr(value)[:10]

    width = max([len("metric")] + [len(metric_label(n)) for n in names])
    lines = [f"{'metric':<{width}} {'candidate':>10} {'serving':>10} {'baseline':>10}"]
    lines += [
        f"{metric_label(n):<{width}} {cell(candidate, n):>10} {cell(serving, n):>10} {cell(baseline, n):>10}"
        for n in names
    ]
    return "\n".join(lines)
