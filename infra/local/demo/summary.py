"""What the demo shows at the end: the operator's HTML report and the summary tables."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.table import Table

from infra.local.demo.context import DemoContext
from infra.local.demo.data import DemoData
from infra.local.stack import REPO_ROOT
from shared.personalize.metrics import metric_label, metric_order

STAGE_COUNTS = (
    ("stories published", "stories"),
    ("users", "users"),
    ("clicks accepted by the rules", "clicks_accepted"),
    ("clicks refused by the rules", "clicks_refused"),
    ("items captured", "ml_items"),
    ("users captured", "ml_users"),
    ("interactions captured", "interactions"),
    ("clicks quarantined", "quarantined"),
)
"""The rows of the counts table: (label, key of ``ctx.facts``)."""


def step_report(ctx: DemoContext) -> str:
    """``storyrec report``: the operator's HTML report, written by the real command."""
    out = ctx.work / "storyrec-report.html"
    command = [str(Path(sys.executable).with_name("storyrec")), "report", "--out", str(out), "--days", "7"]
    env = {**os.environ, **ctx.env}
    done = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"storyrec report failed ({done.returncode}): {done.stderr[-1500:]}")
    ctx.facts["report"] = str(out)
    return f"{out} ({out.stat().st_size / 1000:.0f} kB)"


def _stage_counts(f: dict[str, Any]) -> Table:
    stages = Table("stage", "count", title="counts per stage")
    for label, key in STAGE_COUNTS:
        if key in f:
            stages.add_row(label, str(f[key]))
    for name, rows in (f.get("exported") or {}).items():
        stages.add_row(f"exported {name}", str(rows))
    if "import_jobs" in f:
        stages.add_row("import jobs", str(f["import_jobs"]))
    return stages


def _quarantine(reasons: dict[str, int]) -> Table:
    table = Table("reason", "clicks", title="quarantined by capture")
    for reason, count in sorted(reasons.items()):
        table.add_row(reason, str(count))
    return table


def scored_of(per_reader: Iterable[int]) -> tuple[int, int]:
    """(readers the engine's metrics score, readers eligible) among readers with these interaction counts: 10% of
    those with 10+ interactions, as the local engine draws them (infra/local/personalize/metrics.py, Personalize's
    documented protocol)."""
    from infra.local.personalize.metrics import MAX_TEST_USERS, MIN_INTERACTIONS, TEST_USER_FRACTION

    eligible = sum(1 for n in per_reader if n >= MIN_INTERACTIONS)
    return (min(MAX_TEST_USERS, max(1, round(eligible * TEST_USER_FRACTION))) if eligible else 0), eligible


def scored_readers(data: DemoData) -> tuple[int, int]:
    """:func:`scored_of` the demo's readers (their clicks the engine keeps)."""
    return scored_of(Counter(c.user for c in data.clicks if c.type != "follow" and c.story in data.stories).values())


def metrics_caption(scored: tuple[int, int]) -> str:
    """How many readers the offline metrics rest on, and what they measure (:func:`scored_of`)."""
    return (
        f"Offline metrics on {scored[0]} readers (10% of the {scored[1]} with 10+ interactions): each one's "
        "newest 10% of interactions held out. They include stories the reader had already opened "
        "(Personalize's protocol), which a model that repeats a reader's stories finds; feeds never "
        "show read stories. Few readers: a rough signal, not a benchmark (docs/BENCHMARKS.md)."
    )


def _promotion(decision: dict[str, Any], scored: tuple[int, int] | None = None) -> Table:
    metrics = decision.get("metrics") or {}
    caption = metrics_caption(scored) if scored is not None else None
    table = Table(
        "metric",
        "candidate",
        "popularity baseline",
        title=f"promotion: {decision.get('action')}",
        caption=caption,
        caption_justify="left",
    )
    for name in sorted(metrics.get("candidate") or {}, key=metric_order):
        base = (metrics.get("baseline") or {}).get(name)
        table.add_row(metric_label(name), f"{metrics['candidate'][name]:.4f}", "-" if base is None else f"{base:.4f}")
    return table


def _reads_beside_feed(show: dict[str, Any]) -> Table:
    table = Table("recent reads", "new feed", title=f"user {show['user']}")
    reads, feed = show["reads"], show["feed"]
    for i in range(max(len(reads), len(feed))):
        table.add_row(reads[i] if i < len(reads) else "", feed[i] if i < len(feed) else "")
    return table


def summary_tables(ctx: DemoContext) -> list[Table]:
    """Counts per stage, quarantine, metrics against the baseline, one user's reads beside their feed."""
    f = ctx.facts
    tables = [_stage_counts(f)]
    if f.get("quarantine_reasons"):
        tables.append(_quarantine(f["quarantine_reasons"]))
    if f.get("decision"):
        tables.append(_promotion(f["decision"], scored_readers(ctx.data)))
    if f.get("showcase"):
        tables.append(_reads_beside_feed(f["showcase"]))
    return tables
