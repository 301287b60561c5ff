"""Test-only faults of solution versions, armed by a file in the engine's state directory (never in AWS).

The simulation (docs/simulate.md, "Faults") needs versions that fail by themselves, whose metrics are
missing, that are worse than the version serving, or whose metrics overstate them, on demand. It arms
them by appending to ``<state dir>/injected-faults.json`` (a JSON list of ``{"solution": <solution name>,
"fault": <kind>}``); the next version of that solution to train takes the first entry for it (consumed: one
fault, one version; the metric faults only by a version that trained):

* ``fail``: the version ends ``CREATE FAILED`` with a reason naming the injection, before any training;
* ``no_metrics``: it trains, then ``GetSolutionMetrics`` answers no metrics;
* ``worse``: it trains, then every metric it reports is halved (below what a version trained on less
  data scored, which is what serves);
* ``overrated``: it trains, then every metric it reports is 1.0, its range's top (offline metrics that
  overstate the version: the offline rule admits it, and only the online test's readers can judge it).

Without the file nothing changes: the engine reads it only when a version starts training.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FILE = "injected-faults.json"
FAULTS = ("fail", "no_metrics", "worse", "overrated")
METRIC_FAULTS = ("no_metrics", "worse", "overrated")
"""Taken only by a version that trained (``fail`` is taken when a version starts)."""


def arm(state_dir: Path, solution: str, fault: str) -> None:
    """Queue ``fault`` for the next version of ``solution`` to train."""
    if fault not in FAULTS:
        raise ValueError(f"unknown injected fault {fault!r}; one of {FAULTS}")
    path = Path(state_dir) / FILE
    _write(path, [*_read(path), {"solution": solution, "fault": fault}])


def pending(state_dir: Path) -> list[dict[str, str]]:
    return _read(Path(state_dir) / FILE)


def take(state_dir: Path, solution: str, kinds: tuple[str, ...] = FAULTS) -> str | None:
    """The first fault of ``kinds`` queued for ``solution``, removed from the queue; None when there is none.

    Training takes ``fail`` when a version starts and the metric faults only once it trained, so a version
    that fails for want of data does not use up a fault meant for its metrics."""
    path = Path(state_dir) / FILE
    entries = _read(path)
    for i, entry in enumerate(entries):
        if entry.get("solution") == solution and entry.get("fault") in kinds:
            _write(path, entries[:i] + entries[i + 1 :])
            return str(entry["fault"])
    return None


def apply_to_metrics(fault: str | None, metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics a version reports under ``fault``."""
    if fault == "no_metrics":
        return {}
    if fault == "worse":
        return {k: v / 2 if isinstance(v, int | float) else v for k, v in metrics.items()}
    if fault == "overrated":  # every metric Personalize reports (coverage, MRR, NDCG, precision) lies in 0..1
        return {k: 1.0 if isinstance(v, int | float) else v for k, v in metrics.items()}
    return metrics


def _read(path: Path) -> list[dict[str, str]]:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [e for e in body if isinstance(e, dict)] if isinstance(body, list) else []


def _write(path: Path, entries: list[dict[str, str]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(entries), encoding="utf-8")
    os.replace(tmp, path)
