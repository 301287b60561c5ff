"""The switch that ends ``storyrec rebuild``: the new group's campaign, checked, then served (docs/deploy.md §2.3).

Names in the new group NEW are derived, deterministically, from the settings in use: ``<name>-<NEW>``
(a ``-<old group>`` suffix of an earlier rebuild replaced), so a rerun finds what the first run created.

Why a redeploy and not a serving pointer: the functions read every Personalize name once, typed, from
their settings, and each role of the stack grants only the campaign and filters it was deployed with
(docs/deploy.md §2.1, checked by tests/integration/test_deploy_descriptors.py). A pointer the functions
resolved at run time would need grants on every campaign of the account and a second source of truth for
what serves. So the command prepares everything, writes the exact settings to deploy, and retires the old
campaign only once the deployed functions demonstrably serve from the new one.

:func:`prepare_switch` (after the rebuild's imports; the old campaign serves throughout):

1. describe-or-create the solutions (the serving one's two slots, docs/aws.md), filters and metric
   attribution in NEW (bootstrap's ``apply``);
2. train one version of the first slot and of the baseline under ``rebuild-<attempt>``: a rerun finds
   them, and a failed attempt is followed by a fresh one on the next run;
3. check the version with the promotion rule (every metric valid, beats the popularity baseline trained
   on the same data): refused otherwise, nothing switched;
4. describe-or-create the campaign, wait until it is ACTIVE, and ask it (through the new feed filter) for
   one reader of the history: an empty answer refuses;
5. record, create-only, the old and new names in the stage state (``rebuild/<NEW>.json``) and the
   decision (``decisions/<version>.json``: the metrics later versions are compared with; one report).

:func:`finish_switch` (after the operator deployed the new settings):

1. the settings in use name the new resources (the operator loaded what they deployed);
2. the new campaign is ACTIVE;
3. the newest personalized feed written since the switch was prepared comes from a version of NEW (either slot);
4. the history is imported again if an export arrived since (the rebuild's FULL import, by digest: a no-op
   otherwise), so the days exported before the redeploy reach NEW;
5. the old campaign is deleted (it bills while ACTIVE); already deleted is not an error.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

from shared.config import Collections, Settings
from shared.errors import ConfigError
from shared.limits import SOLUTION_NAME_MAX_CHARS
from shared.manifest import read_manifests
from shared.operate.bootstrap import Bootstrap, ResourcesConfig, apply
from shared.operate.rebuild import Rebuild, RebuildRefused, RebuildResult, run_rebuild
from shared.personalize.model import Campaign, ResourceNotFound, SolutionVersion, Status
from shared.personalize.monitor import decision_record, record_and_report
from shared.personalize.names import safe_name, second_slot
from shared.personalize.port import PersonalizePort
from shared.personalize.promotion import Decision, Evidence, Policy, decide
from shared.personalize.slots import in_slot
from shared.personalize.stage import StageDeps
from shared.ports import DocumentStore, Query, Where
from shared.recommend.campaign import AGE_PARAM, ensure_feed_filter, feed_filter_spec, serving_campaign
from shared.retry import wait_until

MAX_ATTEMPTS = 20
"""Training attempts a rebuild makes (one per run after a failure) before it asks for a look at the data."""


@dataclass(frozen=True)
class Names:
    """The Personalize names the functions are configured with (the old ones, or those derived for NEW)."""

    dataset_group: str
    solution: str
    baseline_solution: str
    filter: str
    campaign: str

    @classmethod
    def of(cls, settings: Settings) -> Names:
        p = settings.personalize
        return cls(p.dataset_group, p.solution, settings.aws_stage.baseline_solution, p.filter, p.campaign)

    def env(self) -> dict[str, str]:
        """The settings to deploy, as the functions' environment variables."""
        return {
            "STORYREC_PERSONALIZE_DATASET_GROUP": self.dataset_group,
            "STORYREC_PERSONALIZE_SOLUTION": self.solution,
            "STORYREC_PERSONALIZE_BASELINE_SOLUTION": self.baseline_solution,
            "STORYREC_PERSONALIZE_FILTER": self.filter,
            "STORYREC_PERSONALIZE_CAMPAIGN": self.campaign,
        }

    def serverless_params(self) -> dict[str, str]:
        """The same names as ``serverless deploy`` parameters (docs/deploy.md §2.1)."""
        return {
            "datasetGroup": self.dataset_group,
            "solution": self.solution,
            "baselineSolution": self.baseline_solution,
            "filter": self.filter,
            "campaign": self.campaign,
        }


def _base(name_or_arn: str) -> str:
    return name_or_arn.rsplit("/", 1)[-1]


def derive(name: str, old_group: str, new_group: str) -> str:
    """``<name>-<new_group>``; a ``-<old_group>`` suffix (an earlier rebuild's) is replaced, not stacked."""
    base, old = _base(name), _base(old_group)
    if base.endswith(f"-{old}"):
        base = base[: -len(old) - 1]
    return safe_name(f"{base}-{new_group}")


def new_names(settings: Settings, new_group: str) -> Names:
    old = Names.of(settings)
    derived = partial(derive, old_group=old.dataset_group, new_group=new_group)
    # the filter's name gets "-<hash of its expression>" (8 + 1 characters) appended: keep room for it
    filter_base = derive(old.filter, old.dataset_group, new_group)
    if len(filter_base) > 54:
        filter_base = safe_name(filter_base[:43] + "-" + filter_base)[:54]
    # the serving solution's second slot is "<name>-b" (names.second_slot): keep room for it
    solution = safe_name(derived(old.solution), SOLUTION_NAME_MAX_CHARS)
    return Names(new_group, solution, derived(old.baseline_solution), filter_base, derived(old.campaign))


def switched_settings(settings: Settings, names: Names) -> Settings:
    """``settings`` with the Personalize names replaced (what the functions run with after the switch)."""
    personalize = replace(
        settings.personalize,
        dataset_group=names.dataset_group,
        solution=names.solution,
        filter=names.filter,
        campaign=names.campaign,
    )
    stage = replace(settings.aws_stage, baseline_solution=names.baseline_solution)
    return replace(settings, personalize=personalize, aws_stage=stage)


def switched_config(config: ResourcesConfig, names: Names, old_group: str) -> ResourcesConfig:
    """The resources file for NEW (``storyrec bootstrap`` checks it against the new settings)."""
    attribution = config.attribution
    if attribution is not None:
        attribution = replace(attribution, name=derive(attribution.name, old_group, names.dataset_group))
    return replace(
        config,
        dataset_group=names.dataset_group,
        serving=replace(config.serving, name=names.solution),
        baseline=replace(config.baseline, name=names.baseline_solution),
        campaign=names.campaign,
        attribution=attribution,
    )


def config_json(config: ResourcesConfig) -> dict[str, Any]:
    """A resources file (infra/personalize/resources.json's format) for ``config``."""

    def solution(s: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": s.name,
            "recipeArn": s.recipe_arn,
            "performAutoTraining": s.perform_auto_training,
        }
        if s.event_weights:
            body["eventWeights"] = dict(s.event_weights)
        return body

    body: dict[str, Any] = {
        "format_version": "1",
        "datasetGroup": {"name": config.dataset_group},
        "datasets": list(config.datasets),
        "solutions": {"serving": solution(config.serving), "baseline": solution(config.baseline)},
        "campaign": {"name": config.campaign, "minProvisionedTPS": config.min_tps},
        "filters": [{"name": f.name, "filterExpression": f.expression} for f in config.filters],
    }
    if config.attribution is not None:
        a = config.attribution
        body["metricAttribution"] = {
            "name": a.name,
            "outputPrefix": a.output_prefix,
            "metrics": [
                {"metricName": m.metric_name, "eventType": m.event_type, "expression": m.expression} for m in a.metrics
            ],
        }
    return body


@dataclass(frozen=True)
class Prepared:
    """What :func:`prepare_switch` leaves ready: the new names, the checked version, its ACTIVE campaign."""

    old: Names
    new: Names
    old_campaign_arn: str | None
    campaign_arn: str
    version_arn: str
    baseline_version_arn: str
    decision: Decision
    prepared_at: str
    config: ResourcesConfig
    import_result: RebuildResult | None = None

    def as_record(self) -> dict[str, Any]:
        return {
            "dataset_group": self.new.dataset_group,
            "old": {**vars(self.old), "campaign_arn": self.old_campaign_arn},
            "new": {**vars(self.new), "campaign_arn": self.campaign_arn},
            "version": self.version_arn,
            "baseline_version": self.baseline_version_arn,
            "reasons": list(self.decision.reasons),
            "prepared_at": self.prepared_at,
        }


def record_key(deps: StageDeps, group: str) -> str:
    return f"{deps.settings.aws_stage.state_prefix}rebuild/{group}.json"


def read_record(deps: StageDeps, group: str) -> dict[str, Any] | None:
    key = record_key(deps, group)
    if deps.bucket.head(key) is None:
        return None
    try:
        body = json.loads(deps.bucket.get_bytes(key))
    except ValueError as exc:
        raise RebuildRefused(f"s3://{deps.bucket.bucket}/{key} is not JSON: delete it and rerun the rebuild") from exc
    return body if isinstance(body, dict) else None


def _settled(rebuild: Rebuild, read: Callable[[], Status], what: str) -> Status:
    return wait_until(
        read, lambda s: s.settled, timeout=rebuild.settle_timeout, interval=rebuild.poll_interval, what=what
    )


def _version_status(port: PersonalizePort, arn: str) -> Status:
    return port.describe_solution_version(arn).status


def train_attempt(rebuild: Rebuild, solution_arn: str, role: str) -> SolutionVersion:
    """The rebuild's version of ``solution_arn``: ``rebuild-1``, or the first attempt that has not failed.

    A rerun finds the running or trained attempt by name; after a failed one, a rerun starts the next.
    """
    port = rebuild.port
    failed = {
        port.describe_solution_version(v.arn).name
        for v in port.list_solution_versions(solution_arn)
        if v.status is Status.CREATE_FAILED
    }
    attempt = next((a for a in range(1, MAX_ATTEMPTS + 1) if f"rebuild-{a}" not in failed), None)
    if attempt is None:
        raise RebuildRefused(
            f"training of the {role} solution {solution_arn} failed {MAX_ATTEMPTS} times: check the data"
        )
    arn = port.create_solution_version(solution_arn, f"rebuild-{attempt}", "FULL")  # or the one started before
    status = _settled(rebuild, partial(_version_status, port, arn), f"{role} version {arn}")
    version = port.describe_solution_version(arn)
    if status is not Status.ACTIVE:
        raise RebuildRefused(
            f"training of the {role} version {arn} failed ({version.failure_reason or status.value}): "
            "nothing switched, the old campaign serves; rerun the same command to train again"
        )
    return version


def _sample_user(rebuild: Rebuild, result: RebuildResult | None) -> str | None:
    """A reader of the rebuilt history (the sanity request asks the new campaign for them)."""
    staged = next((s for s in result.staged if s.dataset == "interactions"), None) if result else None
    folder = staged.folder if staged else f"rebuild/{rebuild.group}/interactions/"
    for info in rebuild.staging.list(folder):
        rows = csv.DictReader(io.StringIO(rebuild.staging.get_bytes(info.key).decode("utf-8")))
        for row in rows:
            if row.get("USER_ID"):
                return row["USER_ID"]
    return None


def prepare_switch(
    rebuild: Rebuild,
    deps: StageDeps,
    config: ResourcesConfig,
    *,
    result: RebuildResult | None = None,
    progress: Callable[[str], Any] | None = None,
) -> Prepared:
    """Steps 1-5 of the module docstring; ``deps`` carries the settings in use (the old names)."""
    say = progress or (lambda _msg: None)
    old = Names.of(deps.settings)
    if _base(old.dataset_group) == rebuild.group:
        raise RebuildRefused(
            f"{rebuild.group} is already the dataset group in use: to retire the old campaign run "
            f"`storyrec rebuild --dataset-group {rebuild.group} --finish`"
        )
    new = new_names(deps.settings, rebuild.group)
    settings = switched_settings(deps.settings, new)
    new_deps = replace(deps, settings=settings)
    new_config = switched_config(config, new, old.dataset_group)
    port = rebuild.port
    old_campaign = old.campaign if old.campaign.startswith("arn:") else port.find_arn("campaign", old.campaign)
    boot = Bootstrap(port, new_config, settings, rebuild.settle_timeout, rebuild.poll_interval)
    apply(boot)
    say(f"solutions, filters and metric attribution of {new.dataset_group} ready")
    solution = _found(port.find_arn("solution", new.solution), "solution", new.solution)
    baseline_solution = _found(port.find_arn("solution", new.baseline_solution), "solution", new.baseline_solution)
    version = train_attempt(rebuild, solution, "serving")
    baseline = train_attempt(rebuild, baseline_solution, "baseline")
    say(f"trained {version.arn} and the baseline {baseline.arn}")
    policy = replace(Policy.from_settings(settings.aws_stage), auto=True, online=False)
    evidence = Evidence(port.solution_metrics(version.arn), port.solution_metrics(baseline.arn))
    decision = decide(evidence, policy)  # nothing serves in NEW: the rule 'first version' (beats the baseline)
    if decision.action != "promote":
        raise RebuildRefused(
            f"the version {version.arn} of {new.dataset_group} does not pass the promotion rule ("
            + "; ".join(decision.reasons)
            + "): nothing switched, the old campaign keeps serving"
        )
    campaign_arn = port.ensure_campaign(new.campaign, version.arn, settings.personalize.min_campaign_tps)
    status = _settled(rebuild, lambda: port.describe_campaign(campaign_arn).status, f"campaign {campaign_arn}")
    if status is not Status.ACTIVE:
        raise RebuildRefused(
            f"campaign {campaign_arn} is {status.value}: delete it (`aws personalize delete-campaign "
            f"--campaign-arn {campaign_arn}`) and rerun; the old campaign keeps serving"
        )
    _check_answers(rebuild, settings, campaign_arn, _sample_user(rebuild, result))
    say(f"campaign {campaign_arn} ACTIVE and answering")
    now = deps.clock()
    prepared = Prepared(
        old, new, old_campaign, campaign_arn, version.arn, baseline.arn, decision, now.isoformat(), new_config, result
    )
    stored = _record_once(new_deps, prepared)
    prepared = replace(prepared, prepared_at=str(stored.get("prepared_at", prepared.prepared_at)))
    _report_once(new_deps, prepared, evidence, policy, baseline, campaign_arn)
    return prepared


def _found(arn: str | None, kind: str, name: str) -> str:
    if arn is None:
        raise RebuildRefused(f"no {kind} {name} after bootstrap: rerun the same command")
    return arn


def _check_answers(rebuild: Rebuild, settings: Settings, campaign_arn: str, user: str | None) -> None:
    """The new campaign and the new feed filter answer a reader of the history (the fill's own calls)."""
    port = rebuild.port
    name, expression = feed_filter_spec(settings.personalize.filter, settings.recommend)
    filter_arn = ensure_feed_filter(
        port, name, settings.personalize.dataset_group, expression, timeout=rebuild.settle_timeout
    )
    serving = serving_campaign(port, campaign_arn)
    if user is None:
        raise RebuildRefused("no reader in the rebuilt history to ask the new campaign for: nothing switched")
    answer = port.get_recommendations(serving.campaign_arn, user, 10, filter_arn, {AGE_PARAM: "0"})
    if not len(answer):
        raise RebuildRefused(
            f"campaign {campaign_arn} answers reader {user} with nothing: nothing switched, the old campaign serves"
        )


def _record_once(deps: StageDeps, prepared: Prepared) -> dict[str, Any]:
    """``rebuild/<NEW>.json``, create-only: the first run's old names stay (they are what the finish retires)."""
    key = record_key(deps, prepared.new.dataset_group)
    body = prepared.as_record()
    if deps.bucket.put_if_absent(
        key, json.dumps(body, indent=2, sort_keys=True).encode(), content_type="application/json"
    ):
        return body
    stored = read_record(deps, prepared.new.dataset_group) or {}
    return stored


def _report_once(
    deps: StageDeps,
    prepared: Prepared,
    evidence: Evidence,
    policy: Policy,
    baseline: SolutionVersion,
    campaign_arn: str,
) -> None:
    """The decision record of the new version (later decisions compare with its metrics), reported once."""
    outcome = f"campaign {campaign_arn} created by `storyrec rebuild`; serves once the new settings are deployed"
    body = decision_record(
        deps, deps.clock(), prepared.decision, outcome, prepared.version_arn, None, baseline, evidence, policy
    )
    body["campaign"] = campaign_arn
    if deps.state.claim_decision(prepared.version_arn, body):
        record_and_report(deps, prepared.decision, body, evidence)


@dataclass(frozen=True)
class Finished:
    campaign_arn: str
    version_arn: str
    retired: str | None
    """The old campaign deleted now (None: there was none, or it was deleted before)."""
    served_at: datetime | None
    import_result: RebuildResult | None = None


FeedReader = Callable[[datetime], tuple[str | None, datetime | None]]
"""The solution version of the newest personalized feed written at or after a time, and when it was written."""


def newest_served(docs: DocumentStore, collections: Collections) -> FeedReader:
    """A :data:`FeedReader` over the ``feeds`` collection (ascending ``generatedAt``: a single-field index)."""

    def read(since: datetime) -> tuple[str | None, datetime | None]:
        query = Query(collections.feeds, (Where("generatedAt", ">=", since),), ("generatedAt",))
        newest: tuple[str | None, datetime | None] = (None, None)
        for snap in docs.stream(query, page_size=1000):
            version = snap.data.get("solutionVersionArn")
            if snap.data.get("kind") == "personalized" and isinstance(version, str):
                at = snap.data.get("generatedAt")
                newest = (version, at if isinstance(at, datetime) else None)
        return newest

    return read


def finish_switch(
    rebuild: Rebuild, deps: StageDeps, served: FeedReader, progress: Callable[[str], Any] | None = None
) -> Finished:
    """Steps 1-5 of :func:`finish_switch` in the module docstring; ``deps`` carries the deployed (new) settings."""
    say = progress or (lambda _msg: None)
    group = rebuild.group
    record = read_record(deps, group)
    if record is None:
        raise RebuildRefused(
            f"no prepared switch to {group} (s3://{deps.bucket.bucket}/{record_key(deps, group)}): "
            f"run `storyrec rebuild --dataset-group {group}` first"
        )
    try:
        new = Names(**{k: str(record["new"][k]) for k in vars(Names.of(deps.settings))})
        since = datetime.fromisoformat(str(record["prepared_at"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise RebuildRefused(
            f"s3://{deps.bucket.bucket}/{record_key(deps, group)} is malformed ({exc!r}): delete it and run "
            f"`storyrec rebuild --dataset-group {group}` with the old settings again"
        ) from exc
    if Names.of(deps.settings) != new:
        env = " ".join(f"{k}={v}" for k, v in new.env().items())
        raise ConfigError(
            f"the settings in use do not name {group}'s resources: deploy and load the settings the rebuild "
            f"wrote ({env})"
        )
    port = rebuild.port
    campaign_arn = port.find_arn("campaign", new.campaign)
    gone = (
        f"campaign {new.campaign} does not exist: rerun `storyrec rebuild --dataset-group {group}` with the old "
        "settings to recreate it (the old campaign, if kept, serves meanwhile)"
    )
    if campaign_arn is None:
        raise RebuildRefused(gone)
    try:
        campaign: Campaign = port.describe_campaign(campaign_arn)
    except ResourceNotFound as exc:
        raise RebuildRefused(gone) from exc
    if campaign.status is not Status.ACTIVE:
        raise RebuildRefused(f"campaign {campaign_arn} is {campaign.status.value}: wait for ACTIVE, then rerun")
    version, at = served(since)
    # either slot of NEW: a monthly training may have been promoted since the switch was prepared
    slots = [port.find_arn("solution", name) or "" for name in (new.solution, second_slot(new.solution))]
    if version is None or not any(in_slot(version, slot) for slot in slots):
        where = f"from {version}" if version else "none was written"
        raise RebuildRefused(
            f"the newest personalized feed since {since:%Y-%m-%d %H:%M} UTC is not from {group} ({where}): the "
            "deployed functions do not serve from the new campaign yet; deploy the settings the rebuild wrote, "
            "wait for a feed fill (or a refresh), then rerun; the old campaign is kept"
        )
    say(f"feeds are served from {version}")
    result = _catch_up(rebuild, say)  # after the redeploy: every export since goes to NEW by the import Lambda
    old = record.get("old")
    old_arn = old.get("campaign_arn") if isinstance(old, dict) else None
    retired = None
    if isinstance(old_arn, str) and old_arn != campaign_arn and _exists(port, old_arn):
        port.delete("campaign", old_arn)
        retired = old_arn
        say(f"old campaign {old_arn} deleted")
    return Finished(campaign_arn, campaign.solution_version_arn, retired, at, result)


def _exists(port: PersonalizePort, campaign_arn: str) -> bool:
    try:
        port.describe_campaign(campaign_arn)
    except ResourceNotFound:
        return False
    return True


def _catch_up(rebuild: Rebuild, say: Callable[[str], Any], rounds: int = 3) -> RebuildResult:
    """The FULL import of the whole backup again (a no-op when nothing was exported since: same digest), until
    no export arrived while it ran."""
    result = run_rebuild(rebuild, progress=say)
    for _ in range(rounds - 1):
        if len(read_manifests(rebuild.backup, rebuild.prefix)) == result.manifests:
            break
        result = run_rebuild(rebuild, progress=say)
    return result
