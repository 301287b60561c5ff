"""The total promotion rule through the monitor use case and the manual path, on the in-memory fakes."""

from __future__ import annotations

import math

import pytest

from shared.adapters.memory import RecordingMetrics
from shared.errors import NotFound
from shared.operate.promote import promote_by_hand
from shared.personalize.model import Status
from shared.personalize.monitor import monitor
from shared.personalize.stage import StageDeps
from shared.personalize.training import train
from tests.unit.aws.fakes import FakePersonalize
from tests.unit.aws.test_monitor_rules import GOOD, P, _deps, _trained

pytestmark = pytest.mark.unit


def _reports(sent: list[tuple[str, str, dict[str, str]]]) -> list[tuple[str, str]]:
    return [(s, m) for s, m, _ in sent if s.startswith("storyrec training:")]


def _serving(deps: StageDeps, port: FakePersonalize, version: str, recorded: dict[str, float] | None) -> None:
    """A campaign serving ``version``; ``recorded``: the metrics its promotion record kept (None: no record)."""
    port.ensure_campaign("storyrec-feed", version, 1)
    if recorded is not None:
        deps.state.record_decision(version, {"action": "promote", "metrics": {"candidate": recorded}})


def test_a_nan_first_version_with_the_baseline_failed_is_held_with_one_report_naming_it() -> None:
    deps, port, notifier, _ = _deps()
    run = train(deps, "storyrec-20261201")
    port.set_version(run.versions["main"], Status.ACTIVE, {**GOOD, P: math.nan})
    port.set_version(run.versions["baseline"], Status.CREATE_FAILED, reason="too few interactions")
    decision = monitor(deps).decision
    assert decision and decision["action"] == "hold" and port.campaigns == {}
    assert f"candidate: {P} is nan" in decision["invalid"] and "baseline: no metrics" in decision["invalid"]
    [(subject, message)] = _reports(notifier.sent)
    assert subject.endswith("metrics missing or invalid") and f"{P} is nan" in message
    assert monitor(deps).decision is None and len(_reports(notifier.sent)) == 1  # decided and reported once
    assert isinstance(deps.metrics, RecordingMetrics)
    assert [p[3] for p in deps.metrics.points if p[0] == "PromotionDecision"] == [{"Action": "hold"}]


@pytest.mark.parametrize("recorded", [{k: v for k, v in GOOD.items() if k != P}, None])
def test_a_serving_version_without_a_recorded_primary_metric_holds_a_candidate_that_beats_the_baseline(
    recorded: dict[str, float] | None,
) -> None:
    deps, port, notifier, _ = _deps()
    _serving(deps, port, "old", recorded)
    port.metrics["old"] = {**GOOD, P: 0.9}  # far better, but only a look-up would say so: the rule never looks up
    version, _ = _trained(deps, port, {**GOOD, P: 0.5}, {P: 0.1})
    decision = monitor(deps).decision
    assert decision and decision["action"] == "hold" and port.updates == []
    assert any("serving version old" in problem for problem in decision["invalid"])
    [(subject, _message)] = _reports(notifier.sent)
    assert version.rsplit("/", 1)[-1] in subject


def test_the_serving_version_is_compared_by_the_metrics_recorded_when_it_was_promoted() -> None:
    deps, port, _, _ = _deps()
    first, _ = _trained(deps, port, GOOD, {P: 0.1})
    assert (monitor(deps).decision or {})["action"] == "promote"
    port.metrics[first] = {**GOOD, P: 0.99}  # a later look-up would answer otherwise: it is not made
    second, _ = _trained(deps, port, {**GOOD, P: 0.5}, {P: 0.1})
    decision = monitor(deps).decision
    assert decision and decision["action"] == "promote" and decision["metrics"]["serving"] == GOOD
    assert deps.state.promoted_metrics(second) == {**GOOD, P: 0.5}


def test_a_version_with_no_metrics_at_all_is_held_and_the_pass_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    deps, port, _, _ = _deps()
    version, _ = _trained(deps, port, GOOD, {P: 0.1})
    looked_up = port.solution_metrics

    def metrics(arn: str) -> dict[str, float]:
        if arn == version:
            raise NotFound(arn)
        return looked_up(arn)

    monkeypatch.setattr(port, "solution_metrics", metrics)
    decision = monitor(deps).decision
    assert decision and decision["action"] == "hold" and decision["invalid"] == ["candidate: no metrics"]
    assert port.campaigns == {}


def test_an_operator_may_promote_a_held_version_and_its_recorded_metrics_gate_the_next_one() -> None:
    deps, port, _, _ = _deps()
    held, _ = _trained(deps, port, {**GOOD, "coverage": math.inf}, {P: 0.1})
    assert (monitor(deps).decision or {})["action"] == "hold"
    promoted = promote_by_hand(deps, operator="ana")
    assert promoted.version_arn == held
    reasons = promoted.decision["reasons"]
    assert reasons[0] == "promoted by hand by ana" and reasons[1].startswith("the rule alone: hold")
    assert deps.state.promoted_metrics(held) == {**GOOD, "coverage": math.inf}
    _trained(deps, port, {**GOOD, P: 0.5}, {P: 0.1})  # better, but the serving coverage is not a number to beat
    decision = monitor(deps).decision
    assert decision and decision["action"] == "hold" and port.updates == []
    assert decision["invalid"] == [f"serving version {held}: coverage is inf"]
