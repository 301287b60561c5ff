"""The promotion rule is total: no missing, NaN, infinite or out-of-range metric ever yields ``promote``.

Property-based (Hypothesis) over :func:`shared.personalize.promotion.decide`, then the cases that once
promoted, by example, and through the monitor use case on the in-memory fakes.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.personalize.promotion import METRIC_RANGES, Evidence, Metrics, Policy, decide, invalid_metrics

pytestmark = pytest.mark.unit

P = "normalized_discounted_cumulative_gain_at_10"
GUARDS = ("coverage", "mean_reciprocal_rank_at_25", "precision_at_10")
GOOD = {P: 0.30, "coverage": 0.4, "mean_reciprocal_rank_at_25": 0.2, "precision_at_10": 0.05}
NAMES = sorted(METRIC_RANGES)

valid_values = st.floats(min_value=0.0, max_value=1.0)
invalid_values = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 1.0000001, 2.0, -0.0001]),
    st.floats(max_value=-1e-12, allow_nan=False),
    st.floats(min_value=1.0 + 1e-9, allow_nan=False),
    st.just(10**400),
    st.none(),
    st.booleans(),
    st.text(max_size=5),
)
any_values = st.one_of(valid_values, invalid_values)
UNKNOWN = "average_rewards_at_k"  # not compared: it only has to be a finite number
metric_sets = st.one_of(
    st.dictionaries(st.sampled_from([*NAMES, UNKNOWN]), any_values, max_size=len(NAMES)),
    st.fixed_dictionaries({name: valid_values for name in NAMES}),
    st.fixed_dictionaries({name: valid_values for name in NAMES}, optional={UNKNOWN: st.integers() | any_values}),
)
policies = st.builds(
    Policy,
    primary=st.sampled_from(NAMES),
    min_improvement=st.floats(min_value=0.0, max_value=0.5),
    guards=st.lists(st.sampled_from(NAMES), max_size=4, unique=True).map(tuple),
    guard_tolerance=st.floats(min_value=0.0, max_value=0.5),
    auto=st.booleans(),
)


def _valid(value: object, name: str) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        number = float(value)
    except OverflowError:  # an int no float holds
        return False
    low, high = METRIC_RANGES.get(name, (-math.inf, math.inf))
    return math.isfinite(number) and low <= number <= high


def _complete(metrics: Metrics | None, required: tuple[str, ...]) -> bool:
    """The oracle, written apart from the rule: every required metric there, every value valid."""
    return (
        metrics is not None
        and all(name in metrics for name in required)
        and all(_valid(v, n) for n, v in metrics.items())
    )


def _all_valid(evidence: Evidence, policy: Policy) -> bool:
    compared = (policy.primary, *policy.guards)
    return (
        _complete(evidence.candidate, compared)
        and _complete(evidence.baseline, (policy.primary,))
        and (evidence.serving_version is None or _complete(evidence.serving, compared))
    )


evidences = st.builds(
    Evidence,
    candidate=st.none() | metric_sets,
    baseline=st.none() | metric_sets,
    serving_version=st.none() | st.just("arn:aws:personalize:us-east-1:1:solution/s/old"),
    serving=st.none() | metric_sets,
)


@settings(max_examples=500, deadline=None)
@given(evidences, policies)
def test_any_missing_or_invalid_metric_holds_and_never_promotes(evidence: Evidence, policy: Policy) -> None:
    decision = decide(evidence, policy)
    if not _all_valid(evidence, policy):
        assert decision.action == "hold" and decision.invalid
    else:
        assert decision.invalid == () and invalid_metrics(evidence, policy) == ()
    if evidence.serving_version is None:
        assert decision.action != "keep"  # with nothing serving, an operator decides, never "keep nothing"


@st.composite
def promotable(draw: Any) -> tuple[Evidence, Policy]:
    """Valid evidence that the auto policy promotes: better than the baseline, the serving version and the guards."""
    policy = Policy(guards=GUARDS)
    serves = draw(st.booleans())
    serving = {name: draw(st.floats(min_value=0.0, max_value=0.9)) for name in (P, *GUARDS)}
    candidate = {name: draw(st.floats(min_value=serving[name], max_value=1.0)) for name in GUARDS}
    candidate[P] = draw(st.floats(min_value=max(serving[P] * 1.011, 1e-6), max_value=1.0))
    baseline = {P: draw(st.floats(min_value=0.0, max_value=candidate[P] * 0.99))}
    evidence = Evidence(candidate, baseline, "old" if serves else None, serving if serves else None)
    return evidence, policy


flaws = st.tuples(st.sampled_from(["candidate", "baseline", "serving"]), st.sampled_from([P, *GUARDS]), invalid_values)


@settings(max_examples=500, deadline=None)
@given(promotable(), flaws, st.booleans())
def test_one_flaw_in_a_promotable_comparison_turns_promote_into_hold(
    case: tuple[Evidence, Policy], flaw: tuple[str, str, object], drop: bool
) -> None:
    evidence, policy = case
    assert decide(evidence, policy).action == "promote"
    role, name, value = flaw
    if role == "serving" and evidence.serving_version is None:
        role = "candidate"
    metrics = dict(getattr(evidence, role))
    if drop and name in metrics:
        del metrics[name]
    else:
        metrics[name] = value
    flawed = Evidence(
        metrics if role == "candidate" else evidence.candidate,
        metrics if role == "baseline" else evidence.baseline,
        evidence.serving_version,
        metrics if role == "serving" else evidence.serving,
    )
    decision = decide(flawed, policy)
    assert decision.action == "hold" and any(name in problem for problem in decision.invalid), decision


@settings(max_examples=200, deadline=None)
@given(promotable(), st.sampled_from(["candidate", "baseline", "serving"]))
def test_a_metric_set_that_is_not_there_holds(case: tuple[Evidence, Policy], role: str) -> None:
    evidence, policy = case
    if role == "serving":
        flawed = replace(evidence, serving_version="old", serving=None)
    elif role == "baseline":
        flawed = replace(evidence, baseline=None)
    else:
        flawed = replace(evidence, candidate=None)
    assert decide(flawed, policy).action == "hold"


# --- the cases that once promoted, by example ---------------------------------------------------


def test_a_nan_candidate_with_nothing_serving_and_the_baseline_failed_is_held() -> None:
    nan = {**GOOD, P: math.nan}
    decision = decide(Evidence(nan, None), Policy())
    assert decision.action == "hold"
    assert "candidate: normalized_discounted_cumulative_gain_at_10 is nan" in decision.invalid
    assert "baseline: no metrics" in decision.invalid
    assert decide(Evidence(GOOD, None), Policy()).action == "hold"  # valid, but no baseline to beat


def test_a_serving_version_lacking_the_primary_metric_holds_although_the_baseline_is_beaten() -> None:
    serving = {k: v for k, v in GOOD.items() if k != P}
    decision = decide(Evidence({**GOOD, P: 0.2}, {P: 0.1}, "old", serving), Policy())
    assert decision.action == "hold" and decision.invalid == (f"serving version old: no {P}",)
    assert decide(Evidence(GOOD, {P: 0.1}, "old", None), Policy()).action == "hold"  # nothing recorded for it


def test_an_impossible_ndcg_with_nothing_to_compare_with_holds() -> None:
    for baseline in (None, {P: 0.1}, {P: -2.0}):
        decision = decide(Evidence({**GOOD, P: -1.0}, baseline), Policy())
        assert decision.action == "hold" and f"candidate: {P} -1.0 is outside 0..1" in decision.invalid


@pytest.mark.parametrize("guard", [math.nan, None, "missing"])
def test_a_guard_that_is_nan_or_missing_is_not_not_falling(guard: object) -> None:
    candidate: dict[str, object] = {**GOOD, P: 0.5}
    if guard == "missing":
        del candidate["coverage"]
    else:
        candidate["coverage"] = guard
    decision = decide(Evidence(candidate, {P: 0.1}, "old", GOOD), Policy())
    assert decision.action == "hold" and "coverage" in decision.invalid[0]


def test_a_compared_metric_with_no_known_range_holds() -> None:
    policy = Policy(primary="ndcg_typo")
    decision = decide(Evidence({**GOOD, "ndcg_typo": 0.5}, {"ndcg_typo": 0.1}), policy)
    assert decision.action == "hold" and "policy: ndcg_typo has no known valid range" in decision.invalid


def test_a_valid_first_version_that_does_not_beat_the_baseline_is_held_for_an_operator() -> None:
    decision = decide(Evidence(GOOD, {P: 0.31}), Policy())
    assert decision.action == "hold" and decision.invalid == () and "baseline" in decision.reasons[0]


def test_the_report_table_shows_any_value_without_failing() -> None:
    from shared.personalize.promotion import metrics_table

    table = metrics_table({P: math.nan, "coverage": 10**400}, {P: None, "precision_at_10": "x"}, None)
    assert "nan" in table and "1000000000" in table and "None" in table and "'x'" in table


def test_the_report_table_names_metrics_by_their_short_labels_in_the_usual_order() -> None:
    """An operator reads the SNS report on a phone: NDCG@10, not normalized_discounted_cumulative_gain_at_10."""
    from shared.personalize.promotion import metrics_table

    full = {name: 0.5 for name in METRIC_RANGES}
    lines = metrics_table(full, full, {**full, "some_new_metric": 0.1}).splitlines()
    assert [line.split()[0] for line in lines[1:]] == [
        "NDCG@5", "NDCG@10", "NDCG@25", "P@5", "P@10", "P@25", "MRR@25", "coverage", "some_new_metric"
    ]
    assert max(map(len, lines)) <= 72
