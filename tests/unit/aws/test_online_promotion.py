"""Promotion mode ``online`` through the monitor on the in-memory fakes: the offline rule admits a version to
the challenger test, and the test's verdict on generated readers (infra/local/readers.py) promotes or retires
it, once, with one report and one PromotionDecision datum; a sample-ratio mismatch blocks and alerts once."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from infra.local.readers import Readers, personalised, popular, run_test
from shared.adapters.memory import RecordingMetrics
from shared.experiment.exposure import exposure_key, to_csv
from shared.operate.promote import PromotionRefused, held_version, promote_by_hand
from shared.personalize.monitor import monitor
from shared.personalize.online import experiment, exposure_prefix
from shared.personalize.stage import StageDeps
from tests.unit.aws.test_monitor_rules import GOOD, P, _deps, _trained

pytestmark = pytest.mark.unit

ONLINE = {
    "STORYREC_PROMOTION_MODE": "online",
    "STORYREC_EXPERIMENT_MIN_DAYS": "7",
    "STORYREC_EXPERIMENT_MAX_DAYS": "28",
    "STORYREC_EXPERIMENT_CHALLENGER_SHARE": "0.2",
    "STORYREC_EXPERIMENT_EXPECTED_USERS": "2000",
}


def _admitted(env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    deps, port, notifier, clock = _deps({**ONLINE, **(env or {})})
    first, _ = _trained(deps, port, GOOD, {P: 0.1})
    assert (monitor(deps).decision or {})["action"] == "promote"  # nothing serves: no champion to test against
    second, _ = _trained(deps, port, {**GOOD, P: 0.5}, {P: 0.1})
    decision = monitor(deps).decision
    assert decision and decision["action"] == "test" and decision["outcome"] == "admitted to the challenger test"
    assert port.updates == [] and deps.state.current_test() == {
        "champion": first, "challenger": second, "started_at": clock[0].isoformat()
    }
    return deps, port, notifier, first, second


def _expose(deps: StageDeps, champion: str, challenger: str, noise: float, days: int, seed: int = 3,
            drop: float = 0.0) -> None:
    """Write the test's daily exposure files as the export would, from readers served by their arms' models."""
    test = experiment(deps.settings, champion, challenger)
    policies = {"champion": personalised(1.0), "challenger": personalised(noise), "control": popular}
    for d, rows in enumerate(run_test(Readers(8000, seed=seed), test, policies, days, seed)):
        if drop:
            rows = [r for r in rows if r.arm != "challenger" or hash(r.user_id) % 100 >= drop * 100]
        key = exposure_key(exposure_prefix(deps.settings), test.experiment_id or "", date(2026, 12, 2) + timedelta(d))
        deps.bucket.put_bytes(key, to_csv(rows))


def _decisions(deps: StageDeps) -> list[str]:
    assert isinstance(deps.metrics, RecordingMetrics)
    return [p[3]["Action"] for p in deps.metrics.points if p[0] == "PromotionDecision"]


def test_a_better_challenger_is_promoted_by_its_test_once() -> None:
    deps, port, notifier, first, second = _admitted()
    _expose(deps, first, second, noise=0.3, days=3)
    assert monitor(deps).decision is None  # 3 of 7 days: waits
    _expose(deps, first, second, noise=0.3, days=21)
    decision = monitor(deps).decision
    assert decision and decision["action"] == "promote" and port.updates[-1][1] == second
    assert decision["test"]["action"] == "promote" and decision["admitted_at"]
    assert deps.state.promoted_metrics(second) == {**GOOD, P: 0.5}  # later offline rules compare with these
    assert deps.state.current_test() is None
    reports = [(s, m) for s, m, _ in notifier.sent if s == f"storyrec training: promote {second.rsplit('/', 1)[-1]}"]
    assert len(reports) == 1 and "challenger vs champion, clicks_per_user" in reports[0][1]
    assert monitor(deps).decision is None and _decisions(deps) == ["promote", "test", "promote"]


def test_a_worse_challenger_is_retired_and_the_champion_keeps_serving() -> None:
    deps, port, _notifier, first, second = _admitted()
    _expose(deps, first, second, noise=3.0, days=21)
    decision = monitor(deps).decision
    assert decision and decision["action"] == "retire" and port.updates == []
    assert decision["outcome"] == "retired: the serving version stays"
    assert next(iter(port.campaigns.values())).solution_version_arn == first
    assert monitor(deps).decision is None and _decisions(deps)[-1] == "retire"


def test_a_verdict_is_held_for_an_operator_when_the_test_may_not_act() -> None:
    deps, port, _notifier, first, second = _admitted({"STORYREC_EXPERIMENT_AUTO": "false"})
    _expose(deps, first, second, noise=0.3, days=21)
    decision = monitor(deps).decision
    assert decision and decision["action"] == "hold" and port.updates == []
    assert "the test says promote: held for an operator" in decision["reasons"]
    assert "storyrec promote --version" in decision["promote_command"]


def test_a_sample_ratio_mismatch_blocks_the_decision_and_alerts_once() -> None:
    deps, port, notifier, first, second = _admitted()
    _expose(deps, first, second, noise=0.3, days=21, drop=0.3)  # a third of the challenger's exposure is lost
    assert monitor(deps).decision is None and monitor(deps).decision is None
    blocked = [s for s, _, _ in notifier.sent if "sample ratio mismatch" in s]
    assert blocked == ["storyrec test blocked: sample ratio mismatch"] and port.updates == []
    [look] = deps.state.looks()
    assert look["action"] == "blocked" and look["srm_p"] < 0.001


def test_overlapping_passes_decide_once(monkeypatch: pytest.MonkeyPatch) -> None:
    deps, port, notifier, first, second = _admitted()
    _expose(deps, first, second, noise=0.3, days=21)
    assert deps.state.claim_verdict(second, {"by": "another pass"})  # another pass won the verdict
    assert monitor(deps).decision is None and port.updates == []
    assert not [s for s, _, _ in notifier.sent if s == f"storyrec training: promote {second.rsplit('/', 1)[-1]}"]


def test_the_offline_rule_only_admits_to_the_test_in_online_mode() -> None:
    from shared.personalize.promotion import Evidence, Policy, decide

    online = Policy(online=True)
    assert decide(Evidence({**GOOD, P: 0.4}, {P: 0.1}, "v0", GOOD), online).action == "test"
    assert decide(Evidence({**GOOD, P: 0.302}, {P: 0.1}, "v0", GOOD), online).action == "keep"  # not admitted
    assert decide(Evidence({**GOOD, P: 0.4}, {P: 0.1}), online).action == "promote"  # nothing serves yet
    assert decide(Evidence({**GOOD, P: float("nan")}, {P: 0.1}, "v0", GOOD), online).action == "hold"
    assert online.as_record()["mode"] == "online"


def test_the_holdout_is_measured_in_every_mode_and_looked_at_once_per_new_day() -> None:
    deps, port, _notifier, clock = _deps()  # promotion mode auto: the control arm still runs
    first, _ = _trained(deps, port, GOOD, {P: 0.1})
    monitor(deps)
    test = experiment(deps.settings, first, None)
    policies = {"champion": personalised(1.0), "control": popular}
    days = run_test(Readers(8000, seed=4), test, policies, 10, 4)
    prefix = exposure_prefix(deps.settings)
    for d, rows in enumerate(days[:9]):
        deps.bucket.put_bytes(exposure_key(prefix, test.experiment_id or "", date(2026, 12, 2) + timedelta(d)),
                              to_csv(rows))
    monitor(deps)
    [look] = deps.state.looks()
    assert look["experiment_id"] == "holdout-0001" and look["action"] == "wait" and look["days"] == 9
    lift = next(x for x in look["lifts"] if x["metric"] == "clicks_per_user")
    assert lift["treatment"] == "champion" and lift["always_valid_interval"][0] > 0  # recommendations beat popular
    clock[0] += timedelta(minutes=15)
    monitor(deps)
    assert deps.state.looks()[0]["looked_at"] == look["looked_at"]  # no new day file: not looked at again
    deps.bucket.put_bytes(exposure_key(prefix, test.experiment_id or "", date(2026, 12, 11)), to_csv(days[9]))
    monitor(deps)
    assert deps.state.looks()[0]["days"] == 10


def test_a_newer_candidate_admitted_during_a_test_retires_the_one_under_test_once() -> None:
    deps, port, notifier, first, second = _admitted()
    third, _ = _trained(deps, port, {**GOOD, P: 0.6}, {P: 0.1})
    decision = monitor(deps).decision
    assert decision and decision["action"] == "test" and decision["candidate"] == third
    assert (deps.state.current_test() or {})["challenger"] == third
    retired = deps.state.decision_for(second)
    assert retired and retired["action"] == "retire" and "a newer candidate" in retired["reasons"][0]
    assert retired["admitted_at"] and port.updates == []
    subjects = [s for s, _, _ in notifier.sent if s == f"storyrec training: retire {second.rsplit('/', 1)[-1]}"]
    assert len(subjects) == 1 and _decisions(deps)[-2:] == ["retire", "test"]
    assert next(iter(port.campaigns.values())).solution_version_arn == first


def test_a_held_verdict_is_applied_once_by_the_operators_promote_with_one_report() -> None:
    deps, port, notifier, first, second = _admitted({"STORYREC_EXPERIMENT_AUTO": "false"})
    _expose(deps, first, second, noise=0.3, days=21)
    held = monitor(deps).decision
    assert held and held["action"] == "hold" and port.updates == [] and deps.state.current_test() is None
    assert held_version(deps) == second

    done = promote_by_hand(deps, operator="ops@example.com")  # no --version: the held one
    assert done.version_arn == second and port.updates == [(port.updates[0][0], second)]
    record = deps.state.decision_for(second)
    assert record and record["action"] == "promote" and record["reasons"][0] == "promoted by hand by ops@example.com"
    assert record["test"]["action"] == "promote"  # the held verdict stays in the history with the promotion
    subject = f"storyrec training: promote {second.rsplit('/', 1)[-1]}"
    assert [s for s, _, _ in notifier.sent].count(subject) == 1

    with pytest.raises(PromotionRefused, match="no version was held"):
        promote_by_hand(deps, operator="ops@example.com")  # applied once: nothing is held any more
    with pytest.raises(PromotionRefused, match=r"already serves|being created or updated"):
        promote_by_hand(deps, second, operator="ops@example.com")
    assert monitor(deps).decision is None and port.updates == [(port.updates[0][0], second)]
    assert [s for s, _, _ in notifier.sent].count(subject) == 1
    assert _decisions(deps) == ["promote", "test", "hold", "promote"]
