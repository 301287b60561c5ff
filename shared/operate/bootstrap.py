"""``storyrec bootstrap``: every Personalize resource from one config file, describe-or-create.

The file (``infra/personalize/resources.json``) names the dataset group, the serving and baseline
solutions (recipes, auto-training), the campaign and the filters (the serving solution gets a second slot,
``<name>-b``, with the same recipe and configuration: docs/aws.md, "Two solution slots"); the schemas and
datasets come from the Avro files (:mod:`shared.schema`). It is checked offline against the Personalize
service model (the request each create would send: types, lengths, name patterns) before anything is
called, and its names must agree with the settings the functions run with, or they would look for something else.

:func:`plan` only describes (what exists, what would be created); :func:`apply` creates what is
missing through the port's describe-or-create, so a second run changes nothing. The campaign is
never created here: it needs a trained, evaluated version, and the first promotion creates it
(the monitor, or ``storyrec promote``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Literal

from shared.adapters.personalize import metric_attribution_request, solution_request
from shared.config import Settings
from shared.errors import ConfigError, StoryrecError
from shared.limits import EVENT_TYPES, RESOURCE_NAME_MAX_CHARS
from shared.limits import VALID_RESOURCE_NAME as VALID_NAME
from shared.personalize.model import (
    MetricAttributionSpec,
    MetricSpec,
    PersonalizeError,
    ResourceInUse,
    SolutionSpec,
    Status,
)
from shared.personalize.names import second_slot
from shared.personalize.port import PersonalizePort
from shared.recommend.campaign import feed_filter_spec
from shared.retry import wait_until
from shared.schema import DATASET_TYPES, load_schema

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "infra" / "personalize" / "resources.json"
SUPPORTED_FORMATS = ("1",)
_PLACEHOLDER_ARN = "arn:aws:personalize:us-east-1:000000000000:placeholder/x"
_PLACEHOLDER_ROLE = "arn:aws:iam::000000000000:role/placeholder"
_ATTRIBUTION_EXPRESSION = re.compile(
    r"^(SAMPLECOUNT\(\)|SUM\((DatasetType\.)?(Interactions|Items|INTERACTIONS|ITEMS)\.[A-Z0-9_]+\))$"
)
ROLE_SETTING = "STORYREC_PERSONALIZE_ROLE_ARN"

Action = Literal["exists", "create", "created", "deferred", "given"]
"""exists: found by name; create: would be created (dry run); created: created now;
deferred: made later by another step (the campaign); given: configured as an ARN, not managed here."""


@dataclass(frozen=True)
class SolutionConfig:
    name: str
    recipe_arn: str
    perform_auto_training: bool = False
    event_weights: dict[str, float] = field(default_factory=dict)

    def spec(self, dataset_group_arn: str) -> SolutionSpec:
        """The solution to create in ``dataset_group_arn``."""
        return SolutionSpec(
            self.name, dataset_group_arn, self.recipe_arn, self.perform_auto_training, dict(self.event_weights)
        )


def second_slot_config(serving: SolutionConfig, solution: str) -> SolutionConfig:
    """The serving solution's second slot: the same recipe and configuration under ``<name>-b``
    (``solution``: the configured name, or the ARN of a solution given by ARN)."""
    return replace(serving, name=second_slot(solution))


@dataclass(frozen=True)
class FilterConfig:
    name: str
    expression: str


@dataclass(frozen=True)
class AttributionConfig:
    """The metric attribution: its metrics, and where under the import bucket its reports go."""

    name: str
    output_prefix: str
    metrics: tuple[MetricSpec, ...]

    def spec(self, dataset_group_arn: str, settings: Settings) -> MetricAttributionSpec | None:
        """The attribution to create (None without the role Personalize writes the report with)."""
        role = settings.personalize.import_role_arn
        if not role:
            return None
        path = f"s3://{settings.import_bucket}/{settings.import_prefix}{self.output_prefix}"
        return MetricAttributionSpec(self.name, dataset_group_arn, self.metrics, path, role)


@dataclass(frozen=True)
class ResourcesConfig:
    """The parsed config file."""

    dataset_group: str
    datasets: tuple[str, ...]
    serving: SolutionConfig
    baseline: SolutionConfig
    campaign: str
    min_tps: int
    filters: tuple[FilterConfig, ...] = ()
    attribution: AttributionConfig | None = None


@dataclass(frozen=True)
class Step:
    """One resource of the plan and what bootstrap does (or did) about it."""

    kind: str
    name: str
    action: Action
    arn: str | None = None
    detail: str = ""


def load_config(path: Path) -> ResourcesConfig:
    """Read and check the config file; ConfigError names the first problem."""
    try:
        body: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such config file") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not UTF-8 JSON: {exc}") from exc
    try:
        return parse_config(body)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def parse_config(body: Any) -> ResourcesConfig:
    """Build a :class:`ResourcesConfig` from the file's JSON and validate it offline."""
    if not isinstance(body, dict):
        raise ConfigError("the config is not a JSON object")
    if str(body.get("format_version")) not in SUPPORTED_FORMATS:
        raise ConfigError(f"unsupported format_version {body.get('format_version')!r}")
    try:
        solutions = body["solutions"]
        config = ResourcesConfig(
            dataset_group=str(body["datasetGroup"]["name"]),
            datasets=tuple(str(d) for d in body.get("datasets", DATASET_TYPES)),
            serving=_solution(solutions["serving"]),
            baseline=_solution(solutions["baseline"]),
            campaign=str(body["campaign"]["name"]),
            min_tps=int(body["campaign"].get("minProvisionedTPS", 1)),
            filters=tuple(FilterConfig(str(f["name"]), str(f["filterExpression"])) for f in body.get("filters", [])),
            attribution=_attribution(body["metricAttribution"]) if "metricAttribution" in body else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"field missing or malformed: {exc!r}") from exc
    unknown = sorted(set(config.datasets) - set(DATASET_TYPES))
    if unknown or len(set(config.datasets)) != len(config.datasets):
        raise ConfigError(f"datasets must be distinct storyrec dataset types {DATASET_TYPES}, got {config.datasets}")
    names = [f.name for f in config.filters]
    if len(set(names)) != len(names):
        raise ConfigError(f"filter names repeat: {names}")
    if second_slot(config.serving.name) == config.baseline.name:
        raise ConfigError(
            f"solutions.baseline.name {config.baseline.name!r} is the serving solution's second slot "
            f"({config.serving.name!r} + '-b'): name the baseline otherwise"
        )
    validate_requests(config)
    return config


def _solution(body: Any) -> SolutionConfig:
    return SolutionConfig(
        name=str(body["name"]),
        recipe_arn=str(body["recipeArn"]),
        perform_auto_training=bool(body.get("performAutoTraining", False)),
        event_weights={str(k): float(v) for k, v in dict(body.get("eventWeights", {})).items()},
    )


def _attribution(body: Any) -> AttributionConfig:
    metrics = tuple(
        MetricSpec(str(m["metricName"]), str(m["eventType"]), str(m["expression"])) for m in body["metrics"]
    )
    prefix = str(body.get("outputPrefix", "attribution/"))
    config = AttributionConfig(str(body["name"]), prefix if prefix.endswith("/") else prefix + "/", metrics)
    unknown = sorted({m.event_type for m in metrics} - set(EVENT_TYPES))
    if unknown:
        raise ConfigError(f"metricAttribution: event types {unknown} are not storyrec's {EVENT_TYPES}")
    bad = [m.expression for m in metrics if not _ATTRIBUTION_EXPRESSION.match(m.expression)]
    if bad:
        raise ConfigError(f"metricAttribution: expressions {bad} are not SAMPLECOUNT() or SUM(<Dataset>.<COLUMN>)")
    if not 1 <= len(metrics) <= 10 or len({m.metric_name for m in metrics}) != len(metrics):
        raise ConfigError("metricAttribution: 1-10 metrics with distinct metricName")
    return config


def create_requests(config: ResourcesConfig) -> list[tuple[str, dict[str, Any]]]:
    """The Create* requests the config stands for (parent ARNs as placeholders), operation name first."""
    requests: list[tuple[str, dict[str, Any]]] = [("CreateDatasetGroup", {"name": config.dataset_group})]
    for dataset_type in config.datasets:
        schema = load_schema(dataset_type)
        requests.append(("CreateSchema", {"name": schema.resource_name, "schema": schema.as_json()}))
        requests.append(
            (
                "CreateDataset",
                {
                    "name": f"storyrec-{dataset_type}",
                    "datasetGroupArn": _PLACEHOLDER_ARN,
                    "datasetType": dataset_type.upper(),
                    "schemaArn": _PLACEHOLDER_ARN,
                },
            )
        )
    for solution in (config.serving, second_slot_config(config.serving, config.serving.name), config.baseline):
        requests.append(("CreateSolution", solution_request(solution.spec(_PLACEHOLDER_ARN))))
    requests.append(
        (
            "CreateCampaign",
            {"name": config.campaign, "solutionVersionArn": _PLACEHOLDER_ARN, "minProvisionedTPS": config.min_tps},
        )
    )
    for f in config.filters:
        requests.append(
            (
                "CreateFilter",
                {"name": f.name, "datasetGroupArn": _PLACEHOLDER_ARN, "filterExpression": f.expression},
            )
        )
    if config.attribution is not None:
        a = config.attribution
        spec = MetricAttributionSpec(
            a.name, _PLACEHOLDER_ARN, a.metrics, f"s3://bucket/{a.output_prefix}", _PLACEHOLDER_ROLE
        )
        requests.append(("CreateMetricAttribution", metric_attribution_request(spec)))
    return requests


def validate_requests(config: ResourcesConfig) -> None:
    """Check every Create* request against botocore's Personalize service model, offline.

    botocore's validator checks required members, types, minimum lengths and ranges; maximum lengths
    and name patterns (which it leaves to the service) are checked here from the same model.
    """
    import re

    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("personalize")
    problems: list[str] = []
    for operation, params in create_requests(config):
        shape = model.operation_model(operation).input_shape
        assert shape is not None  # every Create* operation has an input
        report = ParamValidator().validate(params, shape)
        if report.has_errors():
            problems.append(f"{operation} {params.get('name')!r}: {report.generate_report()}")
        for member, value in params.items():
            metadata = shape.members[member].metadata
            pattern, longest = metadata.get("pattern"), metadata.get("max")
            if isinstance(value, str) and pattern and not re.match(pattern, value):
                problems.append(f"{operation} {member}={value!r} does not match {pattern}")
            if isinstance(value, str) and longest is not None and len(value) > longest:
                problems.append(f"{operation} {member} is {len(value)} characters (at most {longest})")
        name = str(params.get("name", ""))
        if not VALID_NAME.fullmatch(name):
            problems.append(f"{operation} name {name!r} is not a valid Personalize name")
    if problems:
        raise ConfigError("; ".join(problems))


def check_against_settings(config: ResourcesConfig, settings: Settings) -> None:
    """The functions find resources by the names in Settings: a file that names others is refused."""
    names = settings.personalize
    pairs = (
        ("datasetGroup.name", config.dataset_group, names.dataset_group, "STORYREC_PERSONALIZE_DATASET_GROUP"),
        ("solutions.serving.name", config.serving.name, names.solution, "STORYREC_PERSONALIZE_SOLUTION"),
        (
            "solutions.baseline.name",
            config.baseline.name,
            settings.aws_stage.baseline_solution,
            "STORYREC_PERSONALIZE_BASELINE_SOLUTION",
        ),
        ("campaign.name", config.campaign, names.campaign, "STORYREC_PERSONALIZE_CAMPAIGN"),
    )
    for where, in_file, in_settings, variable in pairs:
        if in_settings.startswith("arn:"):
            continue  # an existing resource given by ARN: the file's name is not used for it
        if in_file != in_settings:
            raise ConfigError(
                f"the config's {where} is {in_file!r} but the functions use {in_settings!r} ({variable}): "
                "make them agree"
            )
    if config.serving.recipe_arn != names.recipe_arn:
        raise ConfigError(
            f"the config's serving recipe {config.serving.recipe_arn} differs from "
            f"STORYREC_PERSONALIZE_RECIPE_ARN={names.recipe_arn}"
        )


@dataclass(frozen=True)
class Bootstrap:
    """What bootstrap works with: the port, the config, and how long to wait for a resource to settle."""

    port: PersonalizePort
    config: ResourcesConfig
    settings: Settings
    settle_timeout: float = 600.0
    poll_interval: float = 2.0


def _given(value: str) -> bool:
    return value.startswith("arn:")


def plan(boot: Bootstrap) -> list[Step]:
    """Describe every resource (read-only): ``exists`` with its ARN, or ``create``."""
    port, config = boot.port, boot.config
    steps: list[Step] = []
    group_setting = boot.settings.personalize.dataset_group
    if _given(group_setting):
        group: str | None = group_setting
        steps.append(Step("dataset_group", group_setting, "given", group_setting))
    else:
        group = port.find_arn("dataset_group", config.dataset_group)
        steps.append(Step("dataset_group", config.dataset_group, "exists" if group else "create", group))
    for dataset_type in config.datasets:
        schema = load_schema(dataset_type)
        arn = port.find_arn("schema", schema.resource_name)
        steps.append(Step("schema", schema.resource_name, "exists" if arn else "create", arn, dataset_type))
    for dataset_type in config.datasets:
        name = f"storyrec-{dataset_type}"
        arn = port.find_arn("dataset", name, group) if group else None
        if arn and dataset_type == "interactions":
            check_interactions_schema(port, arn, group_setting if _given(group_setting) else config.dataset_group)
        steps.append(Step("dataset", name, "exists" if arn else "create", arn, dataset_type))
    for role, solution, setting in solution_roles(boot):
        if _given(setting):
            steps.append(Step("solution", setting, "given", setting, role))
            continue
        arn = port.find_arn("solution", solution.name, group) if group else None
        steps.append(
            Step("solution", solution.name, "exists" if arn else "create", arn, f"{role}: {solution.recipe_arn}")
        )
    for f in all_filters(boot):
        if f.name.startswith("arn:"):
            steps.append(Step("filter", f.name, "given", f.name, "the feed's filter"))
            continue
        arn = port.find_arn("filter", f.name, group) if group else None
        steps.append(Step("filter", f.name, "exists" if arn else "create", arn, f.expression))
    if config.attribution is not None:
        steps.append(_attribution_step(boot, group))
    campaign_setting = boot.settings.personalize.campaign
    if _given(campaign_setting):
        steps.append(Step("campaign", campaign_setting, "given", campaign_setting))
    else:
        campaign = port.find_arn("campaign", config.campaign)
        steps.append(
            Step(
                "campaign",
                config.campaign,
                "exists" if campaign else "deferred",
                campaign,
                "" if campaign else "created by the first promotion (the monitor, or `storyrec promote`)",
            )
        )
    return steps


def solution_roles(boot: Bootstrap) -> list[tuple[str, SolutionConfig, str]]:
    """Each solution bootstrap manages, with its role and its setting (a name, or an ARN: given, not managed):
    the serving solution's two slots (the second always by name: ``<name>-b``, docs/aws.md) and the baseline."""
    serving = boot.settings.personalize.solution
    second = second_slot_config(boot.config.serving, serving)
    return [
        ("serving", boot.config.serving, serving),
        ("second slot", second, second.name),
        ("baseline", boot.config.baseline, boot.settings.aws_stage.baseline_solution),
    ]


class OutdatedInteractionsSchema(StoryrecError):
    """The dataset group's interactions dataset lacks columns of the current schema; only a rebuild adds them."""


def rebuild_target(group: str, version: str) -> str:
    """The dataset group name ``storyrec rebuild`` suggests: the old name with the schema's major version."""
    base = group.rsplit("/", 1)[-1]
    base = re.sub(r"-v\d+$", "", base)
    return f"{base}-v{version.split('.')[0]}"[:RESOURCE_NAME_MAX_CHARS]


def check_interactions_schema(port: PersonalizePort, dataset_arn: str, group: str) -> None:
    """Refuse, naming the fix, an interactions dataset whose schema lacks a current column: Personalize cannot
    replace an interactions schema (UpdateDataset refuses), so the group is rebuilt (docs/deploy.md)."""
    current = load_schema("interactions")
    have = set(port.dataset_columns(dataset_arn))
    missing = [c for c in current.header if c not in have]
    if missing:
        raise OutdatedInteractionsSchema(
            f"the interactions dataset of {group} lacks {', '.join(missing)} (schema v{current.version}) and "
            "Personalize cannot replace an interactions schema: run "
            f"`storyrec rebuild --dataset-group {rebuild_target(group, current.version)}` (docs/deploy.md)"
        )


def _attribution_step(boot: Bootstrap, group: str | None) -> Step:
    attribution = boot.config.attribution
    assert attribution is not None
    arn = boot.port.find_arn("metric_attribution", attribution.name, group) if group else None
    spec = attribution.spec(group or _PLACEHOLDER_ARN, boot.settings)
    if arn:
        return Step("metric_attribution", attribution.name, "exists", arn)
    if spec is None:
        detail = f"needs {ROLE_SETTING} (the role Personalize writes the report with); set it and run bootstrap again"
        return Step("metric_attribution", attribution.name, "deferred", None, detail)
    metrics = ", ".join(f"{m.metric_name}={m.expression} of {m.event_type}" for m in attribution.metrics)
    return Step("metric_attribution", attribution.name, "create", None, f"{metrics} -> {spec.output_path}")


def feed_filter(settings: Settings) -> FilterConfig:
    """The filter the feed fill uses (defined once, in :mod:`shared.recommend.campaign`; its name carries a hash
    of the expression, so a changed ``STORYREC_FEED_SEEN_EVENT_TYPES`` gets a new filter, never a stale one)."""
    return FilterConfig(*feed_filter_spec(settings.personalize.filter, settings.recommend))


def all_filters(boot: Bootstrap) -> list[FilterConfig]:
    """The feed's filter, then the config file's own."""
    return [feed_filter(boot.settings), *boot.config.filters]


def apply(boot: Bootstrap, progress: Any = None) -> list[Step]:
    """Create what :func:`plan` found missing (describe-or-create, so reruns and races are safe).

    ``progress(step)`` is called after each resource (the CLI's progress bar).
    """
    port, config = boot.port, boot.config
    done: list[Step] = []

    def record(step: Step, arn: str) -> None:
        done.append(replace(step, arn=arn, action="created" if step.action == "create" else step.action))
        if progress is not None:
            progress(done[-1])

    steps = plan(boot)
    by_key = {(s.kind, s.name): s for s in steps}
    group_step = steps[0]
    group = group_step.arn if group_step.action == "given" else port.ensure_dataset_group(config.dataset_group)
    assert group is not None
    record(group_step, group)
    schemas: dict[str, str] = {}
    for dataset_type in config.datasets:
        schema = load_schema(dataset_type)
        schemas[dataset_type] = port.ensure_schema(schema.resource_name, schema.as_json())
        record(by_key[("schema", schema.resource_name)], schemas[dataset_type])
    for dataset_type in config.datasets:
        name = f"storyrec-{dataset_type}"
        arn = retry_while_in_use(
            boot.settle_timeout,
            boot.poll_interval,
            partial(port.ensure_dataset, group, dataset_type, schemas[dataset_type], name),
        )
        status = wait_until(
            partial(port.dataset_status, arn),
            lambda s: s.settled,
            timeout=boot.settle_timeout,
            interval=boot.poll_interval,
            what=f"dataset {name}",
        )
        if status is not Status.ACTIVE:
            raise PersonalizeError("DatasetNotActive", f"dataset {arn} is {status.value}")
        record(by_key[("dataset", name)], arn)
    for _role, solution, setting in solution_roles(boot):
        step = by_key[("solution", setting if _given(setting) else solution.name)]
        if step.action == "given":
            record(step, step.name)
            continue
        create = partial(port.ensure_solution, solution.spec(group))
        record(step, retry_while_in_use(boot.settle_timeout, boot.poll_interval, create))
    for f in all_filters(boot):
        step = by_key[("filter", f.name)]
        if step.action == "given":
            record(step, f.name)
            continue
        create = partial(port.ensure_filter, group, f.name, f.expression)
        record(step, retry_while_in_use(boot.settle_timeout, boot.poll_interval, create))
    attribution_step = next((s for s in steps if s.kind == "metric_attribution"), None)
    if attribution_step is not None and boot.config.attribution is not None:
        spec = boot.config.attribution.spec(group, boot.settings)
        if spec is None:
            done.append(attribution_step)
            if progress is not None:
                progress(attribution_step)
        else:
            create_attribution = partial(port.ensure_metric_attribution, spec)
            record(attribution_step, retry_while_in_use(boot.settle_timeout, boot.poll_interval, create_attribution))
    campaign = next(s for s in steps if s.kind == "campaign")
    done.append(campaign)
    if progress is not None:
        progress(campaign)
    return done


def retry_while_in_use(timeout: float, interval: float, create: Callable[[], str]) -> str:
    """A create refused because its parent is still being created (ResourceInUse) is retried until it settles."""
    outcome: list[str] = []

    def attempt() -> bool:
        try:
            outcome.append(create())
        except ResourceInUse:
            return False
        return True

    wait_until(attempt, bool, timeout=timeout, interval=interval, what="parent resource")
    return outcome[-1]


def changed(steps: list[Step]) -> bool:
    """True if a run created anything."""
    return any(s.action == "created" for s in steps)


def step_rows(steps: list[Step]) -> list[dict[str, Any]]:
    """The steps as JSON-ready dicts."""
    return [{"kind": s.kind, "name": s.name, "action": s.action, "arn": s.arn, "detail": s.detail} for s in steps]


__all__ = [
    "DEFAULT_CONFIG",
    "Bootstrap",
    "ResourcesConfig",
    "Step",
    "apply",
    "changed",
    "check_against_settings",
    "load_config",
    "plan",
]
