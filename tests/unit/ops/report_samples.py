"""Report data for tests: every section filled, or only what exists before the merge."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from shared.report.data import (
    ArmRow,
    DailyCount,
    ExperimentLook,
    ExportRun,
    FeedSnapshot,
    LiftRow,
    ReasonCount,
    ReportData,
    SolutionVersion,
)

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)


def full_report_data(seed: int = 1) -> ReportData:
    """Thirty days of everything, including the sections whose sources arrive later."""
    rng = random.Random(seed)
    days = [date(2026, 10, 31) + timedelta(days=n) for n in range(30)]
    mix = {"open": 500, "read": 330, "like": 80, "save": 35, "comment": 22}
    counts = tuple(DailyCount(d, t, int(n * rng.uniform(0.6, 1.4))) for d in days for t, n in mix.items())
    metrics = [(0.21, "kept"), (0.25, "serving"), (0.24, "kept"), (0.27, "promoted"), (0.0, "failed")]
    versions = tuple(
        SolutionVersion(
            name=f"v{i + 1}",
            created=NOW - timedelta(days=30 * (len(metrics) - i)),
            metrics={
                "normalized_discounted_cumulative_gain_at_10": m,
                "precision_at_10": m / 5,
                "mean_reciprocal_rank_at_25": m * 0.9,
                "coverage": 0.2 + i / 20,
            },
            decision=d,  # type: ignore[arg-type]
            reason=f"NDCG@10 {m:.2f}",
        )
        for i, (m, d) in enumerate(metrics)
    )
    return ReportData(
        project="demo-storyrec",
        generated_at=NOW,
        interactions_per_day=counts,
        quarantine=(ReasonCount("unknown_type", 1407), ReasonCount("unknown_story", 12), ReasonCount("csv_hostile", 3)),
        exports=tuple(
            ExportRun(d, f"export-{d:%Y%m%d}-abc", {"interactions": 960, "items": 3000, "users": 1800}, {"too_long": 1})
            for d in days
        ),
        solution_versions=versions,
        feeds=FeedSnapshot(1800, 1650, tuple(rng.uniform(0, 30) for _ in range(1650)), 3000, 870),
        experiments=(
            ExperimentLook(
                "test-v5-vs-v4", "promote", 12,
                (ArmRow("champion", 1240, 30100, 1420, 1.15, 0.047), ArmRow("challenger", 330, 8200, 470, 1.42, 0.057),
                 ArmRow("control", 85, 2000, 61, 0.72, 0.031)),
                (LiftRow("champion vs control, clicks_per_user", 0.6, 0.31, 0.93, 0.28),
                 LiftRow("challenger vs champion, clicks_per_user", 0.23, 0.08, 0.39, 0.31)),
                ("challenger vs champion, clicks per reader: +23.0%", "the challenger is better"),
                0.41,
            ),
        ),
        notes=("generated for a test",),
    )


def today_report_data() -> ReportData:
    """What exists before the merge: counts and exports; no solution versions, no feeds."""
    full = full_report_data()
    return ReportData(
        project=full.project,
        generated_at=NOW,
        interactions_per_day=full.interactions_per_day,
        quarantine=(),
        exports=full.exports,
    )
