"""Training use case: a new FULL solution version of the serving solution and of the popularity baseline.

Both are created under one deterministic name (from the schedule's time), so a retried invocation
finds the versions the first one created. While imports are pending the run is deferred: a request
is stored and the monitor starts the training once the imports have settled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shared.errors import NotReady
from shared.logs import get_logger
from shared.personalize.model import LimitExceeded, ResourceInUse, Throttled
from shared.personalize.names import training_name
from shared.personalize.stage import StageDeps, ensure_datasets, ensure_solutions, pending_imports

_log = get_logger("personalize.training")


@dataclass
class TrainOutcome:
    name: str
    versions: dict[str, str] = field(default_factory=dict)
    """Solution version ARNs: ``main`` and ``baseline``."""
    deferred: str | None = None


def training_run_name(scheduled_at: datetime) -> str:
    """The versions' name for a run scheduled at ``scheduled_at`` (one per day: reruns that day reuse it)."""
    return training_name("storyrec", f"{scheduled_at:%Y%m%d}")


def train(deps: StageDeps, name: str) -> TrainOutcome:
    """Start (or find) the run's solution versions; defer while imports are pending or Personalize is busy."""
    outcome = TrainOutcome(name)
    try:
        datasets = ensure_datasets(deps)
        solutions = ensure_solutions(deps, datasets.group_arn)
        pending = pending_imports(deps, datasets)
        if pending:
            return _defer(deps, outcome, f"{pending} import job(s) still pending")
        outcome.versions["main"] = deps.personalize.create_solution_version(solutions.main, name, "FULL")
        outcome.versions["baseline"] = deps.personalize.create_solution_version(solutions.baseline, name, "FULL")
    except (ResourceInUse, LimitExceeded, Throttled, NotReady) as exc:
        return _defer(deps, outcome, str(exc))
    deps.state.clear_training_request()
    deps.metrics.put("TrainingStarted")
    _log.info("training started", extra={"run": name, "versions": outcome.versions})
    return outcome


def _defer(deps: StageDeps, outcome: TrainOutcome, reason: str) -> TrainOutcome:
    outcome.deferred = reason
    deps.state.request_training(outcome.name, reason)
    deps.metrics.put("TrainingDeferred")
    _log.info("training deferred", extra={"run": outcome.name, "reason": reason})
    return outcome
