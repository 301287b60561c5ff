"""What the demo shows at the end: the operator's HTML report and the summary tables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.table import Table

from infra.local.demo.context import DemoContext
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


def _promotion(decision: dict[str, Any]) -> Table:
    metrics = decision.get("metrics") or {}
    table = Table("metric", "candidate", "popularity baseline", title=f"promotion: {decision.get('action')}")
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
        tables.append(_promotion(f["decision"]))
    if f.get("showcase"):
        tables.append(_reads_beside_feed(f["showcase"]))
    return tables
