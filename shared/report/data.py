"""What the report shows, as plain typed data. Sources fill it; :mod:`shared.report.render` draws it.

A section that is ``None`` has no data source yet (the renderer says so); an empty tuple means the
source exists and had nothing to report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from shared.operate.status import ReasonCount

__all__ = [
    "Alert", "DailyCount", "Decision", "ExperimentLook", "ExportRun", "FeedDay", "FeedSnapshot", "ImportRun",
    "ReasonCount", "ReportData", "SimulatedArm", "SolutionVersion",
]

Decision = Literal["promoted", "kept", "serving", "failed", "held", "pending", "training", "testing", "retired"]
"""``held``: the promotion step held it for an operator (manual mode); ``pending``: trained, not decided yet;
``training``: still training; ``failed``: its training or its campaign update failed."""


@dataclass(frozen=True)
class DailyCount:
    """Interactions of one type on one day (by TIMESTAMP, in the configured time zone)."""

    day: date
    event_type: str
    count: int


@dataclass(frozen=True)
class ExportRun:
    """One export, from its manifest."""

    day: date
    run_id: str
    rows: dict[str, int]
    rejected: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportRun:
    """One dataset import job, by the export day it imports (its name's; a foreign job: the day it started)."""

    day: date
    dataset: str
    status: str
    """Personalize's: ACTIVE (imported), CREATE PENDING / CREATE IN_PROGRESS, CREATE FAILED."""
    name: str = ""


@dataclass(frozen=True)
class Alert:
    """One alert the AWS stage sent (its marker in the stage's state)."""

    sent_at: datetime | None
    subject: str
    key: str = ""


@dataclass(frozen=True)
class SolutionVersion:
    """A trained solution version, its offline metrics and what the promotion step decided."""

    name: str
    created: datetime
    metrics: dict[str, float]
    decision: Decision
    reason: str = ""


@dataclass(frozen=True)
class FeedSnapshot:
    """Feeds at report time: how many users have one, how old they are, how much of the catalogue they use."""

    users_total: int
    users_with_feed: int
    ages_hours: tuple[float, ...]
    """Age of each feed (now minus its last refresh)."""
    items_total: int
    items_in_feeds: int
    stale_ages_hours: tuple[float, ...] = ()
    """Ages of the feeds marked stale (kept after a failed refresh); they are also in ``ages_hours``."""
    active_days: int | None = None
    """The fill refreshes the feeds of readers active in this many days (``STORYREC_FEED_ACTIVE_DAYS``)."""


@dataclass(frozen=True)
class FeedDay:
    """One day's feed fill (only a simulation keeps these: a deployment keeps the newest feed per reader, not
    a history of fills). Expected clicks per look are the generator's, for the served feed, the plain
    "latest" list and the oracle feed (``None``: not measured that day)."""

    day: date
    readers: int
    personalized: int
    popular: int
    stale: int
    missing: int
    expected_feed: float | None = None
    expected_latest: float | None = None
    expected_oracle: float | None = None


@dataclass(frozen=True)
class ArmRow:
    arm: str
    readers: int
    impressions: float
    clicks: float
    clicks_per_reader: float | None
    clicks_per_impression: float | None


@dataclass(frozen=True)
class LiftRow:
    label: str
    """e.g. ``challenger vs champion, clicks_per_user``"""
    lift: float | None
    low: float | None
    """Always-valid interval (what decides)."""
    high: float | None
    cuped_reduction: float | None


@dataclass(frozen=True)
class ExperimentLook:
    """An online test's latest look: its arms' exposure, the lifts with their intervals, the verdict."""

    experiment_id: str
    action: str
    days: int
    arms: tuple[ArmRow, ...]
    lifts: tuple[LiftRow, ...]
    reasons: tuple[str, ...] = ()
    srm_p: float | None = None


@dataclass(frozen=True)
class SimulatedArm:
    """A simulation's arm (``storyrec-dev simulate``): clicks-from-feed per exposed reader measured from the
    readers' ground truth, its lift over control, and the expected clicks per look of the arm's feeds beside
    the oracle's (the upper bound, known only to the generator). ``None``: no data."""

    test: str
    arm: str
    readers: int
    clicks_per_reader: float | None
    low: float | None
    high: float | None
    lift: float | None
    lift_low: float | None
    lift_high: float | None
    expected_served: float | None
    expected_oracle: float | None


@dataclass(frozen=True)
class ReportData:
    """Everything one report renders."""

    project: str
    generated_at: datetime
    interactions_per_day: tuple[DailyCount, ...] | None = None
    quarantine: tuple[ReasonCount, ...] | None = None
    exports: tuple[ExportRun, ...] | None = None
    solution_versions: tuple[SolutionVersion, ...] | None = None
    feeds: FeedSnapshot | None = None
    experiments: tuple[ExperimentLook, ...] | None = None
    notes: tuple[str, ...] = ()
    simulated_arms: tuple[SimulatedArm, ...] | None = None
    """Only a simulation fills it (a deployment has no oracle): the section is left out when None."""
    quarantine_per_day: tuple[DailyCount, ...] | None = None
    """Quarantined documents per day (``event_type``: ``quarantined``), by ``quarantined_at``."""
    imports: tuple[ImportRun, ...] | None = None
    alerts: tuple[Alert, ...] | None = None
    feed_days: tuple[FeedDay, ...] | None = None
    """Only a simulation fills it (from its ledger); without it the feeds section is the snapshot alone."""
