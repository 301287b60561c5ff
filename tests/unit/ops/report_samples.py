"""Report data for tests: every section filled, or only what exists before the merge."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from shared.report.data import (
    Alert,
    ArmRow,
    DailyCount,
    ExperimentLook,
    ExportRun,
    FeedDay,
    FeedSnapshot,
    ImportRun,
    LiftRow,
    ReasonCount,
    ReportData,
    SimulatedArm,
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
        quarantine_per_day=tuple(DailyCount(d, "quarantined", rng.randint(0, 60)) for d in days),
        imports=tuple(
            ImportRun(d, dataset, "CREATE FAILED" if (d.day, dataset) == (3, "items") else "ACTIVE", f"imp-{d}")
            for d in days
            for dataset in ("interactions", "items", "users")
        ),
        alerts=(
            Alert(NOW - timedelta(days=12), "storyrec import failed: items 2026-11-03", "k1"),
            Alert(NOW - timedelta(days=2), "storyrec training: keep v5", "k2"),
        ),
        feed_days=tuple(
            FeedDay(d, 1800, 1200 + n, 500 - n, 40, 60 - n, 0.3, 0.55, 2.2) for n, d in enumerate(days)
        ),
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


def run_history(days: int, seed: int = 0) -> ReportData:
    """What a simulation's report holds after ``days`` days: every section, monthly trainings (one failed,
    one held then deployed, one kept), imports held on small days, a few alerts, a fill every morning."""
    rng = random.Random(seed)
    end = NOW.date() - timedelta(days=1)
    window = [end - timedelta(days=n) for n in range(days - 1, -1, -1)]
    counts = tuple(
        DailyCount(d, t, rng.randint(20, 200)) for d in window for t in ("open", "like") if rng.random() > 0.05
    )
    first_of_month = [d for d in window if d.day == 1]
    outcomes = ["failed", "serving", "kept", "promoted", "kept", "kept"]
    versions = tuple(
        SolutionVersion(
            f"v{i}",
            datetime(d.year, d.month, d.day, 3, tzinfo=UTC),
            {} if outcome == "failed" else {
                "normalized_discounted_cumulative_gain_at_10": rng.uniform(0.2, 0.6),
                "precision_at_10": rng.uniform(0.05, 0.1),
                "coverage": rng.uniform(0.1, 0.3),
            },
            outcome,  # type: ignore[arg-type]
            "not enough interactions" if outcome == "failed" else f"rule {i}",
        )
        for i, (d, outcome) in enumerate(zip(first_of_month, outcomes, strict=False))
    )
    imports = tuple(
        ImportRun(d, dataset, "ACTIVE", f"{dataset}-{d}")
        for i, d in enumerate(window)
        for dataset in ("interactions", "items", "users")
        if dataset != "interactions" or i % 6 == 5
    )
    alerts = tuple(
        Alert(datetime(d.year, d.month, d.day, 2, 30, tzinfo=UTC), f"storyrec export failed: {d} at check_date")
        for i, d in enumerate(window)
        if i % 7 == 4
    )
    return ReportData(
        project="sim",
        generated_at=NOW,
        interactions_per_day=counts,
        quarantine=(ReasonCount("unknown_story", 3 * days), ReasonCount("csv_hostile", days)),
        quarantine_per_day=tuple(DailyCount(d, "quarantined", 4) for d in window),
        exports=tuple(
            ExportRun(d, f"export-{d:%Y%m%d}", {"interactions": 100, "items": 300, "users": 40}) for d in window
        ),
        imports=imports,
        solution_versions=versions,
        feeds=FeedSnapshot(40, 38, tuple(rng.uniform(0, 30) for _ in range(38)), 300, 120),
        feed_days=tuple(
            FeedDay(d, 40, 30 if i > 30 else 0, 8 if i > 30 else 38, 2, 0, 0.2, 0.55, 2.1)
            for i, d in enumerate(window[1:])
        ),
        experiments=(),
        alerts=alerts,
        simulated_arms=(
            SimulatedArm("no test", "champion", 36, 1.2, 1.0, 1.4, None, None, None, 0.2, 2.1),
            SimulatedArm("no test", "control", 4, 0.9, 0.5, 1.3, None, None, None, 0.5, 2.1),
        ),
    )
