"""The verdict of a test from the daily per-reader exposure rows: promote, retire, wait, blocked, no decision.

Total: rows that are not finite non-negative numbers, readers in an arm the test does not have, no readers
at all, or a metric that is undefined give ``no decision`` (naming why), never a crash and never a
promotion. A sample ratio that does not match the arms' shares (chi-square p below ``srm_p``) gives
``blocked``: the arms are not comparable, so nothing is decided and the monitor alerts.

Only the challenger's lift over the champion on clicks-from-feed per exposed reader decides (one metric,
one comparison: no multiple-testing correction needed), on its always-valid interval: lower bound above 0
promotes, upper bound below 0 retires, and a test still inconclusive after ``max_days`` retires the
challenger (the champion stays: a change must show it is better). The champion's lift over the control
arm and clicks per impression are reported, never decisive.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from shared.config import ExperimentSettings
from shared.experiment.assign import Arm, Experiment
from shared.experiment.stats import METRICS, Lift, Moments, estimate, lift, sample_ratio_p

Action = Literal["promote", "retire", "wait", "blocked", "no decision"]
COLUMNS = ("experiment_id", "user_id", "day", "arm", "impressions", "clicks", "pre_clicks")
"""The exposure aggregate's columns: one row per test, reader and day (docs/experiment.md)."""
PRIMARY = "clicks_per_user"


@dataclass(frozen=True)
class UserDay:
    """One reader's exposure on one day of a test."""

    experiment_id: str
    user_id: str
    day: str
    arm: str
    impressions: float
    clicks: float
    pre_clicks: float
    """The reader's feed clicks in the weeks before the test (the CUPED covariate)."""


@dataclass(frozen=True)
class ArmSummary:
    arm: str
    users: int
    impressions: float
    clicks: float
    clicks_per_impression: tuple[float, float, float]
    """Value and fixed 95 % interval (reader as the unit)."""
    clicks_per_user: tuple[float, float, float]

    def as_record(self) -> dict[str, object]:
        return {
            "arm": self.arm,
            "users": self.users,
            "impressions": self.impressions,
            "clicks": self.clicks,
            "clicks_per_impression": [_num(v) for v in self.clicks_per_impression],
            "clicks_per_user": [_num(v) for v in self.clicks_per_user],
        }


def _num(v: float) -> float | None:
    return round(v, 6) if math.isfinite(v) else None


@dataclass(frozen=True)
class Verdict:
    action: Action
    reasons: tuple[str, ...]
    experiment_id: str | None
    days: int = 0
    arms: tuple[ArmSummary, ...] = ()
    lifts: tuple[Lift, ...] = ()
    srm_p: float = math.nan
    shares: Mapping[str, float] = field(default_factory=dict)

    def primary(self) -> Lift | None:
        """The deciding lift (the challenger's over the champion on clicks per reader), if measured."""
        return next((x for x in self.lifts if x.treatment == "challenger" and x.metric == PRIMARY), None)

    def as_record(self) -> dict[str, object]:
        return {
            "action": self.action,
            "reasons": list(self.reasons),
            "experiment_id": self.experiment_id,
            "days": self.days,
            "shares": dict(self.shares),
            "arms": [a.as_record() for a in self.arms],
            "lifts": [x.as_record() for x in self.lifts],
            "srm_p": _num(self.srm_p),
        }


def _valid(row: UserDay, arms: Mapping[str, float]) -> str | None:
    values = (row.impressions, row.clicks, row.pre_clicks)
    if not all(isinstance(v, int | float) and math.isfinite(v) and v >= 0 for v in values):
        return "counts that are not finite non-negative numbers"
    if row.arm not in arms:
        return f"arm {row.arm!r:.30} not in the test"
    return None


@dataclass
class _Reader:
    arm: str
    clicks: float = 0.0
    impressions: float = 0.0
    pre: float = 0.0


def aggregate(experiment: Experiment, rows: Iterable[UserDay]) -> tuple[dict[str, Moments], set[str], list[str]]:
    """Per arm, the moments of each reader's (clicks, impressions, pre-test clicks) summed over the days;
    the days seen; what was wrong (rows of another test are skipped, not wrong)."""
    shares: dict[str, float] = experiment.shares()
    readers: dict[str, _Reader] = {}
    days: set[str] = set()
    problems: dict[str, int] = {}
    for row in rows:
        if row.experiment_id != experiment.experiment_id:
            continue
        why = _valid(row, shares)
        if why is None and row.user_id in readers and readers[row.user_id].arm != row.arm:
            why = "a reader in two arms"
        if why is not None:
            problems[why] = problems.get(why, 0) + 1
            continue
        days.add(row.day)
        r = readers.setdefault(row.user_id, _Reader(row.arm))
        r.clicks += row.clicks
        r.impressions += row.impressions
        r.pre = max(r.pre, row.pre_clicks)
    by_arm: dict[str, list[tuple[float, float, float]]] = {a: [] for a in shares}
    for r in readers.values():
        if r.impressions > 0:  # exposed: saw at least one story of a feed during the test
            by_arm[r.arm].append((r.clicks, r.impressions, r.pre))
    return {a: Moments.of(v) for a, v in by_arm.items()}, days, [f"{n} rows with {w}" for w, n in problems.items()]


def _summary(arm: str, m: Moments) -> ArmSummary:
    out = []
    for metric in ("clicks_per_impression", "clicks_per_user"):
        e = estimate(m, METRICS[metric])
        low, high = e.interval()
        out.append((e.value, low, high))
    return ArmSummary(arm, m.n, m.sy, m.sx, out[0], out[1])


def judge(experiment: Experiment, rows: Iterable[UserDay], settings: ExperimentSettings) -> Verdict:
    """The test's verdict today; total (see the module's docstring)."""
    eid = experiment.experiment_id
    if eid is None:
        return Verdict("no decision", ("no test is running",), None)
    moments, days, problems = aggregate(experiment, rows)
    shares: dict[str, float] = experiment.shares()
    if problems:
        why = "the exposure data is not usable: " + "; ".join(problems)
        return Verdict("no decision", (why,), eid, len(days), shares=shares)
    arms = tuple(_summary(a, m) for a, m in moments.items())
    names = list(moments)
    srm = sample_ratio_p([moments[a].n for a in names], [shares[a] for a in names])
    if not math.isfinite(srm):
        why = "no exposed readers in some arm, or a single arm"
        return Verdict("no decision", (why,), eid, len(days), arms, srm_p=srm, shares=shares)
    if srm < settings.srm_p:
        counts = ", ".join(f"{a} {moments[a].n} (expected {shares[a]:.1%})" for a in names)
        why = f"sample ratio mismatch: p = {srm:.2g} < {settings.srm_p:g} ({counts}); the arms are not comparable"
        return Verdict("blocked", (why,), eid, len(days), arms, srm_p=srm, shares=shares)
    lifts: list[Lift] = []
    pairs: list[tuple[Arm, Arm]] = [("champion", "control"), ("challenger", "champion")]
    for treatment, baseline in pairs:
        if treatment in moments and baseline in moments:
            for metric in ("clicks_per_user", "clicks_per_impression"):
                lifts.append(
                    lift(
                        metric,
                        (treatment, moments[treatment]),
                        (baseline, moments[baseline]),
                        alpha=settings.alpha,
                        tuned_n=2 * settings.expected_users_per_arm,
                    )
                )
    verdict = Verdict("wait", (), eid, len(days), arms, tuple(lifts), srm, shares)
    return _decide(verdict, moments, settings)


def _decide(v: Verdict, moments: Mapping[str, Moments], settings: ExperimentSettings) -> Verdict:
    primary = v.primary()
    if primary is None:
        return replace(v, reasons=("no challenger under test: the holdout is measured, nothing is decided",))
    small = [a for a in ("champion", "challenger") if moments[a].n < settings.min_users_per_arm]
    if v.days < settings.min_days or small:
        why = f"{v.days} of at least {settings.min_days} days" + (
            f"; fewer than {settings.min_users_per_arm} exposed readers in {', '.join(small)}" if small else ""
        )
        return replace(v, reasons=(f"waiting: {why}",))
    if not primary.defined:
        return replace(v, action="no decision", reasons=("the challenger's lift is undefined (no clicks?)",))
    low, high = primary.sequence
    said = (
        f"challenger vs champion, clicks per reader: {primary.lift:+.1%} "
        f"(always-valid {1 - settings.alpha:.0%} interval {low:+.1%} .. {high:+.1%})"
    )
    if low > 0:
        return replace(v, action="promote", reasons=(said, "the challenger is better"))
    if high < 0:
        return replace(v, action="retire", reasons=(said, "the challenger is worse"))
    if v.days >= settings.max_days:
        return replace(v, action="retire", reasons=(said, f"not shown better in {settings.max_days} days"))
    return replace(v, reasons=(said, "inconclusive so far"))
