"""The two solution slots: the pure slot choice (property-tested), the second slot's name, and the training and
monitor on the in-memory port (the candidate goes to the slot that does not serve; what serves unread defers)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.config import Settings
from shared.errors import ConfigError, ServiceUnavailable
from shared.limits import VALID_RESOURCE_NAME
from shared.personalize.model import CampaignUpdate, Status
from shared.personalize.monitor import monitor
from shared.personalize.names import second_slot
from shared.personalize.slots import ServingState, choose_slot, in_slot
from shared.personalize.stage import ensure_solutions
from tests.unit.aws.fakes import ACCOUNT
from tests.unit.aws.test_monitor_rules import GOOD, NOW, P, _deps, _trained

pytestmark = pytest.mark.unit

A, B = f"{ACCOUNT}:solution/sol", f"{ACCOUNT}:solution/sol-b"
ids = st.text("0123456789abcdef", min_size=1, max_size=8)
versions = st.one_of(
    ids.map(lambda i: f"{A}/{i}"),
    ids.map(lambda i: f"{B}/{i}"),
    ids.map(lambda i: f"{ACCOUNT}:solution/elsewhere/{i}"),
    st.text(max_size=30),  # anything a campaign could report, even malformed
)
states = st.builds(
    ServingState,
    st.lists(versions, max_size=3).map(tuple),
    st.one_of(st.none(), st.text(min_size=1, max_size=20)),
)
slot_pairs = st.one_of(
    st.just((A, B)), st.just((B, A)), st.tuples(st.sampled_from([A, B, ""]), st.sampled_from([A, B]))
)


@given(slot_pairs, states)
def test_the_choice_never_trains_on_a_serving_versions_slot_and_always_says_why(
    slots: tuple[str, str], state: ServingState
) -> None:
    choice = choose_slot(slots, state)
    assert choice.reason and "\n" not in choice.reason
    if choice.solution is None:
        return
    assert choice.solution in slots and state.unreadable is None and len(set(slots)) == 2 and all(slots)
    assert not any(in_slot(v, choice.solution) for v in state.serving)


@given(slot_pairs, states)
def test_the_choice_refuses_only_when_it_must(slots: tuple[str, str], state: ServingState) -> None:
    choice = choose_slot(slots, state)
    distinct = len(set(slots)) == 2 and all(slots)
    free = [s for s in slots if not any(in_slot(v, s) for v in state.serving)]
    assert (choice.solution is None) == (state.unreadable is not None or not distinct or not free)
    if choice.solution is not None and len(free) == 2:
        assert choice.solution == slots[0]  # nothing of ours serves: always the first slot, deterministically


def test_the_choice_in_each_documented_case() -> None:
    assert choose_slot((A, B), ServingState()).solution == A  # the first training
    assert choose_slot((A, B), ServingState((f"{A}/1",))).solution == B
    assert choose_slot((A, B), ServingState((f"{B}/7",))).solution == A
    assert choose_slot((A, B), ServingState((f"{ACCOUNT}:solution/pop/1",))).solution == A  # from elsewhere
    assert choose_slot((A, B), ServingState((f"{A}-c/1",))).solution == A  # a prefix is not a slot
    switching = choose_slot((A, B), ServingState((f"{A}/1", f"{B}/2")))
    assert switching.solution is None and "switching" in switching.reason
    unread = choose_slot((A, B), ServingState((f"{A}/1",), "Throttled: slow down"))
    assert unread.solution is None and "Throttled: slow down" in unread.reason
    assert choose_slot((A, A), ServingState()).solution is None


@given(st.from_regex(r"[a-zA-Z0-9][a-zA-Z0-9\-_]{0,62}", fullmatch=True))
def test_the_second_slot_is_a_valid_name_other_than_the_first(name: str) -> None:
    slot = second_slot(name)
    assert VALID_RESOURCE_NAME.fullmatch(slot) and slot != name
    assert second_slot(name) == slot  # deterministic
    if len(name) <= 61:
        assert slot == f"{name}-b"  # exactly what the IAM policy grants (serverless.yml)
    assert second_slot(f"{ACCOUNT}:solution/{name}") == slot  # a solution given by ARN: by its name


def test_a_solution_name_without_room_for_the_second_slot_is_refused() -> None:
    Settings.from_env({"STORYREC_GCP_PROJECT": "p", "STORYREC_PERSONALIZE_SOLUTION": "s" * 61})
    with pytest.raises(ConfigError, match="at most 61"):
        Settings.from_env({"STORYREC_GCP_PROJECT": "p", "STORYREC_PERSONALIZE_SOLUTION": "s" * 62})


def test_training_alternates_slots_so_the_serving_version_stays_its_solutions_latest() -> None:
    deps, port, _notifier, _clock = _deps()
    first, _ = _trained(deps, port, GOOD, {P: 0.1})
    slots = ensure_solutions(deps, port.ensure_dataset_group("storyrec")).slots
    assert slots[1] == slots[0] + "-b" and in_slot(first, slots[0])
    assert (monitor(deps).decision or {})["action"] == "promote"
    kept, _ = _trained(deps, port, {**GOOD, P: 0.2}, {P: 0.1})  # worse than the serving version: kept out
    assert in_slot(kept, slots[1])
    assert (monitor(deps).decision or {})["action"] == "keep"
    assert port.list_solution_versions(slots[0])[0].arn == first  # still its solution's latest
    better, _ = _trained(deps, port, {**GOOD, P: 0.5}, {P: 0.1})  # serving is still on the first slot
    assert in_slot(better, slots[1])
    assert (monitor(deps).decision or {})["action"] == "promote"
    [campaign] = port.campaigns.values()
    port.campaigns[campaign.arn] = campaign.__class__(campaign.arn, campaign.name, Status.ACTIVE, better)
    after, _ = _trained(deps, port, {**GOOD, P: 0.1}, {P: 0.1})
    assert in_slot(after, slots[0])  # the serving version moved to the second slot: back to the first


def test_training_waits_while_the_campaign_switches_between_slots_or_cannot_be_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deps, port, _notifier, _clock = _deps()
    first, _ = _trained(deps, port, GOOD, {P: 0.1})
    monitor(deps)
    kept, _ = _trained(deps, port, {**GOOD, P: 0.2}, {P: 0.1})
    [campaign] = port.campaigns.values()
    update = CampaignUpdate(kept, Status.UPDATE_IN_PROGRESS, None, NOW)
    port.campaigns[campaign.arn] = campaign.__class__(campaign.arn, campaign.name, Status.ACTIVE, first, None, update)
    from shared.personalize.training import train

    waiting = train(deps, "storyrec-20270101")
    assert waiting.versions == {} and waiting.deferred and "switching" in waiting.deferred
    assert deps.state.training_request() == "storyrec-20270101"  # the monitor starts it once it settles

    def down(_arn: str) -> object:
        raise ServiceUnavailable("personalize is down")

    monkeypatch.setattr(port, "describe_campaign", down)
    unread = train(deps, "storyrec-20270101")
    assert unread.versions == {} and unread.deferred and "could not be read" in unread.deferred
    assert "personalize is down" in unread.deferred


def test_status_lists_both_slots_newest_first_and_judges_health_by_the_last_training() -> None:
    from shared.operate.status import gather_status
    from shared.personalize.training import train

    deps, port, _notifier, _clock = _deps()
    first, _ = _trained(deps, port, GOOD, {P: 0.1})
    assert (monitor(deps).decision or {})["action"] == "promote"
    failed = train(deps, "storyrec-20270101").versions["main"]
    port.set_version(failed, Status.CREATE_FAILED, reason="Insufficient data")
    status = gather_status(deps)
    main = [(v.solution, v.arn) for v in status.versions or [] if v.solution != "baseline"]
    assert main == [("slot b", failed), ("slot a", first)] and not status.healthy
    again, _ = _trained(deps, port, {**GOOD, P: 0.2}, {P: 0.1})  # serving is still on slot a: slot b again
    after = gather_status(deps)
    assert next(v.arn for v in after.versions or []) == again and after.healthy


def test_the_report_shows_the_versions_of_both_slots() -> None:
    from shared.personalize.training import train
    from shared.report.gather import stage_versions

    deps, port, _notifier, _clock = _deps()
    first, _ = _trained(deps, port, GOOD, {P: 0.1})
    monitor(deps)
    kept, _ = _trained(deps, port, {**GOOD, P: 0.2}, {P: 0.1})
    monitor(deps)
    training = train(deps, "storyrec-20270101").versions["main"]  # slot b again, still training
    shown = {v.name: v.decision for v in stage_versions(deps)}
    assert shown == {first.rsplit("/", 1)[-1]: "serving", kept.rsplit("/", 1)[-1]: "kept",
                     training.rsplit("/", 1)[-1]: "training"}
