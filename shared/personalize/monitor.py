"""Monitor use case, run on a schedule: follow imports and training to their end, then decide.

Each run: re-drive parked imports and import recent manifests whose S3 event was lost; alert once per
failed or stuck import job and solution version and per failed campaign update; start a deferred
training once imports settle; and when the newest version of the serving solution is ACTIVE and
undecided, compare its offline metrics with the serving version's (as recorded when it was promoted)
and the popularity baseline's by the rule of :mod:`shared.personalize.promotion`, promote, hold or
keep, keep the decision in S3 and report it over SNS. ``shared.operate.promote`` (the manual path)
uses the same evidence and record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.errors import NotFound
from shared.logs import get_logger
from shared.personalize.imports import ImportOutcome, import_held_isolated, import_missed, redrive_parked
from shared.personalize.model import Campaign, PersonalizeError, ResourceInUse, SolutionVersion
from shared.personalize.promotion import Decision, Evidence, Metrics, Policy, decide, metrics_table
from shared.personalize.stage import (
    Datasets,
    StageDeps,
    campaign_arn,
    ensure_datasets,
    ensure_solutions,
    pending_imports,
)
from shared.personalize.training import TrainOutcome, train

_log = get_logger("personalize.monitor")
CATCH_UP_DAYS = 3  # manifests this recent that were never imported are imported by the monitor


@dataclass
class MonitorReport:
    redriven: list[ImportOutcome] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    training: TrainOutcome | None = None
    decision: dict[str, Any] | None = None
    waiting: list[str] = field(default_factory=list)


def monitor(deps: StageDeps) -> MonitorReport:
    """One pass of the monitor (idempotent: alerts and decisions are keyed, so reruns repeat nothing)."""
    now = deps.clock()
    report = MonitorReport(redriven=redrive_parked(deps))
    report.redriven += import_missed(deps, (now - timedelta(days=CATCH_UP_DAYS)).date())
    held = import_held_isolated(deps)  # held days wait for no manifest: a pass imports them once they suffice
    if held.started:
        report.redriven.append(held)
    stuck = timedelta(hours=deps.settings.aws_stage.stuck_after_hours)
    datasets = ensure_datasets(deps)
    _follow_imports(deps, datasets, now, stuck, report)
    request = deps.state.training_request()
    if request:
        if pending_imports(deps, datasets):
            report.waiting.append("training waits for pending imports")
        else:
            report.training = train(deps, request)
    solutions = ensure_solutions(deps, datasets.group_arn)
    main = deps.personalize.list_solution_versions(solutions.main)
    baseline = deps.personalize.list_solution_versions(solutions.baseline)
    for version in main + baseline:
        _follow_version(deps, version, now, stuck, report)
    campaign = _campaign(deps, report)
    _maybe_decide(deps, main, baseline, campaign, now, stuck, report)
    return report


def _alert(deps: StageDeps, report: MonitorReport, key: str, subject: str, message: str, metric: str) -> None:
    if deps.state.alert_once(deps.notifier, key, subject, message, {"stage": "aws"}):
        report.alerts.append(key)
        deps.metrics.put(metric)


def _follow_imports(
    deps: StageDeps, datasets: Datasets, now: datetime, stuck: timedelta, report: MonitorReport
) -> None:
    for dataset_type, arn in datasets.by_type.items():
        for job in deps.personalize.list_import_jobs(arn):
            if job.status.failed:
                _alert(
                    deps,
                    report,
                    f"import-failed:{job.arn}",
                    f"storyrec import failed: {job.name}",
                    f"Dataset import job {job.arn} ({dataset_type}) ended {job.status.value}.\n"
                    f"Reason: {job.failure_reason or 'not given'}\n"
                    "Fix the data and re-run the export for that date (a new run id starts a new job).",
                    "ImportFailed",
                )
            elif job.status.pending and job.created and now - job.created > stuck:
                _alert(
                    deps,
                    report,
                    f"import-stuck:{job.arn}",
                    f"storyrec import stuck: {job.name}",
                    f"Dataset import job {job.arn} is {job.status.value} since {job.created.isoformat()}.",
                    "ImportStuck",
                )


def _follow_version(
    deps: StageDeps, version: SolutionVersion, now: datetime, stuck: timedelta, report: MonitorReport
) -> None:
    if version.status.failed:
        reason = version.failure_reason or deps.personalize.describe_solution_version(version.arn).failure_reason
        _alert(
            deps,
            report,
            f"version-failed:{version.arn}",
            "storyrec training failed",
            f"Solution version {version.arn} ended {version.status.value}.\nReason: {reason or 'not given'}\n"
            "The campaign keeps serving its current version.",
            "SolutionVersionFailed",
        )
    elif version.status.pending and version.created and now - version.created > stuck:
        _alert(
            deps,
            report,
            f"version-stuck:{version.arn}",
            "storyrec training stuck",
            f"Solution version {version.arn} is {version.status.value} since {version.created.isoformat()}"
            f" (more than {stuck}).",
            "SolutionVersionStuck",
        )


def _campaign(deps: StageDeps, report: MonitorReport) -> Campaign | None:
    arn = campaign_arn(deps)
    if arn is None:
        return None
    campaign = deps.personalize.describe_campaign(arn)
    update = campaign.latest_update
    if update is not None and update.status.failed:
        when = update.created.isoformat() if update.created else "-"
        _alert(
            deps,
            report,
            f"campaign-update-failed:{arn}:{update.solution_version_arn}:{when}",
            "storyrec campaign update failed",
            f"UpdateCampaign of {arn} to {update.solution_version_arn} ended {update.status.value}.\n"
            f"Reason: {update.failure_reason or 'not given'}\nThe campaign still serves "
            f"{campaign.solution_version_arn}.",
            "CampaignUpdateFailed",
        )
    return campaign


def newest_active(versions: list[SolutionVersion]) -> SolutionVersion | None:
    """The newest ACTIVE version of a list that is newest first."""
    return next((v for v in versions if v.status.value == "ACTIVE"), None)


def _maybe_decide(
    deps: StageDeps,
    main: list[SolutionVersion],
    baseline: list[SolutionVersion],
    campaign: Campaign | None,
    now: datetime,
    stuck: timedelta,
    report: MonitorReport,
) -> None:
    candidate = newest_active(main)
    if candidate is None or (campaign and candidate.arn == campaign.solution_version_arn):
        return
    if deps.state.decision_for(candidate.arn) is not None:
        return
    if campaign and (campaign.status.pending or (campaign.latest_update and campaign.latest_update.status.pending)):
        report.waiting.append("campaign is busy")
        return
    newest_baseline = baseline[0] if baseline else None
    if (
        newest_baseline
        and newest_baseline.status.pending
        and not (newest_baseline.created and now - newest_baseline.created > stuck)
    ):
        report.waiting.append("baseline still training")
        return
    base = newest_active(baseline)
    evidence = gather_evidence(deps, candidate.arn, campaign, base)
    policy = Policy.from_settings(deps.settings.aws_stage)
    decision = decide(evidence, policy)
    try:
        outcome = _act(deps, decision, candidate, campaign)
    except ResourceInUse as exc:  # an update is already deploying: decide again on the next run
        report.waiting.append(f"campaign busy: {exc}")
        return
    report.decision = record_and_report(deps, now, decision, outcome, candidate.arn, campaign, base, evidence, policy)


def looked_up_metrics(deps: StageDeps, version_arn: str) -> dict[str, float] | None:
    """GetSolutionMetrics of ``version_arn``; None if it has none (the rule then holds)."""
    try:
        return deps.personalize.solution_metrics(version_arn)
    except NotFound:
        _log.warning("a solution version has no metrics", extra={"version": version_arn})
        return None


def gather_evidence(
    deps: StageDeps, candidate_arn: str, campaign: Campaign | None, base: SolutionVersion | None
) -> Evidence:
    """What the rule compares: the candidate's and the baseline's metrics, looked up now, and the serving
    version's as recorded when it was promoted (never looked up again: a version whose metrics were not
    recorded cannot be compared with, so the rule holds)."""
    serving = campaign.solution_version_arn if campaign and campaign.solution_version_arn else None
    return Evidence(
        candidate=looked_up_metrics(deps, candidate_arn),
        baseline=looked_up_metrics(deps, base.arn) if base else None,
        serving_version=serving,
        serving=deps.state.promoted_metrics(serving) if serving else None,
    )


def _act(deps: StageDeps, decision: Decision, candidate: SolutionVersion, campaign: Campaign | None) -> str:
    if decision.action != "promote":
        return "held for an operator" if decision.action == "hold" else "kept the serving version"
    port, names = deps.personalize, deps.settings.personalize
    try:
        if campaign is None:
            arn = port.ensure_campaign(names.campaign, candidate.arn, names.min_campaign_tps)
            return f"campaign {arn} created"
        port.update_campaign(campaign.arn, candidate.arn)
    except ResourceInUse:
        raise
    except PersonalizeError as exc:
        return f"update failed: {exc}"
    return f"campaign {campaign.arn} updating to the candidate"


def promote_command(deps: StageDeps, campaign: Campaign | None, version_arn: str) -> str:
    """The command an operator runs to promote a held version by hand (creates the campaign the first time).

    ``storyrec promote`` records the decision in the history as well; the AWS CLI line is the fallback.
    """
    names = deps.settings.personalize
    storyrec = f"storyrec promote --version {version_arn}  # or, without storyrec: "
    if campaign is None:
        return storyrec + (
            f"aws personalize create-campaign --region {deps.settings.region} --name {names.campaign} "
            f"--solution-version-arn {version_arn} --min-provisioned-tps {names.min_campaign_tps}"
        )
    return storyrec + (
        f"aws personalize update-campaign --region {deps.settings.region} "
        f"--campaign-arn {campaign.arn} --solution-version-arn {version_arn}"
    )


def _plain(metrics: Metrics | None) -> dict[str, Any] | None:
    return dict(metrics) if metrics is not None else None


def record_and_report(
    deps: StageDeps,
    now: datetime,
    decision: Decision,
    outcome: str,
    candidate_arn: str,
    campaign: Campaign | None,
    base: SolutionVersion | None,
    evidence: Evidence,
    policy: Policy,
) -> dict[str, Any]:
    """Keep the decision in the S3 history (with every metric: a promoted version's are compared with
    later) and report it once over SNS, with the ``PromotionDecision`` metric."""
    body: dict[str, Any] = {
        "decided_at": now.isoformat(),
        "action": decision.action,
        "reasons": list(decision.reasons),
        "invalid": list(decision.invalid),
        "outcome": outcome,
        "candidate": candidate_arn,
        "serving": campaign.solution_version_arn if campaign else None,
        "baseline": base.arn if base else None,
        "campaign": campaign.arn if campaign else deps.settings.personalize.campaign,
        "metrics": {
            "candidate": _plain(evidence.candidate),
            "serving": _plain(evidence.serving),
            "baseline": _plain(evidence.baseline),
        },
        "policy": policy.as_record(),
        "promote_command": promote_command(deps, campaign, candidate_arn),
    }
    key = deps.state.record_decision(candidate_arn, body)
    failed = outcome.startswith("update failed")
    deps.metrics.put("PromotionDecision", 1, dimensions={"Action": "failed" if failed else decision.action})
    _report(deps, decision, body, key, failed, metrics_table(evidence.candidate, evidence.serving, evidence.baseline))
    _log.info("promotion decided", extra={k: body[k] for k in ("action", "outcome", "candidate", "serving")})
    return body


def _report(deps: StageDeps, decision: Decision, body: dict[str, Any], key: str, failed: bool, table: str) -> None:
    """The one SNS report of a decision (it names every missing or invalid metric when it holds for them)."""
    version = str(body["candidate"])
    subject = f"storyrec training: {decision.action} {version.rsplit('/', 1)[-1]}"
    if failed:
        subject = "storyrec campaign update failed"
    elif decision.invalid:
        subject += ": metrics missing or invalid"
    message = (
        f"Decision: {decision.action} ({body['outcome']})\n"
        + "\n".join(f"- {r}" for r in decision.reasons)
        + f"\n\n{table}\n\nCandidate: {version}\nServing:   {body['serving']}\n"
        f"Baseline:  {body['baseline']}\nHistory:   s3://{deps.bucket.bucket}/{key}\n\n"
        f"To promote by hand:\n  {body['promote_command']}\n"
    )
    deps.state.alert_once(
        deps.notifier, f"decision:{version}", subject, message, {"stage": "train", "action": decision.action}
    )
