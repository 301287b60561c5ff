"""Monitor use case, run on a schedule: follow imports and training to their end, then decide.

Each run: re-drive parked imports and import recent manifests whose S3 event was lost; alert once per
failed or stuck import job and solution version and per failed campaign update; start a deferred
training once imports settle; and when the newest version of the serving solution's two slots
(:mod:`shared.personalize.slots`) is ACTIVE and undecided, compare its offline metrics with the serving
version's (as recorded when it was promoted) and the popularity baseline's by the rule of
:mod:`shared.personalize.promotion`, promote, hold or keep, keep the decision in S3 and report it over SNS.
``shared.operate.promote`` (the manual path) uses the same evidence and record.

Overlapping runs (a Lambda retry, a manual promotion) act once: the decision record is created
create-only before acting, and only its writer switches the campaign (after claiming the version's
promotion, which ``storyrec promote`` claims too) and reports. Each version, the campaign and the
decision are handled on their own: one failing alerts once and the rest of the pass goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from shared.errors import NotFound
from shared.experiment.assign import Experiment
from shared.experiment.verdict import Verdict, judge
from shared.logs import get_logger
from shared.personalize.imports import ImportOutcome, import_held_isolated, import_missed, redrive_parked
from shared.personalize.model import Campaign, ResourceInUse, SolutionVersion
from shared.personalize.online import day_files, experiment, fingerprint, load_exposure, verdict_table
from shared.personalize.port import PersonalizePort
from shared.personalize.promotion import Action, Decision, Evidence, Metrics, Policy, decide, metrics_table
from shared.personalize.stage import (
    Datasets,
    StageDeps,
    campaign_arn,
    ensure_datasets,
    ensure_solutions,
    pending_imports,
)
from shared.personalize.state import AlertNotSent
from shared.personalize.training import TrainOutcome, train

_log = get_logger("personalize.monitor")
CATCH_UP_DAYS = 3  # manifests this recent that were never imported are imported by the monitor
PENDING = "pending: decided, not carried out yet"
"""The outcome of a decision record between its create-only write and the end of its action."""
T = TypeVar("T")
_OLDEST = datetime.min.replace(tzinfo=UTC)


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
    deps.state.resend_kept(deps.notifier)  # alerts an earlier run could not send (SNS down): first, each once
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
    _follow_and_decide(deps, datasets.group_arn, now, stuck, report)
    return report


class _Failed:
    """What an isolated item returns when it raised (it was alerted and counted)."""


_FAILED = _Failed()


def _isolated(deps: StageDeps, report: MonitorReport, kind: str, item: str, run: Callable[[], T]) -> T | _Failed:
    """Run one item of the pass (a version, the campaign, a decision) on its own: an error is logged,
    counted (``MonitorItemFailed``, one datum per failure), alerted once per item and error type, and the
    rest of the pass goes on; the next pass tries the item again."""
    try:
        return run()
    except AlertNotSent:  # SNS is down, not the item: the pass fails, the next one sends the kept alert
        raise
    except Exception as exc:
        _log.exception("a monitor item failed; the pass goes on", extra={"item": item})
        deps.metrics.put("MonitorItemFailed", 1, dimensions={"Item": kind})
        key = f"monitor-item-failed:{item}:{type(exc).__name__}"
        text = f"The monitor could not handle {item}: {type(exc).__name__}: {str(exc)[:1000]}\n" + (
            "The rest of the pass went on; every pass tries again (this alert is sent once)."
        )
        if deps.state.alert_once(deps.notifier, key, f"storyrec monitor: {kind} failed", text, {"stage": "aws"}):
            report.alerts.append(key)
        return _FAILED


def _follow_and_decide(deps: StageDeps, group_arn: str, now: datetime, stuck: timedelta, report: MonitorReport) -> None:
    """Follow every solution version and the campaign, then decide on the newest version; each on its own."""
    solutions = ensure_solutions(deps, group_arn)
    port = deps.personalize
    listed = _isolated(
        deps,
        report,
        "listing",
        "the solution versions",
        lambda: (slot_versions(port, solutions.slots), port.list_solution_versions(solutions.baseline)),
    )
    if isinstance(listed, _Failed):  # without the baseline's versions a decision would hold for nothing
        return
    main, baseline = listed
    for version in main + baseline:
        _isolated(
            deps,
            report,
            "version",
            f"version {version.arn}",
            lambda v=version: _follow_version(deps, v, now, stuck, report),  # type: ignore[misc]
        )
    campaign = _isolated(deps, report, "campaign", "the campaign", lambda: _campaign(deps, report))
    candidate = newest_active(main)
    if isinstance(campaign, _Failed) or candidate is None:  # not knowing what serves, deciding could create a
        return  # second campaign
    _isolated(
        deps,
        report,
        "decision",
        f"the decision on {candidate.arn}",
        lambda: _maybe_decide(deps, candidate, baseline, campaign, now, stuck, report),
    )
    _isolated(deps, report, "holdout", "the control arm's holdout", lambda: look_at_holdout(deps, campaign, now))


def _alert(deps: StageDeps, report: MonitorReport, key: str, subject: str, message: str, metric: str) -> bool:
    if deps.state.alert_once(deps.notifier, key, subject, message, {"stage": "aws"}):
        report.alerts.append(key)
        deps.metrics.put(metric)
        return True
    return False


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
        if _alert(
            deps,
            report,
            f"campaign-update-failed:{arn}:{update.solution_version_arn}:{when}",
            "storyrec campaign update failed",
            f"UpdateCampaign of {arn} to {update.solution_version_arn} ended {update.status.value}.\n"
            f"Reason: {update.failure_reason or 'not given'}\nThe campaign still serves "
            f"{campaign.solution_version_arn}.",
            "CampaignUpdateFailed",
        ):  # the switch ended: an operator may try it again with `storyrec promote`
            deps.state.release_promotion(update.solution_version_arn)
    return campaign


def slot_versions(port: PersonalizePort, slots: Iterable[str]) -> list[SolutionVersion]:
    """Every version of the serving solution's slots, newest first (the candidate is the newest ACTIVE one,
    whichever slot it was trained on)."""
    versions = [v for slot in dict.fromkeys(slots) for v in port.list_solution_versions(slot)]
    return sorted(versions, key=lambda v: v.created or _OLDEST, reverse=True)


def newest_active(versions: list[SolutionVersion]) -> SolutionVersion | None:
    """The newest ACTIVE version of a list that is newest first."""
    return next((v for v in versions if v.status.value == "ACTIVE"), None)


def _maybe_decide(
    deps: StageDeps,
    candidate: SolutionVersion,
    baseline: list[SolutionVersion],
    campaign: Campaign | None,
    now: datetime,
    stuck: timedelta,
    report: MonitorReport,
) -> None:
    if campaign and candidate.arn == campaign.solution_version_arn:
        return
    recorded = deps.state.decision_for(candidate.arn)
    if recorded is not None:
        if recorded.get("action") == "test" and recorded.get("outcome") != PENDING:
            report.decision = _judge_test(deps, candidate, recorded, campaign, now, report)
            return
        _check_carried_out(deps, candidate.arn, recorded, now, stuck, report)
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
    body = decision_record(deps, now, decision, PENDING, candidate.arn, campaign, base, evidence, policy)
    report.decision = _decide_once(deps, decision, body, candidate, campaign, evidence, report)


def _decide_once(
    deps: StageDeps,
    decision: Decision,
    body: dict[str, Any],
    candidate: SolutionVersion,
    campaign: Campaign | None,
    evidence: Evidence,
    report: MonitorReport,
) -> dict[str, Any] | None:
    """Write the decision record create-only, then act and report only if this run wrote it: of any number
    of overlapping passes (and a manual promotion) exactly one calls UpdateCampaign and reports."""
    version = candidate.arn
    if not deps.state.claim_decision(version, body):
        _log.info("another run decided this version first: nothing done", extra={"version": version})
        return None
    if decision.action == "promote" and not deps.state.claim_promotion(version, "the monitor"):
        _log.info("another run is promoting this version: nothing done", extra={"version": version})
        return None  # that run (storyrec promote) rewrites the record and reports
    try:
        outcome = _act(deps, decision, candidate, campaign)
    except ResourceInUse as exc:  # nothing started: give the claims back and decide again on the next pass
        deps.state.release_promotion(version)
        deps.state.release_decision(version)
        report.waiting.append(f"campaign busy: {exc}")
        return None
    if outcome.startswith("update failed"):
        deps.state.release_promotion(version)  # nothing switched: an operator may promote it by hand
    return record_and_report(deps, decision, {**body, "outcome": outcome}, evidence)


def _check_carried_out(
    deps: StageDeps, version: str, recorded: dict[str, Any], now: datetime, stuck: timedelta, report: MonitorReport
) -> None:
    """A record still pending long after it was written: its writer stopped between deciding and acting."""
    if recorded.get("outcome") != PENDING:
        return
    try:
        decided = datetime.fromisoformat(str(recorded.get("decided_at")))
    except ValueError:
        decided = None
    if decided is not None and decided.tzinfo is not None and now - decided <= stuck:
        return
    _alert(
        deps,
        report,
        f"decision-not-carried-out:{version}",
        "storyrec decision not carried out",
        f"The decision on {version} ({recorded.get('action')}) was recorded at {recorded.get('decided_at')} but "
        "its run stopped before acting; nothing will retry it.\n"
        f"To promote by hand:\n  {recorded.get('promote_command')}\n",
        "DecisionNotCarriedOut",
    )


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
    """Carry out the decision (only ``promote`` calls Personalize); ResourceInUse means nothing started."""
    if decision.action == "test" and campaign is not None and campaign.solution_version_arn:
        previous = deps.state.current_test()
        deps.state.start_test(campaign.solution_version_arn, candidate.arn)
        if previous and previous.get("challenger") not in (None, candidate.arn):
            _replaced(deps, str(previous["challenger"]), candidate.arn)
        return "admitted to the challenger test"
    if decision.action != "promote":
        return {"hold": "held for an operator", "retire": "retired: the serving version stays"}.get(
            decision.action, "kept the serving version"
        )
    port, names = deps.personalize, deps.settings.personalize
    try:
        if campaign is None:
            arn = port.ensure_campaign(names.campaign, candidate.arn, names.min_campaign_tps)
            return f"campaign {arn} created"
        port.update_campaign(campaign.arn, candidate.arn)
    except ResourceInUse:
        raise
    except Exception as exc:  # the decision stays recorded and is reported as failed, with the command to retry
        return f"update failed: {type(exc).__name__}: {exc}"
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


def decision_record(
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
    """The decision as kept in the S3 history, with every metric (a promoted version's are compared with later)."""
    return {
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


def record_and_report(
    deps: StageDeps,
    decision: Decision,
    body: dict[str, Any],
    evidence: Evidence,
    *,
    test: str = "",
    once: str | None = None,
) -> dict[str, Any]:
    """Keep the acted decision in the S3 history and report it once over SNS, with one ``PromotionDecision``
    datum. Only the run that won the decision (or the promotion, or the test's verdict) calls this; ``test``
    is the online test's table when the test decided; ``once`` tells this report from the version's earlier
    ones (default: the admission's, or the test's verdict's)."""
    candidate_arn = str(body["candidate"])
    key = deps.state.record_decision(candidate_arn, body)
    failed = str(body["outcome"]).startswith("update failed")
    deps.metrics.put("PromotionDecision", 1, dimensions={"Action": "failed" if failed else decision.action})
    table = metrics_table(evidence.candidate, evidence.serving, evidence.baseline)
    suffix = once if once is not None else (":test" if test else "")
    _report(deps, decision, body, key, failed, f"{test}\n\n{table}" if test else table, once=suffix)
    _log.info("promotion decided", extra={k: body[k] for k in ("action", "outcome", "candidate", "serving")})
    return body


def _report(
    deps: StageDeps, decision: Decision, body: dict[str, Any], key: str, failed: bool, table: str, once: str = ""
) -> None:
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
        deps.notifier, f"decision:{version}{once}", subject, message, {"stage": "train", "action": decision.action}
    )


def _replaced(deps: StageDeps, previous: str, newer: str) -> None:
    """A newer candidate took the challenger arm: the one under test is retired (once, reported once)."""
    recorded = deps.state.decision_for(previous)
    if recorded is None or recorded.get("action") != "test":
        return
    why = f"a newer candidate ({newer}) took its place in the challenger test before it was decided"
    body = {
        **recorded, "decided_at": deps.clock().isoformat(), "admitted_at": recorded.get("decided_at"),
        "action": "retire", "reasons": [why], "outcome": "retired: the serving version stays",
    }
    if not deps.state.claim_verdict(previous, body):
        return
    kept = recorded.get("metrics")
    metrics: dict[str, Any] = kept if isinstance(kept, dict) else {}
    serving = recorded.get("serving")
    evidence = Evidence(metrics.get("candidate"), metrics.get("baseline"), serving, metrics.get("serving"))
    record_and_report(deps, Decision("retire", (why,)), body, evidence, test=f"Test replaced: {why}")


def _look(deps: StageDeps, test: Experiment, now: datetime, candidate: str | None) -> Verdict | None:
    """Judge the test's exposure so far and keep the look for status and the report; None when no day file
    changed since the last look (the files change once a day; the monitor runs every 15 minutes)."""
    eid = test.experiment_id or ""
    files = day_files(deps.bucket, deps.settings, eid)
    seen = fingerprint(files)
    last = deps.state.look(eid)
    if last is not None and last.get("fingerprint") == seen and last.get("action") not in ("promote", "retire"):
        return None
    verdict = judge(test, load_exposure(deps.bucket, deps.settings, eid, files), deps.settings.experiment)
    body = {**verdict.as_record(), "looked_at": now.isoformat(), "candidate": candidate, "fingerprint": seen}
    deps.state.record_look(eid, body)
    return verdict


def look_at_holdout(deps: StageDeps, campaign: Campaign | None, now: datetime) -> Verdict | None:
    """The control arm's holdout while no challenger is under test: measured and kept, never decided on."""
    if campaign is None or not campaign.solution_version_arn or deps.state.current_test() is not None:
        return None
    test = experiment(deps.settings, campaign.solution_version_arn, None)
    return _look(deps, test, now, None) if test.experiment_id else None


def _judge_test(
    deps: StageDeps,
    candidate: SolutionVersion,
    recorded: dict[str, Any],
    campaign: Campaign | None,
    now: datetime,
    report: MonitorReport,
) -> dict[str, Any] | None:
    """Look at the challenger test of ``candidate`` (admitted by the offline rule) and act once on its verdict."""
    version, champion = candidate.arn, recorded.get("serving")
    if campaign is None or not champion or campaign.solution_version_arn != champion:
        _alert(
            deps, report, f"test-void:{version}", "storyrec test void: the champion changed",
            f"The test of {version} compares it with {champion}, which no longer serves "
            f"({campaign.solution_version_arn if campaign else 'no campaign'}). Nothing is decided by the test; "
            f"to promote the candidate by hand:\n  {recorded.get('promote_command')}\n",
            "ExperimentVoid",
        )
        return None
    test = experiment(deps.settings, str(champion), version)
    verdict = _look(deps, test, now, version)
    if verdict is None:
        report.waiting.append(f"test {test.experiment_id}: no new exposure since the last look")
        return None
    eid = test.experiment_id or ""
    if verdict.action == "blocked":
        _alert(
            deps, report, f"test-blocked:{eid}", "storyrec test blocked: sample ratio mismatch",
            verdict_table(verdict) + "\n\nThe arms' sizes do not match their shares: an assignment or logging "
            "fault makes them incomparable. Nothing is decided until it is fixed (a new test re-draws the arms).",
            "ExperimentBlocked",
        )
    if verdict.action not in ("promote", "retire"):
        report.waiting.append(f"test {eid}: {verdict.action}: {'; '.join(verdict.reasons)}"[:500])
        return None
    auto = deps.settings.experiment.auto
    said: Action = "promote" if verdict.action == "promote" else "retire"
    action: Action = said if auto else "hold"
    reasons = verdict.reasons + (() if auto else (f"the test says {verdict.action}: held for an operator",))
    decision = Decision(action, reasons)
    body = {
        **recorded, "decided_at": now.isoformat(), "admitted_at": recorded.get("decided_at"), "action": action,
        "reasons": list(reasons), "outcome": PENDING, "test": verdict.as_record(),
    }
    if not deps.state.claim_verdict(version, body):
        return None
    if action == "promote" and not deps.state.claim_promotion(version, "the online test"):
        return None
    try:
        outcome = _act(deps, decision, candidate, campaign)
    except ResourceInUse as exc:
        deps.state.release_promotion(version)
        deps.state.release_verdict(version)
        report.waiting.append(f"campaign busy: {exc}")
        return None
    if outcome.startswith("update failed"):
        deps.state.release_promotion(version)
    deps.state.end_test(version)
    kept = recorded.get("metrics")
    metrics: dict[str, Any] = kept if isinstance(kept, dict) else {}
    evidence = Evidence(metrics.get("candidate"), metrics.get("baseline"), str(champion), metrics.get("serving"))
    return record_and_report(deps, decision, {**body, "outcome": outcome}, evidence, test=verdict_table(verdict))
