"""``storyrec evaluate``: offline metrics of several recipes on the exported CSVs, side by side.

Before paying for a campaign (or a recipe change), train one solution version per recipe on the same
data and compare Personalize's own offline metrics (the same split for every recipe: held-out users'
newest interactions), the popularity baseline among them.

It talks to Personalize through the port, so it runs against any endpoint: the local engine
(``AWS_ENDPOINT_URL_PERSONALIZE`` from ``storyrec-dev stack env``: free, minutes) or Amazon
Personalize itself (training hours, no campaign). The data are the export's manifests in the import
bucket, imported into a scratch dataset group named after what it holds (``storyrec-eval-<hash>``),
so a rerun on the same exports reuses its imports and versions instead of paying again; ``--cleanup``
deletes the scratch group and everything in it once the metrics are read (:func:`remove_scratch_group`). Import
requests come from the import use case's own planner (:func:`shared.personalize.imports.plan_imports`):
every interactions file, and the items and users snapshots of the newest manifest only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

from shared.errors import StoryrecError
from shared.manifest import Manifest, manifest_keys, read_manifest
from shared.operate.bootstrap import retry_while_in_use
from shared.personalize.imports import plan_imports
from shared.personalize.model import ImportRequest, SolutionSpec, Status
from shared.personalize.names import safe_name
from shared.personalize.port import PersonalizePort
from shared.personalize.stage import Datasets, StageDeps
from shared.retry import wait_until
from shared.schema import DATASET_TYPES, load_schema

RECIPE_PREFIX = "arn:aws:personalize:::recipe/"
DEFAULT_RECIPES = ("aws-user-personalization", "aws-popularity-count", "aws-trending-now")
BASELINE = "aws-popularity-count"
VERSION_NAME = "evaluate"
SCRATCH_PREFIX = "storyrec-eval-"

Progress = Callable[[str, int, int], None]
"""``progress(phase, done, total)``: phases ``imports`` and ``training``."""


class EvaluationFailed(StoryrecError):
    """The evaluation could not run (no data, an import failed)."""


@dataclass(frozen=True)
class RecipeResult:
    recipe: str
    solution_version_arn: str
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    failure_reason: str | None = None


@dataclass(frozen=True)
class Evaluation:
    dataset_group_arn: str
    manifests: tuple[str, ...]
    results: tuple[RecipeResult, ...]

    def metric_names(self) -> list[str]:
        return sorted({m for r in self.results for m in r.metrics})

    def best(self, metric: str) -> str | None:
        """The recipe with the highest value of ``metric`` (None if no recipe has it)."""
        scored = [(r.metrics[metric], r.recipe) for r in self.results if metric in r.metrics]
        return max(scored)[1] if scored else None

    def beats_baseline(self, recipe: str, metric: str) -> bool | None:
        """Whether ``recipe`` beats the popularity baseline on ``metric`` (None without both values)."""
        values = {r.recipe: r.metrics.get(metric) for r in self.results}
        mine, base = values.get(recipe), values.get(BASELINE)
        return None if mine is None or base is None else mine > base


def recipe_arn(recipe: str) -> str:
    """``aws-user-personalization`` or a full recipe ARN → the ARN."""
    return recipe if recipe.startswith("arn:") else RECIPE_PREFIX + recipe


def recipe_label(arn_or_name: str) -> str:
    return arn_or_name.rsplit("/", 1)[-1]


def scratch_group_name(manifests: Sequence[Manifest]) -> str:
    """One scratch dataset group per set of exports (by run id), so a rerun reuses it."""
    digest = hashlib.sha256("|".join(sorted(m.run_id for m in manifests)).encode()).hexdigest()[:12]
    return f"{SCRATCH_PREFIX}{digest}"


def evaluate(
    deps: StageDeps,
    recipes: Sequence[str] = DEFAULT_RECIPES,
    keys: Sequence[str] | None = None,
    *,
    timeout: float = 3600.0,
    progress: Progress | None = None,
) -> Evaluation:
    """Import the manifests' data into a scratch dataset group, train one version per recipe, read the metrics."""
    report: Progress = progress or (lambda phase, done, total: None)
    keys = list(keys) if keys is not None else manifest_keys(deps.bucket, deps.settings.import_prefix)
    if not keys:
        raise EvaluationFailed(f"no export manifest in s3://{deps.bucket.bucket}/{deps.settings.import_prefix}")
    manifests = [read_manifest(deps.bucket, k) for k in keys]
    port, interval = deps.personalize, deps.poll_interval
    group_name = scratch_group_name(manifests)
    group = port.ensure_dataset_group(group_name)
    datasets = _datasets(deps, group, group_name, timeout)
    requests = _import_requests(deps, manifests, datasets)
    _run_imports(deps, datasets, requests, timeout, report)
    versions: dict[str, str] = {}
    for recipe in recipes:
        label = recipe_label(recipe)
        spec = SolutionSpec(safe_name(f"{group_name}-{label}"), group, recipe_arn(recipe))
        solution = retry_while_in_use(timeout, interval, partial(port.ensure_solution, spec))
        versions[label] = retry_while_in_use(
            timeout, interval, partial(port.create_solution_version, solution, VERSION_NAME, "FULL")
        )
    results = _await_versions(deps, versions, timeout, report)
    return Evaluation(group, tuple(keys), results)


def _datasets(deps: StageDeps, group: str, group_name: str, timeout: float) -> Datasets:
    port = deps.personalize
    by_type: dict[str, str] = {}
    for dataset_type in DATASET_TYPES:
        schema = load_schema(dataset_type)
        schema_arn = port.ensure_schema(schema.resource_name, schema.as_json())
        arn = retry_while_in_use(
            timeout,
            deps.poll_interval,
            partial(port.ensure_dataset, group, dataset_type, schema_arn, safe_name(f"{group_name}-{dataset_type}")),
        )
        status = wait_until(
            partial(port.dataset_status, arn), lambda s: s.settled, timeout=timeout, interval=deps.poll_interval
        )
        if status is not Status.ACTIVE:
            raise EvaluationFailed(f"scratch dataset {arn} is {status.value}")
        by_type[dataset_type] = arn
    return Datasets(group, by_type)


def _import_requests(deps: StageDeps, manifests: Sequence[Manifest], datasets: Datasets) -> list[ImportRequest]:
    """Every interactions file; the FULL snapshots of the newest manifest only (older ones it replaces)."""
    newest = max(manifests, key=lambda m: m.day)
    requests: list[ImportRequest] = []
    bucket, role = deps.bucket.bucket, deps.settings.personalize.import_role_arn
    for manifest in manifests:
        if manifest is not newest:
            requests += plan_imports(_incremental_only(manifest), datasets, bucket, role, {})[0]
            continue
        listed: dict[str, int] = {}
        for spec in manifest.datasets:
            for folder in {f.key.rsplit("/", 1)[0] + "/" for f in spec.files if spec.import_mode == "FULL"}:
                listed.update({o.key: o.size for o in deps.bucket.list(folder)})
        requests += plan_imports(manifest, datasets, bucket, role, listed)[0]
    return requests


def _incremental_only(manifest: Manifest) -> Manifest:
    return replace(manifest, datasets=tuple(d for d in manifest.datasets if d.import_mode == "INCREMENTAL"))


def _run_imports(
    deps: StageDeps, datasets: Datasets, requests: list[ImportRequest], timeout: float, report: Progress
) -> None:
    """Start every job (at most ``max_pending_imports`` pending at once), then wait for all; a failure stops."""
    port = deps.personalize
    limit = deps.settings.aws_stage.max_pending_imports

    def jobs() -> dict[str, Status]:
        return {j.name: j.status for arn in datasets.by_type.values() for j in port.list_import_jobs(arn)}

    def finished(states: dict[str, Status]) -> int:
        return sum(1 for r in requests if r.job_name in states and states[r.job_name].settled)

    def slot_for(name: str) -> Callable[[dict[str, Status]], bool]:
        return lambda s: name in s or sum(x.pending for x in s.values()) < limit

    for request in requests:
        states = wait_until(
            jobs, slot_for(request.job_name), timeout=timeout, interval=deps.poll_interval, what="a free import slot"
        )
        if request.job_name not in states:
            port.start_import(request)
        report("imports", finished(states), len(requests))

    def all_settled(states: dict[str, Status]) -> bool:
        report("imports", finished(states), len(requests))
        return finished(states) == len(requests)

    states = wait_until(jobs, all_settled, timeout=timeout, interval=deps.poll_interval, what="imports")
    failed = [name for name in (r.job_name for r in requests) if states[name].failed]
    if failed:
        reasons = {
            j.name: j.failure_reason
            for arn in datasets.by_type.values()
            for j in port.list_import_jobs(arn)
            if j.name in failed
        }
        raise EvaluationFailed(f"import jobs failed: {reasons}")


def _await_versions(
    deps: StageDeps, versions: dict[str, str], timeout: float, report: Progress
) -> tuple[RecipeResult, ...]:
    port = deps.personalize

    def states() -> dict[str, Status]:
        return {label: port.describe_solution_version(arn).status for label, arn in versions.items()}

    def done(current: dict[str, Status]) -> bool:
        settled = sum(s.settled for s in current.values())
        report("training", settled, len(versions))
        return settled == len(versions)

    final = wait_until(states, done, timeout=timeout, interval=deps.poll_interval, what="solution versions")
    results = []
    for label, arn in versions.items():
        status = final[label]
        if status is Status.ACTIVE:
            results.append(RecipeResult(label, arn, status.value, port.solution_metrics(arn)))
        else:
            reason = port.describe_solution_version(arn).failure_reason
            results.append(RecipeResult(label, arn, status.value, {}, reason))
    return tuple(results)


def remove_scratch_group(deps: StageDeps, group_arn: str, *, timeout: float = 3600.0) -> list[str]:
    """Delete an evaluation's scratch dataset group with its filters, solutions and datasets; the ARNs deleted.

    Refuses any group that is not a scratch group (by name) or is the serving one, and any whose
    solution serves a campaign. Schemas are shared by name with the serving group and stay.
    """
    port, interval = deps.personalize, deps.poll_interval
    name = group_arn.rsplit("/", 1)[-1]
    if not name.startswith(SCRATCH_PREFIX) or name == deps.settings.personalize.dataset_group:
        raise EvaluationFailed(f"{group_arn} is not an evaluation's scratch dataset group; refusing to delete it")
    solutions = port.list_arns("solution", group_arn)
    serving = [c for s in solutions for c in port.list_arns("campaign", s)]
    if serving:
        raise EvaluationFailed(f"{group_arn} serves campaign(s) {serving}; refusing to delete it")
    deleted: list[str] = []
    for kind in ("filter", "solution", "dataset"):
        for arn in port.list_arns(kind, group_arn):
            retry_while_in_use(timeout, interval, partial(_delete, port, kind, arn))
            deleted.append(arn)
    # Deletes are asynchronous in Personalize: the group refuses (ResourceInUse) until its children are gone.
    retry_while_in_use(timeout, interval, partial(_delete, port, "dataset_group", group_arn))
    wait_until(
        lambda: port.find_arn("dataset_group", name) is None, bool, timeout=timeout, interval=interval, what=name
    )
    return [*deleted, group_arn]


def _delete(port: PersonalizePort, kind: str, arn: str) -> str:
    port.delete(kind, arn)
    return arn
