"""The manual path of the promotion decision: an operator switches the campaign to a chosen version.

The same evidence and record as the monitor's (``decisions/<version>.json`` in the stage's state, the
SNS report, the ``PromotionDecision`` metric), with the action ``promote``, the reason "by hand" and
what the rule alone would have decided. The record keeps the version's metrics, which later decisions
compare with. Before it acts it checks that the switch is sane: the version exists, is ACTIVE, is not
already serving, and the campaign is not mid-update; then it claims the version's promotion create-only
(``promotions/<version>.json``), so a monitor pass racing it cannot switch the campaign a second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.errors import NotFound, StoryrecError
from shared.personalize.model import Campaign, Status
from shared.personalize.monitor import decision_record, gather_evidence, newest_active, record_and_report
from shared.personalize.online import verdict_table
from shared.personalize.promotion import Policy, by_hand, decide
from shared.personalize.stage import StageDeps, campaign_arn


class PromotionRefused(StoryrecError):
    """The manual promotion would not be sane (no such version, not ACTIVE, already serving, campaign busy)."""


@dataclass(frozen=True)
class ManualPromotion:
    version_arn: str
    outcome: str
    decision: dict[str, Any]


def held_version(deps: StageDeps) -> str | None:
    """The newest version a recorded decision held for an operator (manual mode), if any."""
    held = [d for d in deps.state.decisions() if d.get("action") == "hold"]
    return str(held[-1]["candidate"]) if held else None


def promote_by_hand(deps: StageDeps, version_arn: str | None = None, operator: str = "an operator") -> ManualPromotion:
    """UpdateCampaign (CreateCampaign the first time) to ``version_arn`` or the held version; record it."""
    port = deps.personalize
    version_arn = version_arn or held_version(deps)
    if not version_arn:
        raise PromotionRefused("no version was held for an operator: name one with --version")
    try:
        version = port.describe_solution_version(version_arn)
    except NotFound as exc:
        raise PromotionRefused(f"no solution version {version_arn}") from exc
    if version.status is not Status.ACTIVE:
        raise PromotionRefused(f"{version_arn} is {version.status.value}, not ACTIVE")
    arn = campaign_arn(deps)
    campaign: Campaign | None = port.describe_campaign(arn) if arn else None
    if campaign is not None:
        if campaign.solution_version_arn == version_arn:
            raise PromotionRefused(f"{version_arn} already serves in {campaign.arn}")
        busy = campaign.status.pending or (campaign.latest_update and campaign.latest_update.status.pending)
        if busy:
            raise PromotionRefused(f"campaign {campaign.arn} is being created or updated: try again when it settles")
    baseline_arn = deps.settings.aws_stage.baseline_solution
    baseline_arn = baseline_arn if baseline_arn.startswith("arn:") else port.find_arn("solution", baseline_arn) or ""
    base = newest_active(port.list_solution_versions(baseline_arn)) if baseline_arn else None
    evidence = gather_evidence(deps, version_arn, campaign, base)
    held = deps.state.decision_for(version_arn) or {}
    tested = held.get("test") if held.get("action") == "hold" and isinstance(held.get("test"), dict) else None
    if not deps.state.claim_promotion(version_arn, operator):
        raise PromotionRefused(
            f"{version_arn} is being (or was) promoted by another run: nothing done. If its campaign update "
            "failed, the monitor releases it once it has alerted; try again after that"
        )
    try:
        outcome = _switch(deps, campaign, version_arn)
    except Exception:
        deps.state.release_promotion(version_arn)  # refused or failed: nothing switched, a retry may claim it
        raise
    policy = Policy.from_settings(deps.settings.aws_stage)
    decision = by_hand(decide(evidence, policy), operator)
    body = decision_record(deps, deps.clock(), decision, outcome, version_arn, campaign, base, evidence, policy)
    table = ""
    if tested is not None:  # a verdict the online test held for an operator: it stays in the history
        body = {**body, "test": tested, "admitted_at": held.get("admitted_at")}
        table = verdict_table(tested)
    # its own report: the version's admission (or held verdict) was reported under the version's other keys
    return ManualPromotion(
        version_arn, outcome, record_and_report(deps, decision, body, evidence, test=table, once=":by-hand")
    )


def _switch(deps: StageDeps, campaign: Campaign | None, version_arn: str) -> str:
    names = deps.settings.personalize
    if campaign is None:
        created = deps.personalize.ensure_campaign(names.campaign, version_arn, names.min_campaign_tps)
        return f"campaign {created} created by hand"
    deps.personalize.update_campaign(campaign.arn, version_arn)
    return f"campaign {campaign.arn} updating to the version promoted by hand"
