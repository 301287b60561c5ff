"""Promotion mode ``online`` (docs/experiment.md): the test a version the offline rule admitted goes through.

The monitor reads the test's daily exposure files from the import bucket, judges them
(:func:`shared.experiment.verdict.judge`), and on ``promote`` or ``retire`` acts once, as for an offline
decision: the verdict is claimed create-only, the decision record is rewritten with the test in it, one
report goes out and one ``PromotionDecision`` datum. A sample-ratio mismatch blocks the decision and
alerts once per test; between looks the latest verdict is kept for ``storyrec status`` and the report.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from shared.config import Settings
from shared.experiment.assign import Experiment, experiment_for
from shared.experiment.exposure import from_csv
from shared.experiment.verdict import UserDay, Verdict
from shared.ports import ObjectInfo, ObjectStore

_DAY_FILE = re.compile(r"/\d{4}-\d{2}-\d{2}\.csv$")


def experiment(settings: Settings, champion: str | None, challenger: str | None) -> Experiment:
    """The test running while ``champion`` serves and ``challenger`` is under test (what the fill assigns by)."""
    e = settings.experiment
    return experiment_for(champion, challenger, e.control_share, e.challenger_share)


def exposure_prefix(settings: Settings) -> str:
    return settings.import_prefix + settings.experiment.aggregate_prefix


def day_files(store: ObjectStore, settings: Settings, experiment_id: str) -> list[ObjectInfo]:
    """A test's day files so far, oldest first (not the pre-test counts kept next to them)."""
    found = store.list(f"{exposure_prefix(settings)}{experiment_id}/")
    return sorted((i for i in found if _DAY_FILE.search(i.key)), key=lambda i: i.key)


def fingerprint(files: list[ObjectInfo]) -> str:
    """What a look read: a new or rewritten day file changes it (the look is then made again)."""
    return hashlib.sha256("\n".join(f"{i.key}:{i.size}:{i.etag}" for i in files).encode()).hexdigest()[:16]


def load_exposure(
    store: ObjectStore, settings: Settings, experiment_id: str, files: list[ObjectInfo] | None = None
) -> list[UserDay]:
    """Every day of a test's exposure written so far (one small CSV per day)."""
    rows: list[UserDay] = []
    for info in files if files is not None else day_files(store, settings, experiment_id):
        rows += from_csv(store.get_bytes(info.key), experiment_id)
    return rows


def _pct(v: float | None) -> str:
    return f"{v:+.1%}" if isinstance(v, float) and math.isfinite(v) else "-"


def verdict_table(verdict: Verdict | dict[str, Any]) -> str:
    """Arms, exposure, lifts with their intervals, as fixed-width text for the SNS report and the CLI."""
    record: dict[str, Any] = verdict.as_record() if isinstance(verdict, Verdict) else verdict
    lines = [f"Test {record.get('experiment_id')}: {record.get('action')} after {record.get('days')} day(s)"
             f" (sample-ratio p = {record.get('srm_p')})"]
    head = ("arm", "readers", "impressions", "clicks", "clicks/impr", "clicks/reader")
    lines.append(f"{head[0]:<11} {head[1]:>8} {head[2]:>12} {head[3]:>8} {head[4]:>12} {head[5]:>14}")
    for a in record.get("arms") or []:
        cpi, cpu = a.get("clicks_per_impression") or [None], a.get("clicks_per_user") or [None]
        lines.append(
            f"{a.get('arm', '?'):<11} {a.get('users', 0):>8} {a.get('impressions', 0):>12.0f}"
            f" {a.get('clicks', 0):>8.0f} {_num(cpi[0]):>12} {_num(cpu[0]):>14}"
        )
    for x in record.get("lifts") or []:
        low, high = (x.get("always_valid_interval") or [None, None])[:2]
        f_low, f_high = (x.get("interval_95") or [None, None])[:2]
        lines.append(
            f"{x.get('treatment')} vs {x.get('baseline')}, {x.get('metric')}: {_pct(x.get('lift'))} "
            f"(always-valid {_pct(low)} .. {_pct(high)}; 95 % {_pct(f_low)} .. {_pct(f_high)}; "
            f"CUPED variance reduction {_share(x.get('cuped_variance_reduction'))})"
        )
    lines += [f"- {r}" for r in record.get("reasons") or []]
    return "\n".join(lines)


def _share(v: object) -> str:
    return f"{v:.0%}" if isinstance(v, float) and math.isfinite(v) else "-"


def _num(v: object) -> str:
    return f"{v:.4f}" if isinstance(v, float) and math.isfinite(v) else "-"
