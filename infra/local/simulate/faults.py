"""Faults on a schedule, from a plan file (JSON): ``{"faults": [{"day": 2, "kind": "s3_event_dropped"}, ...]}``,
optionally ``"hostile_per_day": N`` and ``"hostile_impressions_per_day": N`` (hostile clicks and hostile
impressions at a steady rate, every day of the run).

``day`` is the 0-based simulated day whose night (export, import, feeds) or daytime (clicks) gets the fault;
``every`` (optional) repeats it every that many days. The kinds the run can inject (docs/simulate.md):
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KINDS: dict[str, str] = {
    "s3_event_duplicate": "the manifest's S3 event is delivered twice",
    "s3_event_dropped": "the manifest's S3 event is never delivered (the monitor's catch-up must import it)",
    "s3_event_reordered": "the previous night's S3 event is delivered again after tonight's",
    "s3_down_export": "S3 unreachable for the export's first delivery (Pub/Sub redelivers)",
    "gcs_down_export": "GCS unreachable for the export's first delivery (Pub/Sub redelivers)",
    "engine_down_feeds": "the Personalize engine unreachable during the feed fill",
    "firestore_down_export": "Firestore unreachable for the export's first delivery (Pub/Sub redelivers)",
    "engine_down_import": "the Personalize engine unreachable when the manifest's S3 event arrives",
    "overlapping_monitor_passes": "every monitor pass of the night runs twice at once",
    "story_deleted_during_fill": "a story in many feeds is deleted while the fill runs",
    "client_clock_skew": "devices 4 minutes ahead or 20 hours behind (within the contract) for the day's clicks",
    "firestore_down_capture": "Firestore unreachable for the first delivery of the day's first click (the trigger's "
    "retry redelivers)",
    "firestore_down_feeds": "Firestore unreachable for the feed fill's first delivery (Cloud Scheduler retries)",
    "firestore_down_stories": "Firestore unreachable for the first delivery of the day's first story change (the "
    "stories trigger's retry redelivers)",
    "firestore_down_users": "Firestore unreachable for the first delivery of the day's first user change (the users "
    "trigger's retry redelivers)",
    "firestore_down_first_feed": "Firestore unreachable for the first delivery of the day's first new-user feed (the "
    "trigger's retry redelivers)",
    "sns_down_export": "SNS unreachable for the export's first delivery (with another export fault that day, its "
    "failure alert is kept and sent by the redelivery)",
    "sns_down_aws": "SNS unreachable for the AWS stage's Lambdas until one fails to alert (the alert's marker is "
    "removed; the next pass or retry re-sends it once)",
    "sns_down_feeds": "SNS unreachable for the feed fill's first delivery (its degraded alert cannot be sent)",
    "held_file_expires": "the parts of the oldest held interactions day that still has them expire after the "
    "night's import (the bucket's lifecycle rule): reported lost once (when its group forms, or when its event "
    "is delivered again), re-exported by the operator",
    "version_fails": "the next main version to train fails by itself (the engine's injected fault)",
    "version_metrics_missing": "the next main version that trains reports no metrics",
    "version_worse": "the next main version that trains reports half its metrics (worse than what serves)",
    "version_overrated": "the next main version that trains reports 1.0 for every metric (the offline rule admits "
    "it; in promotion mode online the challenger test judges it by the readers)",
    "engine_down_training": "the Personalize engine unreachable for the monthly training's first delivery (no-op on "
    "a day without a training)",
}

EXPECTED_ALERTS: dict[str, str] = {
    "s3_down_export": "export failed",
    "gcs_down_export": "export failed",
    "engine_down_feeds": "feed fill degraded",
    "firestore_down_export": "export failed",
    "version_fails": "training failed",
}
"""The alert subject each fault must cause exactly once (on its day); a fault not listed must cause none."""

VERSION_FAULTS: dict[str, str] = {
    "version_fails": "fail",
    "version_metrics_missing": "no_metrics",
    "version_worse": "worse",
    "version_overrated": "overrated",
}
"""Armed on their day in the local engine (infra/local/personalize/injected.py), taken by the next training that
gets that far: their alert is expected on the day a training took them, not on the day they were armed."""

NOT_IN_DEFAULT_PLAN: dict[str, str] = {
    "version_overrated": "in the default promotion mode (offline) the rule would promote it with metrics no later "
    "version can beat; it is for runs in promotion mode online (tests/integration/simulate/test_challenger.py)",
}
"""Kinds the default plan leaves out, and why; it has every other kind at least once."""

DEFAULT_PLAN = Path(__file__).with_name("default_faults.json")


class PlanError(ValueError):
    """The plan file is not a plan."""


@dataclass(frozen=True)
class Fault:
    day: int
    kind: str
    every: int = 0

    def on(self, day: int) -> bool:
        if day < self.day:
            return False
        return day == self.day or (self.every > 0 and (day - self.day) % self.every == 0)


@dataclass(frozen=True)
class Plan:
    faults: list[Fault]
    hostile_per_day: int | None = None
    """Hostile clicks a day, at a steady rate from day 0 (None: the world's default)."""
    hostile_impressions_per_day: int | None = None
    """Hostile impressions a day (the capture corpus's cases in turn), likewise."""


def load_plan(path: Path | None) -> list[Fault]:
    """The faults of ``path`` (the default plan when None); PlanError names what is wrong."""
    return read_plan(path).faults


def read_plan(path: Path | None) -> Plan:
    """The plan of ``path`` (the default plan when None): its faults and its hostile-write rate."""
    source = path or DEFAULT_PLAN
    try:
        raw: Any = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PlanError(f"{source}: {exc}") from exc
    entries = raw.get("faults") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise PlanError(f'{source}: expected {{"faults": [...]}}')
    faults = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or entry.get("kind") not in KINDS:
            raise PlanError(f"{source}: fault {i}: kind must be one of {sorted(KINDS)}")
        day, every = entry.get("day"), entry.get("every", 0)
        if not isinstance(day, int) or day < 0 or not isinstance(every, int) or every < 0:
            raise PlanError(f"{source}: fault {i}: day and every must be non-negative integers")
        faults.append(Fault(day, str(entry["kind"]), every))
    rates = {}
    for name in ("hostile_per_day", "hostile_impressions_per_day"):
        rate = raw.get(name)
        if rate is not None and (not isinstance(rate, int) or isinstance(rate, bool) or rate < 0):
            raise PlanError(f"{source}: {name} must be a non-negative integer")
        rates[name] = rate
    return Plan(faults, **rates)


def active(faults: list[Fault], day: int) -> set[str]:
    return {f.kind for f in faults if f.on(day)}


def match_alerts(
    faults: set[str], alerts: list[str], explained: dict[str, str]
) -> tuple[list[str], list[str], list[str]]:
    """(faults without exactly one alert, alerts no fault and no known state explains, notes on the rest).

    ``explained`` maps an alert subject fragment to the state that explains it without a fault (e.g. the
    promotion decision's report, one per decision).
    """
    remaining = list(alerts)
    unmatched = []
    for kind in sorted(faults):
        fragment = EXPECTED_ALERTS.get(kind)
        if fragment is None:
            continue
        hits = [a for a in remaining if fragment in a]
        if len(hits) < 1:
            unmatched.append(f"{kind}: no '{fragment}' alert")
            continue
        remaining.remove(hits[0])
        if len(hits) > 1 and not any(fragment in e for e in explained):
            unmatched.append(f"{kind}: {len(hits)} '{fragment}' alerts")
    notes, unexplained = [], []
    for alert in remaining:
        why = next((state for fragment, state in explained.items() if fragment in alert), None)
        (notes if why else unexplained).append(f"{alert}: {why}" if why else alert)
    return unmatched, unexplained, notes
