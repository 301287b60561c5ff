"""One decision, one report, one campaign switch per version, whatever overlaps; and a monitor pass that
handles each version, the campaign and the decision on its own (issue 19, items 2, 5 and 8), on the fakes.

Overlaps are made deterministic: a second run (a monitor pass or ``storyrec promote``) is started from
inside the first one, at a chosen point (while it gathers metrics, or as it switches the campaign)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.adapters.memory import RecordingMetrics
from shared.errors import ServiceUnavailable
from shared.operate.promote import PromotionRefused, promote_by_hand
from shared.personalize.model import CampaignUpdate, PersonalizeError, ResourceInUse, Status
from shared.personalize.monitor import PENDING, monitor
from shared.personalize.stage import StageDeps
from tests.unit.aws.fakes import FakePersonalize
from tests.unit.aws.test_monitor_rules import GOOD, NOW, P, _deps, _trained

pytestmark = pytest.mark.unit

BETTER = {**GOOD, P: 0.5}


def _serving_old(deps: StageDeps, port: FakePersonalize) -> str:
    arn = port.ensure_campaign("storyrec-feed", "old", 1)
    deps.state.record_decision("old", {"action": "promote", "metrics": {"candidate": GOOD}})
    return arn


def _switches(port: FakePersonalize, version: str) -> Callable[[], int]:
    """Counts UpdateCampaign and CreateCampaign calls to ``version`` (CreateCampaign is idempotent in the fake)."""
    calls: list[str] = []
    update, create = port.update_campaign, port.ensure_campaign

    def counted_update(campaign_arn: str, solution_version_arn: str) -> None:
        calls.append(solution_version_arn)
        update(campaign_arn, solution_version_arn)

    def counted_create(name: str, solution_version_arn: str, min_tps: int) -> str:
        calls.append(solution_version_arn)
        return create(name, solution_version_arn, min_tps)

    port.update_campaign = counted_update  # type: ignore[method-assign]
    port.ensure_campaign = counted_create  # type: ignore[method-assign]
    return lambda: calls.count(version)


def _reports(deps: StageDeps) -> list[str]:
    return [s for s, _, _ in deps.notifier.sent if s.startswith("storyrec training:")]  # type: ignore[attr-defined]


def _points(deps: StageDeps, name: str) -> list[dict[str, str]]:
    assert isinstance(deps.metrics, RecordingMetrics)
    return [p[3] for p in deps.metrics.points if p[0] == name]


def _run(deps: StageDeps, who: str, version: str) -> None:
    if who == "monitor":
        monitor(deps)
    else:
        with contextlib.suppress(PromotionRefused):  # the other run switches it
            promote_by_hand(deps, version, operator="ana")


def _intrude(port: FakePersonalize, method: str, run: Callable[[], None]) -> None:
    """Run ``run`` once, from inside the first call of ``port.<method>`` (before the call itself)."""
    original = getattr(port, method)
    fired: list[bool] = []

    def hooked(*args: Any, **kwargs: Any) -> Any:
        if not fired:
            fired.append(True)
            run()
        return original(*args, **kwargs)

    setattr(port, method, hooked)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=st.sampled_from(["monitor", "promote"]),
    second=st.sampled_from(["monitor", "promote"]),
    at=st.sampled_from(["solution_metrics", "describe_campaign", "update_campaign", "list_solution_versions"]),
    nothing_serves=st.booleans(),
)
def test_any_two_overlapping_runs_switch_the_campaign_once_and_report_once(
    first: str, second: str, at: str, nothing_serves: bool
) -> None:
    deps, port, _, _ = _deps()
    if not nothing_serves:
        _serving_old(deps, port)
    version, _ = _trained(deps, port, BETTER, {P: 0.1})
    switches = _switches(port, version)
    _intrude(
        port,
        "ensure_campaign" if nothing_serves and at == "update_campaign" else at,
        lambda: _run(deps, second, version),
    )
    _run(deps, first, version)
    monitor(deps)  # a later pass repeats nothing
    assert switches() == 1
    assert len(_reports(deps)) == 1
    assert _points(deps, "PromotionDecision") == [{"Action": "promote"}]
    assert (deps.state.decision_for(version) or {})["action"] == "promote"
    assert (deps.state.decision_for(version) or {})["outcome"] != PENDING


def test_three_passes_nested_in_each_other_make_one_update_and_one_report() -> None:
    deps, port, _, _ = _deps()
    _serving_old(deps, port)
    version, _ = _trained(deps, port, BETTER, {P: 0.1})
    switches = _switches(port, version)
    _intrude(port, "solution_metrics", lambda: monitor(deps))
    _intrude(port, "describe_campaign", lambda: monitor(deps))
    monitor(deps)
    assert switches() == 1 and len(_reports(deps)) == 1 and len(_points(deps, "PromotionDecision")) == 1


def test_a_busy_campaign_gives_the_claims_back_and_the_next_pass_decides() -> None:
    deps, port, _, _ = _deps()
    arn = _serving_old(deps, port)
    version, _ = _trained(deps, port, BETTER, {P: 0.1})
    update = port.update_campaign

    def refused(campaign_arn: str, solution_version_arn: str) -> None:
        raise ResourceInUse("ResourceInUseException", "an update is pending")

    port.update_campaign = refused  # type: ignore[method-assign]
    report = monitor(deps)
    assert report.decision is None and any("campaign busy" in w for w in report.waiting)
    assert deps.state.decision_for(version) is None and _reports(deps) == []
    port.update_campaign = update  # type: ignore[method-assign]
    assert (monitor(deps).decision or {})["action"] == "promote" and port.updates == [(arn, version)]


def test_a_failed_update_is_reported_once_and_an_operator_may_then_promote_by_hand() -> None:
    deps, port, notifier, _ = _deps()
    _serving_old(deps, port)
    version, _ = _trained(deps, port, BETTER, {P: 0.1})
    update = port.update_campaign

    def broken(campaign_arn: str, solution_version_arn: str) -> None:
        raise ServiceUnavailable("connection reset")

    port.update_campaign = broken  # type: ignore[method-assign]
    decision = monitor(deps).decision
    assert decision and decision["outcome"].startswith("update failed")
    assert [s for s, _, _ in notifier.sent] == ["storyrec campaign update failed"]
    assert _points(deps, "PromotionDecision") == [{"Action": "failed"}]
    port.update_campaign = update  # type: ignore[method-assign]
    assert promote_by_hand(deps, version, operator="ana").version_arn == version
    assert port.updates[-1][1] == version


def test_an_asynchronously_failed_update_releases_the_version_for_a_manual_retry() -> None:
    deps, port, _, _ = _deps()
    arn = _serving_old(deps, port)
    version, _ = _trained(deps, port, BETTER, {P: 0.1})
    monitor(deps)
    with pytest.raises(PromotionRefused):  # being switched
        promote_by_hand(deps, version, operator="ana")
    campaign = port.campaigns[arn]
    port.campaigns[arn] = type(campaign)(
        **{**campaign.__dict__, "latest_update": CampaignUpdate(version, Status.CREATE_FAILED, "no capacity", NOW)}
    )
    assert any(a.startswith("campaign-update-failed:") for a in monitor(deps).alerts)
    assert promote_by_hand(deps, version, operator="ana").version_arn == version


def test_a_run_that_stopped_between_deciding_and_acting_is_alerted_once_when_stale() -> None:
    deps, port, notifier, clock = _deps()
    _serving_old(deps, port)
    version, _ = _trained(deps, port, BETTER, {P: 0.1})
    body = {"action": "promote", "outcome": PENDING, "decided_at": NOW.isoformat(), "promote_command": "storyrec x"}
    assert deps.state.claim_decision(version, body)
    assert monitor(deps).alerts == [] and port.updates == []  # fresh: its writer may still be acting
    clock[0] = NOW + timedelta(days=2)
    assert monitor(deps).alerts == [f"decision-not-carried-out:{version}"]
    assert monitor(deps).alerts == [] and port.updates == []
    assert [s for s, _, _ in notifier.sent] == ["storyrec decision not carried out"]


# isolation ---------------------------------------------------------------------------------------------


def test_metrics_failing_for_the_candidate_alert_once_count_each_time_and_the_pass_goes_on() -> None:
    deps, port, notifier, _ = _deps()
    version, _ = _trained(deps, port, BETTER, {P: 0.1})
    metrics = port.solution_metrics

    def flaky(arn: str) -> dict[str, float]:
        if arn == version:
            raise PersonalizeError("InternalError", "boom")
        return metrics(arn)

    port.solution_metrics = flaky  # type: ignore[method-assign]
    first, second = monitor(deps), monitor(deps)
    assert [a.split(":", 1)[0] for a in first.alerts] == ["monitor-item-failed"] and second.alerts == []
    assert first.decision is None and deps.state.decision_for(version) is None  # nothing recorded: retried
    assert _points(deps, "MonitorItemFailed") == [{"Item": "decision"}, {"Item": "decision"}]
    assert len(notifier.sent) == 1 and "boom" in notifier.sent[0][1]
    port.solution_metrics = metrics  # type: ignore[method-assign]
    assert (monitor(deps).decision or {})["action"] == "promote"


def test_one_version_that_cannot_be_described_does_not_stop_the_decision_on_another() -> None:
    deps, port, _, _ = _deps()
    bad, _ = _trained(deps, port, GOOD, {P: 0.1})
    port.set_version(bad, Status.CREATE_FAILED)  # no reason: the monitor describes it, which fails
    version, _ = _trained(deps, port, BETTER, {P: 0.1})

    def describe(arn: str) -> Any:
        raise PersonalizeError("ResourceNotFoundException", f"{arn} vanished")

    port.describe_solution_version = describe  # type: ignore[method-assign]
    report = monitor(deps)
    assert (report.decision or {}).get("candidate") == version
    assert [a for a in report.alerts if a.startswith("monitor-item-failed:version")]
    assert monitor(deps).alerts == []


def test_a_campaign_that_cannot_be_described_stops_only_the_decision() -> None:
    deps, port, _, _ = _deps()
    _serving_old(deps, port)
    version, _ = _trained(deps, port, BETTER, {P: 0.1})

    def describe(arn: str) -> Any:
        raise ServiceUnavailable("timeout")

    port.describe_campaign = describe  # type: ignore[method-assign]
    switches = _switches(port, version)
    report = monitor(deps)
    assert report.decision is None and switches() == 0  # never a second campaign for not knowing the first
    assert _points(deps, "MonitorItemFailed") == [{"Item": "campaign"}]


def test_a_corrupt_decision_record_never_makes_a_pass_raise_nor_acts() -> None:
    deps, port, _, _ = _deps()
    _serving_old(deps, port)
    version, _ = _trained(deps, port, BETTER, {P: 0.1})
    key = deps.state._decision_key(version)
    deps.bucket.put_bytes(deps.state.prefix + key, b"{not json")
    switches = _switches(port, version)
    for _ in range(2):
        assert monitor(deps).decision is None
    assert switches() == 0
    assert all(d.get("action") for d in deps.state.decisions())  # the history skips it


@settings(max_examples=60, deadline=None)
@given(
    failing=st.sets(
        st.sampled_from(["describe_solution_version", "solution_metrics", "describe_campaign", "update_campaign"])
    ),
    error=st.sampled_from(
        [lambda: ServiceUnavailable("down"), lambda: PersonalizeError("X", "no"), lambda: ValueError()]
    ),
)
def test_no_failing_call_makes_a_pass_raise_or_switch_twice(failing: set[str], error: Callable[[], Exception]) -> None:
    deps, port, _, _ = _deps()
    _serving_old(deps, port)
    bad, _ = _trained(deps, port, GOOD, {P: 0.1})
    port.set_version(bad, Status.CREATE_FAILED)
    version, _ = _trained(deps, port, BETTER, {P: 0.1})
    switches = _switches(port, version)
    for name in failing:
        setattr(port, name, lambda *a, **k: (_ for _ in ()).throw(error()))
    for _ in range(3):
        monitor(deps)
    assert switches() <= 1 and len(_reports(deps)) <= 1
    sent = [json.dumps(s) for s, _, _ in deps.notifier.sent]  # type: ignore[attr-defined]
    assert len(sent) == len(set(sent))  # each alert once


def test_a_decision_report_sns_could_not_take_is_sent_by_the_next_pass_once() -> None:
    """SNS down as the version is decided: the decision stands (recorded, acted on once), and its report, whose
    marker ``alert_once`` removed, is sent by the next pass with SNS back, once (issue 24: SNS down, AWS stage)."""
    deps, port, _, _ = _deps()
    _serving_old(deps, port)
    version, _ = _trained(deps, port, BETTER, {P: 0.1})
    switches = _switches(port, version)
    send = deps.notifier.notify

    def down(subject: str, message: str, attributes: Any = None) -> str:
        raise ServiceUnavailable("SNS unreachable: connection refused")

    deps.notifier.notify = down  # type: ignore[method-assign]
    with contextlib.suppress(ServiceUnavailable):  # the pass fails: the Lambda's next scheduled pass comes
        monitor(deps)
    assert (deps.state.decision_for(version) or {})["action"] == "promote" and switches() == 1
    deps.notifier.notify = send  # type: ignore[method-assign]
    monitor(deps)
    monitor(deps)
    assert len(_reports(deps)) == 1 and switches() == 1
    assert _reports(deps)[0].startswith("storyrec training: promote")
    # SNS being down is not an item's failure: no "storyrec monitor: decision failed" about it
    assert [s for s, _, _ in deps.notifier.sent] == _reports(deps)  # type: ignore[attr-defined]


def test_sns_down_while_importing_held_days_fails_the_run_without_an_alert_about_itself(monkeypatch: Any) -> None:
    from shared.personalize import imports
    from shared.personalize.state import AlertNotSent

    deps, _, _, _ = _deps()

    def lost_alert_refused(_: StageDeps) -> Any:
        raise AlertNotSent("alert 'held-lost:x' not sent (kept for the next pass): SNS unreachable")

    monkeypatch.setattr(imports, "import_held", lost_alert_refused)
    with pytest.raises(AlertNotSent):
        imports.import_held_isolated(deps)
    assert deps.notifier.sent == [] and deps.bucket.list("storyrec-state/alerts-kept/") == []  # type: ignore[attr-defined]
