"""What every AWS-stage use case works with, and the Personalize resources they share."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from shared.config import Settings
from shared.logs import get_logger
from shared.personalize.model import SolutionSpec, Status
from shared.personalize.names import second_slot
from shared.personalize.port import PersonalizePort
from shared.personalize.state import StageState
from shared.ports import Clock, MetricsSink, Notifier, ObjectStore
from shared.retry import wait_until
from shared.schema import DATASET_TYPES, load_schema

_log = get_logger("personalize")
POPULARITY_RECIPE = "arn:aws:personalize:::recipe/aws-popularity-count"


@dataclass(frozen=True)
class StageDeps:
    """Ports, clock and settings of the AWS stage (built by ``functions_aws``'s wiring or a test)."""

    personalize: PersonalizePort
    bucket: ObjectStore
    notifier: Notifier
    metrics: MetricsSink
    clock: Clock
    settings: Settings
    settle_timeout: float = 60.0  # how long a use case waits for a new dataset group/dataset to be ACTIVE
    poll_interval: float = 1.0

    @property
    def state(self) -> StageState:
        return StageState(self.bucket, self.settings.aws_stage.state_prefix, self.clock)


@dataclass(frozen=True)
class Datasets:
    """The dataset group and its datasets, by type."""

    group_arn: str
    by_type: dict[str, str]


def _is_arn(value: str) -> bool:
    return value.startswith("arn:")


def _settled(status: Status) -> bool:
    return status.settled


def ensure_datasets(deps: StageDeps) -> Datasets:
    """Describe-or-create the dataset group, the schemas (from the Avro files) and the three datasets."""
    port, names = deps.personalize, deps.settings.personalize
    group = names.dataset_group if _is_arn(names.dataset_group) else port.ensure_dataset_group(names.dataset_group)
    datasets: dict[str, str] = {}
    for dataset_type in DATASET_TYPES:
        schema = load_schema(dataset_type)
        schema_arn = port.ensure_schema(schema.resource_name, schema.as_json())
        arn = port.ensure_dataset(group, dataset_type, schema_arn, f"storyrec-{dataset_type}")
        if port.dataset_status(arn) is not Status.ACTIVE:
            wait_until(
                partial(port.dataset_status, arn),
                _settled,
                timeout=deps.settle_timeout,
                interval=deps.poll_interval,
                what=f"dataset {arn}",
            )
        datasets[dataset_type] = arn
    return Datasets(group, datasets)


@dataclass(frozen=True)
class Solutions:
    """The serving solution's two slots (the configured one, then ``<name>-b``) and the popularity baseline."""

    slots: tuple[str, str]
    baseline: str


SLOT_LABELS = ("slot a", "slot b")
"""How status and the report name the two slots (the configured solution, then ``<name>-b``)."""


def slot_names(settings: Settings) -> tuple[str, str]:
    """The two slots as configured: the serving solution's name (or ARN) and its second slot's name."""
    solution = settings.personalize.solution
    return solution, second_slot(solution)


def ensure_solutions(deps: StageDeps, group_arn: str) -> Solutions:
    """Both slots of the serving solution (same recipe and configuration) and a popularity-count solution
    on the same data as the baseline; describe-or-create by name (a solution given by ARN is used as is)."""
    port, names, stage = deps.personalize, deps.settings.personalize, deps.settings.aws_stage

    def slot(name: str) -> str:
        spec = SolutionSpec(name, group_arn, names.recipe_arn, stage.perform_auto_training)
        return name if _is_arn(name) else port.ensure_solution(spec)

    first, second = slot_names(deps.settings)
    slots = (slot(first), slot(second))
    baseline = (
        stage.baseline_solution
        if _is_arn(stage.baseline_solution)
        else port.ensure_solution(
            SolutionSpec(stage.baseline_solution, group_arn, POPULARITY_RECIPE, stage.perform_auto_training)
        )
    )
    return Solutions(slots, baseline)


def find_slots(port: PersonalizePort, settings: Settings, group_arn: str | None) -> list[str]:
    """The ARNs of the slots that exist (read-only: nothing is created), first slot first."""
    found = []
    for name in slot_names(settings):
        arn = name if _is_arn(name) else port.find_arn("solution", name, group_arn) if group_arn else None
        if arn:
            found.append(arn)
    return found


def pending_imports(deps: StageDeps, datasets: Datasets) -> int:
    """Import jobs of the dataset group that Personalize has not finished."""
    return sum(
        1 for arn in datasets.by_type.values() for job in deps.personalize.list_import_jobs(arn) if job.status.pending
    )


def campaign_arn(deps: StageDeps) -> str | None:
    """The serving campaign's ARN, or None before the first promotion."""
    name = deps.settings.personalize.campaign
    return name if _is_arn(name) else deps.personalize.find_arn("campaign", name)
