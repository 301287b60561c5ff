"""Training use case: a new FULL solution version of the serving solution and of the popularity baseline.

The candidate goes to the slot of the serving solution that does not hold the serving version
(:mod:`shared.personalize.slots`), so the serving version stays its solution's latest and keeps
Personalize's automatic updates whatever is decided about the candidate; when what serves cannot be read,
the run is deferred rather than guessed. Both are created under one deterministic name (from the
schedule's time), so a retried invocation finds the versions the first one created (on the same slot, as
long as the campaign has not switched meanwhile). While imports are pending the run is deferred: a request
is stored and the monitor starts the training once the imports have settled.

Training that cannot succeed is refused by ``storyrec train`` before anything is created
(:func:`training_data_problem`): the export manifests in the import bucket are what Personalize has
(or will have) imported, so their interaction rows are counted against its documented minimums, and
the exported interaction files are read, newest first, until enough users qualify.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from shared.errors import NotReady
from shared.logs import get_logger
from shared.manifest import read_manifests
from shared.personalize.model import LimitExceeded, ResourceInUse, ResourceNotFound, Status, Throttled
from shared.personalize.names import training_name
from shared.personalize.slots import ServingState, choose_slot
from shared.personalize.stage import StageDeps, campaign_arn, ensure_datasets, ensure_solutions, pending_imports

_log = get_logger("personalize.training")


@dataclass
class TrainOutcome:
    name: str
    versions: dict[str, str] = field(default_factory=dict)
    """Solution version ARNs: ``main`` (the candidate, on the slot chosen) and ``baseline``."""
    deferred: str | None = None
    slot: str | None = None
    """The solution the candidate was trained on, and why (``<ARN>: <reason>``)."""


MIN_INTERACTIONS = 1000
MIN_USERS = 25
"""Personalize's documented minimums: 1,000 interactions and 25 users with at least 2 interactions each."""


def training_data_problem(deps: StageDeps) -> str | None:
    """Why the exported interactions are below Personalize's minimums, or None when training can succeed."""
    manifests = read_manifests(deps.bucket, deps.settings.import_prefix)
    # interactions are imported INCREMENTAL only (the manifest parser refuses FULL), so every day adds up
    specs = [d for m in manifests for d in m.datasets if d.dataset == "interactions"]
    rows = sum(d.rows for d in specs)
    if rows < MIN_INTERACTIONS:
        return (
            f"too few interactions to train: {rows} exported, Personalize needs at least {MIN_INTERACTIONS} "
            "(run `storyrec export` for more days, then `storyrec import`)"
        )
    per_user: Counter[str] = Counter()
    for spec in reversed(specs):  # newest first: stop as soon as enough users qualify
        for file in spec.files:
            reader = csv.DictReader(io.StringIO(deps.bucket.get_bytes(file.key).decode("utf-8")))
            per_user.update(row.get("USER_ID", "") for row in reader)
            if sum(1 for n in per_user.values() if n >= 2) >= MIN_USERS:
                return None
    qualified = sum(1 for n in per_user.values() if n >= 2)
    return (
        f"too few users to train: {qualified} with at least 2 interactions, Personalize needs {MIN_USERS} "
        "(export more days with `storyrec export`, then `storyrec import`)"
    )


def training_run_name(scheduled_at: datetime) -> str:
    """The versions' name for a run scheduled at ``scheduled_at`` (one per day: reruns that day reuse it)."""
    return training_name("storyrec", f"{scheduled_at:%Y%m%d}")


def train(deps: StageDeps, name: str) -> TrainOutcome:
    """Start (or find) the run's solution versions; defer while imports are pending or Personalize is busy.

    Callers that act for an operator check :func:`training_data_problem` first and
    :func:`failed_versions` after (the scheduled Lambda lets a version fail, as Personalize would, and
    the monitor alerts on it).
    """
    outcome = TrainOutcome(name)
    try:
        datasets = ensure_datasets(deps)
        solutions = ensure_solutions(deps, datasets.group_arn)
        pending = pending_imports(deps, datasets)
        if pending:
            return _defer(deps, outcome, f"{pending} import job(s) still pending")
        choice = choose_slot(solutions.slots, serving_state(deps))
        if choice.solution is None:
            return _defer(deps, outcome, choice.reason)
        outcome.slot = f"{choice.solution}: {choice.reason}"
        outcome.versions["main"] = deps.personalize.create_solution_version(choice.solution, name, "FULL")
        outcome.versions["baseline"] = deps.personalize.create_solution_version(solutions.baseline, name, "FULL")
    except (ResourceInUse, LimitExceeded, Throttled, NotReady) as exc:
        return _defer(deps, outcome, str(exc))
    deps.state.clear_training_request()
    deps.metrics.put("TrainingStarted")
    _log.info("training started", extra={"run": name, "versions": outcome.versions, "slot": outcome.slot})
    return outcome


def serving_state(deps: StageDeps) -> ServingState:
    """What the campaign serves (and an update's target), or why it cannot be read."""
    try:
        arn = campaign_arn(deps)
        try:
            campaign = deps.personalize.describe_campaign(arn) if arn else None
        except ResourceNotFound:  # listed, then deleted: nothing serves
            campaign = None
    except Exception as exc:  # any failure: the slot would be a guess, so the training waits (the reason says why)
        _log.warning("what the campaign serves could not be read", exc_info=True)
        return ServingState(unreadable=f"{type(exc).__name__}: {str(exc)[:200]}")
    if campaign is None:
        return ServingState()
    serving = [campaign.solution_version_arn]
    if campaign.latest_update is not None and campaign.latest_update.status.pending:
        serving.append(campaign.latest_update.solution_version_arn)
    return ServingState(tuple(v for v in serving if v))


def failed_versions(deps: StageDeps, outcome: TrainOutcome) -> dict[str, str]:
    """The outcome's versions that already failed (a rerun re-found them), role -> reason."""
    failed = {}
    for role, arn in outcome.versions.items():
        version = deps.personalize.describe_solution_version(arn)
        if version.status is Status.CREATE_FAILED:
            failed[role] = version.failure_reason or version.status.value
    return failed


def _defer(deps: StageDeps, outcome: TrainOutcome, reason: str) -> TrainOutcome:
    outcome.deferred = reason
    deps.state.request_training(outcome.name, reason)
    deps.metrics.put("TrainingDeferred")
    _log.info("training deferred", extra={"run": outcome.name, "reason": reason})
    return outcome
